"""make bench-triage: how good triage is on the dev split it never trained on, and how fast it runs.

1. Quality: the models are trained on the corpus's train split (as the service does); every corpus case is then
   replayed in time order through the same decision code and the same duplicate matching (an in-memory LSH
   index instead of the store), and the dev cases are scored: per-field accuracy, duplicate precision/recall/F1,
   and how many accepted cases would be assigned without an officer (and how accurate those are).
2. Speed: `python -m services.triage` on the real broker and store (a fresh topic namespace and database),
   fed N `case.registered` events; cases per second until all N `case.triaged` are out.

    .venv/bin/python bench/triage.py [--cases 300] [--skip-service]
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
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from services.triage import classifier, duplicates  # noqa: E402
from services.triage.domain import Case, DutyRules, Triage, load_complexity_cues, load_lexicon  # noqa: E402
from services.triage.gazetteer import load_gazetteer  # noqa: E402
from shared.org import load_organisation  # noqa: E402
from shared.settings import Settings  # noqa: E402

TARGETS = {"screening": 0.95, "department": 0.90, "region": 0.97, "complexity": 0.85, "duplicate_f1": 0.9}


def quality() -> dict[str, float]:
    org = load_organisation()
    gazetteer = load_gazetteer(org)
    rules = DutyRules.build(org, load_lexicon())
    started = time.perf_counter()
    models = classifier.train(gazetteer, rules.words)
    train_seconds = time.perf_counter() - started
    triage = Triage(org, gazetteer, rules, models, Settings().triage_review_threshold, load_complexity_cues())
    vocabulary = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))
    index: dict[str, list[str]] = {}
    stored: dict[str, duplicates.Candidate] = {}
    hits = {"screening": [], "department": [], "region": [], "complexity": []}
    auto, auto_right = 0, 0
    tp = fp = fn = 0
    decide_seconds = 0.0
    cases = sorted(classifier.load_corpus(), key=lambda c: c["received_at"])
    for c in cases:
        label = c["label"]
        name, uscc = c["enterprise"]["name"], c["enterprise"]["uscc"]
        case = Case(c["content"], name, None, c["region_hint"])
        t0 = time.perf_counter()
        proposal = triage.propose(case)
        keys = duplicates.index_keys(vocabulary, c["content"], name, uscc)
        candidates = [stored[i] for i in dict.fromkeys(i for k in keys for i in index.get(k, ()))]
        match, confidence = duplicates.best_match(vocabulary, c["content"], keys[0], proposal.region,
                                                  proposal.department, candidates, other_enterprises=False)
        if match is not None:
            proposal = triage.propose(case, match, confidence)
        decide_seconds += time.perf_counter() - t0
        if proposal.screening == "accepted":  # what the store would hold as a candidate for later cases
            stored[c["id"]] = duplicates.Candidate(c["id"], c["content"], keys[0], proposal.region,
                                                   proposal.department)
            for key in keys:
                index.setdefault(key, []).append(c["id"])
        if c["split"] != "dev":
            continue
        hits["screening"].append(proposal.screening == label["screening"])
        predicted, gold = proposal.duplicate_of, label["duplicate_of"]
        tp += bool(predicted and predicted == gold)
        fp += bool(predicted and predicted != gold)
        fn += bool(gold and predicted != gold)
        if label["screening"] == "accepted":
            hits["department"].append(proposal.department == label["department"])
            hits["region"].append(proposal.region == label["region"])
            hits["complexity"].append(proposal.complexity == label["complexity"])
            if proposal.screening == "accepted" and not proposal.needs_review:
                auto += 1
                auto_right += (proposal.department == label["department"]
                               and proposal.complexity == label["complexity"] and proposal.region == label["region"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    accepted = len(hits["department"])
    out = {f"{k}_accuracy": sum(v) / len(v) for k, v in hits.items()}
    out.update(duplicate_precision=precision, duplicate_recall=recall, duplicate_f1=f1,
               dev_cases=len(hits["screening"]), dev_accepted=accepted, dev_duplicates=tp + fn,
               auto_assigned_share=auto / accepted if accepted else 0.0,
               auto_assigned_accuracy=auto_right / auto if auto else 0.0,
               train_seconds=train_seconds, decide_ms_per_case=1000 * decide_seconds / len(cases),
               corpus_cases=len(cases))
    return out


def prefill(settings: Settings, namespace: str, n: int) -> None:
    """Put `n` earlier accepted cases in the fresh store, as triage stores them (text, keys, decision fields), so
    the speed is measured with a store that has some history. Other enterprises, train-split wordings."""
    from pymongo import MongoClient

    if n <= 0:
        return
    train = [c for c in classifier.load_corpus("train") if c["label"]["department"]]
    vocabulary = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))
    now = datetime.now(UTC)
    docs = []
    for i in range(n):
        c = train[i % len(train)]
        name = f"{c['enterprise']['name']}存量{i}"
        keys = duplicates.index_keys(vocabulary, c["content"], name, None)
        docs.append({"_id": f"old-{i}", "text": c["content"], "content": c["content"], "enterprise_name": name,
                     "enterprise_key": keys[0], "dup_keys": keys, "screening": "accepted",
                     "department": c["label"]["department"], "region": c["label"]["region"], "needs_review": False,
                     "min_confidence": 0.9, "closed": False, "registered_at": now, "rev": 1, "processed": [],
                     "outbox": {}})
    with MongoClient(settings.mongo_url) as client:
        client[f"{namespace}_triage"]["cases"].insert_many(docs)


async def throughput(n: int, stored: int = 0) -> dict[str, float]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    settings = Settings()
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    prefill(settings, namespace, stored)
    env = {**os.environ, "QHWY_TOPIC_NAMESPACE": namespace, "QHWY_DB_PREFIX": namespace, "QHWY_LOG_LEVEL": "WARNING",
           "QHWY_LOG_FORMAT": "json", "QHWY_HTTP_PORT": str(_free_port()), "PYTHONUNBUFFERED": "1"}
    topic = f"{namespace}.qhwy.case-events.v1"
    log = tempfile.NamedTemporaryFile(prefix="bench-triage-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "services.triage"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        await _wait_healthy(int(env["QHWY_HTTP_PORT"]), proc, log.name)
        dev = classifier.load_corpus("dev")
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", linger_ms=5)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, auto_offset_reset="earliest",
                                    group_id=None, enable_auto_commit=False)
        await producer.start()
        await consumer.start()
        try:
            started = time.perf_counter()
            for i in range(n):
                c = dev[i % len(dev)]
                case_id = f"bench-{i}"
                event = {"event_id": str(uuid.uuid4()), "type": "case.registered", "version": 1, "case_id": case_id,
                         "occurred_at": datetime.now(UTC).isoformat(),
                         "data": {"submission_id": case_id, "channel": c["channel"], "tracking_no": f"QHB{i:08d}",
                                  "received_at": datetime.now(UTC).isoformat(), "content": c["content"],
                                  "region_hint": c["region_hint"],
                                  "enterprise": {"name": f"{c['enterprise']['name']}{i}", "contact_phone": "138****0000"}}}
                await producer.send(topic, json.dumps(event, ensure_ascii=False).encode(), key=case_id.encode())
            await producer.flush()
            seen: set[str] = set()
            deadline = time.monotonic() + 600
            while len(seen) < n and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for record in records:
                        value = json.loads(record.value)
                        if value["type"] == "case.triaged":
                            seen.add(value["case_id"])
            elapsed = time.perf_counter() - started
        finally:
            await producer.stop()
            await consumer.stop()
        return {"service_cases": len(seen), "service_seconds": elapsed, "cases_per_second": len(seen) / elapsed}
    finally:
        proc.terminate()
        proc.wait(30)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _wait_healthy(port: int, proc: subprocess.Popen[bytes], log: str, timeout: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"triage exited; see {log}")
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.3)
    raise RuntimeError(f"triage not healthy in {timeout}s; see {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300, help="cases sent through the service")
    parser.add_argument("--stored", type=int, default=0, help="earlier cases put in the store before the run")
    parser.add_argument("--skip-service", action="store_true", help="only the quality figures")
    parser.add_argument("--skip-quality", action="store_true", help="only the service speed")
    args = parser.parse_args()
    if not args.skip_quality:
        report_quality()
    if not args.skip_service:
        speed = asyncio.run(throughput(args.cases, args.stored))
        print(f"triage service on the real broker and store ({args.stored} earlier cases stored): "
              f"{speed['service_cases']} cases in {speed['service_seconds']:.1f} s = "
              f"{speed['cases_per_second']:.1f} cases/s")


def report_quality() -> None:
    figures = quality()
    print(f"triage quality on the dev split ({figures['dev_cases']} cases never trained on, "
          f"{figures['dev_accepted']} accepted, {figures['dev_duplicates']} duplicates; corpus "
          f"{figures['corpus_cases']} cases)")
    for field in ("screening", "department", "region", "complexity"):
        value, target = figures[f"{field}_accuracy"], TARGETS[field]
        print(f"  {field:<11} accuracy {value:6.1%}   target {target:.0%}  {'ok' if value >= target else 'BELOW'}")
    print(f"  duplicates  precision {figures['duplicate_precision']:.2f}  recall {figures['duplicate_recall']:.2f}  "
          f"F1 {figures['duplicate_f1']:.2f}   target F1 {TARGETS['duplicate_f1']}  "
          f"{'ok' if figures['duplicate_f1'] >= TARGETS['duplicate_f1'] else 'BELOW'}")
    print(f"  assigned without an officer: {figures['auto_assigned_share']:.1%} of accepted dev cases, "
          f"{figures['auto_assigned_accuracy']:.1%} of those fully right (department, region, complexity)")
    print(f"  training {figures['train_seconds']:.1f} s; decision {figures['decide_ms_per_case']:.1f} ms per case "
          f"(models + duplicate match, in process)")


if __name__ == "__main__":
    main()
