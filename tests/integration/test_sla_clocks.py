"""sla's clocks through the real broker and store: reminders, overdue and the ladder fire exactly once, also
across a kill -9 and a restart days later, and with two instances side by side. Time is moved by starting the
service with a frozen clock (QHWY_CLOCK_START, QHWY_CLOCK_SPEED=0) at a later instant each time."""

import asyncio
from collections import Counter
from pathlib import Path

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

CASES = [f"clock-case-{i}" for i in range(6)]
# Monday 2 March 2026, 09:00: one working day, due Tuesday 09:00. Office hours 08:30-12:00, 14:00-17:30.
ASSIGNED_AT = "2026-03-02T09:00:00+08:00"
DUE_AT = "2026-03-03T09:00:00+08:00"
ADMIN = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='ops', role='admin')}"}


def sla(ns: Namespace, log_dir: Path, at: str) -> PlatformProcess:
    return PlatformProcess(ns, "services.sla", log_dir, QHWY_CLOCK_START=at, QHWY_CLOCK_SPEED="0",
                           QHWY_SLA_TIMER_INTERVAL_SECONDS="0.3",
                           QHWY_SLA_ESCALATION_WINDOW_HOURS='{"2": 1, "3": 1}')


def fired(reader: TopicReader) -> list[tuple[str, str, str]]:
    """(case, type, detail) of what sla published, in topic order per case."""
    out = []
    for e in reader.values():
        if e["case_id"] in CASES and e["type"] in ("case.reminded", "case.overdue", "case.escalated"):
            detail = e["data"].get("kind") or str(e["data"].get("to_level") or e["data"].get("escalation_level"))
            out.append((e["case_id"], e["type"], detail))
    return out


async def settle(reader: TopicReader, expected: int, extra_wait: float = 2.0) -> list[tuple[str, str, str]]:
    await reader.wait_for(lambda _: len(fired(reader)) >= expected, timeout=30, what=f"{expected} timer events")
    await asyncio.sleep(extra_wait)  # several more sweeps: nothing else may come
    return fired(reader)


async def test_timers_fire_once_across_restarts_and_instances(ns: Namespace, tmp_path: Path) -> None:
    bootstrap = ns.infra["QHWY_KAFKA_BOOTSTRAP"]
    first = sla(ns, tmp_path, "2026-03-02T14:40:00+08:00").start()  # after the half-way reminder, before 80%
    try:
        await first.wait_healthy()
        async with TopicReader(bootstrap, ns.topic("qhwy.case-events.v1")) as reader:
            async with Producer(bootstrap) as producer:
                for case in CASES:
                    assigned = {"event_id": f"assigned-{case}", "type": "case.assigned", "version": 1,
                                "case_id": case, "occurred_at": ASSIGNED_AT,
                                "data": {"department": "gongdian", "co_departments": [], "region": "majin",
                                         "complexity": "simple", "escalation_level": 1, "due_at": DUE_AT}}
                    await producer.send(ns.topic("qhwy.case-events.v1"), assigned, key=case)
                    await producer.send(ns.topic("qhwy.case-events.v1"), assigned, key=case)  # a redelivery
            events = await settle(reader, len(CASES))
            assert Counter(events) == Counter((case, "case.reminded", "50") for case in CASES)

            async with httpx.AsyncClient(base_url=first.base_url) as client:
                items = (await client.get("/api/v1/sla/deadlines", headers=ADMIN)).json()["items"]
            assert sorted(i["case_id"] for i in items) == CASES
            assert all(i["next_timer"] == "1/remind-80" and not i["overdue"] for i in items)

            first.kill()  # kill -9; it comes back on Tuesday 10:30, after the deadline and the first window
            second = sla(ns, tmp_path, "2026-03-03T10:30:00+08:00").start()
            try:
                await second.wait_healthy()
                events = await settle(reader, len(CASES) * 4)
                per_case = {case: [(t, d) for c, t, d in events if c == case] for case in CASES}
                for case, seen in per_case.items():
                    # the 80% and end-of-day reminders were overtaken; overdue, then the ladder up to level 3
                    assert seen == [("case.reminded", "50"), ("case.overdue", "1"), ("case.escalated", "2"),
                                    ("case.escalated", "3")], case
                metrics = (await httpx.AsyncClient().get(f"{second.base_url}/metrics")).text
                assert 'qhwy_sla_timers_fired_total{kind="overdue"} 6.0' in metrics
            finally:
                assert second.stop() == 0

            # Wednesday: two instances at once; the last step of the ladder fires once per case all the same
            pair = [sla(ns, tmp_path, "2026-03-04T09:00:00+08:00").start() for _ in range(2)]
            try:
                await asyncio.gather(*(p.wait_healthy() for p in pair))
                events = await settle(reader, len(CASES) * 5, extra_wait=3.0)
                assert Counter(events) == Counter(
                    [(case, "case.reminded", "50") for case in CASES] + [(case, "case.overdue", "1") for case in CASES]
                    + [(case, "case.escalated", lvl) for case in CASES for lvl in ("2", "3", "4")])
                ids = [e["event_id"] for e in reader.values() if e["case_id"] in CASES and e["type"] != "case.assigned"]
                assert len(ids) == len(set(ids))
            finally:
                for p in pair:
                    assert p.stop() == 0
    finally:
        first.kill()
