"""make bench: the platform under load, against plain aiokafka relays over the same hops.

Paths, each measured alone in turn on the same broker and store (`--paths`, default all, in this order):

- relay-1by1 (`relay`): two relay processes (bench/relay.py): ingress -> relay 1 -> middle topic -> relay 2 ->
  out topic, the second emitting a "case.triaged" and a "case.assigned" per record, as triage does; one
  message at a time (produce and wait, commit, next);
- relay-batch (`batch`): the same relays batched (up to 500 records per poll, pipelined produce, one commit);
- relay-store (`store`): batched, plus one bulk write per batch to FerretDB of one document per case per hop
  (UpdateOne by _id, upsert; the run's own database), as a service keeps its read model;
- platform (`platform`): every service of --services as its own process (`python -m services.<name>`);
- platform-1p (`single`): every service in one process (`python -m services`, as `make run`).

Each path has its own topics (and the platform paths their own database prefix), all under the run's namespace.
For each offered rate a load generator (its own process: `bench/load.py generate`) sends distinct submissions
(shipped corpus texts that triage accepts, a distinct enterprise each) to the ingress topic, paced at the rate
("max": all at once). An observer reads the ingress topic and the case-events topic and takes the latency of
each case from the Kafka timestamp of its submission record to that of its `case.triaged` and `case.assigned`
records (both stamped by their producers on this machine). Throughput is cases triaged per second from the
first submission of the stage to the last `case.triaged`. Each stage drains before the next starts. The table
ends with the ratios platform path / relay path at each offered rate. Everything created (topics, databases)
is deleted at the end.

    .venv/bin/python bench/load.py [--rates 5,20,50,max] [--duration 15] [--max-count 300] [--drain 45]
                                   [--paths relay,batch,store,platform,single] [--services intake,triage,...]
                                   [--profile DIR] [--cprofile] [--skip-relay]
"""

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaProducer  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from bench.common import TopicReader, delete_namespace, platform_databases  # noqa: E402

INGRESS, CASE_EVENTS = "qhwy.submissions.v1", "qhwy.case-events.v1"


# ------------------------------------------------------------------------------------------ load generator


def corpus_texts() -> list[dict[str, Any]]:
    """Corpus cases triage accepts (train split: it is confident on them), so most end in case.assigned."""
    from services.triage.classifier import load_corpus

    return [c for c in load_corpus("train") if c["label"]["screening"] == "accepted" and c["label"]["department"]]


def make_submission(run: str, n: int, texts: list[dict[str, Any]]) -> dict[str, Any]:
    from tests.integration.harness import submission, valid_uscc

    c = texts[n % len(texts)]
    sid = f"{run}-{n}"
    return submission(sid, submission_id=sid, channel="qrcode", content=f"{c['content']}（{sid}）",
                      region_hint=c["region_hint"],
                      enterprise={"name": f"{c['enterprise']['name']}{run}{n}", "uscc": valid_uscc(sid),
                                  "contact_name": "张三", "contact_phone": "13800001234"})


async def generate(bootstrap: str, topic: str, run: str, rate: float | None, count: int) -> None:
    texts = corpus_texts()
    bodies = [json.dumps(make_submission(run, n, texts), ensure_ascii=False).encode() for n in range(count)]
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    try:
        started = time.monotonic()
        for n, body in enumerate(bodies):
            if rate:
                delay = started + n / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            await producer.send(topic, body, key=f"{run}-{n}".encode())
        await producer.flush()
        elapsed = time.monotonic() - started
    finally:
        await producer.stop()
    print(json.dumps({"sent": count, "seconds": elapsed}), flush=True)


# ------------------------------------------------------------------------------------------ observer


@dataclass
class Stage:
    name: str
    rate: float | None
    sent_ms: dict[str, int] = field(default_factory=dict)  # submission id -> ingress record timestamp
    triaged_ms: dict[str, int] = field(default_factory=dict)
    assigned_ms: dict[str, int] = field(default_factory=dict)
    expect_assigned: set[str] = field(default_factory=set)
    send_seconds: float = 0.0
    expected: int = 0

    def done(self) -> bool:
        return (len(self.triaged_ms) >= self.expected
                and all(s in self.assigned_ms for s in self.expect_assigned))


