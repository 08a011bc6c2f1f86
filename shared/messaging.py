"""Kafka plumbing with the platform's delivery rules.

- Offsets are committed only after a message's effects are stored and its events published
  (AckPolicy.NACK_ON_ERROR: commit after the handler returns, seek back and redeliver if it raises).
- A message that cannot be decoded goes to a dead-letter topic with the reason, and the stream goes on.
- A failing effect is retried with exponential backoff and jitter: forever while the store or broker is
  unreachable (nothing accepted may be dropped), a few times for anything else before dead-lettering it.
"""

import asyncio
import contextlib
from contextvars import ContextVar
import logging
import os
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from aiokafka.partitioner import murmur2
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512
from prometheus_client import CollectorRegistry
from pymongo.errors import ConnectionFailure, OperationFailure
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential_jitter

from shared.contracts.dead_letter import DeadLetter
from shared.store import UnitOfWork, run_in_unit_of_work
from shared.logging import get_logger
from shared.metrics import PlatformMetrics
from shared.settings import Settings

T = TypeVar("T")

# Errors of the infrastructure rather than of the message: retried without limit.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (ConnectionFailure, KafkaError, OSError, asyncio.TimeoutError)
ATTEMPTS_FOR_OTHER_ERRORS = 5


class BadMessage(ValueError):
    """The message itself is wrong; it goes to the dead-letter topic."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


class Skip(Exception):
    """The message is fine but not for this consumer (an unknown event type, a newer version)."""


def kafka_client_options(settings: Settings | None = None) -> dict[str, Any]:
    """How every Kafka client of the platform authenticates: aiokafka keyword arguments (all but the bootstrap
    servers) from the QHWY_KAFKA_* settings. The one place that reads them; `settings` defaults to the
    environment's. PLAINTEXT (the development loopback listener) adds nothing."""
    settings = settings if settings is not None else Settings()
    protocol = settings.kafka_security_protocol
    if protocol == "PLAINTEXT":
        return {}
    if not settings.kafka_username or settings.kafka_password is None:
        raise ValueError(f"QHWY_KAFKA_SECURITY_PROTOCOL={protocol} needs QHWY_KAFKA_USERNAME and QHWY_KAFKA_PASSWORD")
    options: dict[str, Any] = {
        "security_protocol": protocol,
        "sasl_mechanism": settings.kafka_sasl_mechanism,
        "sasl_plain_username": settings.kafka_username,
        "sasl_plain_password": settings.kafka_password.get_secret_value(),
    }
    if protocol == "SASL_SSL":
        options["ssl_context"] = ssl.create_default_context()  # the system's trusted CAs, host names checked
    return options


_BROKER_SECURITY = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}


def broker_security(options: dict[str, Any]) -> BaseSecurity | None:
    """The same options in FastStream's form (its KafkaBroker takes `security=`, not aiokafka's keywords)."""
    if not options:
        return None
    return _BROKER_SECURITY[options["sasl_mechanism"]](
        options["sasl_plain_username"], options["sasl_plain_password"], ssl_context=options.get("ssl_context"),
        use_ssl=options["security_protocol"] == "SASL_SSL")


def make_broker(bootstrap: str, service: str, registry: CollectorRegistry, logger: Any,
                client_options: dict[str, Any] | None = None) -> KafkaBroker:
    """`client_options`: kafka_client_options(settings); None connects without authentication.

    Producers wait for every in-sync replica (acks=all: with the cluster's min.insync.replicas=2 a published event
    is on two brokers before publish returns) and are idempotent: a batch retried after a lost answer or a leader
    change is written once, and aiokafka keeps one batch in flight per partition, so one key's events (one
    partition) stay in order through retries."""
    return KafkaBroker(
        # a cluster's "host:port,host:port,...": FastStream takes one address per list item
        [server.strip() for server in bootstrap.split(",") if server.strip()],
        client_id=f"qhwy-{service}",
        acks="all",
        enable_idempotence=True,
        security=broker_security(client_options or {}),
        # an authenticated service may not create topics: the admin's init step did (deploy/kafka-acls.py)
        allow_auto_create_topics=not client_options,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=f"qhwy_{service}")],
        logger=logger,
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines; our handlers log what matters
    )


