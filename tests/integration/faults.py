"""What every fault-injection test checks at its end: what was sent against what the case-events topic holds.

- every submission sent became exactly one case (one `case.registered` per submission id);
- each expected event type with effects appears exactly once per case, both by event id (a redelivered event may
  sit on the topic twice, but only as an identical copy) and by meaning (no second `case.assigned` for one case
  under a fresh id, which would be a replay applied twice);
- a case's events are in the order the pipeline makes them;
- every due timer fired once per (case, timer).

And what they share to get there: the six services as processes (`Platform`), units resolving the cases, and the
services' own views checked against the topic (`check_views`).
"""

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx

from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, TopicReader

# The pipeline's order for one case; types not listed here are not ordered against each other.
PIPELINE = ("case.registered", "case.triaged", "case.assigned", "case.accepted", "case.resolved")
TIMER_TYPES = ("case.reminded", "case.overdue", "case.escalated")


def unique_events(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The topic's events with redelivered copies (same event id) dropped, first copy kept, topic order kept."""
    seen: set[str] = set()
    out = []
    for event in values:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            out.append(event)
    return out


def timer_key(event: dict[str, Any]) -> tuple[str, str, str]:
    """What makes a timer event itself: its case, its type and which step (reminder kind, level reached)."""
    data = event["data"]
    if event["type"] == "case.reminded":
        step = f"{data.get('kind')}/{data.get('level')}"
    elif event["type"] == "case.overdue":
        step = f"{data.get('escalation_level')}/{data.get('due_at')}"
    else:
        step = f"{data.get('from_level')}->{data.get('to_level')}"
    return event["case_id"], event["type"], step


@dataclass
class Verdict:
    """The cases found, by submission id, and each case's unique events in topic order."""

    case_of: dict[str, str]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def types(self, case_id: str) -> list[str]:
        return [e["type"] for e in self.events[case_id]]


def check_stream(sent: list[str], values: list[dict[str, Any]], *, once: tuple[str, ...] = PIPELINE[:3],
                 at_most_once: tuple[str, ...] = ()) -> Verdict:
    """Assert the topic `values` hold, for the submission ids `sent`, exactly one case each with each type of
    `once` exactly once (and each of `at_most_once` at most once), in pipeline order, and no event id twice
    with different contents. Returns what it found, for further checks."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in values:
        first = by_id.setdefault(event["event_id"], event)
        assert first == event, (f"event id {event['event_id']} ({event['type']}) appears with two different contents: "
                                f"{first} and {event}")
    unique = unique_events(values)

    registered = [e for e in unique if e["type"] == "case.registered" and e["data"]["submission_id"] in set(sent)]
    per_submission = Counter(e["data"]["submission_id"] for e in registered)
    lost = sorted(set(sent) - set(per_submission))
    assert not lost, f"{len(lost)} submissions never became a case: {lost[:5]}"
    doubled = sorted(s for s, n in per_submission.items() if n > 1)
    assert not doubled, f"submissions that became more than one case: {doubled[:5]}"
    case_of = {e["data"]["submission_id"]: e["case_id"] for e in registered}
    assert len(set(case_of.values())) == len(sent), "two submissions share one case id"

    verdict = Verdict(case_of)
    for case_id in case_of.values():
        verdict.events[case_id] = [e for e in unique if e["case_id"] == case_id]
    for submission_id, case_id in case_of.items():
        counts = Counter(verdict.types(case_id))
        for type_ in once:
            assert counts[type_] == 1, (f"{submission_id} ({case_id}): {type_} {counts[type_]} times, "
                                        f"events {verdict.types(case_id)}")
        for type_ in at_most_once:
            assert counts[type_] <= 1, (f"{submission_id} ({case_id}): {type_} {counts[type_]} times, "
                                        f"events {verdict.types(case_id)}")
        ordered = [t for t in verdict.types(case_id) if t in PIPELINE]
        assert ordered == sorted(ordered, key=PIPELINE.index), f"{case_id}: out of order {ordered}"
        timers = Counter(timer_key(e) for e in verdict.events[case_id] if e["type"] in TIMER_TYPES)
        twice = [k for k, n in timers.items() if n > 1]
        assert not twice, f"{case_id}: timers fired more than once: {twice}"
    return verdict


def check_timers(values: list[dict[str, Any]], expected: Counter[tuple[str, str]]) -> None:
    """Every due timer fired exactly once: `expected` counts (case, type) pairs; no (case, type, step) twice."""
    unique = unique_events(values)
    timers = [e for e in unique if e["type"] in TIMER_TYPES and e["case_id"] in {c for c, _ in expected}]
    steps = Counter(timer_key(e) for e in timers)
    twice = [k for k, n in steps.items() if n > 1]
    assert not twice, f"timers fired more than once: {twice}"
    found = Counter((e["case_id"], e["type"]) for e in timers)
    assert found == expected, f"missing {dict(expected - found)}, unexpected {dict(found - expected)}"


SERVICES = ("intake", "triage", "sla", "rating", "sync", "insight")
# Every type a case of these tests gets once its unit resolved it and the city has the result.
HANDLED = ("case.registered", "case.triaged", "case.assigned", "case.accepted", "case.resolved", "case.synced")
LEADER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='leader-1', role='leader')}"}
ADMIN = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='ops', role='admin')}"}
# Fast timers for the services whose periodic jobs the tests wait for; sync talks to its city simulator.
ENV: dict[str, dict[str, str]] = {
    "sync": {"QHWY_CITY_SIMULATOR": "1", "QHWY_SYNC_REQUEST_TIMEOUT_SECONDS": "2",
             "QHWY_SYNC_BACKOFF_BASE_SECONDS": "0.2", "QHWY_SYNC_BACKOFF_CAP_SECONDS": "1.5",
             "QHWY_SYNC_DISPATCH_INTERVAL_SECONDS": "0.2", "QHWY_SYNC_DUE_RESCAN_SECONDS": "2",
             "QHWY_SYNC_RECONCILE_INTERVAL_SECONDS": "3600"},
    "rating": {"QHWY_RATING_SCAN_INTERVAL_SECONDS": "0.5", "QHWY_RATING_PHONE_REVISIT_PERCENT": "0",
               "QHWY_RATING_RESEND_INTERVAL_SECONDS": "3600"},
}


class Platform:
    """The six services, each its own process (or several), in one namespace. `env` adds settings per service
    to ENV's."""

    def __init__(self, ns: Namespace, log_dir: Path, env: dict[str, dict[str, str]] | None = None):
        self.ns, self.log_dir = ns, log_dir
        self.env = {name: {**ENV.get(name, {}), **(env or {}).get(name, {})} for name in SERVICES}
        self.procs: dict[str, list[PlatformProcess]] = {}
        self.sent: list[str] = []  # every submission id sent so far, over all rounds

    def new(self, name: str) -> PlatformProcess:
        return PlatformProcess(self.ns, f"services.{name}", self.log_dir, **self.env[name]).start()

    def one(self, name: str) -> PlatformProcess:
        return next(p for p in self.procs[name] if p.proc and p.proc.poll() is None)

    async def restart(self, name: str, index: int = 0) -> None:
        """kill -9 one instance and start a fresh one in its place."""
        self.procs[name][index].kill()
        await asyncio.sleep(0.3)
        self.procs[name][index] = self.new(name)

    async def healthy(self, timeout: float = 150) -> None:
        await asyncio.gather(*(p.wait_healthy(timeout=timeout) for ps in self.procs.values() for p in ps
                               if p.proc and p.proc.poll() is None))

    def assert_alive(self) -> None:
        for name, procs in self.procs.items():
            for proc in procs:
                assert proc.proc and proc.proc.poll() is None, f"{name} died; see {proc.log_path}"

    def stop(self) -> None:
        for procs in self.procs.values():
            for proc in procs:
                proc.stop()


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


async def resolve_all(platform: Platform, cases: list[tuple[str, dict[str, Any]]]) -> None:
    """The lead units accept and resolve these cases (case id, its case.assigned data), eight at a time, as units
    work in parallel; each through an sla instance alive at that moment."""
    gate = asyncio.Semaphore(8)
    async with httpx.AsyncClient(timeout=60) as client:
        async def handle(case_id: str, data: dict[str, Any]) -> None:
            async with gate:
                await resolve(client, platform.one("sla"), case_id, data["department"])

        await asyncio.gather(*(handle(c, d) for c, d in cases))


async def check_views(platform: Platform, events: TopicReader) -> Verdict:
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
    return verdict
