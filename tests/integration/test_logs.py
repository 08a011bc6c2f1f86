"""What an idle platform writes (`python -m services` as `make run` starts it, with the city simulator that sync
polls every second): after start-up, nothing at INFO but one heartbeat per service per minute; every line one
JSON object (uvicorn's, FastStream's and aiokafka's too), no ANSI codes, timestamps with the +08:00 offset."""

import asyncio
import json
from collections.abc import AsyncIterator

import pytest

from services.registry import SERVICES
from tests.integration.harness import Namespace, PlatformProcess

pytestmark = pytest.mark.integration

IDLE_SECONDS = 70
SETTLE_SECONDS = 8


@pytest.fixture(scope="module")
async def platform(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services", tmp_path_factory.mktemp("logs"), QHWY_CITY_SIMULATOR="1",
                           QHWY_LOG_FORMAT="json", QHWY_LOG_LEVEL="INFO", QHWY_TIMEZONE="Asia/Shanghai").start()
    try:
        await proc.wait_healthy(150)
        yield proc
    finally:
        assert proc.stop() == 0, f"the platform did not stop cleanly; see {proc.log_path}"


def records(text: str) -> list[dict]:
    assert "\x1b[" not in text, "ANSI codes in the log"
    out = []
    for line in text.splitlines():
        if line.strip():
            try:
                out.append(json.loads(line))
            except ValueError:
                raise AssertionError(f"not a JSON line: {line[:300]!r}")
    return out


async def test_an_idle_platform_says_only_its_heartbeats(platform: PlatformProcess) -> None:
    await asyncio.sleep(SETTLE_SECONDS)  # start-up's last lines (sla loads its timers once it has partitions)
    start = platform.log_path.stat().st_size
    await asyncio.sleep(IDLE_SECONDS)
    with platform.log_path.open("rb") as f:
        f.seek(start)
        idle = records(f.read().decode("utf-8"))
    info = [r for r in idle if r["level"] in ("debug", "info")]
    chatter = [r for r in info if r["event"] != "heartbeat"]
    assert not chatter, f"{len(chatter)} INFO lines while idle, e.g. {chatter[:5]}"
    beats: dict[str, int] = {}
    for record in info:
        beats[record["service"]] = beats.get(record["service"], 0) + 1
    assert beats == {name: 1 for name in SERVICES}, beats  # one per service in a little over a minute
    assert all(r["consuming"] is True and r["handled"] == 0 for r in info)
    assert not [r for r in idle if r["level"] not in ("debug", "info")], idle


async def test_every_line_is_json_with_the_local_offset(platform: PlatformProcess) -> None:
    everything = records(platform.logs())
    loggers = {r["logger"] for r in everything}
    assert {"qhwy.runtime", "uvicorn.error"} <= loggers, loggers
    assert all(r["timestamp"].endswith("+08:00") for r in everything)
    assert not [r for r in everything if r["logger"].startswith(("httpx", "matplotlib")) and r["level"] == "info"]
    assert not [r for r in everything if "HTTP Request:" in r["event"]]
    assert all(len(json.dumps(r, ensure_ascii=False)) < 8000 for r in everything)
    assert all(isinstance(r["exception"], list) for r in everything if "exception" in r)