# CreateTopics answers for a principal that may not create topics (production: an admin creates them).
_NOT_ALLOWED = {29: "TOPIC_AUTHORIZATION_FAILED", 31: "CLUSTER_AUTHORIZATION_FAILED"}
_ALREADY_EXISTS = 36


def replication_for(brokers: int) -> tuple[int, int]:
    """(replication factor, min.insync.replicas) for a cluster of `brokers`: 3 and 2 on three or more brokers (one
    may be lost with nothing lost and every partition writable), 1 and 1 on a single development broker."""
    brokers = max(1, brokers)
    return min(3, brokers), min(2, brokers)


async def ensure_topics(bootstrap: str, names: list[str], partitions: int,
                        client_options: dict[str, Any] | None = None) -> None:
    """Create the topics the platform uses, so consumers never wait for auto-creation.

    Replication fits the cluster found (replication_for the brokers the metadata lists: start a cluster whole before
    the first start, topics are created once); `partitions` (QHWY_TOPIC_PARTITIONS) bounds how many instances of a
    service share the work: docs/operations.md, "Scaling out". A principal that may not create topics (every
    service principal in production, where the admin's init step creates them: deploy/kafka-acls.py
    --create-topics) leaves them to the admin: logged, not an error."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="qhwy-admin", **(client_options or {}))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        brokers = len((await admin.describe_cluster()).get("brokers") or ())
        replication, min_isr = replication_for(brokers)
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=replication,
                            topic_configs={"min.insync.replicas": str(min_isr)})
                   for n in names if n not in existing]
        if missing:
            get_logger("qhwy.messaging").info("creating_topics", topics=len(missing), partitions=partitions,
                                              replication_factor=replication, min_insync_replicas=min_isr)
            try:
                response = await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                return
            refused = [entry[0] for entry in response.topic_errors if entry[1] in _NOT_ALLOWED]
            if refused:
                get_logger("qhwy.messaging").info("topics_left_to_admin", topics=refused,
                                                  hint="this principal may not create topics (or see them)")
    finally:
        await admin.close()


def lag_interval_seconds() -> float:
    """How often each process updates qhwy_consumer_lag (QHWY_CONSUMER_LAG_INTERVAL_SECONDS, default 15)."""
    return float(os.environ.get("QHWY_CONSUMER_LAG_INTERVAL_SECONDS", "15"))


class LagReporter:
    """Keeps qhwy_consumer_lag{service,group,topic,partition} current for a process's consumers: the partitions each
    owns now (a revoked partition's series is removed; the instance that took it over exports it). A consumer whose
    offsets cannot be read this time (broker unreachable) keeps its last values."""

    def __init__(self, metrics: PlatformMetrics, consumers: Callable[[], list[tuple[str, "Consumer"]]]):
        self.metrics, self.consumers = metrics, consumers
        self._exported: set[tuple[str, str, str, str]] = set()

    async def update(self) -> None:
        exported: set[tuple[str, str, str, str]] = set()
        for service, consumer in self.consumers():
            try:
                lags = await asyncio.wait_for(consumer.lag(), timeout=10)
            except Exception as exc:  # noqa: BLE001 - a gauge must never disturb the consumers: try again next time
                get_logger("qhwy.messaging").debug("consumer_lag_unavailable", topic=consumer.topic, error=repr(exc))
                exported |= {k for k in self._exported if k[:3] == (service, consumer.group_id, consumer.topic)}
                continue
            for partition, lag in lags.items():
                labels = (service, consumer.group_id, consumer.topic, str(partition))
                self.metrics.consumer_lag.labels(*labels).set(lag)
                exported.add(labels)
        for labels in self._exported - exported:
            with contextlib.suppress(KeyError):
                self.metrics.consumer_lag.remove(*labels)
        self._exported = exported


class JoinedListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka has no type information: Any
    """Tells whether a consumer has joined its group (the health check's meaning of 'consumes')."""

    def __init__(self, on_change: Callable[[bool], None]):
        self.joined = False
        self._on_change = on_change
        self.partitions: set[int] = set()  # owned now; a job that must run on the owner alone checks it

    async def on_partitions_revoked(self, revoked: Any) -> None:
        self.partitions.difference_update(tp.partition for tp in revoked)

    async def on_partitions_assigned(self, assigned: Any) -> None:
        self.partitions.update(tp.partition for tp in assigned)
        self.joined = True
        self._on_change(True)


def _is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationFailure):  # e.g. a write refused by the server: not a connection problem
        return False
    return isinstance(exc, TRANSIENT_ERRORS)


def _stop_retrying(state: RetryCallState) -> bool:
    exc = state.outcome.exception() if state.outcome else None
    return exc is not None and not _is_transient(exc) and state.attempt_number >= ATTEMPTS_FOR_OTHER_ERRORS


# The record being handled (its partition, offset, key), for handlers that need more than the value.
current_record: ContextVar[Any] = ContextVar("current_record", default=None)


def current_partition() -> int | None:
    record = current_record.get()
    return record.partition if record is not None else None


def partition_of(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts this key on (murmur2, as the Java client and aiokafka)."""
    return int(murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class Consumer:
    """One topic, one handler, the platform's delivery rules.

    Records arrive in batches (up to `batch` at a time); a batch is grouped by partition and key: one key's records
    are handled in order, different keys concurrently (at most `concurrency` at once), and the batch's offsets are
    committed after every record's effect is stored and published. `concurrency=1` handles a batch in order, for
    handlers whose decision depends on the records before it across keys (triage's duplicate search)."""

    def __init__(self, *, service: str, broker: KafkaBroker, topic: str, group_id: str, dead_letter_topic: str,
                 decode: Callable[[bytes], T], handle: Callable[[T], Awaitable[str]],
                 metrics: PlatformMetrics, log: Any, batch: int = 100, concurrency: int = 1,
                 unit_of_work: Callable[[], UnitOfWork] | None = None):
        self.service, self.broker, self.topic = service, broker, topic
        self.dead_letter_topic = dead_letter_topic
        self.decode, self.handle = decode, handle
        self.metrics, self.log = metrics, log
        self.concurrency = max(1, concurrency)
        self.unit_of_work = unit_of_work  # each batch's store writes, flushed together before the commit
        self.group_id = group_id
        self.listener = JoinedListener(lambda ok: metrics.consumer_ready.labels(service, topic).set(int(ok)))
        self.subscriber = broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            listener=self.listener,
            batch=True,
            max_records=max(1, batch),
            batch_timeout_ms=100,
            # our own decode reads msg.body; FastStream's JSON decoding would raise on a poison message (e.g. a
            # deeply nested array: RecursionError) before the handler runs, and NACK it for ever
            decoder=_raw_body,
        )
        self.subscriber(self._on_batch)

    @property
    def joined(self) -> bool:
        return self.listener.joined

    async def lag(self) -> dict[int, int]:
        """Per partition of `topic` this instance owns now: the end offset minus the group's committed offset (the
        records not yet handled and committed). Empty before the consumer has started or joined."""
        client = getattr(self.subscriber, "consumer", None)  # FastStream's aiokafka consumer, once started
        if client is None:
            return {}
        owned = sorted((tp for tp in client.assignment() if tp.topic == self.topic), key=lambda tp: tp.partition)
        if not owned:
            return {}
        ends = await client.end_offsets(owned)
        lags: dict[int, int] = {}
        for tp in owned:
            committed = await client.committed(tp)
            if committed is None:  # nothing committed yet: the group starts at the beginning (earliest)
                committed = (await client.beginning_offsets([tp]))[tp]
            lags[tp.partition] = max(0, ends[tp] - committed)
        return lags

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions of `topic` this consumer owns at the moment."""
        return frozenset(self.listener.partitions)

    def partition_count(self) -> int:
        """The topic's partitions as the consumer's metadata knows them (0: not known yet)."""
        client = getattr(self.subscriber, "consumer", None)
        return len(client.partitions_for_topic(self.topic) or ()) if client is not None else 0

    def owns(self, key: str) -> bool:
        """Whether `key`'s records go to a partition this consumer owns now. What a service does for a key outside
        its consumer (a timer, a delivery) is done by the owner alone: one instance, one writer per document."""
        count = self.partition_count()
        return count > 0 and partition_of(key, count) in self.listener.partitions

    async def _on_batch(self, msg: KafkaMessage) -> None:
        records = msg.raw_message
        if not isinstance(records, (list, tuple)):  # a single record (not a batch subscriber)
            records = (records,)
        uow = self.unit_of_work() if self.unit_of_work is not None else None
        # a failed flush raises: the batch is not committed and comes again
        await run_in_unit_of_work(uow, self._handle_batch(records))

    async def _handle_batch(self, records: Any) -> None:
        if self.concurrency == 1 or len(records) == 1:
            for record in records:
                await self._on_record(record)
            return
        lanes: dict[tuple[int, Any], list[Any]] = {}
        for record in records:  # one lane per key, in offset order
            lanes.setdefault((record.partition, record.key), []).append(record)
        gate = asyncio.Semaphore(self.concurrency)

        async def run(lane: list[Any]) -> None:
            async with gate:
                for record in lane:
                    await self._on_record(record)

        await asyncio.gather(*(run(lane) for lane in lanes.values()))

    async def _on_record(self, record: Any) -> None:
        started = time.perf_counter()
        token = current_record.set(record)
        try:
            outcome = await self._process(record.value or b"", record)
        finally:
            current_record.reset(token)
        self.metrics.messages_processed.labels(self.service, self.topic, outcome).inc()
        self.metrics.handler_duration.labels(self.service, self.topic).observe(time.perf_counter() - started)

    async def _process(self, raw: bytes, record: Any) -> str:
        try:
            item = self.decode(raw)
        except BadMessage as exc:
            await self.dead_letter(raw, record, exc.reason, exc.errors)
            return "dead_lettered"
        except Skip:
            return "skipped"

        async def before_sleep(state: RetryCallState) -> None:
            self.metrics.messages_processed.labels(self.service, self.topic, "retried").inc()
            self.log.warning("handler_retry", topic=self.topic, offset=record.offset, attempt=state.attempt_number,
                             error=repr(state.outcome.exception()) if state.outcome else None)

        try:
            async for attempt in AsyncRetrying(
                # a handler that finds the message itself unacceptable (BadMessage) is not retried
                retry=retry_if_exception(lambda e: not isinstance(e, BadMessage)),
                stop=_stop_retrying,
                wait=wait_exponential_jitter(multiplier=0.2, max=30),
                before_sleep=before_sleep,
                reraise=True,
            ):
                with attempt:
                    return await self.handle(item)
        except BadMessage as exc:
            await self.dead_letter(raw, record, exc.reason, exc.errors)
            return "dead_lettered"
        except Exception as exc:  # not transient, failed every attempt: park it, keep the stream going
            self.log.exception("handler_failed", topic=self.topic, offset=record.offset)
            await self.dead_letter(raw, record, f"handler failed: {type(exc).__name__}: {exc}", [])
            return "dead_lettered"
        raise AssertionError("unreachable")

    async def dead_letter(self, raw: bytes, record: Any, reason: str, errors: list[dict[str, Any]]) -> None:
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else record.key
        # DeadLetter masks the personal data in the key, reason, errors and payload (shared.masking)
        letter = DeadLetter(
            service=self.service, topic=self.topic, partition=record.partition, offset=record.offset, key=key,
            reason=reason, errors=[_jsonable(e) for e in errors], failed_at=datetime.now(UTC),
            **DeadLetter.payload_fields(raw),
        )
        await self.broker.publish(letter.model_dump_json().encode(), topic=self.dead_letter_topic,
                                  key=letter.key.encode() if letter.key is not None else None)
        self.metrics.dead_letters.labels(self.service, self.topic).inc()
        self.log.warning("dead_lettered", topic=self.topic, offset=record.offset, reason=reason)


def _raw_body(msg: Any) -> bytes:
    body: bytes = msg.body
    return body


def _jsonable(error: dict[str, Any]) -> dict[str, Any]:
    """pydantic error dicts can carry exception objects in ctx; keep what serialises."""
    out = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
    out["loc"] = [str(p) for p in out.get("loc", ())]
    return out