class Observer(TopicReader):
    """Reads the ingress and the output topic from the start and files every record under its stage."""

    def __init__(self, bootstrap: str, ingress: str, output: str, case_id_of: Any):
        super().__init__(bootstrap, ingress, output)
        self.ingress = ingress
        self.case_id_of = case_id_of
        self.stages: dict[str, Stage] = {}  # run prefix -> stage
        self.by_case: dict[str, tuple[Stage, str]] = {}

    def add(self, run: str, stage: Stage, count: int) -> None:
        self.stages[run] = stage
        stage.expected = count
        for n in range(count):
            sid = f"{run}-{n}"
            self.by_case[self.case_id_of(sid)] = (stage, sid)

    def on_record(self, record: Any) -> None:
        value = json.loads(record.value)
        if record.topic == self.ingress:
            run = value.get("submission_id", "").rsplit("-", 1)[0]
            if run in self.stages:
                self.stages[run].sent_ms[value["submission_id"]] = record.timestamp
            return
        found = self.by_case.get(value.get("case_id"))
        if found is None:
            return
        stage, sid = found
        if value.get("type") == "case.triaged":
            stage.triaged_ms.setdefault(sid, record.timestamp)
            data = value.get("data", {})
            if data.get("screening", "accepted") == "accepted" and not data.get("needs_review"):
                stage.expect_assigned.add(sid)
        elif value.get("type") == "case.assigned":
            stage.assigned_ms.setdefault(sid, record.timestamp)


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def summarise(stage: Stage) -> dict[str, Any]:
    sent = stage.sent_ms
    triaged = [stage.triaged_ms[s] - sent[s] for s in stage.triaged_ms if s in sent]
    assigned = [stage.assigned_ms[s] - sent[s] for s in stage.assigned_ms if s in sent]
    first = min(sent.values()) if sent else 0
    last = max(stage.triaged_ms.values()) if stage.triaged_ms else first
    return {"offered": "max" if stage.rate is None else f"{stage.rate:g}/s", "sent": len(sent),
            "triaged": len(stage.triaged_ms), "assigned": len(stage.assigned_ms),
            "throughput": len(stage.triaged_ms) / max((last - first) / 1000, 1e-3),
            **{f"triaged_p{p}": percentile(triaged, p) for p in (50, 95, 99)},
            **{f"assigned_p{p}": percentile(assigned, p) for p in (50, 95, 99)}}


# ------------------------------------------------------------------------------------------ processes


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Processes:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.log_dir / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()

    def check(self) -> None:
        for name, proc in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}; see {self.log_dir}/{name}.log")


async def wait_healthy(ports: dict[str, int], procs: Processes, timeout: float) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    pending = dict(ports)
    async with httpx.AsyncClient() as client:
        while pending:
            procs.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"not healthy in {timeout:.0f} s: {', '.join(pending)}; see {procs.log_dir}")
            for name, port in list(pending.items()):
                try:
                    if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                        del pending[name]
                except httpx.TransportError:
                    pass
            await asyncio.sleep(0.5)


async def wait_files(paths: list[Path], procs: Processes, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths):
        procs.check()
        if time.monotonic() > deadline:
            raise RuntimeError(f"relays not ready in {timeout:.0f} s; see {procs.log_dir}")
        await asyncio.sleep(0.2)


async def create_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, num_partitions=partitions, replication_factor=1) for n in names])
    finally:
        await admin.close()


# ------------------------------------------------------------------------------------------ paths

# The paths a run measures, by --paths name: their labels in the table.
PATHS = {"relay": "relay-1by1", "batch": "relay-batch", "store": "relay-store", "platform": "platform",
         "single": "platform-1p"}
RELAYS = ("relay", "batch", "store")
PLATFORMS = ("platform", "single")


@dataclass
class Options:
    rates: list[float | None]
    duration: float
    max_count: int
    drain: float
    bootstrap: str
    mongo_url: str
    services: list[str]
    profile: Path | None
    cprofile: bool
    paths: list[str]
    log_dir: Path


