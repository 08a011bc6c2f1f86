"""kill -9 a service in the middle of a stream, start it again: nothing lost, no effect applied twice."""

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.faults import unique_events
from tests.integration.harness import (staff_headers, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader,
                                       submission)

pytestmark = pytest.mark.integration

SERVICES = ("intake", "triage", "sla")
STREAM = 60


@pytest.fixture
async def separate(infra: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, PlatformProcess]]:
    """Each service in its own process, as in production."""
    ns = Namespace(infra)
    logs = tmp_path_factory.mktemp("restart-logs")
    procs = {name: PlatformProcess(ns, f"services.{name}", logs).start() for name in SERVICES}
    try:
        await asyncio.gather(*(p.wait_healthy() for p in procs.values()))
        yield procs
    finally:
        for proc in procs.values():
            proc.stop()


@pytest.mark.parametrize("victim", SERVICES)
async def test_kill_9_mid_stream_loses_and_duplicates_nothing(victim: str,
                                                              separate: dict[str, PlatformProcess]) -> None:
    ns = separate["intake"].ns
    bootstrap = ns.infra["QHWY_KAFKA_BOOTSTRAP"]
    bodies = [submission(f"{victim}-{i}") for i in range(STREAM)]
    async with TopicReader(bootstrap, ns.topic("qhwy.case-events.v1")) as events:
        async with Producer(bootstrap) as producer:
            for i, body in enumerate(bodies):
                await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
                if i == STREAM // 3:
                    # Let the victim get going, then kill it with work in flight.
                    await events.wait_for(lambda v: len(v) >= 10, what="the stream to start")
                    separate[victim].kill()
                    await asyncio.sleep(0.5)
                    separate[victim] = separate[victim].__class__(ns, f"services.{victim}",
                                                                    separate[victim].log_path.parent).start()
        await separate[victim].wait_healthy()
        values = await events.wait_for(
            lambda v: sum(e["type"] == "case.assigned" for e in unique_events(v)) >= STREAM, timeout=90,
            what=f"{STREAM} assignments")

    unique = unique_events(values)
    per_case: dict[str, list[str]] = {}
    for event in unique:
        per_case.setdefault(event["case_id"], []).append(event["type"])
    submissions = {e["data"]["submission_id"] for e in unique if e["type"] == "case.registered"}
    assert submissions == {b["submission_id"] for b in bodies}, "a submission was lost"
    assert len(per_case) == STREAM, "a submission produced more than one case"
    for case_id, types in per_case.items():
        assert types == ["case.registered", "case.triaged", "case.assigned"], (case_id, types)
    # A redelivered event may appear twice on the topic, but only with the same id (consumers dedupe on it).
    repeats = Counter(e["event_id"] for e in values)
    assert all(values_equal(values, eid) for eid, n in repeats.items() if n > 1)

    token = issue_token(TEST_SECRET, sub="leader-1", role="leader")
    headers = {"authorization": f"Bearer {token}"}
    async with httpx.AsyncClient() as client:
        for _ in range(100):  # sla follows the topic; give it the time to catch up
            deadlines = (await client.get(f"{separate['sla'].base_url}/api/v1/sla/deadlines",
                                          params={"limit": 200}, headers=headers)).json()["items"]
            if len(deadlines) >= STREAM:
                break
            await asyncio.sleep(0.2)
        assert sorted(d["case_id"] for d in deadlines) == sorted(per_case)
        for case_id in list(per_case)[:: STREAM // 6]:
            view = (await client.get(f"{separate['intake'].base_url}/api/v1/cases/{case_id}",
                                         headers=staff_headers())).json()
            for _ in range(50):
                if len(view["history"]) >= 3:
                    break
                await asyncio.sleep(0.1)
                view = (await client.get(f"{separate['intake'].base_url}/api/v1/cases/{case_id}",
                                         headers=staff_headers())).json()
            assert [h["type"] for h in view["history"]] == ["case.registered", "case.triaged", "case.assigned"]



def values_equal(values: list[dict], event_id: str) -> bool:
    copies = [e for e in values if e["event_id"] == event_id]
    return all(c == copies[0] for c in copies)
