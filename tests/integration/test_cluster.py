"""A broker lost under load without losing a case (issue 19, "Past one machine").

A three-broker KRaft cluster of this test's own (deploy/kafka-cluster.sh: free ports, a temporary data directory;
replication factor 3, min.insync.replicas 2) and the shared store. Two instances of each of the six services
(twelve processes) consume topics of six partitions. While submissions stream in, the broker leading the ingress
topic's first partition is killed with kill -9, left down, and started again on its data. Then the units accept
and resolve every case, rating invites each enterprise and sync sends each result to the city (its simulator).

At the end (tests/integration/faults.py): every submission is exactly one case with `case.registered`,
`case.triaged`, `case.assigned`, `case.accepted`, `case.resolved` and `case.synced` once each, in order; rating
awaits each case's rating once, insight counts each case once, sync has nothing parked or pending; sla's clock is
past the cases' end-of-day reminder, so each case's reminder fires exactly once across the two sla instances and
the broker loss; the platform created its topics with replication 3 and min.insync.replicas 2; and for every
service, each instance exports qhwy_consumer_lag for the partitions it owns, the two instances together covering
all six of each topic the service consumes, back to 0 once drained.
"""

import asyncio
import json
import os
import re
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from tests.integration.faults import SERVICES, Platform, assigned, check_views, count_of, resolve_all
from tests.integration.harness import REPO, Namespace, TopicReader, free_port, submission

pytestmark = pytest.mark.integration

UPSTREAM = ("intake", "triage")
INSTANCES = 2
PARTITIONS = 6
COUNT = 90  # submissions, at RATE a second: the broker is down for about a third of the stream
RATE = 5.0
KILL_AFTER = 25  # submissions sent before the broker goes
DOWN_FOR = 10.0  # seconds the broker stays down (its partitions' leadership has moved after about 6)
# intake and triage at 16:00 on a working Wednesday, the others (sla among them) at 17:30 the same day: the
# end-of-day reminder (17:00) of every case is due as soon as sla sees the case; it must fire once, whatever broker
# or instance fails.
UPSTREAM_AT, LATER_AT = "2026-12-02T16:00:00+08:00", "2026-12-02T17:30:00+08:00"
SUBMITTED_AT = "2026-12-02T15:30:00+08:00"


class Cluster:
    """deploy/kafka-cluster.sh on free ports with its own data directory."""

    def __init__(self, data_dir: Path):
        brokers = [free_port() for _ in range(3)]
        controllers = [free_port() for _ in range(3)]
        self.env = {**os.environ, "QHWY_DATA_DIR": str(data_dir),
                    "QHWY_KAFKA_CLUSTER_PORTS": ",".join(map(str, brokers)),
                    "QHWY_KAFKA_CLUSTER_CONTROLLER_PORTS": ",".join(map(str, controllers))}
        self.ports = brokers
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in brokers)

    def run(self, *args: str) -> None:
        subprocess.run([str(REPO / "deploy/kafka-cluster.sh"), *args], check=True, env=self.env, timeout=240,
                       stdout=subprocess.DEVNULL)

    def node_of_port(self, port: int) -> int:
        return self.ports.index(port) + 1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    cluster = Cluster(tmp_path_factory.mktemp("kafka-cluster"))
    try:
        cluster.run("start")
        yield cluster
    finally:
        subprocess.run([str(REPO / "deploy/kafka-cluster.sh"), "stop"], env=cluster.env, check=False, timeout=120,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
async def platform(cluster: Cluster, infra: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    ns = Namespace({"QHWY_KAFKA_BOOTSTRAP": cluster.bootstrap, "QHWY_MONGO_URL": infra["QHWY_MONGO_URL"]})
    common = {"QHWY_TOPIC_PARTITIONS": str(PARTITIONS), "QHWY_CONSUMER_LAG_INTERVAL_SECONDS": "1",
              "QHWY_CLOCK_SPEED": "0", "QHWY_SLA_TIMER_INTERVAL_SECONDS": "0.5"}
    env = {name: {**common, "QHWY_CLOCK_START": UPSTREAM_AT if name in UPSTREAM else LATER_AT} for name in SERVICES}
    platform = Platform(ns, tmp_path_factory.mktemp("cluster-logs"), env)
    try:
        for name in SERVICES:
            platform.procs[name] = [platform.new(name) for _ in range(INSTANCES)]
        await platform.healthy(timeout=240)
        yield platform
    finally:
        platform.stop()


async def leader_of(bootstrap: str, topic: str, partition: int) -> int:
    """The broker (node id) leading a partition now."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return next(p["leader"] for p in described["partitions"] if p["partition"] == partition)
    finally:
        await admin.close()


async def topic_settings(bootstrap: str, topics: list[str]) -> dict[str, tuple[set[int], str | None, int]]:
    """topic -> (replica counts of its partitions, its min.insync.replicas, its partition count)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = {t["topic"]: t for t in await admin.describe_topics(topics)}
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, t) for t in topics])
        min_isr: dict[str, str | None] = {}
        for response in responses:
            for resource in response.resources:
                name, entries = resource[3], resource[4]
                min_isr[name] = next((e[1] for e in entries if e[0] == "min.insync.replicas"), None)
        return {t: ({len(p["replicas"]) for p in described[t]["partitions"]}, min_isr.get(t),
                    len(described[t]["partitions"])) for t in topics}
    finally:
        await admin.close()


