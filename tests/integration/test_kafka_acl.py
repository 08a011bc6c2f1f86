"""Kafka authentication and ACLs on a real broker: who may write and read what (the security issue "anyone who
reaches the broker can forge events").

The module starts a secured broker of its own with the project's script (deploy/kafka.sh, QHWY_KAFKA_SECURED=1:
a SASL/SCRAM-SHA-512 listener with the StandardAuthorizer, on free ports and a temporary data directory, so the
shared development broker is never touched); the script creates the principals' credentials and ACLs from
deploy/kafka-acls.py's table. Clients connect as the platform's do, through shared.messaging.kafka_client_options.
About 10 s on this machine, most of it the broker's start.
"""

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    TopicAuthorizationFailedError,
)
from prometheus_client import CollectorRegistry

from shared.contracts import topics
from shared.messaging import ensure_topics, kafka_client_options, make_broker
from shared.settings import Settings
from tests.integration.harness import REPO, free_port

pytestmark = pytest.mark.integration

PRINCIPALS = ("intake", "triage", "sla", "rating", "sync", "insight", "console",
              "channel-hotline", "channel-city", "downstream", "admin")


class SecuredBroker:
    def __init__(self, data_dir: Path):
        plain, controller, sasl = free_port(), free_port(), free_port()
        self.admin_bootstrap = f"127.0.0.1:{plain}"  # loopback PLAINTEXT: the broker's own tools (super user)
        self.bootstrap = f"127.0.0.1:{sasl}"  # what every other client gets
        self.passwords = {p: f"{p}-{uuid.uuid4().hex}" for p in PRINCIPALS}
        self.env = {**os.environ, "QHWY_DATA_DIR": str(data_dir), "QHWY_KAFKA_SECURED": "1",
                    "QHWY_KAFKA_BOOTSTRAP": self.admin_bootstrap, "QHWY_KAFKA_CONTROLLER_PORT": str(controller),
                    "QHWY_KAFKA_SASL_BOOTSTRAP": self.bootstrap, "QHWY_KAFKA_CHANNELS": "hotline,city",
                    **{"QHWY_KAFKA_PASSWORD_" + p.upper().replace("-", "_"): pw for p, pw in self.passwords.items()}}
        for key in ("QHWY_KAFKA_SECURITY_PROTOCOL", "QHWY_KAFKA_USERNAME", "QHWY_KAFKA_PASSWORD",
                    "QHWY_TOPIC_NAMESPACE"):
            self.env.pop(key, None)

    def script(self, action: str) -> None:
        subprocess.run([str(REPO / "deploy/kafka.sh"), action], check=True, env=self.env, timeout=180,
                       stdout=subprocess.DEVNULL)

    def settings(self, user: str, password: str | None = None) -> Settings:
        return Settings(kafka_bootstrap=self.bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
                        kafka_sasl_mechanism="SCRAM-SHA-512", kafka_username=user,
                        kafka_password=password or self.passwords[user])

    def options(self, user: str, password: str | None = None) -> dict:
        return {"bootstrap_servers": self.bootstrap, **kafka_client_options(self.settings(user, password))}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredBroker]:
    secured = SecuredBroker(tmp_path_factory.mktemp("secured-kafka"))
    try:
        secured.script("start")  # broker, then deploy/kafka-acls.py: credentials, ACLs, topics
        yield secured
    finally:
        secured.script("stop")


def event(kind: str, case_id: str) -> bytes:
    return json.dumps({"event_id": str(uuid.uuid4()), "type": kind, "version": 1, "case_id": case_id,
                       "occurred_at": "2026-03-02T09:15:00+08:00", "data": {"note": "forged?"}}).encode()


async def produce(options: dict, topic: str, value: bytes, key: bytes) -> None:
    producer = AIOKafkaProducer(request_timeout_ms=10_000, acks="all", **options)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


async def read_all(options: dict, topic: str, group: str | None = None) -> list[bytes]:
    """Everything the topic holds, from its first offset up to its end."""
    consumer = AIOKafkaConsumer(topic, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False,
                                **options)
    values: list[bytes] = []
    try:
        await consumer.start()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=300)
            values += [r.value for records in batches.values() for r in records]
            assigned = list(consumer.assignment())
            if assigned:
                ends = await consumer.end_offsets(assigned)
                if all([await consumer.position(tp) >= ends[tp] for tp in assigned]):
                    return values
        raise AssertionError(f"{topic} not read to its end in 20 s")
    finally:
        await consumer.stop()


