"""services.sla.domain: the clock record, its timers (reminders, overdue, the ladder) and what they fire."""

import copy
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain import Policy, fire, schedule, timer_cause, timers, track, working_seconds
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent, derived_id
from shared.workdays import WorkCalendar, library_schedules

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar(schedules=library_schedules(), tz=SHANGHAI)
HOUR = 3600.0
POLICY = Policy(calendar=CALENDAR, top_level=4, windows={2: 7 * HOUR, 3: 7 * HOUR})


def at(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


ASSIGNED_AT = at(2026, 3, 2, 9)   # Monday
DUE = at(2026, 3, 3, 9)           # simple: one working day


def event(type_, data, cause="cause-1", when=ASSIGNED_AT, case_id="case-1"):
    return CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=when, data=data)


def assigned(when=ASSIGNED_AT, due=DUE, level=1, cause="a1"):
    return event("case.assigned", ce.Assigned(department="gongdian", co_departments=["shuiwu"], region="majin",
                                              complexity="simple", escalation_level=level, due_at=due),
                 cause=cause, when=when)


def apply(doc, change):
    new = copy.deepcopy(doc) if doc is not None else {"_id": "case-1"}
    if change is not None:
        new.update(change.set)
    return new


def opened(**kw):
    return apply(None, track(None, assigned(**kw), POLICY, partition=2))


def run_until(doc, until, step_at=None):
    """Fire each timer at its own time (a service that never misses), up to `until`; all events in order."""
    events = []
    for _ in range(50):
        pending = timers(doc, POLICY)
        if not pending or pending[0].at > until:
            return doc, events
        now = pending[0].at if step_at is None else step_at
        change = fire(doc, case_id="case-1", now=now, policy=POLICY)
        assert change is not None
        events += change.events
        doc = apply(doc, change)
    raise AssertionError("timers never settle")