@dataclass(frozen=True)
class Namespace:
    """Every topic and database name of a run (all under one prefix), so that the end of the run deletes them."""

    name: str

    def relay_topics(self, path: str) -> list[str]:
        return [f"{self.name}.{path}.{t}" for t in ("in", "mid", "out")]

    @property
    def relay_database(self) -> str:
        return f"{self.name}_relay"

    def platform(self, path: str) -> tuple[str, str]:
        """(topic namespace, database prefix) of a platform path: each starts on empty topics and databases."""
        return (self.name, self.name) if path == "platform" else (f"{self.name}.1p", f"{self.name}_1p")

    def databases(self) -> list[str]:
        return [*platform_databases(self.name), *platform_databases(f"{self.name}_1p"), self.relay_database]


async def run_stages(opts: Options, label: str, ingress: str, output: str, case_id_of: Any,
                     env: dict[str, str], procs: Processes) -> list[dict[str, Any]]:
    observer = Observer(opts.bootstrap, ingress, output, case_id_of)
    await observer.start()
    results = []
    tag = "".join(ch for ch in label if ch.isalnum())  # the submission ids' prefix: "<tag><stage>x<random>-<n>"
    try:
        for i, rate in enumerate(opts.rates):
            run = f"{tag}{i}x{uuid.uuid4().hex[:6]}"
            count = opts.max_count if rate is None else max(1, int(rate * opts.duration))
            stage = Stage(f"{label} {rate or 'max'}", rate)
            observer.add(run, stage, count)
            generator = await asyncio.create_subprocess_exec(
                sys.executable, str(Path(__file__).resolve()), "generate", "--bootstrap", opts.bootstrap,
                "--topic", ingress, "--run", run, "--count", str(count), *(["--rate", str(rate)] if rate else []),
                cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE)
            out, _ = await generator.communicate()
            stage.send_seconds = json.loads(out.decode().strip().splitlines()[-1])["seconds"]
            deadline = time.monotonic() + opts.drain
            while not stage.done() and time.monotonic() < deadline:
                procs.check()
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)  # the last case.assigned of a late case.triaged
            summary = summarise(stage)
            summary["complete"] = stage.done()
            results.append(summary)
            print(f"  {label:<12} {summary['offered']:>6}: {summary['triaged']}/{summary['sent']} triaged, "
                  f"{summary['throughput']:.1f}/s, p50 to triaged {summary['triaged_p50']:.0f} ms"
                  f"{'' if summary['complete'] else '  (did not drain in time)'}", flush=True)
            if not stage.done():
                break  # the path is behind: a higher rate would only measure the backlog
    finally:
        await observer.stop()
    return results


async def bench_relay(opts: Options, path: str, ns: Namespace, env: dict[str, str],
                      procs: Processes) -> list[dict[str, Any]]:
    """Two relay processes of one variant: ingress -> relay 1 -> middle topic -> relay 2 -> output topic."""
    from bench.relay import relay_case_id

    topics = ns.relay_topics(path)
    await create_topics(opts.bootstrap, topics, 3)
    variant = {"relay": [], "batch": ["--batched"],
               "store": ["--batched", "--store", opts.mongo_url, "--database", ns.relay_database]}[path]
    hops = ((topics[0], topics[1], "case.registered"), (topics[1], topics[2], "case.triaged,case.assigned"))
    ready = []
    for i, (source, target, emit) in enumerate(hops, start=1):
        ready.append(opts.log_dir / f"{path}{i}.ready")
        procs.start(f"{path}{i}", [sys.executable, str(REPO / "bench/relay.py"), "--bootstrap", opts.bootstrap,
                                   "--source", source, "--target", target, "--group", f"{ns.name}.{path}{i}",
                                   "--emit", emit, "--ready-file", str(ready[-1]), *variant,
                                   *(["--collection", f"hop{i}"] if path == "store" else [])], env)
    await wait_files(ready, procs, 120)
    return await run_stages(opts, PATHS[path], topics[0], topics[2], lambda sid: relay_case_id({"submission_id": sid}),
                            env, procs)


def start_service(opts: Options, procs: Processes, name: str, module: str, env: dict[str, str]) -> None:
    """`python -m <module>` (under cProfile with --cprofile), its store commands profiled with --profile."""
    argv = [sys.executable, "-m", module]
    if opts.profile:  # every store command counted and timed (shared/store.py CommandProfile)
        opts.profile.mkdir(parents=True, exist_ok=True)
        env = {**env, "QHWY_STORE_PROFILE": str(opts.profile / f"{name}.store.json")}
    if opts.cprofile:
        opts.profile = opts.profile or opts.log_dir
        argv = [sys.executable, "-m", "cProfile", "-o", str(opts.profile / f"{name}.pstats"), "-m", module]
    procs.start(name, argv, env)


