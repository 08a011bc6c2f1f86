"""make bench-intake: how fast intake accepts submissions, on this machine, with real Kafka and store.

Runs `python -m services.intake` in its own namespace (fresh topics and database), then
  1. HTTP: --count submissions POSTed by --concurrency clients; accepted per second (202s / wall time);
  2. topic: --count submissions produced to qhwy.submissions.v1; registered per second;
and for both the latency from sending a submission to seeing its `case.registered` on the case-events
topic (p50 / p99), read by a plain consumer like a downstream system.
"""

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.harness import Namespace, PlatformProcess, submission  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Registrations:
    """Watches case.registered and notes when each submission id was first seen."""

    def __init__(self, bootstrap: str, topic: str):
        self.seen: dict[str, float] = {}
        self.consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                         group_id=None, enable_auto_commit=False)

    async def run(self) -> None:
        async for record in self.consumer:
            event = json.loads(record.value)
            if event.get("type") == "case.registered":
                self.seen.setdefault(event["data"]["submission_id"], time.monotonic())

    async def wait(self, ids: list[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not all(i in self.seen for i in ids):
            await asyncio.sleep(0.05)


async def bench(count: int, concurrency: int, bootstrap: str, mongo: str) -> None:
    ns = Namespace({"QHWY_KAFKA_BOOTSTRAP": bootstrap, "QHWY_MONGO_URL": mongo})
    proc = PlatformProcess(ns, "services.intake", Path(tempfile.mkdtemp(prefix="bench-intake-")),
                           QHWY_LOG_LEVEL="WARNING").start()
    try:
        await proc.wait_healthy()
        watcher = Registrations(bootstrap, ns.topic("qhwy.case-events.v1"))
        await watcher.consumer.start()
        task = asyncio.create_task(watcher.run())

        # 1. HTTP
        sent: dict[str, float] = {}
        queue: asyncio.Queue[int] = asyncio.Queue()
        for n in range(count):
            queue.put_nowait(n)
        accepted = 0

        async def client_loop(client: httpx.AsyncClient) -> None:
            nonlocal accepted
            while not queue.empty():
                n = queue.get_nowait()
                body = submission(f"bench-http-{n}")
                sent[body["submission_id"]] = time.monotonic()
                response = await client.post("/api/v1/submissions", json=body)
                accepted += response.status_code == 202

        started = time.monotonic()
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=proc.base_url, limits=limits, timeout=60) as client:
            await asyncio.gather(*(client_loop(client) for _ in range(concurrency)))
        http_seconds = time.monotonic() - started
        await watcher.wait(list(sent), 60)
        http_latency = [(watcher.seen[i] - t) * 1000 for i, t in sent.items() if i in watcher.seen]

        # 2. topic
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
        await producer.start()
        topic_sent: dict[str, float] = {}
        started = time.monotonic()
        try:
            for n in range(count):
                body = submission(f"bench-topic-{n}")
                topic_sent[body["submission_id"]] = time.monotonic()
                await producer.send(ns.topic("qhwy.submissions.v1"), json.dumps(body).encode(),
                                    key=body["submission_id"].encode())
            await producer.flush()
        finally:
            await producer.stop()
        await watcher.wait(list(topic_sent), 120)
        topic_seconds = max(watcher.seen.get(i, time.monotonic()) for i in topic_sent) - started
        topic_latency = [(watcher.seen[i] - t) * 1000 for i, t in topic_sent.items() if i in watcher.seen]
        task.cancel()
        await watcher.consumer.stop()
    finally:
        proc.stop()

    print(f"intake benchmark: {count} submissions per path, {concurrency} HTTP clients, one intake process")
    print(f"  HTTP   accepted {accepted}/{count} in {http_seconds:.1f} s = {accepted / http_seconds:.0f}/s; "
          f"to case.registered p50 {percentile(http_latency, 50):.0f} ms, p99 {percentile(http_latency, 99):.0f} ms"
          f" ({len(http_latency)} seen)")
    print(f"  topic  registered {len(topic_latency)}/{count} in {topic_seconds:.1f} s = "
          f"{len(topic_latency) / topic_seconds:.0f}/s; to case.registered p50 {percentile(topic_latency, 50):.0f} ms,"
          f" p99 {percentile(topic_latency, 99):.0f} ms")
    print(f"  (median HTTP latency {statistics.median(http_latency):.0f} ms; logs in {proc.log_path})")


def port_open(address: str) -> bool:
    host, port = address.removeprefix("mongodb://").split("/")[0].rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--kafka", default="127.0.0.1:9092")
    parser.add_argument("--mongo", default="mongodb://127.0.0.1:27017")
    args = parser.parse_args()
    repo = Path(__file__).resolve().parents[1]
    started = not (port_open(args.kafka) and port_open(args.mongo))
    env = {**os.environ, "QHWY_KAFKA_BOOTSTRAP": args.kafka, "QHWY_MONGO_URL": args.mongo,
           "QHWY_DATA_DIR": tempfile.mkdtemp(prefix="bench-intake-data-")}
    if started:  # a broker and store of its own, removed afterwards
        subprocess.run([str(repo / "deploy/infra.sh"), "up"], check=True, env=env)
    try:
        asyncio.run(bench(args.count, args.concurrency, args.kafka, args.mongo))
    finally:
        if started:
            subprocess.run([str(repo / "deploy/infra.sh"), "down"], check=False, env=env)


if __name__ == "__main__":
    main()
