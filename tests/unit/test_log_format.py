"""One JSON format for every logger (shared/logging.py): ours and the libraries' (uvicorn, FastStream, aiokafka,
httpx) alike, without ANSI codes, with the platform's local time and offset, tracebacks as fields; libraries
quiet below WARNING."""

import json
import logging
from collections.abc import Iterator
from typing import Any

import faststream.kafka  # noqa: F401  (FastStream installs its own colourised stderr handler when imported)
import pytest

from shared.logging import configure_logging, get_logger


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


def lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    err = capsys.readouterr().err
    assert "\x1b[" not in err
    return [json.loads(line) for line in err.splitlines() if line]


def test_every_logger_writes_the_same_json_with_a_local_offset(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json", "Asia/Shanghai")
    get_logger("qhwy.intake").info("case_registered", case_id="c1", contact_phone="13800001234")
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s (Press CTRL+C to quit)",
                                            "\x1b[1mhttp://127.0.0.1:8000\x1b[0m",
                                            extra={"color_message": "\x1b[1mcoloured\x1b[0m"})
    logging.getLogger("faststream.intake").warning("consumer %s lagging", "intake")
    logging.getLogger("aiokafka.conn").error("Unable connect to node %s", 1)
    records = lines(capsys)
    assert [r["logger"] for r in records] == ["qhwy.intake", "uvicorn.error", "faststream.intake", "aiokafka.conn"]
    for record in records:
        assert set(record) >= {"event", "level", "logger", "timestamp"}
        assert record["timestamp"].endswith("+08:00"), record
        assert "color_message" not in record and "_record" not in record
    assert records[0]["contact_phone"] == "138****1234"  # masked in every record
    assert records[1]["event"] == "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"
    assert records[2]["event"] == "consumer intake lagging" and records[2]["level"] == "warning"


def test_the_time_zone_is_the_platforms(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json", "UTC")
    get_logger("qhwy.x").info("x")
    assert lines(capsys)[0]["timestamp"].endswith("+00:00")


def test_library_info_lines_are_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    for name in ("httpx", "httpcore", "matplotlib", "matplotlib.font_manager", "aiokafka", "faststream"):
        logging.getLogger(name).info('HTTP Request: GET http://127.0.0.1:8000/sim "HTTP/1.1 200 OK"')
    logging.getLogger("httpx").warning("kept")
    assert [r["event"] for r in lines(capsys)] == ["kept"]


def test_a_traceback_is_structured_and_small(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")

    def deep(n: int) -> None:
        if n == 0:
            raise ValueError("电话 13800001234 无法解析" + "x" * 5000)
        deep(n - 1)

    try:
        try:
            deep(100)
        except ValueError as exc:
            raise RuntimeError("handler failed") from exc
    except RuntimeError:
        get_logger("qhwy.sla").exception("handler_failed", topic="t")
        logging.getLogger("faststream.sla").error("foreign failure", exc_info=True)
    ours, foreign = lines(capsys)
    for record in (ours, foreign):
        chain = record["exception"]
        assert [e["exc_type"] for e in chain] == ["RuntimeError", "ValueError"]
        assert chain[0]["exc_value"] == "handler failed"
        assert "13800001234" not in chain[1]["exc_value"] and len(chain[1]["exc_value"]) <= 2001
        assert all(set(f) == {"filename", "lineno", "name"} for e in chain for f in e["frames"])
        assert chain[1]["frames"][-1]["name"] == "deep"
        assert "Traceback (most recent call last)" not in json.dumps(record)
        assert len(json.dumps(record, ensure_ascii=False)) < 8000


def test_a_terminal_gets_readable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "console")
    get_logger("qhwy.x").info("started", service="intake")
    err = capsys.readouterr().err
    assert "started" in err and "service=intake" in err and not err.startswith("{")