async def bench_platform(opts: Options, path: str, ns: Namespace, base_env: dict[str, str],
                         procs: Processes) -> list[dict[str, Any]]:
    """"platform": every service of --services as its own process; "single": `python -m services` (all of
    services/registry.py in one process, as `make run`)."""
    from services.intake.domain import case_id_for

    topic_namespace, db_prefix = ns.platform(path)
    env = {**base_env, "QHWY_TOPIC_NAMESPACE": topic_namespace, "QHWY_DB_PREFIX": db_prefix,
           "QHWY_LOG_LEVEL": "WARNING", "QHWY_LOG_FORMAT": "json"}
    processes = {name: f"services.{name}" for name in opts.services} if path == "platform" else {"all": "services"}
    ports = {name: free_port() for name in processes}
    for name, module in processes.items():
        start_service(opts, procs, name, module, {**env, "QHWY_HTTP_PORT": str(ports[name])})
    started = time.monotonic()
    await wait_healthy(ports, procs, 300)
    print(f"  {PATHS[path]}: {len(ports)} process(es) healthy in {time.monotonic() - started:.0f} s", flush=True)
    return await run_stages(opts, PATHS[path], f"{topic_namespace}.{INGRESS}", f"{topic_namespace}.{CASE_EVENTS}",
                            case_id_for, env, procs)


async def bench(opts: Options) -> tuple[dict[str, list[dict[str, Any]]], list[str]]:
    """Each path in turn on the same broker and store, alone on the machine; (rows by label, failed labels)."""
    ns = Namespace(f"load{uuid.uuid4().hex[:8]}")
    base_env = {**os.environ, "PYTHONUNBUFFERED": "1", "QHWY_KAFKA_BOOTSTRAP": opts.bootstrap,
                "QHWY_MONGO_URL": opts.mongo_url}
    procs = Processes(opts.log_dir)
    results: dict[str, list[dict[str, Any]]] = {}
    failed: list[str] = []
    print(f"load benchmark: namespace {ns.name}, logs in {opts.log_dir}", flush=True)
    try:
        for path in opts.paths:
            try:
                if path in RELAYS:
                    results[PATHS[path]] = await bench_relay(opts, path, ns, base_env, procs)
                else:
                    results[PATHS[path]] = await bench_platform(opts, path, ns, base_env, procs)
            except RuntimeError as e:  # a process died or never became ready: the other paths still run
                print(f"  {PATHS[path]} failed: {e}", flush=True)
                failed.append(PATHS[path])
            finally:
                procs.stop()  # SIGTERM: a profiled service writes its profile on the way out
        return results, failed
    finally:
        procs.stop()
        await delete_namespace(opts.bootstrap, opts.mongo_url, ns.name, ns.databases())


def ratio(a: float, b: float) -> str:
    return "-" if not b or a != a or b != b else f"x{a / b:.2f}" if a / b < 10 else f"x{a / b:.0f}"


def print_ratios(results: dict[str, list[dict[str, Any]]], opts: Options) -> None:
    """Platform path / relay variant at each offered rate, for throughput and latency to case.triaged."""
    offered = ["max" if r is None else f"{r:g}/s" for r in opts.rates]
    pairs = [(p, r) for p in (PATHS[k] for k in PLATFORMS) if results.get(p)
             for r in (PATHS[k] for k in RELAYS) if results.get(r)]
    if not pairs:
        return
    by_offer = {label: {row["offered"]: row for row in rows} for label, rows in results.items()}
    for metric, title in (("throughput", "cases/s"), ("triaged_p50", "p50 to triaged"),
                          ("triaged_p99", "p99 to triaged")):
        print(f"\n{'ratio of ' + title:<32}" + "".join(f"{o:>9}" for o in offered))
        for p, r in pairs:
            cells = [ratio(by_offer[p][o][metric], by_offer[r][o][metric])
                     if o in by_offer[p] and o in by_offer[r] else "-" for o in offered]
            print(f"{p + ' / ' + r:<32}" + "".join(f"{c:>9}" for c in cells))


