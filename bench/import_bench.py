"""make bench-import: a 10,000-row batch import, from the first upload to the last `case.triaged` (issue 15: <= 60 s).

Starts every service as its own process (`python -m services.<name>`, as `make bench`'s platform path) in the run's
own namespace on the given broker and store, then, on the same running platform:

1. *import*: --rows rows (distinct enterprises, shipped corpus texts triage accepts) uploaded as CSV files of
   --file-rows rows each (intake's `batch_max_rows`) to `POST /api/v1/channels/{channel}/batches`, as a triage
   officer, one file after another as a person uploads them;
2. *topic* (the baseline, same run): as many other submissions produced at once to the ingress topic, as a channel
   system sends them.

For each it prints the seconds until every row's case was registered (the import's answers) and until every case
had its `case.triaged` on the case-events topic, the cases per second, and the ratio import / topic. Everything
created (topics, databases) is deleted at the end.

    .venv/bin/python bench/import_bench.py [--rows 10000] [--file-rows 2000] [--channel cppcc] [--single]
                                           [--profile DIR]
"""

import argparse
import asyncio
import csv
import io
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402

from bench.common import TopicReader, delete_namespace, platform_databases  # noqa: E402
from bench.load import CASE_EVENTS, INGRESS, Processes, corpus_texts, free_port, wait_healthy  # noqa: E402

SECRET = f"bench-import-{uuid.uuid4().hex}"  # this run's own token secret
TARGET_SECONDS = 60.0
# no 所属乡镇 column: the corpus's place hints are free text, which a batch's strict check refuses
HEADER = ["企业名称", "统一社会信用代码", "联系人", "联系电话", "问题描述"]


def batch_rows(run: str, count: int) -> list[list[str]]:
    """Distinct rows: a corpus text triage accepts, each with its own enterprise and a tag that keeps it unique."""
    from tests.integration.harness import valid_uscc

    texts = corpus_texts()
    rows = []
    for n in range(count):
        c = texts[n % len(texts)]
        rows.append([f"{c['enterprise']['name']}{run}{n}", valid_uscc(f"{run}-{n}"), "张三", "13800001234",
                     f"{c['content']}（{run}-{n}）"])
    return rows


def csv_file(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows([HEADER, *rows])
    return out.getvalue().encode("utf-8-sig")


class Triaged(TopicReader):
    """Reads the case-events topic from the start and notes when each case was first triaged."""

    def __init__(self, bootstrap: str, topic: str):
        super().__init__(bootstrap, topic)
        self.at: dict[str, float] = {}

    def on_record(self, record: Any) -> None:
        value = json.loads(record.value)
        if value.get("type") == "case.triaged":
            self.at.setdefault(value["case_id"], time.monotonic())

    async def wait(self, case_ids: list[str], started: float, timeout: float, procs: Processes) -> float | None:
        """Seconds from `started` to the last of `case_ids` triaged; None if not all were within `timeout`."""
        deadline = started + timeout
        while time.monotonic() < deadline:
            procs.check()
            if all(c in self.at for c in case_ids):
                return max(self.at[c] for c in case_ids) - started
            await asyncio.sleep(0.2)
        return None


async def upload(base_url: str, channel: str, rows: list[list[str]], file_rows: int) -> tuple[list[str], float]:
    """The rows as files of `file_rows`, one after another; (case ids, seconds until the last answer)."""
    from shared.auth import issue_token

    headers = {"authorization": f"Bearer {issue_token(SECRET, sub='bench.import', role='triage_officer')}",
               "content-type": "text/csv"}
    case_ids: list[str] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        for first in range(0, len(rows), file_rows):
            answer = await client.post(f"/api/v1/channels/{channel}/batches", headers=headers,
                                       params={"reporter": "批量导入基准"},
                                       content=csv_file(rows[first:first + file_rows]))
            answer.raise_for_status()
            report = answer.json()
            if report["rejected"]:
                bad = next(r for r in report["rows"] if r["status"] == "rejected")
                raise RuntimeError(f"{report['rejected']} rows rejected, e.g. {bad}")
            case_ids += [r["case_id"] for r in report["rows"]]
    return case_ids, time.monotonic() - started


async def send_to_topic(bootstrap: str, topic: str, run: str, count: int, env: dict[str, str]) -> list[str]:
    """`bench/load.py generate`: `count` submissions produced at once; their case ids."""
    from services.intake.domain import case_id_for

    generator = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO / "bench/load.py"), "generate", "--bootstrap", bootstrap, "--topic", topic,
        "--run", run, "--count", str(count), cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE)
    await generator.communicate()
    return [case_id_for(f"{run}-{n}") for n in range(count)]


