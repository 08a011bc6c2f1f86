"""Triage's 1-working-day clock through the real broker and store: sla publishes one `case.reminded` (kind
triage_due, level 0) for a case nobody screened and assigned in time, none for a case assigned, screened out or
waiting for details, and fires a resumed clock later, once, after a restart. Time is moved by starting the service
with a frozen clock (QHWY_CLOCK_START, QHWY_CLOCK_SPEED=0): the events are stored before any clock is due (as they
would be in real time), then the service restarts on Tuesday 10:00 and again on Tuesday 16:00."""

import asyncio
from pathlib import Path

import pytest

from pymongo import AsyncMongoClient

from tests.integration.harness import Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

# Monday 2 March 2026 09:00: due within one working day, i.e. Tuesday 09:00.
RECEIVED_AT = "2026-03-02T09:00:00+08:00"
CASES = ["tri-late", "tri-assigned", "tri-unclear", "tri-resumed", "tri-duplicate"]


def sla(ns: Namespace, log_dir: Path, at: str) -> PlatformProcess:
    return PlatformProcess(ns, "services.sla", log_dir, QHWY_CLOCK_START=at, QHWY_CLOCK_SPEED="0",
                           QHWY_SLA_TIMER_INTERVAL_SECONDS="0.3")


def ev(case_id: str, type_: str, at: str, data: dict, n: str = "1") -> dict:
    return {"event_id": f"{type_}-{case_id}-{n}", "type": type_, "version": 1, "case_id": case_id,
            "occurred_at": at, "data": data}


def registered(case_id: str) -> dict:
    return ev(case_id, "case.registered", RECEIVED_AT, {
        "submission_id": f"s-{case_id}", "channel": "web", "tracking_no": f"T-{case_id}",
        "received_at": RECEIVED_AT,
        "enterprise": {"name": "开化县某公司", "contact_phone": "138****0000"}, "content": "用电报装进度咨询"})


def triaged(case_id: str, screening: str, at: str) -> dict:
    return ev(case_id, "case.triaged", at, {"screening": screening, "decided_by": "officer", "needs_review": False})


def triage_reminders(reader: TopicReader) -> list[str]:
    return [e["case_id"] for e in reader.values()
            if e["case_id"] in CASES and e["type"] == "case.reminded" and e["data"].get("kind") == "triage_due"]


async def test_triage_due_fires_once_for_unscreened_cases_only(ns: Namespace, tmp_path: Path) -> None:
    bootstrap, topic = ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")
    events = [registered(c) for c in CASES] + [registered("tri-late")] + [  # a redelivery
        ev("tri-assigned", "case.assigned", "2026-03-02T10:00:00+08:00", {
            "department": "gongdian", "co_departments": [], "region": "majin", "complexity": "simple",
            "escalation_level": 1, "due_at": "2026-03-03T10:00:00+08:00"}),
        triaged("tri-unclear", "unclear", "2026-03-02T09:30:00+08:00"),
        triaged("tri-resumed", "unclear", "2026-03-02T09:30:00+08:00"),
        # 6.5 working hours were left: from Monday 16:00 that is Tuesday 15:30
        ev("tri-resumed", "case.detail_added", "2026-03-02T16:00:00+08:00",
           {"detail": "补充了户号", "by": "enterprise"}),
        triaged("tri-duplicate", "duplicate", "2026-03-02T09:20:00+08:00"),
    ]
    expected = {"tri-late": "running", "tri-assigned": "stopped", "tri-unclear": "paused", "tri-resumed": "running",
                "tri-duplicate": "stopped"}
    async with TopicReader(bootstrap, topic) as reader:
        # Monday 17:00: every event happened, no clock is due yet; wait until the store has them all
        before = sla(ns, tmp_path, "2026-03-02T17:00:00+08:00").start()
        mongo = AsyncMongoClient(ns.infra.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017"), tz_aware=True)
        try:
            await before.wait_healthy()
            async with Producer(bootstrap) as producer:
                for event in events:
                    await producer.send(topic, event, key=event["case_id"])
            clocks = mongo[f"{ns.name}_sla"]["triage_clocks"]
            for _ in range(150):
                states = {d["_id"]: (d.get("state"), d.get("resumed_at") is not None) async for d in clocks.find({})}
                if {k: v[0] for k, v in states.items() if k in CASES} == expected and states["tri-resumed"][1]:
                    break
                await asyncio.sleep(0.2)
            else:
                raise AssertionError(f"triage clocks never reached {expected}: {states}")
            assert triage_reminders(reader) == []
        finally:
            await mongo.close()
            assert before.stop() == 0, before.logs()[-3000:]

        first = sla(ns, tmp_path, "2026-03-03T10:00:00+08:00").start()
        try:
            await first.wait_healthy()
            await reader.wait_for(lambda _: triage_reminders(reader), timeout=30, what="a triage_due reminder")
            await asyncio.sleep(2.5)  # several more sweeps: nothing else may come
            assert triage_reminders(reader) == ["tri-late"]
            [late] = [e for e in reader.values() if e["case_id"] == "tri-late" and e["type"] == "case.reminded"]
            assert late["data"]["level"] == 0 and late["data"]["department"] is None
            assert late["data"]["due_at"].startswith("2026-03-03T01:00:00")  # Tuesday 09:00 in Shanghai
        finally:
            assert first.stop() == 0, first.logs()[-3000:]

        later = sla(ns, tmp_path, "2026-03-03T16:00:00+08:00").start()  # past the resumed clock's end
        try:
            await later.wait_healthy()
            await reader.wait_for(lambda _: len(triage_reminders(reader)) >= 2, timeout=30, what="the resumed clock")
            await asyncio.sleep(2.5)
            assert sorted(triage_reminders(reader)) == ["tri-late", "tri-resumed"]
        finally:
            assert later.stop() == 0, later.logs()[-3000:]
