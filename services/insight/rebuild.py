"""Rebuild insight's projection from scratch: read the case-events topic from its first offset up to its end
(as it stands when the rebuild starts), fold it in memory with the same `domain.fold`, write the facts.

    QHWY_DB_PREFIX=qhwy_rebuilt python -m services.insight rebuild [--keep]

The live consumer can then go on from there: each facts document carries the ids of the events applied to it.
"""

import argparse
import asyncio
import time
from collections import defaultdict
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.insight import domain
from services.insight.app import NAME
from services.insight.store import InsightStore
from shared.contracts import topics
from shared.contracts.case_events import UnreadableEvent, parse_case_event
from shared.contracts.envelope import CaseEvent
from shared.messaging import kafka_client_options
from shared.settings import Settings
from shared.store import mongo_client


async def read_topic(bootstrap: str, topic: str, batch: int = 5000) -> list[CaseEvent]:
    """Every readable case event on the topic, partition by partition in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_poll_records=batch, **kafka_client_options(),
                                fetch_max_bytes=64 * 1024 * 1024, max_partition_fetch_bytes=16 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or
                                                               await _partitions(consumer, topic))]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining = {tp for tp in partitions if ends[tp] > 0}
        events: list[CaseEvent] = []
        while remaining:
            fetched = await consumer.getmany(*remaining, timeout_ms=1000, max_records=batch)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    try:
                        parsed = parse_case_event(record.value)
                    except UnreadableEvent:
                        continue  # the live consumer dead-letters it; it counts for nothing either way
                    if parsed is not None:
                        events.append(parsed[0])
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
        return events
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # the topic is not in the metadata until asked for
    return consumer.partitions_for_topic(topic) or set()


def fold_with_causes(events: list[CaseEvent]) -> tuple[dict[str, dict[str, Any]], dict[str, list[str]]]:
    processed: dict[str, list[str]] = defaultdict(list)
    seen: set[str] = set()
    for event in events:
        if event.event_id not in seen:
            seen.add(event.event_id)
            processed[event.case_id].append(event.event_id)
    return domain.fold_all(events), dict(processed)


async def rebuild(settings: Settings, *, drop: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    events = await read_topic(settings.kafka_bootstrap, settings.topic(topics.CASE_EVENTS))
    read = time.perf_counter()
    cases, processed = fold_with_causes(events)
    folded = time.perf_counter()
    client = mongo_client(settings)
    try:
        store = InsightStore(client[settings.database(NAME)], lambda: None)  # type: ignore[arg-type,return-value]
        if drop:
            await store.facts.collection.delete_many({})
        await store.ensure_indexes()
        await store.write_rebuilt(cases, processed, empty=drop)
    finally:
        await client.close()
    done = time.perf_counter()
    return {"events": len(events), "cases": len(cases), "read_seconds": round(read - started, 3),
            "fold_seconds": round(folded - read, 3), "write_seconds": round(done - folded, 3),
            "total_seconds": round(done - started, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Rebuild insight's facts from the case-events topic.")
    parser.add_argument("--keep", action="store_true", help="do not clear the facts collection first")
    args = parser.parse_args(argv)
    print(asyncio.run(rebuild(Settings(), drop=not args.keep)))
    return 0
