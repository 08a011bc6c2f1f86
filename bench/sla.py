"""make bench-sla: the sla timer sweep with 100,000 open cases in the store.

Seeds N open clock records (most due days from now; DUE of them due over SPREAD seconds, starting once the service
has had time to start and load its index), runs `python -m services.sla` against them on its own database prefix
and topic namespace, and prints: the start-up read that fills the in-memory timer index and gauge tally, one gauge
refresh from that tally, the service's own sweep-duration histogram, how far past its deadline each `case.overdue`
reached the topic (lag p50/p99/max, from the Kafka record timestamps), and the service's memory. Everything it
created is removed at the end.

On FerretDB an update or delete scans the whole collection (about 0.2 s per update with 20,000 records), an insert
or an `_id` read does not (about 1 ms). A firing is therefore two `_id` reads and two inserts (its firing record and
its "published" mark) and no update of the clock record (docs/ferretdb.md), so the lag should not grow with N.

Needs the broker and the store running (`make infra-up`). Options: --cases, --due, --spread (seconds), --gauges
(also time the store-wide $group the service no longer runs). BENCH_SLA_LOG_LEVEL=INFO shows the service's log.
"""

import argparse
import asyncio
import json
import os
import random
import re
import socket
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from aiokafka import AIOKafkaConsumer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.sla import domain  # noqa: E402
from shared.messaging import partition_of  # noqa: E402
from services.sla.store import SlaStore  # noqa: E402
from services.sla.tally import FIELDS as TALLY_FIELDS, Tally  # noqa: E402
from shared.contracts.envelope import CaseEvent  # noqa: E402
from shared.contracts.case_events import Assigned  # noqa: E402
from bench.common import delete_namespace, stop  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import mongo_client  # noqa: E402
from shared.workdays import default_calendar  # noqa: E402


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rss_kib(pid: int) -> tuple[int, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1))
    peak = int(re.search(r"VmHWM:\s+(\d+)", status).group(1))
    return rss, peak


