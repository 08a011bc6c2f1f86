"""Fault injection with every service in its own process on the real broker and store (issue 10, "Faults").

Each test ends with tests/integration/faults.py: every submission sent is exactly one case, each event with
effects appears once per case (by id and by meaning), in order, and the services' own views agree.

- kill -9 each of the six services in turn in the middle of a stream, start it again;
- two instances of every service (consumer-group rebalancing), then stop one of each (SIGTERM or kill -9).

The broker and store restarts are in test_faults_infra.py (private servers), the clock over a holiday in
test_faults_clock.py, the city platform down for a while in test_sync_city_hotline.py.
"""

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.faults import check_stream
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, submission

pytestmark = pytest.mark.integration

SERVICES = ("intake", "triage", "sla", "rating", "sync", "insight")
# Services whose work on these cases starts when a unit resolves them: killed in that phase, the others while
# the submissions come in.
RESOLVE_PHASE = ("rating", "sync")
ROUND = 20
HANDLED = ("case.registered", "case.triaged", "case.assigned", "case.accepted", "case.resolved", "case.synced")
LEADER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='leader-1', role='leader')}"}
ADMIN = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='ops', role='admin')}"}

ENV: dict[str, dict[str, str]] = {
    "sync": {"QHWY_CITY_SIMULATOR": "1", "QHWY_SYNC_REQUEST_TIMEOUT_SECONDS": "2",
             "QHWY_SYNC_BACKOFF_BASE_SECONDS": "0.2", "QHWY_SYNC_BACKOFF_CAP_SECONDS": "1.5",
             "QHWY_SYNC_DISPATCH_INTERVAL_SECONDS": "0.2", "QHWY_SYNC_DUE_RESCAN_SECONDS": "2",
             "QHWY_SYNC_RECONCILE_INTERVAL_SECONDS": "3600"},
    "rating": {"QHWY_RATING_SCAN_INTERVAL_SECONDS": "0.5", "QHWY_RATING_PHONE_REVISIT_PERCENT": "0",
               "QHWY_RATING_RESEND_INTERVAL_SECONDS": "3600"},
}


class Platform:
    """The six services, each its own process (or several), in one namespace."""

    def __init__(self, ns: Namespace, log_dir: Path):
        self.ns, self.log_dir = ns, log_dir
        self.procs: dict[str, list[PlatformProcess]] = {}
        self.sent: list[str] = []  # every submission id sent so far, over all rounds

    def new(self, name: str) -> PlatformProcess:
        return PlatformProcess(self.ns, f"services.{name}", self.log_dir, **ENV.get(name, {})).start()

    def one(self, name: str) -> PlatformProcess:
        return next(p for p in self.procs[name] if p.proc and p.proc.poll() is None)

    async def restart(self, name: str, index: int = 0) -> None:
        """kill -9 one instance and start a fresh one in its place."""
        self.procs[name][index].kill()
        await asyncio.sleep(0.3)
        self.procs[name][index] = self.new(name)

    async def healthy(self) -> None:
        await asyncio.gather(*(p.wait_healthy(timeout=150) for ps in self.procs.values() for p in ps
                               if p.proc and p.proc.poll() is None))


