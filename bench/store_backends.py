"""make bench-store: FerretDB 1.24 on SQLite against FerretDB 1.24 on PostgreSQL, to choose the embedded store.

The SQLite FerretDB is the one already running (`--sqlite`, default 127.0.0.1:27017, deploy/ferretdb.sh). The
PostgreSQL one is started here: Debian's PostgreSQL through `deploy/postgres.sh start` (127.0.0.1:5433, left
running if it already was) and a second process of the same cached FerretDB binary (deploy/ferretdb.sh's
FERRETDB_BIN) with `--handler=postgresql` on `--postgres-ferretdb` (127.0.0.1:27018), its own state directory
and telemetry off. Everything started here is stopped at the end.

1. Micro-measure, per backend: a collection of 20,000 documents (about 1.3 KB each, a secondary index on `ref`);
   100 reads by `_id` one after the other, one `{"_id": {"$in": [100 ids]}}`, one find on the indexed `ref`, one
   `{"ref": {"$in": [100 refs]}}`; the median of 3 rounds (fresh random ids each), and FerretDB's own explain
   (whether the filter was pushed down to the backend's SQL, or the collection scanned).
2. The platform, per backend and per consumer batch unit of work (QHWY_CONSUMER_UNIT_OF_WORK false / true),
   interleaved (SQLite off, PostgreSQL off, SQLite on, PostgreSQL on) on the same Kafka: what
   `bench/load.py --paths platform --rates 50,max --max-count 300 --drain 150 --mongo <url>` runs, through
   bench/load.py's own functions, with a cleanup that gives up on a database after 30 s (a wedged FerretDB
   database never answers its drop; it is reported instead).

    .venv/bin/python bench/store_backends.py [--skip-micro] [--skip-platform] [--docs 20000]
"""

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pymongo import AsyncMongoClient, MongoClient  # noqa: E402

from bench import load  # noqa: E402
from bench.common import delete_namespace, platform_databases  # noqa: E402

RATES: list[float | None] = [50.0, None]  # --rates 50,max
MAX_COUNT, DRAIN, DURATION = 300, 150.0, 15.0
DROP_TIMEOUT_MS = 30_000


# ------------------------------------------------------------------------------------------ infrastructure


def deploy_paths() -> tuple[Path, Path]:
    """(FerretDB binary, data directory) exactly as deploy/ferretdb.sh and deploy/lib.sh compute them."""
    script = ('source deploy/lib.sh; eval "$(grep "^FERRETDB_BIN=" deploy/ferretdb.sh)"; '
              'echo "$FERRETDB_BIN"; echo "$DATA_DIR"')
    out = subprocess.run(["bash", "-c", script], cwd=REPO, check=True, capture_output=True, text=True).stdout
    binary, data_dir = out.strip().splitlines()
    return Path(binary), Path(data_dir)


def port_open(hostport: str) -> bool:
    host, port = hostport.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


def postgres(command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(REPO / "deploy/postgres.sh"), command], cwd=REPO, capture_output=True, text=True)


class PostgresFerretDB:
    """PostgreSQL (started if it is not running) and a second FerretDB on it; stop() undoes what start() did."""

    def __init__(self, listen: str):
        self.listen = listen
        self.started_postgres = False
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if postgres("status").returncode != 0:
            done = postgres("start")
            if done.returncode != 0:
                raise RuntimeError(f"deploy/postgres.sh start failed:\n{done.stderr}")
            self.started_postgres = True
        pg_url = postgres("url").stdout.strip()
        if port_open(self.listen):
            raise RuntimeError(f"{self.listen} already answers: stop that server or choose --postgres-ferretdb")
        binary, data_dir = deploy_paths()
        if not binary.exists():
            subprocess.run([str(REPO / "deploy/ferretdb.sh"), "provision"], cwd=REPO, check=True)
        state = data_dir / "ferretdb-postgresql"
        state.mkdir(parents=True, exist_ok=True)
        log = (state / "ferretdb.log").open("ab")
        self.proc = subprocess.Popen(
            [str(binary), "--handler=postgresql", f"--postgresql-url={pg_url}", f"--listen-addr={self.listen}",
             f"--state-dir={state}", "--telemetry=disable", "--debug-addr=127.0.0.1:0", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 60
        while not port_open(self.listen):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"FerretDB (postgresql) did not start; see {state / 'ferretdb.log'}")
            time.sleep(0.1)
        print(f"FerretDB (postgresql) on {self.listen} over {pg_url}, pid {self.proc.pid}", flush=True)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.started_postgres:
            postgres("stop")


def machine_state() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} (1 / 5 min), {os.cpu_count()} cores"


# ------------------------------------------------------------------------------------------ micro-measure