def print_table(results: dict[str, list[dict[str, Any]]], opts: Options) -> None:
    print()
    print(f"Load benchmark, real Kafka + FerretDB; {os.cpu_count()} cores; stages of {opts.duration:g} s ('max': "
          f"{opts.max_count} at once)")
    print("relay-1by1 / relay-batch / relay-store: two relay processes (bench/relay.py) one message at a time / "
          "batched / batched + one bulk store write per batch")
    print(f"platform: {', '.join(opts.services)} as separate processes; platform-1p: `python -m services` (every "
          "service of services/registry.py in one process, as `make run`)")
    print("latency in ms from the submission's Kafka timestamp to the event's; throughput = cases triaged per s")
    header = (f"{'path':<13}{'offered':>8}{'sent':>6}{'triaged':>8}{'assigned':>9}{'cases/s':>9}"
              f"{'tri p50':>9}{'p95':>8}{'p99':>8}{'asg p50':>9}{'p95':>8}{'p99':>8}")
    print(header)
    print("-" * len(header))
    for label, rows in results.items():
        for r in rows:
            print(f"{label:<13}{r['offered']:>8}{r['sent']:>6}{r['triaged']:>8}{r['assigned']:>9}"
                  f"{r['throughput']:>9.1f}{r['triaged_p50']:>9.0f}{r['triaged_p95']:>8.0f}{r['triaged_p99']:>8.0f}"
                  f"{r['assigned_p50']:>9.0f}{r['assigned_p95']:>8.0f}{r['assigned_p99']:>8.0f}"
                  f"{'' if r['complete'] else '  *'}")
    print("-" * len(header))
    print_ratios(results, opts)
    if any(not r["complete"] for rows in results.values() for r in rows):
        print("* did not drain within --drain seconds: the offered rate is above what the path sustains "
              "(higher rates skipped)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    gen = sub.add_parser("generate", help="(internal) the load generator process")
    gen.add_argument("--bootstrap", required=True)
    gen.add_argument("--topic", required=True)
    gen.add_argument("--run", required=True)
    gen.add_argument("--count", type=int, required=True)
    gen.add_argument("--rate", type=float)
    parser.add_argument("--rates", default="5,20,50,max", help="offered rates per second, 'max' = all at once")
    parser.add_argument("--duration", type=float, default=15, help="seconds of sending per fixed rate")
    parser.add_argument("--max-count", type=int, default=300, help="submissions sent at once for 'max'")
    parser.add_argument("--drain", type=float, default=45, help="seconds a stage may take to finish after sending")
    parser.add_argument("--services", default="intake,triage,sla,rating,sync,insight")
    parser.add_argument("--profile", type=Path, help="count and time each service's store commands into this folder")
    parser.add_argument("--cprofile", action="store_true", help="also run each service under cProfile (.pstats)")
    parser.add_argument("--paths", default=",".join(PATHS),
                        help="paths to measure, in this order (default all): "
                        + ", ".join(f"{k} = {v}" for k, v in PATHS.items()))
    parser.add_argument("--skip-relay", action="store_true", help="no relay paths (e.g. while profiling)")
    parser.add_argument("--kafka", default=os.environ.get("QHWY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--mongo", default=os.environ.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017"))
    args = parser.parse_args()
    if args.command == "generate":
        asyncio.run(generate(args.bootstrap, args.topic, args.run, args.rate, args.count))
        return
    rates = [None if r.strip() == "max" else float(r) for r in args.rates.split(",") if r.strip()]
    paths = [p.strip() for p in args.paths.split(",") if p.strip() and not (args.skip_relay and p.strip() in RELAYS)]
    if unknown := [p for p in paths if p not in PATHS]:
        parser.error(f"unknown path(s) {', '.join(unknown)}; known: {', '.join(PATHS)}")
    opts = Options(rates=rates, duration=args.duration, max_count=args.max_count, drain=args.drain,
                   bootstrap=args.kafka, mongo_url=args.mongo, services=args.services.split(","),
                   profile=args.profile, cprofile=args.cprofile, paths=paths,
                   log_dir=Path(tempfile.mkdtemp(prefix="bench-load-")))
    results, failed = asyncio.run(bench(opts))
    print_table(results, opts)
    if failed:
        sys.exit(f"failed: {', '.join(failed)} (logs in {opts.log_dir})")


if __name__ == "__main__":
    main()
