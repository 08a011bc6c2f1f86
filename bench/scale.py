"""make bench-scale: the platform scaled out by instances on the three-broker cluster (issue 19).

For each instance count (`--instances 1,2,3`) every service runs that many times (`python -m services.<name>`,
one consumer-group member each) on a fresh topic namespace (QHWY_TOPIC_PARTITIONS partitions, default 6: divisible
by 1, 2 and 3, so every instance owns as many partitions as the others) and database prefix. bench/load.py's
generator sends `--count` distinct submissions at once; its observer times each case from the submission record's
Kafka timestamp to its `case.triaged` and `case.assigned` records. Printed per count: cases triaged per second
(first submission to last `case.triaged`) and p50/p99 to `case.triaged` and `case.assigned`.

The cluster: deploy/kafka-cluster.sh started here on free ports in a temporary data directory (stopped at the end),
or `--kafka HOST:PORT,...` for a running one. The store: `--mongo` (default QHWY_MONGO_URL, else the local
FerretDB). Topics and databases of each count are deleted after it.

    .venv/bin/python bench/scale.py [--instances 1,2,3] [--count 300] [--drain 240] [--services intake,triage,...]
"""

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.load import (CASE_EVENTS, INGRESS, Observer, Processes, Stage, free_port, summarise,  # noqa: E402
                        wait_healthy)
from bench.common import delete_namespace  # noqa: E402


class Cluster:
    """deploy/kafka-cluster.sh on free ports with its own data directory."""

    def __init__(self, data_dir: Path):
        self.ports = [free_port() for _ in range(3)]
        self.env = {**os.environ, "QHWY_DATA_DIR": str(data_dir),
                    "QHWY_KAFKA_CLUSTER_PORTS": ",".join(map(str, self.ports)),
                    "QHWY_KAFKA_CLUSTER_CONTROLLER_PORTS": ",".join(str(free_port()) for _ in range(3))}
        self.bootstrap = ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def run(self, action: str) -> None:
        subprocess.run([str(REPO / "deploy/kafka-cluster.sh"), action], check=True, env=self.env, timeout=300)


async def one_count(n: int, args: argparse.Namespace, bootstrap: str, log_dir: Path) -> dict[str, Any]:
    from services.intake.domain import case_id_for

    namespace = f"scale{n}x{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QHWY_KAFKA_BOOTSTRAP": bootstrap, "QHWY_MONGO_URL": args.mongo,
           "QHWY_TOPIC_NAMESPACE": namespace, "QHWY_DB_PREFIX": namespace,
           "QHWY_TOPIC_PARTITIONS": str(args.partitions),
           "QHWY_LOG_LEVEL": "WARNING", "QHWY_LOG_FORMAT": "json"}
    folder = log_dir / f"instances-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    procs = Processes(folder)
    ingress, output = f"{namespace}.{INGRESS}", f"{namespace}.{CASE_EVENTS}"
    try:
        ports: dict[str, int] = {}
        for name in args.services:
            for i in range(n):
                key = f"{name}-{i + 1}"
                ports[key] = free_port()
                procs.start(key, [sys.executable, "-m", f"services.{name}"], {**env, "QHWY_HTTP_PORT": str(ports[key])})
                if i == 0 and name == args.services[0]:
                    # the first process creates the topics (ensure_topics): the others join existing ones
                    await wait_healthy({key: ports[key]}, procs, 300)
        started = time.monotonic()
        await wait_healthy(ports, procs, 600)
        print(f"  {n} instance(s) of {len(args.services)} services ({len(ports)} processes) healthy in "
              f"{time.monotonic() - started:.0f} s", flush=True)
        observer = Observer(bootstrap, ingress, output, case_id_for)
        await observer.start()
        try:
            run = f"s{n}x{uuid.uuid4().hex[:6]}"
            stage = Stage(f"{n} instances", None)
            observer.add(run, stage, args.count)
            generator = await asyncio.create_subprocess_exec(
                sys.executable, str(REPO / "bench/load.py"), "generate", "--bootstrap", bootstrap, "--topic", ingress,
                "--run", run, "--count", str(args.count), cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE)
            await generator.communicate()
            deadline = time.monotonic() + args.drain
            while not stage.done() and time.monotonic() < deadline:
                procs.check()
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            summary = summarise(stage)
            summary["complete"] = stage.done()
        finally:
            await observer.stop()
        summary.update(instances=n, processes=len(ports))
        print(f"  {n} instance(s): {summary['triaged']}/{summary['sent']} triaged, "
              f"{summary['throughput']:.1f} cases/s, "
              f"p99 to assigned {summary['assigned_p99']:.0f} ms{'' if summary['complete'] else ' (did not drain)'}",
              flush=True)
        return summary
    finally:
        procs.stop()
        await delete_namespace(bootstrap, args.mongo, namespace)


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    cluster = None
    bootstrap = args.kafka
    if not bootstrap:
        cluster = Cluster(log_dir / "data")
        cluster.run("start")
        bootstrap = cluster.bootstrap
    print(f"scale benchmark: cluster {bootstrap}, store {args.mongo}, logs in {log_dir}", flush=True)
    try:
        return [await one_count(n, args, bootstrap, log_dir) for n in args.instances]
    finally:
        if cluster is not None:
            cluster.run("stop")


def print_table(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(f"Scale benchmark: {', '.join(args.services)} x 1..{max(args.instances)} instances on a three-broker "
          f"cluster (replication 3, min ISR 2), {args.partitions} partitions, {args.count} submissions at once; "
          f"{os.cpu_count()} cores")
    header = (f"{'instances':>9}{'processes':>10}{'sent':>6}{'triaged':>8}{'assigned':>9}{'cases/s':>9}"
              f"{'tri p50':>9}{'tri p99':>9}{'asg p50':>9}{'asg p99':>9}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['instances']:>9}{r['processes']:>10}{r['sent']:>6}{r['triaged']:>8}{r['assigned']:>9}"
              f"{r['throughput']:>9.1f}{r['triaged_p50']:>9.0f}{r['triaged_p99']:>9.0f}{r['assigned_p50']:>9.0f}"
              f"{r['assigned_p99']:>9.0f}{'' if r['complete'] else '  *'}")
    if any(not r["complete"] for r in rows):
        print("* did not drain within --drain seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1,2,3", help="instance counts of every service, comma separated")
    parser.add_argument("--count", type=int, default=300, help="submissions sent at once per count")
    parser.add_argument("--drain", type=float, default=240, help="seconds a count may take to finish")
    parser.add_argument("--partitions", type=int, default=6, help="partitions per topic (QHWY_TOPIC_PARTITIONS)")
    parser.add_argument("--services", default="intake,triage,sla,rating,sync,insight")
    parser.add_argument("--kafka", default="", help="a running cluster's bootstrap (default: start one here)")
    parser.add_argument("--mongo", default=os.environ.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017"))
    args = parser.parse_args()
    args.instances = [int(n) for n in args.instances.split(",") if n.strip()]
    args.services = [s for s in args.services.split(",") if s.strip()]
    rows = asyncio.run(bench(args))
    print_table(rows, args)


if __name__ == "__main__":
    main()