@pytest.fixture(scope="module")
async def platform(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    platform = Platform(ns, tmp_path_factory.mktemp("fault-logs"))
    try:
        for name in SERVICES:
            platform.procs[name] = [platform.new(name)]
        await platform.healthy()
        yield platform
    finally:
        for procs in platform.procs.values():
            for proc in procs:
                proc.stop()


@pytest.fixture(scope="module")
async def case_events(ns: Namespace, platform: Platform) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as reader:
        yield reader


def assigned(values: list[dict[str, Any]], sent: set[str]) -> dict[str, dict[str, Any]]:
    """case id -> its case.assigned data, for the cases of these submissions."""
    cases = {e["case_id"] for e in values if e["type"] == "case.registered" and e["data"]["submission_id"] in sent}
    return {e["case_id"]: e["data"] for e in values if e["type"] == "case.assigned" and e["case_id"] in cases}


def count_of(values: list[dict[str, Any]], type_: str, cases: set[str]) -> int:
    return len({e["case_id"] for e in values if e["type"] == type_ and e["case_id"] in cases})


async def resolve(client: httpx.AsyncClient, sla: PlatformProcess, case_id: str, department: str) -> None:
    """The lead unit accepts and resolves the case; retried with the same request id (so at most once)."""
    token = issue_token(TEST_SECRET, sub="handler-1", role="unit_handler", unit=department)
    unit = {"authorization": f"Bearer {token}"}
    for action, body in (("accept", {}), ("resolve", {"resolution": "已协调供电公司完成增容", "solution": "分期增容",
                                                        "follow_up_at": [str(date(2026, 12, 31))]})):
        url = f"{sla.base_url}/api/v1/units/cases/{case_id}/{action}"
        for _ in range(100):  # sla follows the topic; the case may not be known to it yet
            reply = await client.post(url, json={**body, "request_id": f"{action}-{case_id}"}, headers=unit)
            if reply.status_code in (200, 201):
                break
            assert reply.status_code in (404, 409, 503), (action, reply.status_code, reply.text)
            await asyncio.sleep(0.2)
        else:
            raise AssertionError(f"{action} of {case_id} kept failing: {reply.status_code} {reply.text}")


async def run_round(platform: Platform, events: TopicReader, tag: str, victim: str | None,
                    fault: Any = None) -> list[str]:
    """Send ROUND submissions and resolve each case; `fault()` runs a third of the way into the phase where the
    victim works. Returns this round's submission ids once every case was resolved and synced."""
    ns = platform.ns
    bodies = [submission(f"{tag}-{i}", source_ref=f"TICKET-{tag}-{i}") for i in range(ROUND)]
    sent = {b["submission_id"] for b in bodies}
    platform.sent.extend(sorted(sent))
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for i, body in enumerate(bodies):
            await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
            if i == ROUND // 3 and victim not in RESOLVE_PHASE:
                await fault()
    await platform.healthy()
    values = await events.wait_for(lambda v: len(assigned(v, sent)) >= ROUND, timeout=150,
                                   what=f"{ROUND} assignments ({tag})")
    cases = list(assigned(values, sent).items())
    async with httpx.AsyncClient(timeout=60) as client:
        # the units work in parallel, as they would; a third of the cases, then the fault, then the rest
        gate = asyncio.Semaphore(8)

        async def handle(case_id: str, data: dict[str, Any]) -> None:
            async with gate:
                await resolve(client, platform.one("sla"), case_id, data["department"])

        first, rest = cases[:ROUND // 3], cases[ROUND // 3:]
        await asyncio.gather(*(handle(c, d) for c, d in first))
        if victim in RESOLVE_PHASE:
            await fault()
        await asyncio.gather(*(handle(c, d) for c, d in rest))
    await platform.healthy()
    await events.wait_for(lambda v: count_of(v, "case.synced", {c for c, _ in cases}) >= ROUND, timeout=420,
                          what=f"{ROUND} hotline results synced ({tag})")
    return sorted(sent)


async def check_views(platform: Platform, events: TopicReader) -> None:
    """Every submission of every round, on the topic and in each service's own view, exactly once."""
    await asyncio.sleep(2)  # several more consumer and timer rounds: nothing else may come
    verdict = check_stream(platform.sent, events.values(), once=HANDLED)
    cases = set(verdict.case_of.values())
    total = len(platform.sent)
    async with httpx.AsyncClient(timeout=30) as client:
        async def until(fetch: Any, done: Any) -> Any:
            for _ in range(150):
                result = await fetch()
                if done(result):
                    return result
                await asyncio.sleep(0.2)
            return result

        async def awaiting() -> list[dict[str, Any]]:
            items: list[dict[str, Any]] = []
            while True:
                reply = await client.get(f"{platform.one('rating').base_url}/api/v1/rating/awaiting",
                                         headers=LEADER, params={"limit": 200, "offset": len(items)})
                page = reply.json()["items"]
                items += page
                if len(page) < 200:
                    return items

        async def figures() -> dict[str, Any]:
            reply = await client.get(f"{platform.one('insight').base_url}/api/v1/insight/figures", headers=LEADER)
            return reply.json()["overall"]

        waiting = await until(awaiting, lambda items: len(items) >= total)
        ids = [w["case_id"] for w in waiting]
        assert len(ids) == len(set(ids)), "rating awaits one case's rating twice"
        assert set(ids) == cases, f"rating awaits {len(ids)} ratings for {total} resolved cases"

        overall = await until(figures, lambda f: f["resolved"]["value"] >= total)
        assert overall["received"]["value"] == total, overall["received"]
        assert overall["assigned"]["value"] == total and overall["resolved"]["value"] == total, overall

        links = (await client.get(f"{platform.one('sync').base_url}/api/v1/sync/status", headers=ADMIN)).json()
        assert links["parked"] == 0 and links["cases_with_pending_deliveries"] == 0, links


@pytest.mark.parametrize("victim", SERVICES)
async def test_kill_9_each_service_mid_stream(victim: str, platform: Platform, case_events: TopicReader) -> None:
    async def kill_and_restart() -> None:
        await platform.restart(victim)

    await run_round(platform, case_events, f"kill-{victim}", victim, kill_and_restart)
    await check_views(platform, case_events)


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
async def test_two_instances_each_then_one_stops(how: str, platform: Platform, case_events: TopicReader) -> None:
    for name in SERVICES:
        if len(platform.procs[name]) < 2:
            platform.procs[name].append(platform.new(name))
    await platform.healthy()

    async def stop_one_of_each() -> None:
        for name in SERVICES:
            # the older instance goes: it holds partitions and has work in flight
            victim = platform.procs[name][0]
            victim.stop() if how == "sigterm" else victim.kill()
            platform.procs[name] = platform.procs[name][1:] + [victim]

    # the victims are chosen across both phases: stop in the submission phase, restart before the next round
    await run_round(platform, case_events, f"pair-{how}", None, stop_one_of_each)
    await check_views(platform, case_events)
    for name in SERVICES:
        platform.procs[name] = [p for p in platform.procs[name] if p.proc and p.proc.poll() is None]
