"""Keeps this instance's duplicate index current with the cases other triage instances decide.

Each triage instance owns some partitions of the case-events topic, but a new case may repeat a case that
another instance triaged. So every instance also reads the whole topic, outside any consumer group (nothing
committed, every instance sees everything), from a little before it loaded the index from the store, and
applies the decisions it did not make itself: a `case.triaged` it has not indexed is read from the store by
`_id` (cheap on every store) and indexed, a `case.closed` marks the case closed.
"""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from shared.messaging import kafka_client_options

WANTED = (b'"case.triaged"', b'"case.closed"')
# How far before the store read the feed starts: decisions published while the index loaded are read again.
OVERLAP_SECONDS = 120


class PeerFeed:
    def __init__(self, bootstrap: str, topic: str, handle: Callable[[str, str, dict[str, Any]], Awaitable[None]],
                 log: Any):
        self.bootstrap = bootstrap
        self.topic = topic
        self.handle = handle
        self.log = log
        self.ready = asyncio.Event()  # set once the index is loaded: nothing is applied before that
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Position the reader (call before loading the index from the store) and start reading."""
        # Subscribed without a group: aiokafka assigns this reader every partition of the topic itself.
        consumer = AIOKafkaConsumer(self.topic, bootstrap_servers=self.bootstrap, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="latest", **kafka_client_options())
        await consumer.start()
        try:
            for _ in range(300):
                if consumer.assignment():
                    break
                await asyncio.sleep(0.1)
            partitions = sorted(consumer.assignment())
            if not partitions:
                self.log.warning("peer_feed_without_partitions", topic=self.topic)
            since_ms = int((time.time() - OVERLAP_SECONDS) * 1000)
            offsets = await consumer.offsets_for_times({tp: since_ms for tp in partitions})
            for tp in partitions:
                found = offsets.get(tp)
                if found is None:
                    await consumer.seek_to_end(tp)
                else:
                    consumer.seek(tp, found.offset)
        except BaseException:
            await consumer.stop()
            raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        if self._consumer is not None:
            await self._consumer.stop()

    async def _run(self) -> None:
        assert self._consumer is not None
        await self.ready.wait()
        while True:
            try:
                batches = await self._consumer.getmany(timeout_ms=1000, max_records=500)
            except KafkaError as exc:  # the broker away: aiokafka reconnects; try again shortly
                self.log.warning("peer_feed_read_failed", error=str(exc))
                await asyncio.sleep(1)
                continue
            for records in batches.values():
                for record in records:
                    await self._apply(record.value)

    async def _apply(self, raw: bytes | None) -> None:
        if not raw or not any(marker in raw for marker in WANTED):
            return  # most events are of other types: not worth decoding
        try:
            event = json.loads(raw)
            kind, case_id, data = event["type"], str(event["case_id"]), event.get("data") or {}
        except (ValueError, KeyError, TypeError):
            return  # triage's own consumer dead-letters unreadable records; this reader only skips them
        if kind not in ("case.triaged", "case.closed"):
            return
        delay = 0.5
        while True:  # the store away: keep trying, the index only lags meanwhile
            try:
                await self.handle(kind, case_id, data)
                return
            except Exception as exc:  # noqa: BLE001 - any store failure; retried with backoff
                self.log.warning("peer_feed_apply_failed", case_id=case_id, type=kind, error=str(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30)
