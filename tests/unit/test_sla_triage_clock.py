"""Triage's 1-working-day clock (pure): starts at registration, stops at assignment or a terminal screening,
pauses while the enterprise owes details, fires one `case.reminded` (kind triage_due) when it passes."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sla import triage_clock
from shared.contracts.envelope import CaseEvent
from shared.workdays import WorkCalendar, library_schedules

SHANGHAI = ZoneInfo("Asia/Shanghai")
CALENDAR = WorkCalendar(schedules=library_schedules(), tz=SHANGHAI)


def at(y, m, d, hh=0, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


def event(type_, data, when, n=[0]):
    n[0] += 1
    return CaseEvent(event_id=f"e{n[0]}", type=type_, version=1, case_id="case-1", occurred_at=when, data=data)


def registered(received):
    return event("case.registered", {"submission_id": "s1", "channel": "web", "tracking_no": "T1",
                                     "received_at": received.isoformat(), "content": "x",
                                     "enterprise": {"name": "e", "contact_phone": "138****0000"}}, received)


def triaged(screening, when):
    return event("case.triaged", {"screening": screening, "decided_by": "auto", "needs_review": False}, when)


def fold(*events):
    doc = None
    for e in events:
        change = triage_clock.track(doc, e, CALENDAR, partition=1)
        if change is not None:
            doc = {**(doc or {"_id": "case-1"}), **change.set}
    return doc


def test_registration_starts_a_one_working_day_clock():
    doc = fold(registered(at(2026, 3, 2, 9)))  # Monday
    assert doc["state"] == "running" and doc["partition"] == 1
    assert doc["due_at"] == doc["next_fire_at"] == at(2026, 3, 3, 9)


@pytest.mark.parametrize("received, due", [
    (at(2026, 3, 6, 16), at(2026, 3, 9, 16)),         # Friday -> Monday
    (at(2026, 3, 7, 22), at(2026, 3, 10, 0)),         # Saturday night: counts from Monday, by the end of Monday
    (at(2026, 9, 30, 10), at(2026, 10, 8, 10)),       # before the National Day holiday (1-7 October)
    (at(2026, 2, 13, 11), at(2026, 2, 14, 11)),       # Friday before Spring Festival: the 调休 Saturday works
])
def test_due_across_weekends_and_holidays(received, due):
    assert fold(registered(received))["due_at"] == due


def test_assignment_and_terminal_screenings_stop_it():
    start = registered(at(2026, 3, 2, 9))
    for stop in (event("case.assigned", {"department": "g", "complexity": "simple", "escalation_level": 1,
                                         "due_at": at(2026, 3, 3, 9).isoformat()}, at(2026, 3, 2, 10)),
                 triaged("non_business", at(2026, 3, 2, 10)), triaged("duplicate", at(2026, 3, 2, 10))):
        doc = fold(start, stop)
        assert doc["state"] == "stopped" and doc["next_fire_at"] is None
        assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 9)) is None


def test_accepted_screening_keeps_it_running_until_assignment():
    doc = fold(registered(at(2026, 3, 2, 9)), triaged("accepted", at(2026, 3, 2, 9, 30)))
    assert doc["state"] == "running" and doc["next_fire_at"] == at(2026, 3, 3, 9)


def test_unclear_pauses_and_detail_added_resumes_with_the_working_time_left():
    doc = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 2, 9, 30)))
    assert doc["state"] == "paused" and doc["next_fire_at"] is None
    assert doc["remaining_seconds"] == 6.5 * 3600  # Mon 09:30-12:00, 14:00-17:30, Tue 08:30-09:00
    assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 20)) is None
    resumed = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 2, 9, 30)),
                   event("case.detail_added", {"detail": "补充", "by": "enterprise"}, at(2026, 3, 2, 16)))
    # Mon 16:00-17:30 (1.5 h), Tue 08:30-12:00 (3.5 h), 14:00-15:30 (1.5 h)
    assert resumed["state"] == "running" and resumed["next_fire_at"] == at(2026, 3, 3, 15, 30)


def test_it_fires_once_when_due_and_not_before():
    doc = fold(registered(at(2026, 3, 2, 9)))
    assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 3, 8, 59)) is None
    change = triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 3, 9, 5))
    [reminded] = change.events
    assert reminded.type == "case.reminded"
    assert reminded.data["kind"] == "triage_due" and reminded.data["level"] == 0
    assert reminded.data["department"] is None
    assert change.set["lag_seconds"] == 300 and change.set["next_fire_at"] is None
    again = triage_clock.fire({**doc, **change.set}, case_id="case-1", now=at(2026, 3, 5))
    assert again is None
    # the event id derives from the case: a repeated sweep publishes the same event
    assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 4)).events[0].event_id == reminded.event_id


def test_a_second_registration_and_events_without_a_clock_change_nothing():
    doc = fold(registered(at(2026, 3, 2, 9)))
    assert triage_clock.track(doc, registered(at(2026, 3, 5, 9)), CALENDAR) is None
    assert triage_clock.track(None, triaged("unclear", at(2026, 3, 2, 9)), CALENDAR) is None
    stopped = fold(registered(at(2026, 3, 2, 9)), triaged("duplicate", at(2026, 3, 2, 10)))
    assert triage_clock.track(stopped, event("case.detail_added", {"detail": "d"}, at(2026, 3, 2, 11)),
                              CALENDAR) is None


def test_unclear_after_the_deadline_keeps_nothing_left():
    doc = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 4, 9)))
    assert doc["remaining_seconds"] == 0.0
    resumed = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 4, 9)),
                   event("case.detail_added", {"detail": "d"}, at(2026, 3, 4, 10)))
    assert resumed["next_fire_at"] == at(2026, 3, 4, 10) - timedelta(0)