async def seed(store: SlaStore, policy: domain.Policy, ids: range, due: int, t0: datetime, spread: float,
               partitions: int) -> dict[str, datetime]:
    """Clock records as the consumer would leave them; returns the deadlines that fall due during the run."""
    rng = random.Random(7)
    due_soon: dict[str, datetime] = {}
    batch: list[dict] = []
    departments = ["gongdian", "fagai", "jingxin", "zhujian", "shichang", "renshe"]
    for i in ids:
        case_id = f"bench-{i:06d}"
        if i < due:
            due_at = t0 + timedelta(seconds=rng.uniform(2, spread))
            started = due_at - timedelta(days=1)
        else:
            started = t0 - timedelta(hours=rng.uniform(0, 48))
            due_at = t0 + timedelta(days=rng.uniform(2, 5))  # due after the run: the timers wait
        event = CaseEvent.new(cause=f"bench:{case_id}", type="case.assigned", case_id=case_id, occurred_at=started,
                              data=Assigned(department=departments[i % len(departments)], complexity="general",
                                            region="majin", escalation_level=1,
                                            due_at=due_at.replace(microsecond=due_at.microsecond // 1000 * 1000)))
        change = domain.track(None, event, policy, partition_of(case_id, partitions))
        doc = {"_id": case_id, **change.set, "processed": [event.event_id], "outbox": {}, "pending_since": None,
               "rev": 1}
        if i < due:  # the reminders went out yesterday: what is left is the deadline itself
            doc["fired"] = [t.id for t in domain.timers(doc, policy) if t.kind == "reminder"]
            due_soon[case_id] = doc["due_at"]
        else:  # what fell due before the run went out already: only the measured deadlines fire during it
            doc["fired"] = [t.id for t in domain.timers(doc, policy) if t.at <= t0]
        doc.update(domain.schedule(doc, policy))
        batch.append(doc)
        if len(batch) == 5000:
            await store.deadlines.collection.insert_many(batch, ordered=False)
            batch = []
    if batch:
        await store.deadlines.collection.insert_many(batch, ordered=False)
    return due_soon


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=500)
    parser.add_argument("--spread", type=float, default=60.0, help="deadlines fall due over this many seconds")
    parser.add_argument("--gauges", action="store_true", help="also time one gauge refresh (slow on FerretDB)")
    args = parser.parse_args()

    run = f"bsla{uuid.uuid4().hex[:8]}"
    settings = Settings(db_prefix=run, topic_namespace=run)
    mongo = mongo_client(settings)
    db = mongo[settings.database("sla")]
    store = SlaStore(db, lambda: datetime.now(UTC))
    from shared.org import load_organisation

    org = load_organisation(settings.org_file)
    policy = domain.Policy(calendar=default_calendar(), top_level=org.top_escalation_level,
                           windows={2: 7 * 3600.0, 3: 7 * 3600.0})
    topic = settings.topic("qhwy.case-events.v1")
    proc = None
    try:
        await store.ensure_indexes()
        started = time.perf_counter()
        # the cases due days from now first; then, with the start-up time known, the ones due during the run
        await seed(store, policy, range(args.due, args.cases), args.due, datetime.now(UTC), args.spread,
                   settings.topic_partitions)
        seeded = time.perf_counter() - started

        # what a starting instance reads once to fill its in-memory timer index and gauge tally
        t = time.perf_counter()
        entries = await store.index_records(TALLY_FIELDS).to_list()
        index_load = time.perf_counter() - t
        t0 = datetime.now(UTC) + timedelta(seconds=30 + 3 * index_load + args.due / 50)
        due = await seed(store, policy, range(args.due), args.due, t0, args.spread, settings.topic_partitions)
        print(f"seeded {args.cases:,} open cases ({args.due:,} due over {args.spread:.0f} s from start-up) in "
              f"{seeded + (time.perf_counter() - t) - index_load:.1f} s")
        tally = Tally()
        for doc in entries:
            tally.set(doc["_id"], doc)
        t = time.perf_counter()
        tally.counts(datetime.now(UTC), datetime.now(UTC) + timedelta(hours=4))
        tally_refresh = time.perf_counter() - t
        gauges = None
        if args.gauges:
            t = time.perf_counter()
            await store.gauges(datetime.now(UTC), datetime.now(UTC) + timedelta(hours=4))
            gauges = time.perf_counter() - t

        port = free_port()
        env = {**os.environ, "QHWY_DB_PREFIX": run, "QHWY_TOPIC_NAMESPACE": run, "QHWY_HTTP_PORT": str(port),
               "QHWY_LOG_FORMAT": "json", "QHWY_LOG_LEVEL": os.environ.get("BENCH_SLA_LOG_LEVEL", "WARNING"),
               "QHWY_SLA_TIMER_INTERVAL_SECONDS": "1"}
        log = open(f"/tmp/{run}-sla.log", "wb")
        proc = subprocess.Popen([sys.executable, "-m", "services.sla"], cwd=REPO, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"sla did not start; see /tmp/{run}-sla.log")
            if datetime.now(UTC) > t0:
                print("warning: the service started after the first deadlines; their lag includes start-up")
            rss_idle, _ = rss_kib(proc.pid)

            consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap,
                                        auto_offset_reset="earliest", group_id=None)
            await consumer.start()
            lags: dict[str, float] = {}
            # until the last deadline has had time to fire (t0 lies beyond the service's own start-up read)
            deadline = time.monotonic() + max(0.0, (t0 - datetime.now(UTC)).total_seconds()) + args.spread + 180
            try:
                while len(lags) < len(due) and time.monotonic() < deadline:
                    batches = await consumer.getmany(timeout_ms=500)
                    for records in batches.values():
                        for record in records:
                            event = json.loads(record.value)
                            if event["type"] == "case.overdue" and event["case_id"] in due:
                                published = datetime.fromtimestamp(record.timestamp / 1000, UTC)
                                lags.setdefault(event["case_id"], (published - due[event["case_id"]]).total_seconds())
            finally:
                await consumer.stop()
            metrics = (await client.get("/metrics")).text
        rss, peak = rss_kib(proc.pid)

        def metric(name: str) -> float:
            match = re.search(rf"^{name} ([0-9.e+-]+)$", metrics, re.M)
            return float(match.group(1)) if match else float("nan")

        sweeps = metric("qhwy_sla_sweep_duration_seconds_count")
        sweep_sum = metric("qhwy_sla_sweep_duration_seconds_sum")
        values = list(lags.values())
        print(f"timer index load at start-up ({len(entries):,} pending timers read from the store): {index_load:.1f} s")
        print(f"gauge refresh from the in-memory tally ({len(tally):,} records): {tally_refresh * 1000:.0f} ms")
        if gauges is not None:
            print(f"gauge refresh (5 grouped counts over all records): {gauges:.1f} s")
        print(f"service sweeps: {sweeps:.0f}, mean {sweep_sum / max(sweeps, 1) * 1000:.0f} ms per sweep "
              f"(incl. the firing ones)")
        buckets = re.findall(r'^qhwy_sla_sweep_duration_seconds_bucket{le="([^"]+)"} ([0-9.e+]+)$', metrics, re.M)
        print("sweep duration histogram (le: count): " + ", ".join(f"{le}: {float(n):.0f}" for le, n in buckets))
        if values:
            print(f"overdue fired: {len(values):,}/{len(due):,}; lag past the deadline (publish time): "
                  f"p50 {percentile(values, 0.5):.2f} s, p99 {percentile(values, 0.99):.2f} s, max {max(values):.2f} s")
        else:
            print(f"no overdue event seen; see /tmp/{run}-sla.log")
        print(f"sla memory: RSS {rss_idle / 1024:.0f} MiB at start, {rss / 1024:.0f} MiB after, "
              f"peak {peak / 1024:.0f} MiB")
    finally:
        stop(proc)
        await mongo.close()
        await delete_namespace(settings.kafka_bootstrap, settings.mongo_url, run)
        print(f"cleaned up database {settings.database('sla')} and topics {run}.*")


if __name__ == "__main__":
    asyncio.run(main())
