"""Two counties side by side on one cluster (issue 19, "Past one machine"): a namespace per county.

Two whole platforms (all six services and the console in one process each) share the same brokers and the same
store, each with its own QHWY_TOPIC_NAMESPACE (topics and consumer groups), QHWY_DB_PREFIX (databases) and
QHWY_ORG_FILE (the county's organisation: 开化县 and a second county, 常山县). Each county receives its own
submissions over HTTP; each county's events topic, case list and case view hold only its own cases, and the other
county's case ids are unknown to it (404, as any case a caller may not see).
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.integration.harness import CHANNEL, REPO, Namespace, PlatformProcess, TopicReader, staff_headers, submission

pytestmark = pytest.mark.integration

CASES = 4
LEADER = staff_headers("leader", "li.si")


def org_file(folder: Path, code: str, name: str) -> Path:
    """The packaged organisation with another county's name and code (its own file, as a deployment has)."""
    org = yaml.safe_load((REPO / "shared/data/kaihua.yaml").read_text(encoding="utf-8"))
    org["county"] = {**org["county"], "code": code, "name": name}
    path = folder / f"{code}.yaml"
    path.write_text(yaml.safe_dump(org, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


class County:
    def __init__(self, infra: dict[str, str], code: str, name: str, folder: Path):
        self.code, self.name = code, name
        self.ns = Namespace(infra, name=f"t{uuid.uuid4().hex[:8]}-{code}")
        self.proc = PlatformProcess(self.ns, "services", folder, QHWY_ORG_FILE=str(org_file(folder, code, name)))
        self.sent: list[str] = []
        self.case_ids: set[str] = set()


@pytest.fixture(scope="module")
async def counties(infra: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[County]]:
    folder = tmp_path_factory.mktemp("counties")
    both = [County(infra, "kaihua", "开化县", folder), County(infra, "changshan", "常山县", folder)]
    try:
        for county in both:
            county.proc.start()
        await asyncio.gather(*(c.proc.wait_healthy(180) for c in both))
        yield both
    finally:
        for county in both:
            county.proc.stop()


def registered(values: list[dict[str, Any]]) -> dict[str, str]:
    return {e["data"]["submission_id"]: e["case_id"] for e in values if e["type"] == "case.registered"}


async def test_two_counties_on_one_cluster_see_only_their_own_cases(counties: list[County]) -> None:
    kaihua, changshan = counties
    readers = [TopicReader(c.ns.infra["QHWY_KAFKA_BOOTSTRAP"], c.ns.topic("qhwy.case-events.v1")) for c in counties]
    async with readers[0], readers[1], httpx.AsyncClient(timeout=30) as client:
        for county in counties:
            for i in range(CASES):
                body = submission(f"{county.code}-{uuid.uuid4().hex[:6]}-{i}")
                reply = await client.post(f"{county.proc.base_url}/api/v1/submissions", json=body, headers=CHANNEL)
                assert reply.status_code == 202, reply.text
                county.sent.append(body["submission_id"])
                county.case_ids.add(reply.json()["case_id"])
        for county, reader in zip(counties, readers, strict=True):
            await reader.wait_for(
                lambda v, c=county: {e["case_id"] for e in v if e["type"] == "case.triaged"} >= c.case_ids,
                timeout=120, what=f"{county.name}'s cases triaged")
        await asyncio.sleep(2)  # more consumer rounds: nothing of the other county may come

        for county, reader, other in ((kaihua, readers[0], changshan), (changshan, readers[1], kaihua)):
            values = reader.values()
            # its events topic: its own submissions, its own cases, nothing of the other county
            found = registered(values)
            assert set(found) == set(county.sent) and set(found.values()) == county.case_ids, found
            assert {e["case_id"] for e in values} == county.case_ids
            assert not {e["case_id"] for e in values} & other.case_ids
            # its staff case list and case view (intake's read store, its own databases)
            items = (await client.get(f"{county.proc.base_url}/api/v1/staff/cases", headers=LEADER,
                                      params={"limit": 200})).json()["items"]
            assert {i["case_id"] for i in items} == county.case_ids, items
            for case_id in county.case_ids:
                mine = await client.get(f"{county.proc.base_url}/api/v1/cases/{case_id}", headers=LEADER)
                assert mine.status_code == 200, mine.text
            for case_id in other.case_ids:
                theirs = await client.get(f"{county.proc.base_url}/api/v1/cases/{case_id}", headers=LEADER)
                assert theirs.status_code == 404, (county.name, case_id, theirs.status_code)
            # its organisation file: the county's own name where the platform states it
            discovery = (await client.get(f"{county.proc.base_url}/open311/discovery.json")).json()
            assert county.name in str(discovery) and other.name not in str(discovery), discovery
