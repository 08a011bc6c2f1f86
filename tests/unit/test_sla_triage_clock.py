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
    # paused, the clock waits for the supplement until 5 working days after the pause: Mon 9 March 09:30
    assert doc["state"] == "paused" and doc["next_fire_at"] == at(2026, 3, 9, 9, 30)
    assert doc["remaining_seconds"] == 6.5 * 3600  # Mon 09:30-12:00, 14:00-17:30, Tue 08:30-09:00
    assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 9, 9, 29)) is None
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


def returned(when):
    return event("case.returned", {"department": "gongdian", "by": "wang.wu", "reason": "不属于本单位职责"}, when)


def assigned_at(when):
    return event("case.assigned", {"department": "gongdian", "co_departments": [], "region": "majin",
                                   "complexity": "simple", "escalation_level": 1,
                                   "due_at": (when + timedelta(days=1)).isoformat()}, when)


def test_a_returned_case_gets_a_new_working_day_to_be_assigned_again():
    # assigned Monday 10:00, sent back Friday 16:00: due again Monday 16:00 (one working day; the weekend is off)
    doc = fold(registered(at(2026, 3, 2, 9)), assigned_at(at(2026, 3, 2, 10)), returned(at(2026, 3, 6, 16)))
    assert doc["state"] == "running" and doc["round"] == 2
    assert doc["due_at"] == doc["next_fire_at"] == at(2026, 3, 9, 16)
    fired = triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 9, 16, 5))
    [reminder] = fired.events
    # a reminder of its own: the first round's id stays what it always was, the second differs
    first = triage_clock.fire(fold(registered(at(2026, 3, 2, 9))), case_id="case-1", now=at(2026, 3, 3, 9, 5))
    assert reminder.event_id != first.events[0].event_id
    assert datetime.fromisoformat(reminder.data["due_at"]) == at(2026, 3, 9, 16)
    # rerouted and assigned again: the new round stops
    rerouted = fold(registered(at(2026, 3, 2, 9)), assigned_at(at(2026, 3, 2, 10)), returned(at(2026, 3, 6, 16)),
                    triaged("accepted", at(2026, 3, 9, 9)), assigned_at(at(2026, 3, 9, 9, 30)))
    assert rerouted["state"] == "stopped" and rerouted["next_fire_at"] is None and rerouted["round"] == 2


def test_a_return_restarts_only_an_assigned_clock():
    # still with triage (running) or screened out: a stray return changes nothing
    assert triage_clock.track(fold(registered(at(2026, 3, 2, 9))), returned(at(2026, 3, 2, 11)), CALENDAR) is None
    screened_out = fold(registered(at(2026, 3, 2, 9)), triaged("duplicate", at(2026, 3, 2, 9, 30)))
    assert triage_clock.track(screened_out, returned(at(2026, 3, 2, 11)), CALENDAR) is None
    assert triage_clock.track(None, returned(at(2026, 3, 2, 11)), CALENDAR) is None
    # a case sla never saw registered has a record without a clock (only the events it processed)
    assert triage_clock.track({"_id": "case-1", "processed": ["x"]}, returned(at(2026, 3, 2, 11)), CALENDAR) is None
    # a round that already fired fires again after a return (fired is per round)
    late = fold(registered(at(2026, 3, 2, 9)))
    late = {**late, **triage_clock.fire(late, case_id="case-1", now=at(2026, 3, 3, 10)).set}
    assert late["fired"] is True and late["next_fire_at"] is None
    for e in (assigned_at(at(2026, 3, 3, 11)), returned(at(2026, 3, 4, 9))):
        late = {**late, **triage_clock.track(late, e, CALENDAR).set}
    assert late["fired"] is False and late["round"] == 2 and late["next_fire_at"] == at(2026, 3, 5, 9)


def test_a_stored_firing_is_learnt_by_the_next_write_of_the_record():
    doc = fold(registered(at(2026, 3, 2, 9)))
    change = triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 3, 10))
    record = triage_clock.firing_record("case-1", doc, change, now=at(2026, 3, 3, 10))
    assert record["_id"] == "case-1|triage/1" and record["lag_seconds"] == 3600.0
    assert [e["event_id"] for e in record["events"]] == [e.event_id for e in change.events]
    # nothing else changes the record: it still learns that the round fired
    assert triage_clock.absorbing(None).set == {"fired": True, "next_fire_at": None}
    # paused for details after it fired: it does not run (nor fire) again on resuming
    view = {**doc, "fired": True}
    paused = triage_clock.absorbing(triage_clock.track(view, triaged("unclear", at(2026, 3, 3, 11)), CALENDAR))
    doc = {**doc, **paused.set}
    assert doc["fired"] is True and doc["state"] == "paused"
    resumed = triage_clock.track(doc, event("case.detail_added", {"detail": "x", "by": "enterprise"},
                                            at(2026, 3, 3, 14)), CALENDAR)
    assert resumed.set["next_fire_at"] is None


# ---------------------------------------------------------------- issue 17: case.supplemented, closing unanswered


def test_the_public_supplement_resumes_the_clock_like_detail_added():
    resumed = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 2, 9, 30)),
                   event("case.supplemented", {"content": "补充了户号", "by": "enterprise", "round": 1},
                         at(2026, 3, 2, 16)))
    # 6.5 working hours left from Mon 16:00: Tue 15:30, and no closing pending any more
    assert resumed["state"] == "running" and resumed["next_fire_at"] == at(2026, 3, 3, 15, 30)
    assert resumed["close_at"] is None


def test_no_supplement_within_five_working_days_closes_the_case_once():
    doc = fold(registered(at(2026, 3, 5, 10)), triaged("unclear", at(2026, 3, 5, 11)))  # Thursday
    # Fri 6, Mon 9, Tue 10, Wed 11, Thu 12 March: closes Thu 12 March 11:00
    assert doc["next_fire_at"] == at(2026, 3, 12, 11)
    change = triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 12, 11, 1))
    [closed] = change.events
    assert closed.type == "case.closed" and closed.data["by"] == "sla"
    assert closed.data["reason_code"] == "no_supplement" and "补充说明" in closed.data["reason"]
    assert closed.data["closed_at"] == "2026-03-12T11:01:00+08:00"
    record = triage_clock.firing_record("case-1", doc, change, now=at(2026, 3, 12, 11, 1))
    assert record["_id"] == "case-1|triage-close/1" and record["kind"] == "triage_closed"
    # a repeated sweep publishes the same event; its own case.closed coming back stops the clock
    assert triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 13)).events[0].event_id == closed.event_id
    stopped = fold(registered(at(2026, 3, 5, 10)), triaged("unclear", at(2026, 3, 5, 11)),
                   event("case.closed", closed.data, at(2026, 3, 12, 11, 1)))
    assert stopped["state"] == "stopped" and stopped["next_fire_at"] is None


def test_a_second_pause_waits_afresh_with_its_own_closing_id():
    doc = fold(registered(at(2026, 3, 2, 9)), triaged("unclear", at(2026, 3, 2, 9, 30)),
               event("case.supplemented", {"content": "补充"}, at(2026, 3, 2, 10)),
               triaged("unclear", at(2026, 3, 3, 9, 30)))
    assert doc["pauses"] == 2 and doc["next_fire_at"] == at(2026, 3, 10, 9, 30)
    change = triage_clock.fire(doc, case_id="case-1", now=at(2026, 3, 10, 10))
    assert triage_clock.firing_record("case-1", doc, change, now=at(2026, 3, 10, 10))["_id"] == \
        "case-1|triage-close/2"
