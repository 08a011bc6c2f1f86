"""Test harness: platform processes with their own topics and databases, and plain Kafka clients.

Tests talk to the platform only the way outside systems do: the two public topics and the HTTP API.
"""

import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

REPO = Path(__file__).resolve().parents[2]
TEST_SECRET = "integration-test-secret-of-32-bytes!!"
# Channel credentials of the test platforms (CONTRACT.md section 1): the key owns the submission-id prefix.
CHANNEL_KEYS = {"test": "test-channel-key", "hotline": "test-hotline-key"}
CHANNEL = {"x-channel-key": CHANNEL_KEYS["test"]}  # may send submission ids "test-..."
HOTLINE_CHANNEL = {"x-channel-key": CHANNEL_KEYS["hotline"]}  # may send "hotline-..."


def staff_headers(role: str = "leader", sub: str = "li.si", unit: str | None = None) -> dict[str, str]:
    """A staff member's bearer token for the test platforms."""
    from shared.auth import issue_token

    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=sub, role=role, unit=unit)}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Namespace:
    """One isolated platform: its own topic prefix and database prefix on the shared broker and store."""

    infra: dict[str, str]
    name: str = field(default_factory=lambda: f"t{uuid.uuid4().hex[:10]}")

    def topic(self, base: str) -> str:
        return f"{self.name}.{base}"

    def env(self, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            **self.infra,
            "QHWY_TOPIC_NAMESPACE": self.name,
            "QHWY_DB_PREFIX": self.name,
            "QHWY_LOG_FORMAT": "json",
            "QHWY_LOG_LEVEL": "INFO",
            "QHWY_JWT_SECRET": TEST_SECRET,
            "QHWY_INTAKE_CHANNEL_CREDENTIALS": json.dumps(CHANNEL_KEYS),
            # submission(n) gives every test enterprise nearly the same complaint: without this, triage links
            # them all as one shared problem (a module testing that linking turns it back on)
            "QHWY_TRIAGE_CROSS_ENTERPRISE_DUPLICATES": "false",
            # tests mint tokens for made-up staff; test_case_access.py checks the directory rule with it on
            "QHWY_STAFF_TOKENS_FROM_DIRECTORY": "false",
            "QHWY_SLA_SCAN_INTERVAL_SECONDS": "1",
            "QHWY_OUTBOX_SWEEP_INTERVAL_SECONDS": "2",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }


class PlatformProcess:
    """`python -m services[.<name>]` as a child process, like an operator would run it."""

    def __init__(self, ns: Namespace, module: str, log_dir: Path, **env: str):
        self.ns, self.module = ns, module
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{module.replace('.', '_')}-{self.port}.log"
        self.env = ns.env(QHWY_HTTP_PORT=str(self.port), **env)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> "PlatformProcess":
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen([sys.executable, "-m", self.module], cwd=REPO, env=self.env,
                                     stdout=log, stderr=subprocess.STDOUT)
        return self

    async def wait_healthy(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                assert self.proc and self.proc.poll() is None, f"{self.module} exited; see {self.log_path}"
                try:
                    if (await client.get(f"{self.base_url}/healthz")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
        raise AssertionError(f"{self.module} not healthy in {timeout}s; see {self.log_path}")

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no offset commits, nothing flushed."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def valid_uscc(n: int | str) -> str:
    """A well-formed credit code (right check character) that differs per n and repeats for the same n."""
    from shared.contracts.submissions import USCC_ALPHABET, uscc_check_character

    digest = int.from_bytes(hashlib.sha256(str(n).encode()).digest()[:8])
    middle = "".join(USCC_ALPHABET[(digest >> (5 * i)) % 31] for i in range(6))
    first17 = f"91330824MA2{middle}"
    return first17 + uscc_check_character(first17)


def submission(n: int | str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "submission_id": f"test-{n}",
        "channel": "hotline",
        "submitted_at": "2026-03-02T09:15:00+08:00",
        "enterprise": {"name": f"开化县测试{n}纸业有限公司", "uscc": valid_uscc(n),
                       "contact_name": "张三", "contact_phone": "13800001234"},
        "content": f"我们公司需要电力增容，马金镇工业园区停电频繁，影响生产（编号{n}）",
        "title": None,
        "region_hint": None,
        "reporter": {"kind": "enterprise", "name": "张三"},
    }
    body.update(overrides)
    return body


class Producer:
    def __init__(self, bootstrap: str):
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")

    async def __aenter__(self) -> "Producer":
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    async def send(self, topic: str, value: bytes | dict[str, Any], key: str | None = None) -> None:
        raw = value if isinstance(value, bytes) else json.dumps(value, ensure_ascii=False).encode()
        await self._producer.send_and_wait(topic, raw, key=key.encode() if key else None)


class TopicReader:
    """Reads a topic from the beginning in the background, like a downstream county system would."""

    def __init__(self, bootstrap: str, topic: str):
        self.topic = topic
        self.records: list[Any] = []
        self._consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                          group_id=None, enable_auto_commit=False)
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> "TopicReader":
        await self._consumer.start()
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task:
            self._task.cancel()
        await self._consumer.stop()

    async def _run(self) -> None:
        async for record in self._consumer:
            self.records.append(record)

    def values(self) -> list[dict[str, Any]]:
        return [json.loads(r.value) for r in self.records]

    async def wait_for(self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 30,
                       what: str = "records") -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            values = self.values()
            if predicate(values):
                return values
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what} on {self.topic}; have {len(self.records)}")


def events_of(values: list[dict[str, Any]], case_id: str) -> list[dict[str, Any]]:
    return [v for v in values if v.get("case_id") == case_id]


def types_of(values: list[dict[str, Any]], case_id: str) -> list[str]:
    return [v["type"] for v in events_of(values, case_id)]
