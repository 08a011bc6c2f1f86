"""make bench-console: the console's pages and its own API with N cases in its read store.

Fills the console's collections directly (the documents its case-events consumer writes: `cases` with a short
timeline each, the slim `search` copies, `tracking`) in a fresh database, starts `python -m services.console` on
it (real broker and store, its own topic namespace), then times what the pages ask: the page itself, sign-in
(scrypt), who-am-I, the newest cases, a tracking number, an enterprise/text search, a unit's search, a deep page,
a case timeline. Prints p50/p95/max per request; removes the database and topics afterwards.

    .venv/bin/python bench/console.py [--cases 100000] [--repeat 20]
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.console import domain  # noqa: E402
from services.console.store import LISTED, ConsoleStore  # noqa: E402
from shared.org import load_organisation  # noqa: E402
from bench.common import delete_namespace, stop  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.store import mongo_client  # noqa: E402

PROBLEMS = ("申请电力增容三个月没有答复", "厂区周边道路破损影响货车通行", "研发补助资金迟迟没有兑付",
            "招工困难普工缺口较大", "排污许可证续期材料反复退回", "园区供水压力不足影响生产")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def case_doc(n: int, start: datetime, departments: list[str], regions: list[str]) -> dict:
    received = start + timedelta(minutes=n)
    department = departments[n % len(departments)]
    doc: dict = {"_id": f"bench-{n:07d}", "processed": [f"e{n}-1", f"e{n}-2", f"e{n}-3"], "outbox": {},
                 "pending_since": None, "rev": 3, "timeline": []}
    events = [("case.registered", {"channel": "qrcode", "tracking_no": f"QH{20260000000 + n:013d}",
                                   "content": f"{PROBLEMS[n % len(PROBLEMS)]}（编号{n}）",
                                   "enterprise": {"name": f"开化县基准{n % 5000}号有限公司"}}),
              ("case.triaged", {"screening": "accepted", "department": department, "region": regions[n % len(regions)],
                                "complexity": "simple", "decided_by": "auto", "needs_review": False}),
              ("case.assigned", {"department": department, "co_departments": [], "region": regions[n % len(regions)],
                                 "complexity": "simple", "escalation_level": 1,
                                 "due_at": (received + timedelta(days=1)).isoformat()})]
    for i, (kind, data) in enumerate(events):
        fields, entry = domain.case_change(doc, event_id=f"e{n}-{i}", event_type=kind,
                                           occurred_at=received + timedelta(seconds=i), data=data)
        doc.update(fields)
        doc["timeline"].append(entry)
    return doc


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    return (f"p50 {statistics.median(ordered) * 1000:7.1f} ms   p95 {p95 * 1000:7.1f} ms   "
            f"max {ordered[-1] * 1000:7.1f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()

    run = f"bcon{uuid.uuid4().hex[:8]}"
    settings = Settings(db_prefix=run, topic_namespace=run)
    org = load_organisation(settings.org_file)
    departments = [d.code for d in org.departments]
    regions = [r.code for r in org.regions]
    mongo = mongo_client(settings)
    store = ConsoleStore(mongo[settings.database("console")], lambda: datetime.now(UTC))
    proc = None
    start = datetime(2025, 1, 1, tzinfo=UTC)
    try:
        await store.ensure_indexes()
        t = time.perf_counter()
        for first in range(0, args.cases, args.batch):
            docs = [case_doc(n, start, departments, regions) for n in range(first, min(first + args.batch, args.cases))]
            await store.cases.collection.insert_many(docs, ordered=False)
            # what ConsoleStore.index writes after each change, in bulk
            await store.slim.insert_many([{"_id": d["_id"], **{k: d[k] for k in (*LISTED, "units", "enterprise_key")
                                                              if k in d}} for d in docs], ordered=False)
            await store.tracking.insert_many([{"_id": d["tracking_no"], "case_id": d["_id"]} for d in docs],
                                             ordered=False)
        seeded = time.perf_counter() - t
        print(f"seeded {args.cases:,} cases into the console's read store in {seeded:.1f} s "
              f"({args.cases / max(seeded, 1e-9):,.0f}/s)")

        port = free_port()
        env = {**os.environ, "QHWY_DB_PREFIX": run, "QHWY_TOPIC_NAMESPACE": run, "QHWY_HTTP_PORT": str(port),
               "QHWY_LOG_FORMAT": "json", "QHWY_LOG_LEVEL": "INFO"}
        log_path = f"/tmp/{run}-console.log"
        proc = subprocess.Popen([sys.executable, "-m", "services.console"], cwd=REPO, env=env,
                                stdout=open(log_path, "wb"), stderr=subprocess.STDOUT)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
            for _ in range(600):
                try:
                    if (await client.get("/healthz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"console did not start; see {log_path}")
            # search answers from memory once the rows are read (until then the store answers): wait for it
            for _ in range(3000):
                loaded = [line for line in Path(log_path).read_text(errors="replace").splitlines()
                          if "search_index_loaded" in line]
                if loaded:
                    entry = json.loads(loaded[0])
                    print(f"search index loaded at start: {entry['cases']:,} cases in {entry['seconds']:.1f} s; "
                          f"console RSS {rss_mib(proc.pid):.0f} MiB")
                    break
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"the search index did not load; see {log_path}")

            async def login(user: str) -> dict[str, str]:
                answer = await client.post("/api/v1/console/login",
                                           json={"username": user, "password": "kaihua-dev-2026"})
                answer.raise_for_status()
                return {"authorization": f"Bearer {answer.json()['token']}"}

            leader, handler = await login("li.si"), await login("wang.wu")
            rng = random.Random(7)
            probes = {
                "GET /console/ (the page)": lambda: client.get("/console/"),
                "POST login (scrypt check)": lambda: client.post("/api/v1/console/login", json={
                    "username": "li.si", "password": "kaihua-dev-2026"}),
                "GET me": lambda: client.get("/api/v1/console/me", headers=leader),
                "search: newest 20": lambda: client.get("/api/v1/console/search", headers=leader),
                "search: tracking number": lambda: client.get("/api/v1/console/search", headers=leader, params={
                    "q": f"QH{20260000000 + rng.randrange(args.cases):013d}"}),
                "search: enterprise text": lambda: client.get("/api/v1/console/search", headers=leader, params={
                    "q": f"基准{rng.randrange(5000)}号"}),
                "search: a unit's newest 20": lambda: client.get("/api/v1/console/search", headers=handler),
                "search: page at offset 5000": lambda: client.get("/api/v1/console/search", headers=leader,
                                                                  params={"offset": 5000}),
                "case timeline": lambda: client.get(
                    f"/api/v1/console/cases/bench-{rng.randrange(args.cases):07d}/timeline", headers=leader),
            }
            print(f"{args.repeat} requests each, one at a time, {args.cases:,} cases in the store "
                  f"(machine shared with other work: compare runs, not absolutes):")
            for name, probe in probes.items():
                times = []
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    answer = await probe()
                    times.append(time.perf_counter() - t)
                    if answer.status_code != 200:
                        raise SystemExit(f"{name}: {answer.status_code} {answer.text[:200]}")
                print(f"  {name:32s} {stats(times)}")
    finally:
        stop(proc)
        await mongo.close()
        await delete_namespace(settings.kafka_bootstrap, settings.mongo_url, run)
        print(f"cleaned up database {settings.database('console')} and topics {run}.*")


if __name__ == "__main__":
    asyncio.run(main())
