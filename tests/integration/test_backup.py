"""make backup / make restore (shared/backup.py) on the real store: a platform with cases is backed up, restored
under a fresh database prefix, and a second platform started on that prefix (and on fresh topics, so nothing is
replayed into it) finds the same cases: the staff view, the enterprise's view with its last four digits (the full
contact lives only in intake's store), and every collection's documents."""

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from tests.integration.harness import (REPO, Namespace, PlatformProcess, TopicReader, staff_headers, submission,
                                       types_of)
from tests.integration.test_case_access import until

pytestmark = pytest.mark.integration
PHONE = "13700004321"


def tool(ns: Namespace, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "shared.backup", *args], cwd=REPO, env=ns.env(),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def dump(client: MongoClient[dict[str, Any]], prefix: str) -> dict[str, dict[str, list[Any]]]:
    from shared.backup import databases

    return {db[len(prefix) + 1:]: {c: sorted(str(d["_id"]) for d in client[db][c].find({}, {"_id": 1}))
                                   for c in client[db].list_collection_names()}
            for db in databases(client, prefix)}


async def test_a_backup_restored_under_a_fresh_prefix_holds_the_same_cases(
        ns: Namespace, platform: PlatformProcess, case_events: TopicReader, tmp_path: Path,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    tag = uuid.uuid4().hex[:6]
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        receipts = []
        for n in range(3):
            body = submission(f"bk-{tag}-{n}")
            body.pop("submission_id")
            body["enterprise"]["contact_phone"] = PHONE
            answer = await client.post("/api/v1/submissions", json=body, headers={"idempotency-key": f"bk-{tag}-{n}"})
            assert answer.status_code == 202, answer.text
            receipts.append(answer.json())
        for r in receipts:
            await case_events.wait_for(lambda v, c=r["case_id"]: "case.assigned" in types_of(v, c), timeout=90,
                                       what="assigned")

        async def views() -> Any:
            found = [(await client.get(f"/api/v1/cases/{r['case_id']}", headers=staff_headers())) for r in receipts]
            # settled: assigned, the last step a new case takes by itself (a backup of a moving case would differ)
            ok = all(v.status_code == 200 and v.json().get("status") == "assigned" for v in found)
            return [v.json() for v in found] if ok else None

        before = await until(views, "the cases assigned in intake's view")

    out = tmp_path / "backup"
    assert "7 databases" in tool(ns, "backup", "--prefix", ns.name, "--out", str(out))
    assert (out / "manifest.json").is_file() and (out / "intake").is_dir()
    restored_prefix = f"{ns.name}r"
    assert f"under prefix {restored_prefix}" in tool(ns, "restore", str(out), "--prefix", restored_prefix)
    # a second restore onto the same databases is refused: never a silent merge
    again = subprocess.run([sys.executable, "-m", "shared.backup", "restore", str(out), "--prefix", restored_prefix],
                           cwd=REPO, env=ns.env(), capture_output=True, text=True, timeout=120)
    assert again.returncode != 0 and "not empty" in again.stderr

    mongo: MongoClient[dict[str, Any]] = MongoClient(ns.infra["QHWY_MONGO_URL"], directConnection=True)
    try:
        copy = dump(mongo, restored_prefix)
        assert set(copy) == {"intake", "triage", "sla", "rating", "sync", "insight", "console"}
        manifest_counts = json.loads((out / "manifest.json").read_text())["databases"]
        for service, collections in copy.items():
            for name, ids in collections.items():
                assert len(ids) == manifest_counts[service]["collections"][name]["documents"], (service, name)
        assert any(len(ids) >= 3 for ids in copy["intake"].values())

        # a platform on the restored databases (fresh topics: nothing replays into it) finds the same cases
        fresh = Namespace(ns.infra)
        second = PlatformProcess(fresh, "services", tmp_path_factory.mktemp("restored-logs"),
                                 QHWY_DB_PREFIX=restored_prefix).start()
        try:
            await second.wait_healthy(150)
            async with httpx.AsyncClient(base_url=second.base_url, timeout=60) as client:
                for r, old in zip(receipts, before, strict=True):
                    view = await client.get(f"/api/v1/cases/{r['case_id']}", headers=staff_headers())
                    assert view.status_code == 200, view.text
                    new = view.json()
                    for key in ("case_id", "tracking_no", "status", "triage", "department"):
                        assert new.get(key) == old.get(key), key
                    mine = await client.get("/api/v1/cases", params={"tracking_no": r["tracking_no"],
                                                                     "phone_last4": PHONE[-4:]})
                    assert mine.status_code == 200, mine.text
                    assert mine.json()["tracking_no"] == r["tracking_no"]
        finally:
            assert second.stop() == 0, f"the restored platform did not stop cleanly; see {second.log_path}"
    finally:
        from shared.backup import databases

        for name in databases(mongo, restored_prefix):
            mongo.drop_database(name)
        mongo.close()