def summary(events):
    out = []
    for e in events:
        if e.type == "case.reminded":
            out.append(("reminded", e.data["kind"], e.occurred_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")))
        elif e.type == "case.overdue":
            out.append(("overdue", e.data["escalation_level"],
                        e.occurred_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")))
        else:
            out.append(("escalated", f"{e.data['from_level']}->{e.data['to_level']}",
                        e.occurred_at.astimezone(SHANGHAI).strftime("%m-%d %H:%M")))
    return out


# ---------------------------------------------------------------- the record

def test_assigned_opens_the_clock():
    doc = opened()
    assert doc["state"] == "assigned" and doc["epoch"] == 1 and doc["partition"] == 2
    assert doc["due_at"] == DUE and doc["started_at"] == ASSIGNED_AT and doc["escalation_level"] == 1
    assert doc["next_timer"] == "1/remind-50" and doc["next_fire_at"] == at(2026, 3, 2, 14, 30)


def test_timers_of_a_simple_case():
    assert [(t.id, t.at) for t in timers(opened(), POLICY)] == [
        ("1/remind-50", at(2026, 3, 2, 14, 30)),   # 3.5 of 7 office hours
        ("1/remind-80", at(2026, 3, 2, 16, 36)),   # 5.6 of 7
        ("1/remind-eod", at(2026, 3, 2, 17, 0)),   # 30 min before the office day closes: 不过夜
        ("1/response", at(2026, 3, 2, 17, 30)),    # 签收 due by the close of the day of assignment
        ("1/overdue", DUE),
        ("1/response-escalate", at(2026, 3, 3, 10, 30)),  # 2 working hours after the response deadline
    ]


def test_the_whole_ladder_fires_each_timer_once_in_order():
    doc, events = run_until(opened(), at(2026, 3, 31))
    assert summary(events) == [
        ("reminded", "50", "03-02 14:30"), ("reminded", "80", "03-02 16:36"), ("reminded", "eod", "03-02 17:00"),
        ("reminded", "response_missed", "03-02 17:30"),
        ("overdue", 1, "03-03 09:00"), ("escalated", "1->2", "03-03 09:00"),
        # (response-escalate at 03-03 10:30 finds the case above the unit already: nothing more)
        ("escalated", "2->3", "03-04 09:00"),   # level 2 had 7 working hours
        ("escalated", "3->4", "03-05 09:00"),
    ]
    assert doc["escalation_level"] == 4 and doc["next_fire_at"] is None and doc["overdue"] is True
    assert len({e.event_id for e in events}) == len(events)
    assert events[4].data == {"due_at": "2026-03-03T09:00:00+08:00", "escalation_level": 1, "department": "gongdian"}
    assert doc["response_missed"] is True
    assert events[0].data["level"] == 1 and events[0].data["due_at"] == "2026-03-03T09:00:00+08:00"


def test_ids_derive_from_the_case_and_the_timer():
    doc = opened()
    change = fire(doc, case_id="case-1", now=at(2026, 3, 2, 14, 30), policy=POLICY)
    [reminded] = change.events
    assert reminded.event_id == derived_id(timer_cause("case-1", "1/remind-50"), "case.reminded")
    again = fire(doc, case_id="case-1", now=at(2026, 3, 2, 14, 31), policy=POLICY)
    assert again.events[0].event_id == reminded.event_id
    assert fire(apply(doc, change), case_id="case-1", now=at(2026, 3, 2, 14, 31), policy=POLICY) is None


def test_nothing_fires_before_its_time():
    doc = opened()
    for now in (ASSIGNED_AT, at(2026, 3, 2, 14, 29)):
        assert fire(doc, case_id="case-1", now=now, policy=POLICY) is None
    assert fire(None, case_id="case-1", now=DUE, policy=POLICY) is None


def test_after_an_outage_everything_due_fires_once_without_stale_reminders():
    change = fire(opened(), case_id="case-1", now=at(2026, 3, 4, 10), policy=POLICY)
    assert [(e.type, e.data.get("to_level")) for e in change.events] == [
        ("case.overdue", None), ("case.escalated", 2), ("case.escalated", 3)]
    doc = apply(opened(), change)
    assert doc["fired"] == ["1/remind-50", "1/remind-80", "1/remind-eod", "1/response", "1/overdue",
                            "1/response-escalate", "1/escalate-3"]
    assert doc["response_missed"] is True  # the overtaken response reminder is not sent, the miss is recorded
    assert doc["next_timer"] == "1/escalate-4" and doc["next_fire_at"] == at(2026, 3, 5, 9)
    lags = {lag["kind"]: lag["seconds"] for lag in change.set["last_lags"]}
    assert lags["overdue"] == (at(2026, 3, 4, 10) - DUE).total_seconds()


def test_only_the_latest_of_several_due_reminders_is_sent():
    change = fire(opened(), case_id="case-1", now=at(2026, 3, 2, 16, 40), policy=POLICY)
    assert [e.data["kind"] for e in change.events] == ["80"]


@pytest.mark.parametrize("type_, data, state", [
    ("case.resolved", ce.Resolved(resolution="已解决", resolved_at=at(2026, 3, 2, 11), on_time=True, by="w"),
     "resolved"),
    ("case.returned", ce.Returned(department="gongdian", by="w", reason="非本单位职责"), "returned"),
    ("case.closed", ce.Closed(closed_at=at(2026, 3, 2, 11)), "closed"),
])
def test_resolved_returned_or_closed_stops_the_clock(type_, data, state):
    doc = opened()
    change = track(doc, event(type_, data, when=at(2026, 3, 2, 11)), POLICY)
    doc = apply(doc, change)
    assert doc["state"] == state and doc["next_fire_at"] is None and timers(doc, POLICY) == []
    assert fire(doc, case_id="case-1", now=at(2026, 3, 9), policy=POLICY) is None


def test_accepted_keeps_the_clock_running():
    doc = opened()
    doc = apply(doc, track(doc, event("case.accepted", ce.Accepted(department="gongdian", by="w"),
                                      when=at(2026, 3, 2, 10)), POLICY))
    assert doc["state"] == "accepted" and doc["accepted_at"] == at(2026, 3, 2, 10)
    assert doc["next_timer"] == "1/remind-50"
    # accepting twice keeps the first time
    assert track(doc, event("case.accepted", ce.Accepted(department="gongdian", by="w"), cause="x"), POLICY) is None


def test_reopened_case_gets_a_new_clock():
    doc, _ = run_until(opened(), at(2026, 3, 3, 10))  # overdue, escalated to 2
    doc = apply(doc, track(doc, event("case.resolved", ce.Resolved(resolution="r", resolved_at=at(2026, 3, 3, 11),
                                                                   on_time=False, by="w")), POLICY))
    new_due = at(2026, 3, 10, 9)
    doc = apply(doc, track(doc, event("case.reopened", ce.Reopened(reason="不满意", due_at=new_due),
                                      when=at(2026, 3, 9, 9), cause="r1"), POLICY))
    assert doc["state"] == "assigned" and doc["epoch"] == 2 and doc["due_at"] == new_due and doc["fired"] == []
    assert [t.id for t in timers(doc, POLICY)] == ["2/remind-50", "2/remind-80", "2/remind-eod", "2/overdue"]
    doc, events = run_until(doc, at(2026, 3, 10, 9))
    assert [e.type for e in events][-2:] == ["case.overdue", "case.escalated"]
    assert events[-1].data["from_level"] == 2 and events[-1].data["to_level"] == 3


def test_a_manual_escalation_before_the_deadline_raises_the_starting_level():
    doc = opened()
    doc = apply(doc, track(doc, event("case.escalated", ce.Escalated(from_level=1, to_level=2, reason="申请协调")),
                           POLICY))
    assert doc["escalation_level"] == 2
    _, events = run_until(doc, DUE)
    assert summary(events)[-2:] == [("overdue", 2, "03-03 09:00"), ("escalated", "2->3", "03-03 09:00")]


def test_a_manual_escalation_on_the_ladder_restarts_the_window():
    doc, _ = run_until(opened(), at(2026, 3, 3, 11))  # level 2, next step Wed 09:00
    doc = apply(doc, track(doc, event("case.escalated", ce.Escalated(from_level=2, to_level=3, reason="x"),
                                      when=at(2026, 3, 3, 14), cause="m"), POLICY))
    assert doc["escalation_level"] == 3
    assert doc["next_timer"] == "1/escalate-4" and doc["next_fire_at"] == at(2026, 3, 4, 12)  # 3.5 + 3.5 h


def test_our_own_escalation_event_coming_back_changes_nothing():
    doc, events = run_until(opened(), DUE)
    assert track(doc, events[-1], POLICY) is None


def test_complex_case_starting_higher_climbs_from_there():
    doc = opened(level=2, due=at(2026, 3, 5, 9))
    _, events = run_until(doc, at(2026, 3, 31))
    assert [e.data["to_level"] for e in events if e.type == "case.escalated"] == [3, 4]


def test_golden_week_timers():
    doc = opened(when=at(2025, 9, 30, 10), due=at(2025, 10, 9, 10))
    assert [(t.id.split("/")[1], t.at) for t in timers(doc, POLICY)] == [
        ("remind-50", at(2025, 9, 30, 15, 30)), ("remind-eod", at(2025, 9, 30, 17)),
        ("response", at(2025, 9, 30, 17, 30)),
        ("remind-80", at(2025, 10, 9, 8, 36)), ("overdue", at(2025, 10, 9, 10)),
        ("response-escalate", at(2025, 10, 9, 10, 30))]  # 2 working hours after the holiday
    _, events = run_until(doc, at(2025, 10, 31))
    # level 2's window: 7 working hours from Thu 9 Oct 10:00 -> Fri 10 Oct 10:00; level 3's -> Sat 11 Oct (调休)
    assert summary(events)[-2:] == [("escalated", "2->3", "10-10 10:00"), ("escalated", "3->4", "10-11 10:00")]


def test_night_assignment_has_no_end_of_day_reminder():
    doc = opened(when=at(2026, 3, 2, 22), due=at(2026, 3, 3, 22))
    assert [(t.id, t.at) for t in timers(doc, POLICY)] == [
        ("1/remind-50", at(2026, 3, 3, 12)),
        ("1/response", at(2026, 3, 3, 12)),  # 最多过一夜: by the end of the next working morning
        ("1/response-escalate", at(2026, 3, 3, 16)),
        ("1/remind-80", at(2026, 3, 3, 16, 6)), ("1/overdue", at(2026, 3, 3, 22))]


def test_holiday_assignment_window_starts_after_the_holiday():
    doc = opened(when=at(2026, 2, 17, 11), due=at(2026, 2, 25))  # Spring Festival, 1 working day
    assert [t.id.split("/")[1] for t in timers(doc, POLICY)] == ["remind-50", "response", "response-escalate",
                                                                  "remind-80", "overdue"]
    assert doc["response_due_at"] == at(2026, 2, 24, 12)  # the morning of the first working day after it
    assert timers(doc, POLICY)[0].at == at(2026, 2, 24, 12)  # 3.5 office hours into Tue 24 Feb


def test_events_before_assignment_are_ignored():
    for type_, data in (("case.accepted", ce.Accepted(department="x", by="y")),
                        ("case.reopened", ce.Reopened(reason="r", due_at=DUE))):
        assert track(None, event(type_, data), POLICY) is None


def test_schedule_of_a_closed_record_is_empty():
    assert schedule({"state": "closed"}, POLICY) == {"next_fire_at": None, "next_timer": None}


def test_working_seconds():
    assert working_seconds(POLICY, ASSIGNED_AT, DUE) == 7 * HOUR
    assert working_seconds(POLICY, None, DUE) is None
    assert working_seconds(POLICY, ASSIGNED_AT.astimezone(timezone.utc), at(2026, 3, 2, 10)) == HOUR


def test_events_outside_tracked_change_no_clock():
    """The service skips the store write for these types: track must ignore them on an open clock."""
    from services.sla.domain import TRACKED
    from shared.contracts.case_events import DATA_MODELS
    doc = opened()
    for type_ in set(DATA_MODELS) - TRACKED:
        data = {"due_at": DUE.isoformat(), "to_level": 3, "from_level": 1, "reason": "r", "level": 1,
                "escalation_level": 1, "department": "gongdian", "resolved_at": DUE.isoformat(), "on_time": True,
                "closed_at": DUE.isoformat()}
        e = CaseEvent(event_id=f"x-{type_}", type=type_, version=1, case_id="case-1", occurred_at=ASSIGNED_AT,
                      data=data)
        assert track(doc, e, POLICY) is None, type_


# ---------------------------------------------------------------- issue 17: the response deadline (签收, 不过夜)

from services.sla.domain import (past_responses, response_due, response_outcome, response_outcomes,  # noqa: E402
                                 tracks, unanswered)


@pytest.mark.parametrize("assigned_at, due", [
    (at(2026, 3, 2, 9), at(2026, 3, 2, 17, 30)),       # Monday morning: by the close of the day
    (at(2026, 3, 2, 12, 30), at(2026, 3, 2, 17, 30)),  # lunch break, 3.5 office hours left
    (at(2026, 3, 2, 7), at(2026, 3, 2, 17, 30)),       # before opening
    (at(2026, 3, 2, 15, 30), at(2026, 3, 2, 17, 30)),  # exactly 2 office hours left: still the same day
    (at(2026, 3, 2, 16), at(2026, 3, 3, 12)),          # 1.5 h left: over one night, the next morning
    (at(2026, 3, 2, 22), at(2026, 3, 3, 12)),          # at night
    (at(2026, 3, 6, 16), at(2026, 3, 9, 12)),          # Friday late: Monday morning
    (at(2026, 3, 7, 10), at(2026, 3, 9, 12)),          # Saturday
    (at(2026, 2, 17, 11), at(2026, 2, 24, 12)),        # Spring Festival: the first working morning after it
])
def test_response_deadline(assigned_at, due):
    assert response_due(CALENDAR, assigned_at, 2 * HOUR) == due


def general(when):
    return apply(None, track(None, event("case.assigned", ce.Assigned(
        department="gongdian", co_departments=["shuiwu"], region="majin", complexity="general",
        escalation_level=1, due_at=at(2026, 3, 4, 16)), cause="g1", when=when), POLICY, partition=0))


def test_a_missed_response_reminds_then_climbs_from_the_unit():
    doc = general(at(2026, 3, 2, 16))  # response due Tue 12:00, escalation 2 working hours later: Tue 16:00
    assert doc["response_due_at"] == at(2026, 3, 3, 12)
    doc, events = run_until(doc, at(2026, 3, 3, 16))
    assert summary(events)[-2:] == [("reminded", "response_missed", "03-03 12:00"),
                                    ("escalated", "1->2", "03-03 16:00")]
    assert events[-2].data["due_at"] == "2026-03-03T12:00:00+08:00" and events[-2].data["department"] == "gongdian"
    assert events[-1].data["reason"] == "超过响应时限仍未签收，提级督办"
    assert doc["escalation_level"] == 2 and doc["response_missed"] is True
    assert response_outcome(doc, at(2026, 3, 3, 16)) is False and unanswered(doc, at(2026, 3, 3, 16))


def test_accepting_in_time_meets_the_response_deadline_and_stops_its_timers():
    doc = general(at(2026, 3, 2, 16))
    assert response_outcome(doc, at(2026, 3, 3, 11, 59)) is None  # not decided yet
    doc = apply(doc, track(doc, event("case.accepted", ce.Accepted(department="gongdian", by="w"), cause="acc",
                                      when=at(2026, 3, 3, 9)), POLICY))
    assert [t.id for t in timers(doc, POLICY) if "response" in t.id] == []
    assert response_outcome(doc, at(2026, 3, 9)) is True
    assert response_outcomes(doc, at(2026, 3, 9)) == [("gongdian", True)]
    _, events = run_until(doc, at(2026, 3, 4, 15))
    assert all(e.type != "case.escalated" for e in events)


def test_late_acceptance_and_timely_return():
    doc = general(at(2026, 3, 2, 16))
    late = apply(doc, track(doc, event("case.accepted", ce.Accepted(department="gongdian", by="w"), cause="acc",
                                       when=at(2026, 3, 3, 12, 1)), POLICY))
    assert response_outcome(late, at(2026, 3, 9)) is False
    back = apply(doc, track(doc, event("case.returned", ce.Returned(department="gongdian", by="w", reason="非本单位"),
                                       cause="ret", when=at(2026, 3, 3, 10)), POLICY))
    assert response_outcome(back, at(2026, 3, 9)) is None  # sent back in time: not counted
    # reassigned to another unit: the first assignment's outcome stays on the record, the new one is pending
    again = apply(back, track(back, event("case.assigned", ce.Assigned(
        department="fagai", region="majin", complexity="simple", escalation_level=1, due_at=at(2026, 3, 5, 9)),
        cause="a2", when=at(2026, 3, 4, 9)), POLICY))
    assert again["responses"] == [] and again["response_due_at"] == at(2026, 3, 4, 17, 30)
    missed = apply(doc, track(doc, event("case.returned", ce.Returned(department="gongdian", by="w", reason="x"),
                                         cause="ret2", when=at(2026, 3, 3, 14)), POLICY))
    assert past_responses(missed, at(2026, 3, 4, 9)) == [{"department": "gongdian", "met": False}]
    reassigned = apply(missed, track(missed, event("case.assigned", ce.Assigned(
        department="fagai", region="majin", complexity="simple", escalation_level=1, due_at=at(2026, 3, 5, 9)),
        cause="a3", when=at(2026, 3, 4, 9)), POLICY))
    assert response_outcomes(reassigned, at(2026, 3, 4, 18)) == [("gongdian", False), ("fagai", False)]


def test_follow_up_dates_remind_the_unit_until_closed():
    doc = opened()
    doc = apply(doc, track(doc, event("case.accepted", ce.Accepted(department="gongdian", by="w"), cause="acc",
                                      when=at(2026, 3, 2, 10)), POLICY))
    doc = apply(doc, track(doc, event("case.resolved", ce.Resolved(
        resolution="一期已完成", resolved_at=at(2026, 3, 2, 11), on_time=True, by="w", solution="二期改造",
        follow_up_at=["2026-03-20", "2026-03-21"], problem_list=True), cause="res", when=at(2026, 3, 2, 11)), POLICY))
    # Friday 20 March at the office opening; Saturday 21 March -> Monday 23 March
    assert [(t.id, t.at) for t in timers(doc, POLICY)] == [
        ("1/follow-up-2026-03-20", at(2026, 3, 20, 8, 30)), ("1/follow-up-2026-03-21", at(2026, 3, 23, 8, 30))]
    assert doc["next_fire_at"] == at(2026, 3, 20, 8, 30)
    change = fire(doc, case_id="case-1", now=at(2026, 3, 20, 8, 31), policy=POLICY)
    [reminded] = change.events
    assert reminded.type == "case.reminded" and reminded.data["kind"] == "follow_up"
    assert reminded.data["due_at"] == "2026-03-20T08:30:00+08:00" and reminded.data["department"] == "gongdian"
    assert reminded.event_id == derived_id(timer_cause("case-1", "1/follow-up-2026-03-20"), "case.reminded")
    doc = apply(doc, change)
    assert doc["next_fire_at"] == at(2026, 3, 23, 8, 30)
    closed = apply(doc, track(doc, event("case.closed", ce.Closed(closed_at=at(2026, 3, 21)), cause="c",
                                         when=at(2026, 3, 21)), POLICY))
    assert timers(closed, POLICY) == [] and closed["next_fire_at"] is None


def test_part_acceptance_and_urges_are_recorded():
    doc = opened()
    part = track(doc, event("case.progressed", ce.Progressed(department="shuiwu", by="z", note="签收",
                                                             kind="part_accepted"), cause="p", when=at(2026, 3, 2, 10)),
                 POLICY)
    doc = apply(doc, part)
    assert doc["parts_accepted"] == {"shuiwu": at(2026, 3, 2, 10)} and doc["state"] == "assigned"
    assert doc["accepted_at"] is None  # the lead's 签收 is still owed
    urged = event("case.reminded", ce.Reminded(due_at=DUE, level=1, kind="urged", department="gongdian", by="t"),
                  cause="u")
    assert tracks(urged)
    assert not tracks(event("case.reminded", ce.Reminded(due_at=DUE, level=1, kind="50"), cause="r"))
    assert apply(doc, track(doc, urged, POLICY))["urges"] == 1
