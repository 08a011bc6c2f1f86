"""Kafka plumbing with the platform's delivery rules.

- Offsets are committed only after a message's effects are stored and its events published
  (AckPolicy.NACK_ON_ERROR: commit after the handler returns, seek back and redeliver if it raises).
- A message that cannot be decoded goes to a dead-letter topic with the reason, and the stream goes on.
- A failing effect is retried with exponential backoff and jitter: forever while the store or broker is
  unreachable (nothing accepted may be dropped), a few times for anything else before dead-lettering it.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import ConsumerRebalanceListener
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.kafka.prometheus import KafkaPrometheusMiddleware
from prometheus_client import CollectorRegistry
from pymongo.errors import ConnectionFailure, OperationFailure
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from shared.contracts.dead_letter import DeadLetter
from shared.metrics import PlatformMetrics

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


def make_broker(bootstrap: str, service: str, registry: CollectorRegistry, logger: Any) -> KafkaBroker:
    return KafkaBroker(
        bootstrap,
        client_id=f"qhwy-{service}",
        acks="all",
        enable_idempotence=True,
        middlewares=[KafkaPrometheusMiddleware(registry=registry, app_name=f"qhwy_{service}")],
        logger=logger,
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines; our handlers log what matters
    )


async def ensure_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    """Create the topics the platform uses, so consumers never wait for auto-creation."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="qhwy-admin")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names if n not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
    finally:
        await admin.close()


class JoinedListener(ConsumerRebalanceListener):
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


class Consumer:
    """One topic, one handler, the platform's delivery rules."""

    def __init__(self, *, service: str, broker: KafkaBroker, topic: str, group_id: str, dead_letter_topic: str,
                 decode: Callable[[bytes], T], handle: Callable[[T], Awaitable[str]],
                 metrics: PlatformMetrics, log: Any):
        self.service, self.broker, self.topic = service, broker, topic
        self.dead_letter_topic = dead_letter_topic
        self.decode, self.handle = decode, handle
        self.metrics, self.log = metrics, log
        self.listener = JoinedListener(lambda ok: metrics.consumer_ready.labels(service, topic).set(int(ok)))
        broker.subscriber(
            topic,
            group_id=group_id,
            auto_offset_reset="earliest",
            ack_policy=AckPolicy.NACK_ON_ERROR,
            listener=self.listener,
            # our own decode reads msg.body; FastStream's JSON decoding would raise on a poison message (e.g. a
            # deeply nested array: RecursionError) before the handler runs, and NACK it for ever
            decoder=_raw_body,
        )(self._on_message)

    @property
    def joined(self) -> bool:
        return self.listener.joined

    @property
    def partitions(self) -> frozenset[int]:
        """The partitions of `topic` this consumer owns at the moment."""
        return frozenset(self.listener.partitions)

    async def _on_message(self, msg: KafkaMessage) -> None:
        record = msg.raw_message
        started = time.perf_counter()
        outcome = await self._process(msg.body, record)
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
                retry=retry_if_exception_type(Exception),
                stop=_stop_retrying,
                wait=wait_exponential_jitter(initial=0.2, max=30),
                before_sleep=before_sleep,
                reraise=True,
            ):
                with attempt:
                    return await self.handle(item)
        except Exception as exc:  # not transient, failed every attempt: park it, keep the stream going
            self.log.exception("handler_failed", topic=self.topic, offset=record.offset)
            await self.dead_letter(raw, record, f"handler failed: {type(exc).__name__}: {exc}", [])
            return "dead_lettered"
        raise AssertionError("unreachable")

    async def dead_letter(self, raw: bytes, record: Any, reason: str, errors: list[dict[str, Any]]) -> None:
        key = record.key.decode("utf-8", "replace") if isinstance(record.key, bytes) else record.key
        letter = DeadLetter(
            service=self.service, topic=self.topic, partition=record.partition, offset=record.offset, key=key,
            reason=reason, errors=[_jsonable(e) for e in errors], failed_at=datetime.now(UTC),
            **DeadLetter.payload_fields(raw),
        )
        await self.broker.publish(letter.model_dump_json().encode(), topic=self.dead_letter_topic,
                                  key=record.key if isinstance(record.key, bytes) else None)
        self.metrics.dead_letters.labels(self.service, self.topic).inc()
        self.log.warning("dead_lettered", topic=self.topic, offset=record.offset, reason=reason)


def _raw_body(msg: Any) -> bytes:
    return msg.body


def _jsonable(error: dict[str, Any]) -> dict[str, Any]:
    """pydantic error dicts can carry exception objects in ctx; keep what serialises."""
    out = {k: v for k, v in error.items() if k in ("type", "loc", "msg")}
    out["loc"] = [str(p) for p in out.get("loc", ())]
    return out