def timed(fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn()
    return (time.perf_counter() - started) * 1000, result


def pushdown(db: Any, filter_: dict[str, Any]) -> str:
    """FerretDB's explain: whether the filter went to the backend's SQL (`filterPushdown`), and whether the
    backend's plan uses an index."""
    try:
        plan = db.command("explain", {"find": "docs", "filter": filter_})
    except Exception as e:  # noqa: BLE001 (a note in the table, not a failure of the measure)
        return f"? ({type(e).__name__})"
    if "filterPushdown" not in plan:
        return "?"
    if not plan["filterPushdown"]:
        return "no"
    return "yes, index" if "index" in str(plan.get("queryPlanner", "")).lower() else "yes, no index"


def micro(url: str, docs: int, reads: int = 100, rounds: int = 3) -> dict[str, Any]:
    client: MongoClient[dict[str, Any]] = MongoClient(url, directConnection=True)
    name = f"storebench{uuid.uuid4().hex[:8]}"
    db = client[name]
    coll = db["docs"]
    try:
        coll.create_index("ref")
        filler = "投诉内容" * 80  # about 1 KB of UTF-8 text, as a case's content
        started = time.perf_counter()
        for start in range(0, docs, 1000):
            coll.insert_many([{"_id": f"case-{i:06d}", "ref": f"ref-{i:06d}", "rev": 1, "status": "registered",
                               "content": filler, "outbox": {}, "tags": ["a", "b"]}
                              for i in range(start, min(docs, start + 1000))])
        insert_s = time.perf_counter() - started
        figures: dict[str, list[float]] = {"by_id": [], "id_in": [], "ref_one": [], "ref_in": []}
        for _ in range(rounds):
            sample = random.sample(range(docs), reads)
            ids = [f"case-{i:06d}" for i in sample]
            refs = [f"ref-{i:06d}" for i in sample]
            ms, found = timed(lambda: [coll.find_one({"_id": i}) for i in ids])
            assert all(found), "a read by _id found nothing"
            figures["by_id"].append(ms)
            ms, found = timed(lambda: list(coll.find({"_id": {"$in": ids}})))
            assert len(found) == reads, len(found)
            figures["id_in"].append(ms)
            ms, one = timed(lambda: coll.find_one({"ref": refs[0]}))
            assert one is not None
            figures["ref_one"].append(ms)
            ms, found = timed(lambda: list(coll.find({"ref": {"$in": refs}})))
            assert len(found) == reads, len(found)
            figures["ref_in"].append(ms)
        return {"docs": docs, "insert_s": insert_s, **{k: sorted(v)[len(v) // 2] for k, v in figures.items()},
                "pushdown": {"by_id": pushdown(db, {"_id": "case-000001"}),
                             "id_in": pushdown(db, {"_id": {"$in": ["case-000001", "case-000002"]}}),
                             "ref_one": pushdown(db, {"ref": "ref-000001"}),
                             "ref_in": pushdown(db, {"ref": {"$in": ["ref-000001", "ref-000002"]}})}}
    finally:
        client.drop_database(name)
        client.close()


def print_micro(results: dict[str, dict[str, Any]]) -> None:
    docs = next(iter(results.values()))["docs"]
    print(f"\nMicro-measure: one collection of {docs:,} documents (~1.3 KB each, index on ref), "
          "median of 3 rounds, ms")
    print("(pushdown: FerretDB's explain says the filter became SQL, and whether the SQL plan uses an index; "
          "'no' = every document read and filtered in Go)")
    header = (f"{'backend':<12}{'insert s':>9}{'100 x _id':>11}{'_id $in 100':>13}{'1 x ref':>9}{'ref $in 100':>13}"
              f"   pushdown _id / _id $in / ref / ref $in")
    print(header)
    print("-" * len(header))
    for backend, r in results.items():
        p = r["pushdown"]
        print(f"{backend:<12}{r['insert_s']:>9.1f}{r['by_id']:>11.0f}{r['id_in']:>13.0f}{r['ref_one']:>9.0f}"
              f"{r['ref_in']:>13.0f}   {p['by_id']} / {p['id_in']} / {p['ref_one']} / {p['ref_in']}")


# ------------------------------------------------------------------------------------------ platform runs


@dataclass
class Run:
    backend: str
    unit_of_work: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    undropped: list[str] = field(default_factory=list)
    minutes: float = 0.0
    state_before: str = ""
    state_after: str = ""


async def drop_databases(url: str, names: list[str]) -> list[str]:
    """Drop each by name, giving up on one after DROP_TIMEOUT_MS; the names that could not be dropped."""
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(url, directConnection=True,
                                                                socketTimeoutMS=DROP_TIMEOUT_MS)
    left = []
    try:
        for name in names:
            try:
                await client.drop_database(name)
            except Exception:  # noqa: BLE001 (a wedged database: reported, the run goes on)
                left.append(name)
    finally:
        await client.close()
    return left


async def platform_run(run: Run, url: str, bootstrap: str, log_root: Path) -> None:
    """bench/load.py --paths platform --rates 50,max --max-count 300 --drain 150 --mongo <url>, one path."""
    log_dir = log_root / f"{run.backend}-uow-{'on' if run.unit_of_work else 'off'}"
    log_dir.mkdir(parents=True)
    opts = load.Options(rates=RATES, duration=DURATION, max_count=MAX_COUNT, drain=DRAIN, bootstrap=bootstrap,
                        mongo_url=url, services="intake,triage,sla,rating,sync,insight".split(","), profile=None,
                        cprofile=False, paths=["platform"], log_dir=log_dir)
    ns = load.Namespace(f"store{uuid.uuid4().hex[:8]}")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QHWY_KAFKA_BOOTSTRAP": bootstrap, "QHWY_MONGO_URL": url,
           "QHWY_CONSUMER_UNIT_OF_WORK": "true" if run.unit_of_work else "false"}
    procs = load.Processes(log_dir)
    print(f"\n== {run.backend}, unit of work {'on' if run.unit_of_work else 'off'}: namespace {ns.name}, "
          f"logs in {log_dir}; {machine_state()}", flush=True)
    run.state_before = machine_state()
    started = time.monotonic()
    try:
        run.rows = await load.bench_platform(opts, "platform", ns, env, procs)
    except RuntimeError as e:  # a service died or never became healthy
        run.error = str(e)
        print(f"  failed: {e}", flush=True)
    finally:
        procs.stop()
        run.state_after = machine_state()
        run.minutes = (time.monotonic() - started) / 60
        await delete_namespace(bootstrap, url, ns.name, databases=[])  # the topics
        run.undropped = await drop_databases(url, platform_databases(ns.name))
        if run.undropped:
            print(f"  could not drop (no answer in {DROP_TIMEOUT_MS // 1000} s): {', '.join(run.undropped)}",
                  flush=True)
    if run.rows:
        load.print_table({"platform": run.rows}, opts)


def fmt(value: float) -> str:
    return "-" if value != value else f"{value:,.0f}"


def print_platform(runs: list[Run]) -> None:
    print("\nPlatform (six services as separate processes, bench/load.py --paths platform --rates 50,max "
          f"--max-count {MAX_COUNT} --drain {DRAIN:g}); latency in ms from submission to case.triaged / case.assigned")
    header = (f"{'backend':<12}{'unit of work':>13}{'offered':>9}{'triaged/sent':>14}{'cases/s':>9}"
              f"{'tri p50':>9}{'tri p99':>9}{'asg p50':>9}{'asg p99':>9}  drained")
    print(header)
    print("-" * len(header))
    for run in runs:
        by_offer = {r["offered"]: r for r in run.rows}
        for rate in RATES:
            offered = "max" if rate is None else f"{rate:g}/s"
            label = f"{run.backend:<12}{'on' if run.unit_of_work else 'off':>13}{offered:>9}"
            r = by_offer.get(offered)
            if r is None:
                print(f"{label}{'-':>14}  {'failed: ' + run.error if run.error else 'not run (previous stage behind)'}")
                continue
            print(f"{label}{str(r['triaged']) + '/' + str(r['sent']):>14}{r['throughput']:>9.1f}"
                  f"{fmt(r['triaged_p50']):>9}{fmt(r['triaged_p99']):>9}{fmt(r['assigned_p50']):>9}"
                  f"{fmt(r['assigned_p99']):>9}  {'yes' if r['complete'] else 'NO'}")
    print("-" * len(header))
    for run in runs:
        print(f"{run.backend} / unit of work {'on' if run.unit_of_work else 'off'}: {run.minutes:.1f} min; before: "
              f"{run.state_before}; after: {run.state_after}"
              + (f"; databases left (wedged): {', '.join(run.undropped)}" if run.undropped else ""))


# ------------------------------------------------------------------------------------------ main


async def platform_runs(urls: dict[str, str], bootstrap: str) -> list[Run]:
    log_root = Path(tempfile.mkdtemp(prefix="bench-store-"))
    runs = [Run(backend, uow) for uow in (False, True) for backend in urls]  # pairs side by side in time
    for run in runs:
        await platform_run(run, urls[run.backend], bootstrap, log_root)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sqlite", default="127.0.0.1:27017", help="the running FerretDB on SQLite")
    parser.add_argument("--postgres-ferretdb", default="127.0.0.1:27018", help="where to start FerretDB on PostgreSQL")
    parser.add_argument("--kafka", default=os.environ.get("QHWY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--docs", type=int, default=20_000, help="documents in the micro-measure's collection")
    parser.add_argument("--skip-micro", action="store_true")
    parser.add_argument("--skip-platform", action="store_true")
    args = parser.parse_args()
    if not port_open(args.sqlite):
        sys.exit(f"no FerretDB (SQLite) on {args.sqlite}: deploy/infra.sh up")
    urls = {"sqlite": f"mongodb://{args.sqlite}", "postgresql": f"mongodb://{args.postgres_ferretdb}"}
    print(f"store backends benchmark, {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {machine_state()}",
          flush=True)
    pg = PostgresFerretDB(args.postgres_ferretdb)
    try:
        pg.start()
        micros = {}
        if not args.skip_micro:
            for backend, url in urls.items():
                micros[backend] = micro(url, args.docs)
                print(f"  micro-measure {backend} done; {machine_state()}", flush=True)
        runs = [] if args.skip_platform else asyncio.run(platform_runs(urls, args.kafka))
    finally:
        pg.stop()
    print(f"\n== store backends benchmark, ended {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; "
          f"{machine_state()}")
    if micros:
        print_micro(micros)
    if runs:
        print_platform(runs)


if __name__ == "__main__":
    main()