@pytest.fixture(scope="module")
async def service_event(broker: SecuredBroker) -> AsyncIterator[bytes]:
    """A service (sla) publishes a case.progressed through the platform's own broker factory (FastStream,
    idempotent producer) with its principal; its consumer group is allowed, its topic creation is not."""
    settings = broker.settings("sla")
    await ensure_topics(broker.bootstrap, [settings.topic(t) for t in topics.ALL], 3,
                        kafka_client_options(settings))  # topics exist, the rest is the admin's: no error
    kafka = make_broker(broker.bootstrap, "sla", CollectorRegistry(), logging.getLogger("faststream.acl"),
                        kafka_client_options(settings))
    value = event("case.progressed", "case-from-sla")
    await kafka.start()
    try:
        await kafka.publish(value, topic=topics.CASE_EVENTS, key=b"case-from-sla")
    finally:
        await kafka.stop()
    yield value


async def test_downstream_reads_case_events_but_cannot_write_them(broker: SecuredBroker,
                                                                  service_event: bytes) -> None:
    downstream = broker.options("downstream")
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(downstream, topics.CASE_EVENTS, event("case.progressed", "forged-1"), b"forged-1")
    values = await read_all(downstream, topics.CASE_EVENTS, group="downstream.county-archive")
    assert service_event in values
    assert not any(b"forged-1" in v for v in values)
    # only its own group prefix, only the case events
    with pytest.raises(GroupAuthorizationFailedError):
        await read_all(downstream, topics.CASE_EVENTS, group="qhwy.sla.case-events.v1")
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(downstream, topics.SUBMISSIONS, b"{}", b"x")


async def test_channel_writes_submissions_only(broker: SecuredBroker, service_event: bytes) -> None:
    hotline = broker.options("channel-hotline")
    submission = json.dumps({"submission_id": "hotline-acl-1", "channel": "hotline"}).encode()
    await produce(hotline, topics.SUBMISSIONS, submission, b"hotline-acl-1")
    # the forged event of the issue: a channel system writing a case.progressed
    with pytest.raises(TopicAuthorizationFailedError):
        await produce(hotline, topics.CASE_EVENTS, event("case.progressed", "forged-2"), b"forged-2")
    with pytest.raises(TopicAuthorizationFailedError):  # nor can it read anything
        await read_all(hotline, topics.SUBMISSIONS)
    assert submission in await read_all(broker.options("intake"), topics.SUBMISSIONS, group="qhwy.intake.acl-test")
    events = await read_all(broker.options("downstream"), topics.CASE_EVENTS)
    assert not any(b"forged-2" in v for v in events)


async def test_each_service_writes_its_own_topics(broker: SecuredBroker, service_event: bytes) -> None:
    await produce(broker.options("triage"), topics.CASE_EVENTS, event("case.triaged", "case-t"), b"case-t")
    await produce(broker.options("sync"), topics.SUBMISSIONS, b'{"submission_id": "city-1"}', b"city-1")
    await produce(broker.options("insight"), topics.INSIGHT_EVENTS, b'{"type": "insight.warning"}', b"theme")
    await produce(broker.options("intake"), topics.SUBMISSIONS_DLQ, b'{"reason": "test"}', b"x")
    for user, topic in (("triage", topics.SUBMISSIONS), ("triage", topics.INSIGHT_EVENTS),
                        ("sla", topics.SUBMISSIONS_DLQ), ("console", topics.SUBMISSIONS)):
        with pytest.raises(TopicAuthorizationFailedError):
            await produce(broker.options(user), topic, b"{}", b"x")
    values = await read_all(broker.options("downstream"), topics.CASE_EVENTS)
    assert service_event in values and any(b"case-t" in v for v in values)


async def test_wrong_password_and_no_credentials_are_refused(broker: SecuredBroker, service_event: bytes) -> None:
    with pytest.raises(KafkaConnectionError):  # SCRAM authentication fails: the client never bootstraps
        await produce(broker.options("sla", password="not-the-password"), topics.CASE_EVENTS,
                      event("case.progressed", "forged-3"), b"forged-3")
    with pytest.raises(KafkaConnectionError):  # a principal unknown to the broker
        await produce({**broker.options("sla"), "sasl_plain_username": "mallory"}, topics.CASE_EVENTS,
                      event("case.progressed", "forged-4"), b"forged-4")
    # no SASL at all on the SASL listener: the broker closes the connection before any request is served
    with pytest.raises(KafkaConnectionError):
        await produce({"bootstrap_servers": broker.bootstrap}, topics.CASE_EVENTS,
                      event("case.progressed", "forged-5"), b"forged-5")
    values = await read_all(broker.options("downstream"), topics.CASE_EVENTS)
    assert service_event in values
    assert not any(marker in v for v in values for marker in (b"forged-3", b"forged-4", b"forged-5"))


def test_the_table_is_the_one_documented() -> None:
    """docs/operations.md shows the table deploy/kafka-acls.py applies (printed by --print-table)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QHWY_TOPIC_NAMESPACE", "QHWY_KAFKA_CHANNELS"))}
    printed = subprocess.run([sys.executable, str(REPO / "deploy/kafka-acls.py"), "--print-table"],
                             check=True, capture_output=True, text=True, env=env, timeout=60).stdout.strip()
    assert printed in (REPO / "docs/operations.md").read_text()

