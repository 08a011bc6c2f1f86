"""The baseline of `make bench`: one hop of a plain aiokafka relay, as its own process.

Consumes one topic, decodes each record's JSON, wraps it as the platform's next hop would (one or several
events keyed by the case id) and produces them to the next topic. No validation, no outbox: what is left is
the cost of Kafka and JSON alone over the same number of hops as the platform's path. Three variants:

- default: one message at a time like a platform handler (produce and wait, commit, then the next record);
- `--batched`: up to 500 records per poll (getmany), every event of the batch sent before awaiting any
  (pipelined produce), one commit after the batch;
- `--batched --store MONGO_URL --database DB`: also, per batch, one bulk write to the store of one document
  per case of this hop (UpdateOne by `_id`, upsert) before producing, as a service keeps its read model.

    python bench/relay.py --source T1 --target T2 --group G --emit case.registered
    python bench/relay.py --source T2 --target T3 --group G --emit case.triaged,case.assigned --batched \\
        --store mongodb://127.0.0.1:27017 --database run_relay --collection hop2
"""

import argparse
import asyncio
import contextlib
import hashlib
import json
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord, TopicPartition

BATCH_RECORDS = 500


def relay_case_id(record: dict[str, Any]) -> str:
    """The case id of a submission (first hop) or of an event (later hops); any stable derivation will do."""
    if "case_id" in record:
        return str(record["case_id"])
    return hashlib.sha256(f"submission:{record['submission_id']}".encode()).hexdigest()[:24]


def next_events(record: dict[str, Any], types: list[str]) -> list[dict[str, Any]]:
    case_id = relay_case_id(record)
    data = record.get("data", record)
    now = datetime.now(UTC).isoformat()
    return [{"event_id": str(uuid.uuid4()), "type": t, "version": 1, "case_id": case_id, "occurred_at": now,
             "data": {**data, "submission_id": data.get("submission_id")}} for t in types]


class ReadModel:
    """One document per case of this hop in its own collection, written once per batch in one bulk write."""

    def __init__(self, url: str, database: str, collection: str):
        from pymongo import AsyncMongoClient

        self.client: Any = AsyncMongoClient(url, directConnection=True)
        self.collection = self.client[database][collection]

    async def start(self) -> None:
        """Create the collection up front, so that the first batch does not pay for it."""
        from pymongo.errors import CollectionInvalid, OperationFailure

        with contextlib.suppress(CollectionInvalid, OperationFailure):
            await self.collection.database.create_collection(self.collection.name)

    async def write(self, events: list[dict[str, Any]]) -> None:
        from pymongo import UpdateOne

        by_case: dict[str, dict[str, Any]] = {}
        for event in events:
            doc = by_case.setdefault(event["case_id"], {"events": []})
            doc["events"].append(event["type"])
            doc.update(status=event["type"], data=event["data"], updated_at=event["occurred_at"])
        if by_case:
            await self.collection.bulk_write(
                [UpdateOne({"_id": case_id}, {"$set": doc}, upsert=True) for case_id, doc in by_case.items()],
                ordered=False)

    async def close(self) -> None:
        await self.client.close()


def encode(event: dict[str, Any]) -> tuple[bytes, bytes]:
    return json.dumps(event, ensure_ascii=False).encode(), event["case_id"].encode()


async def one_by_one(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, target: str, types: list[str],
                     stop: asyncio.Event) -> None:
    """Like a platform handler: publish and wait, commit, then the next record."""
    while not stop.is_set():
        batches = await consumer.getmany(timeout_ms=200, max_records=100)
        for tp, records in batches.items():
            for record in records:
                if record.value is not None:
                    for event in next_events(json.loads(record.value), types):
                        value, key = encode(event)
                        await producer.send_and_wait(target, value, key=key)
                await consumer.commit({tp: record.offset + 1})  # after the effects, like the platform


async def batched(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, target: str, types: list[str],
                  stop: asyncio.Event, store: ReadModel | None) -> None:
    """A batch per poll: its store write (if any), every event sent before awaiting any, one commit at the end."""
    while not stop.is_set():
        batches: dict[TopicPartition, list[ConsumerRecord[bytes, bytes]]] = await consumer.getmany(
            timeout_ms=200, max_records=BATCH_RECORDS)
        if not batches:
            continue
        events = [event for records in batches.values() for record in records if record.value is not None
                  for event in next_events(json.loads(record.value), types)]
        if store is not None:
            await store.write(events)
        sent = [await producer.send(target, value, key=key) for value, key in map(encode, events)]
        await asyncio.gather(*sent)
        await consumer.commit({tp: records[-1].offset + 1 for tp, records in batches.items() if records})


async def relay(bootstrap: str, source: str, target: str, group: str, types: list[str], ready_file: str | None,
                batch: bool = False, store_at: tuple[str, str, str] | None = None) -> None:
    """`store_at`: (mongo url, database, collection) of the read model, for the batched relay."""
    store = ReadModel(*store_at) if store_at else None  # in this event loop
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await consumer.start()
    if store is not None:
        await store.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not consumer.assignment() and not stop.is_set():  # joined the group: ready
            await consumer.getmany(timeout_ms=200)
        if ready_file:
            open(ready_file, "w").close()
        if batch:
            await batched(consumer, producer, target, types, stop, store)
        else:
            await one_by_one(consumer, producer, target, types, stop)
    finally:
        await consumer.stop()
        await producer.stop()
        if store is not None:
            await store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--emit", required=True, help="comma-separated event types produced per record")
    parser.add_argument("--ready-file", help="created once the consumer has joined its group")
    parser.add_argument("--batched", action="store_true",
                        help=f"up to {BATCH_RECORDS} records per poll, pipelined produce, one commit per batch")
    parser.add_argument("--store", metavar="MONGO_URL", help="(with --batched) one bulk write per batch to this store")
    parser.add_argument("--database", help="the store's database (with --store; the run's own)")
    parser.add_argument("--collection", default="cases", help="the store's collection for this hop")
    args = parser.parse_args()
    if args.store and not (args.batched and args.database):
        parser.error("--store needs --batched and --database")
    store_at = (args.store, args.database, args.collection) if args.store else None
    asyncio.run(relay(args.bootstrap, args.source, args.target, args.group, args.emit.split(","), args.ready_file,
                      batch=args.batched, store_at=store_at))


if __name__ == "__main__":
    main()
