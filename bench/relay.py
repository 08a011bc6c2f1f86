"""The baseline of `make bench`: one hop of a plain aiokafka relay, as its own process.

Consumes one topic, decodes each record's JSON, wraps it as the platform's next hop would (one or several
events keyed by the case id) and produces them to the next topic, one message at a time like a platform
handler (publish, then the next record). No store, no validation, no outbox: what is left is the cost of
Kafka and JSON alone over the same number of hops as the platform's path.

    python bench/relay.py --source T1 --target T2 --group G --emit case.registered
    python bench/relay.py --source T2 --target T3 --group G --emit case.triaged,case.assigned
"""

import argparse
import asyncio
import hashlib
import json
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer


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


async def relay(bootstrap: str, source: str, target: str, group: str, types: list[str], ready_file: str | None) -> None:
    consumer = AIOKafkaConsumer(source, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                                enable_auto_commit=False)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    await consumer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        while not consumer.assignment() and not stop.is_set():  # joined the group: ready
            await consumer.getmany(timeout_ms=200)
        if ready_file:
            open(ready_file, "w").close()
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=200, max_records=100)
            for tp, records in batches.items():
                for record in records:
                    if record.value is not None:
                        for event in next_events(json.loads(record.value), types):
                            await producer.send_and_wait(target, json.dumps(event, ensure_ascii=False).encode(),
                                                         key=event["case_id"].encode())
                    await consumer.commit({tp: record.offset + 1})  # after the effects, like the platform
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--source", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--emit", required=True, help="comma-separated event types produced per record")
    parser.add_argument("--ready-file", help="created once the consumer has joined its group")
    args = parser.parse_args()
    asyncio.run(relay(args.bootstrap, args.source, args.target, args.group, args.emit.split(","), args.ready_file))


if __name__ == "__main__":
    main()