async def stream(bootstrap: str, topic: str, bodies: list[dict[str, Any]], on_sent: Any) -> None:
    """Send at RATE a second; a send the cluster refuses while it fails over is sent again (same key and body:
    intake keeps one case per submission id)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True,
                                request_timeout_ms=15000)
    await producer.start()
    try:
        started = time.monotonic()
        for n, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, started + n / RATE - time.monotonic()))
            raw = json.dumps(body, ensure_ascii=False).encode()
            for attempt in range(60):
                try:
                    await producer.send_and_wait(topic, raw, key=body["submission_id"].encode())
                    break
                except KafkaError:
                    await asyncio.sleep(0.5)
            else:
                raise AssertionError(f"{body['submission_id']} could not be sent for 30 s")
            await on_sent(n + 1)
    finally:
        await producer.stop()


def lag_samples(metrics_text: str) -> list[tuple[dict[str, str], float]]:
    out = []
    for line in metrics_text.splitlines():
        match = re.match(r"^qhwy_consumer_lag\{(.*)\} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match[1]))
            out.append((labels, float(match[2])))
    return out


async def test_a_broker_killed_under_load_loses_no_case(cluster: Cluster, platform: Platform) -> None:
    ns = platform.ns
    ingress, events_topic = ns.topic("qhwy.submissions.v1"), ns.topic("qhwy.case-events.v1")

    # the platform created its topics for the cluster it found: 3 replicas, min ISR 2, QHWY_TOPIC_PARTITIONS
    found = await topic_settings(cluster.bootstrap, [ingress, events_topic])
    assert all(v == ({3}, "2", PARTITIONS) for v in found.values()), found

    victim = await leader_of(cluster.bootstrap, ingress, 0)
    bodies = [submission(f"cluster-{i}", submitted_at=SUBMITTED_AT, source_ref=f"TICKET-cluster-{i}")
              for i in range(COUNT)]
    platform.sent = [b["submission_id"] for b in bodies]
    down: dict[str, float] = {}

    async with TopicReader(cluster.bootstrap, events_topic) as events:
        async def on_sent(n: int) -> None:
            if n == KILL_AFTER:
                await asyncio.to_thread(cluster.run, "kill-node", str(victim))
                down["at"] = time.monotonic()

                async def restart() -> None:
                    await asyncio.sleep(DOWN_FOR)
                    await asyncio.to_thread(cluster.run, "start-node", str(victim))
                    down["back"] = time.monotonic()

                down_task.append(asyncio.create_task(restart()))

        down_task: list[asyncio.Task[None]] = []
        await stream(cluster.bootstrap, ingress, bodies, on_sent)
        await asyncio.gather(*down_task)
        assert "back" in down, "the broker was never killed"

        def eod(values: list[dict[str, Any]]) -> set[str]:
            return {e["case_id"] for e in values if e["type"] == "case.reminded" and e["data"].get("kind") == "eod"}

        def complete(values: list[dict[str, Any]]) -> bool:
            return len(assigned(values, set(platform.sent))) >= COUNT and len(eod(values)) >= COUNT

        values = await events.wait_for(complete, timeout=240, what=f"{COUNT} assignments and end-of-day reminders")
        found = assigned(values, set(platform.sent))
        await resolve_all(platform, list(found.items()))
        cases = set(found)
        await events.wait_for(lambda v: count_of(v, "case.synced", cases) >= COUNT, timeout=300,
                              what=f"{COUNT} results synced to the city")
        platform.assert_alive()
        # one case each, each event once (by id and by meaning), in order, no timer twice; the services' views
        verdict = await check_views(platform, events)
        assert eod(events.values()) >= set(verdict.case_of.values())
        platform.assert_alive()

    await check_lag(platform)


async def check_lag(platform: Platform) -> None:
    """For every service: each instance exports the partitions it owns, the two together all six of every topic
    the service consumes, drained to 0."""
    async with httpx.AsyncClient(timeout=10) as client:
        for name in SERVICES:
            deadline = time.monotonic() + 60
            while True:
                per_instance = [lag_samples((await client.get(f"{p.base_url}/metrics")).text)
                                for p in platform.procs[name]]
                owned: dict[tuple[str, str], dict[int, float]] = {}
                for samples in per_instance:
                    for labels, value in samples:
                        owned.setdefault((labels["group"], labels["topic"]), {})[int(labels["partition"])] = value
                covered = all(sorted(parts) == list(range(PARTITIONS)) and sum(parts.values()) == 0
                              for parts in owned.values())
                if owned and covered and all(per_instance):
                    break
                assert time.monotonic() < deadline, f"{name}: lag {owned}, by instance {per_instance}"
                await asyncio.sleep(1)
            assert all(group.startswith(f"{platform.ns.name}.{name}.") for group, _ in owned), owned
