"""An example downstream county system: consumes resolutions from qhwy.case-events.v1 with aiokafka.

What every subscriber of the case-events topic should do (docs/asyncapi.yaml, docs/contract.md):
- its own consumer group, offsets committed only after its effect is stored (at least once);
- idempotent on `event_id` (a redelivery or a republished outbox event carries the same id);
- skip a `type` it does not know or a `version` higher than it understands, without failing;
- read `data` by `type`; phones and contact names in it are masked.

Run against a local platform (`make run`):

    .venv/bin/python examples/resolution_subscriber.py --bootstrap 127.0.0.1:9092 --group county-archive

It prints one line per resolution and keeps the ids it has seen in a small JSON file (a real system would keep
them in its own database, in the same transaction as its effect).
"""

import argparse
import asyncio
import json
import signal
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer

TOPIC = "qhwy.case-events.v1"
UNDERSTOOD = {"case.resolved": 1, "case.closed": 1}  # type -> highest version this subscriber reads


class SeenIds:
    """The event ids already handled (here a file; in a real system a table written with the effect)."""

    def __init__(self, path: Path):
        self.path = path
        self.ids: set[str] = set(json.loads(path.read_text())) if path.exists() else set()

    def __contains__(self, event_id: str) -> bool:
        return event_id in self.ids

    def add(self, event_id: str) -> None:
        self.ids.add(event_id)
        self.path.write_text(json.dumps(sorted(self.ids)))


def handle(event: dict[str, Any], seen: SeenIds) -> str:
    """Apply one event; returns what happened (for the log line)."""
    event_id, kind, version = event.get("event_id"), event.get("type"), event.get("version", 1)
    if not event_id or kind not in UNDERSTOOD or version > UNDERSTOOD[kind]:
        return "skipped"
    if event_id in seen:
        return "duplicate"
    data = event.get("data", {})
    if kind == "case.resolved":
        print(f"resolved  case={event['case_id']} on_time={data.get('on_time')} by={data.get('by')}: "
              f"{data.get('resolution')}")
    else:
        print(f"closed    case={event['case_id']} at {data.get('closed_at')}")
    seen.add(event_id)
    return "applied"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--group", default="example-resolution-subscriber")
    parser.add_argument("--topic", default=TOPIC, help="with a namespace prefix if the platform uses one")
    parser.add_argument("--seen-file", type=Path, default=Path("resolution-subscriber-seen.json"))
    args = parser.parse_args()
    seen = SeenIds(args.seen_file)
    consumer = AIOKafkaConsumer(args.topic, bootstrap_servers=args.bootstrap, group_id=args.group,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await consumer.start()
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for record in records:
                    try:
                        event = json.loads(record.value)
                    except ValueError:
                        continue  # not JSON: not a case event; a real system would log it
                    handle(event, seen)
            if batch:
                await consumer.commit()  # after the effects: a crash before this redelivers, ids absorb it
    finally:
        await consumer.stop()


if __name__ == "__main__":
    asyncio.run(main())
