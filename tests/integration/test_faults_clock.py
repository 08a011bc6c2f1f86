"""The clock jumping over a holiday while timers are due (issue 10, "Faults").

intake, triage and sla run with a frozen clock (QHWY_CLOCK_START, QHWY_CLOCK_SPEED=0) on Wednesday
30 September 2026 16:00, the afternoon before National Day (1-7 October; Saturday 10 October is a 调休 working
day). The cases get their deadline from triage then; sla is killed and started again at later instants, each
a jump of the clock: in the middle of the holiday (only the end-of-day reminder of 30 September was due; no
working time has passed, so no other reminder is), just after the deadline on 8 October, the next evening, and
on the 调休 Saturday with two instances side by side. Every timer that falls due fires exactly once; deadlines
and escalation windows skip the holiday and count the 调休 Saturday.
"""

import asyncio
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from shared.org import load_organisation
from shared.workdays import add_working_days
from tests.integration.faults import check_stream, check_timers
from tests.integration.harness import Namespace, PlatformProcess, Producer, TopicReader, submission

pytestmark = pytest.mark.integration

TZ = ZoneInfo("Asia/Shanghai")
BEFORE_HOLIDAY = "2026-09-30T16:00:00+08:00"
CASES = 8


def at(ns: Namespace, log_dir: Path, module: str, instant: str) -> PlatformProcess:
    return PlatformProcess(ns, f"services.{module}", log_dir, QHWY_CLOCK_START=instant, QHWY_CLOCK_SPEED="0",
                           QHWY_SLA_TIMER_INTERVAL_SECONDS="0.3")


def timers(values: list[dict[str, Any]], cases: set[str]) -> list[tuple[str, str]]:
    return [(e["case_id"], e["type"]) for e in values
            if e["case_id"] in cases and e["type"] in ("case.reminded", "case.overdue", "case.escalated")]


def expect(cases: set[str], escalations: int) -> Counter[tuple[str, str]]:
    """The end-of-day reminder, the overdue and `escalations` steps up the ladder, each case."""
    return Counter({(c, "case.reminded"): 1 for c in cases} | {(c, "case.overdue"): 1 for c in cases}
                   | {(c, "case.escalated"): escalations for c in cases})


def levels(values: list[dict[str, Any]], cases: set[str]) -> set[int]:
    return {e["data"]["to_level"] for e in values if e["case_id"] in cases and e["type"] == "case.escalated"}


async def test_timers_across_national_day(ns: Namespace, tmp_path: Path) -> None:
    bootstrap = ns.infra["QHWY_KAFKA_BOOTSTRAP"]
    upstream = [at(ns, tmp_path, name, BEFORE_HOLIDAY).start() for name in ("intake", "triage")]
    sla = at(ns, tmp_path, "sla", BEFORE_HOLIDAY).start()
    try:
        await asyncio.gather(*(p.wait_healthy(timeout=150) for p in [*upstream, sla]))
        async with TopicReader(bootstrap, ns.topic("qhwy.case-events.v1")) as events:
            bodies = [submission(f"holiday-{i}", submitted_at=BEFORE_HOLIDAY) for i in range(CASES)]
            async with Producer(bootstrap) as producer:
                for body in bodies:
                    await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
            sent = [b["submission_id"] for b in bodies]

            def all_assigned(v: list[dict[str, Any]]) -> bool:
                return sum(e["type"] == "case.assigned" for e in v) >= CASES

            values = await events.wait_for(all_assigned, timeout=120, what=f"{CASES} assignments")
            verdict = check_stream(sent, values)
            cases = set(verdict.case_of.values())

            # triage set each deadline in working days from 30 September 16:00: past the holiday
            days = {c.code: c.days for c in load_organisation().complexity}
            start = datetime.fromisoformat(BEFORE_HOLIDAY)
            for case_id in cases:
                data = next(e["data"] for e in verdict.events[case_id] if e["type"] == "case.assigned")
                due = datetime.fromisoformat(data["due_at"])
                assert due == add_working_days(start, days[data["complexity"]], TZ), data
                assert due.astimezone(TZ).date() >= datetime(2026, 10, 8).date(), data
            assert {e["data"]["complexity"] for v in verdict.events.values() for e in v
                    if e["type"] == "case.assigned"} == {"simple"}, "the timetable below assumes simple cases"
            # simple: due Thursday 8 October 16:00 (1.5 working hours on 30 September, 5.5 on 8 October)
            await asyncio.sleep(2)
            assert timers(events.values(), cases) == [], "a timer fired before any was due"

            async def jump(instant: str, instances: int = 1) -> list[PlatformProcess]:
                nonlocal sla
                sla.kill()
                procs = [at(ns, tmp_path, "sla", instant).start() for _ in range(instances)]
                await asyncio.gather(*(p.wait_healthy(timeout=150) for p in procs))
                return procs

            # 5 October, the middle of the holiday: the end-of-day reminder of 30 September (17:00) was due
            # before the jump and fires once; no working time passed, so nothing else (50%, 80%) is due yet
            (sla,) = await jump("2026-10-05T10:00:00+08:00")
            await events.wait_for(lambda v: len(timers(v, cases)) >= CASES, timeout=60, what="end-of-day reminders")
            await asyncio.sleep(3)
            reminders = [e for e in events.values() if e["case_id"] in cases and e["type"] == "case.reminded"]
            assert {e["data"]["kind"] for e in reminders} == {"eod"}, reminders
            check_timers(events.values(), Counter({(c, "case.reminded"): 1 for c in cases}))

            # 8 October 16:30, just past the deadline: overdue once each and, with it, up the ladder to level 2;
            # the 50% and 80% reminders (11:30 and 14:06 that day) were overtaken by it
            (sla,) = await jump("2026-10-08T16:30:00+08:00")
            await events.wait_for(lambda v: len(timers(v, cases)) >= 3 * CASES, timeout=60, what="overdue timers")
            await asyncio.sleep(2)
            check_timers(events.values(), expect(cases, escalations=1))
            assert levels(events.values(), cases) == {2}

            # Friday 9 October 17:30: 7 working hours (the default window) after level 2: level 3
            (sla,) = await jump("2026-10-09T17:30:00+08:00")
            await events.wait_for(lambda v: len(timers(v, cases)) >= 4 * CASES, timeout=60, what="escalations")
            await asyncio.sleep(2)
            check_timers(events.values(), expect(cases, escalations=2))
            assert levels(events.values(), cases) == {2, 3}

            # Saturday 10 October 17:00, a 调休 working day (without it the window would end on Monday), with two
            # instances at once: level 4 once each
            pair = await jump("2026-10-10T17:00:00+08:00", instances=2)
            try:
                await events.wait_for(lambda v: len(timers(v, cases)) >= 5 * CASES, timeout=60,
                                      what="the escalations of the 调休 Saturday")
                await asyncio.sleep(3)
                check_timers(events.values(), expect(cases, escalations=3))
                assert levels(events.values(), cases) == {2, 3, 4}
                check_stream(sent, events.values())
            finally:
                for p in pair:
                    p.stop()
    finally:
        sla.kill()
        for p in upstream:
            p.stop()