def report(label: str, count: int, registered: float | None, triaged: float | None) -> dict[str, Any]:
    rate = count / triaged if triaged else 0.0
    shown = f"{triaged:.1f} s" if triaged is not None else "not all within the time allowed"
    reg = f"{registered:.1f} s" if registered is not None else "-"
    print(f"  {label:<8} {count} cases: registered in {reg}, all triaged in {shown} ({rate:.1f} cases/s)", flush=True)
    return {"label": label, "count": count, "registered_s": registered, "triaged_s": triaged, "rate": rate}


async def bench(args: argparse.Namespace, log_dir: Path) -> list[dict[str, Any]]:
    ns = f"imp{uuid.uuid4().hex[:8]}"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "QHWY_KAFKA_BOOTSTRAP": args.kafka, "QHWY_MONGO_URL": args.mongo,
           "QHWY_TOPIC_NAMESPACE": ns, "QHWY_DB_PREFIX": ns, "QHWY_LOG_LEVEL": "WARNING", "QHWY_LOG_FORMAT": "json",
           "QHWY_JWT_SECRET": SECRET, "QHWY_STAFF_TOKENS_FROM_DIRECTORY": "false",
           "QHWY_INTAKE_BATCH_MAX_ROWS": str(args.file_rows)}
    procs = Processes(log_dir)
    services = {"all": "services"} if args.single else {s: f"services.{s}" for s in args.services.split(",")}
    ports = {name: free_port() for name in services}
    triaged = Triaged(args.kafka, f"{ns}.{CASE_EVENTS}")
    results = []
    try:
        for name, module in services.items():
            profile = {"QHWY_STORE_PROFILE": str(args.profile / f"{name}.store.json")} if args.profile else {}
            procs.start(name, [sys.executable, "-m", module], {**env, **profile, "QHWY_HTTP_PORT": str(ports[name])})
        await wait_healthy(ports, procs, 300)
        await triaged.start()
        intake = ports["all" if args.single else "intake"]
        rows = batch_rows(f"{ns}i", args.rows)
        started = time.monotonic()
        case_ids, registered = await upload(f"http://127.0.0.1:{intake}", args.channel, rows, args.file_rows)
        done = await triaged.wait(case_ids, started, args.timeout, procs)
        results.append(report("import", len(case_ids), registered, done))
        started = time.monotonic()
        topic_ids = await send_to_topic(args.kafka, f"{ns}.{INGRESS}", f"{ns}t", args.rows, env)
        done = await triaged.wait(topic_ids, started, args.timeout, procs)
        results.append(report("topic", len(topic_ids), None, done))
        return results
    finally:
        await triaged.stop()
        procs.stop()
        await delete_namespace(args.kafka, args.mongo, ns, platform_databases(ns))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--file-rows", type=int, default=2_000, help="rows per uploaded file (intake's limit)")
    parser.add_argument("--channel", default="cppcc", help="a channel that reports for enterprises")
    parser.add_argument("--services", default="intake,triage,sla,rating,sync,insight")
    parser.add_argument("--single", action="store_true", help="every service in one process, as `make run`")
    parser.add_argument("--profile", type=Path, help="count and time each service's store commands into this folder")
    parser.add_argument("--timeout", type=float, default=900, help="seconds each stage may take")
    parser.add_argument("--kafka", default=os.environ.get("QHWY_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    parser.add_argument("--mongo", default=os.environ.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017"))
    args = parser.parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="bench-import-"))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    print(f"import benchmark: {args.rows} rows, files of {args.file_rows}, logs in {log_dir}", flush=True)
    results = asyncio.run(bench(args, log_dir))
    by = {r["label"]: r for r in results}
    if by["import"]["triaged_s"] and by["topic"]["triaged_s"]:
        print(f"  import / topic: x{by['import']['rate'] / by['topic']['rate']:.2f} in cases/s; "
              f"target: {args.rows} rows triaged in <= {TARGET_SECONDS:.0f} s "
              f"({'met' if by['import']['triaged_s'] <= TARGET_SECONDS else 'not met'})")


if __name__ == "__main__":
    main()
