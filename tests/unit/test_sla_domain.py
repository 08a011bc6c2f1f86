"""services.sla.domain: the deadline record and the overdue announcement."""

import copy
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.sla.domain import announce_overdue, overdue_cause, track
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent, derived_id
from shared.store import Change

SHANGHAI = ZoneInfo("Asia/Shanghai")
ASSIGNED_AT = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
DUE = datetime(2026, 3, 4, 9, 15, tzinfo=SHANGHAI)
NEW_DUE = datetime(2026, 3, 9, 10, 0, tzinfo=SHANGHAI)


def event(type_, data, cause="cause-1", at=ASSIGNED_AT, case_id="case-1"):
    return CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=at, data=data)


def apply(doc, change):
    new = copy.deepcopy(doc) if doc is not None else {"_id": "case-1"}
    new.update(change.set)
    return new


ASSIGNED = event("case.assigned", ce.Assigned(department="gongdian", co_departments=["shuiwu"], region="majin",
                                              complexity="general", escalation_level=1, due_at=DUE))

OTHERS = {
    "case.registered": None,  # shape irrelevant: these never reach data access before assignment
    "case.triaged": ce.Triaged(screening="accepted", decided_by="auto", needs_review=False),
    "case.accepted": ce.Accepted(department="gongdian", by="wang.wu"),
    "case.reminded": ce.Reminded(due_at=DUE, level=1),
    "case.overdue": ce.Overdue(due_at=DUE, escalation_level=1),
    "case.escalated": ce.Escalated(from_level=1, to_level=2, reason="逾期"),
    "case.resolved": ce.Resolved(resolution="已办结", resolved_at=DUE - timedelta(hours=1), on_time=True, by="w"),
    "case.rated": ce.Rated(level="satisfied", satisfied=True),
    "case.revisited": ce.Revisited(method="onsite", outcome="认可"),
    "case.referred": ce.Referred(to="jiwei", reason="不满意件"),
    "case.reopened": ce.Reopened(reason="不满意", due_at=NEW_DUE),
    "case.closed": ce.Closed(closed_at=NEW_DUE),
    "case.synced": ce.Synced(target="hotline", direction="outbound"),
}


def other(type_):
    data = OTHERS[type_]
    if data is None:
        return CaseEvent(event_id="e", type=type_, case_id="case-1", occurred_at=ASSIGNED_AT, data={})
    return event(type_, data)


# ---------------------------------------------------------------- track

@pytest.mark.parametrize("doc", [None, {"_id": "case-1", "state": "closed", "escalation_level": 3}])
def test_assigned_opens_the_clock(doc):
    change = track(doc, ASSIGNED)
    assert change == Change(set={
        "state": "open", "department": "gongdian", "co_departments": ["shuiwu"], "region": "majin",
        "complexity": "general", "escalation_level": 1, "assigned_at": ASSIGNED_AT, "due_at": DUE,
        "overdue_announced": False})
    assert isinstance(change.set["due_at"], datetime)
    assert change.set["due_at"].utcoffset() == timedelta(hours=8)


def test_assigned_with_minimal_data():
    ev = CaseEvent(event_id="e", type="case.assigned", case_id="c", occurred_at=ASSIGNED_AT,
                   data={"department": "fagai", "complexity": "simple", "escalation_level": 1,
                         "due_at": "2026-03-03T09:15:00+08:00"})
    change = track(None, ev)
    assert change.set["co_departments"] == [] and change.set["region"] is None
    assert change.set["due_at"] == datetime(2026, 3, 3, 1, 15, tzinfo=timezone.utc)


@pytest.mark.parametrize("type_", sorted(OTHERS))
def test_events_before_assignment_are_ignored(type_):
    assert track(None, other(type_)) is None


@pytest.fixture
def open_doc():
    return apply(None, track(None, ASSIGNED))


def test_escalated(open_doc):
    assert track(open_doc, other("case.escalated")) == Change(set={"escalation_level": 2})


def test_resolved(open_doc):
    assert track(open_doc, other("case.resolved")) == Change(set={
        "state": "resolved", "resolved_at": datetime(2026, 3, 4, 8, 15, tzinfo=SHANGHAI), "on_time": True})


def test_reopened_gives_a_new_deadline(open_doc):
    resolved = apply(open_doc, track(open_doc, other("case.resolved")))
    resolved["overdue_announced"] = True
    assert track(resolved, other("case.reopened")) == Change(set={
        "state": "open", "due_at": NEW_DUE, "overdue_announced": False})


def test_closed(open_doc):
    assert track(open_doc, other("case.closed")) == Change(set={"state": "closed"})


@pytest.mark.parametrize("type_", ["case.registered", "case.triaged", "case.accepted", "case.reminded",
                                   "case.overdue", "case.rated", "case.revisited", "case.referred", "case.synced"])
def test_other_events_leave_the_record(open_doc, type_):
    assert track(open_doc, other(type_)) is None


# ---------------------------------------------------------------- overdue

def test_overdue_cause():
    assert overdue_cause("case-1", DUE) == "overdue:case-1:2026-03-04T09:15:00+08:00"


def test_overdue_cause_differs_per_deadline_and_case():
    causes = {overdue_cause(case, due) for case in ("case-1", "case-2")
              for due in (DUE, NEW_DUE, DUE + timedelta(seconds=1))}
    assert len(causes) == 6


def test_not_announced_before_due(open_doc):
    for now in (ASSIGNED_AT, DUE - timedelta(microseconds=1), DUE - timedelta(days=1)):
        assert announce_overdue(open_doc, case_id="case-1", due_at=DUE, now=now) is None


@pytest.mark.parametrize("late", [timedelta(0), timedelta(seconds=1), timedelta(days=3)])
def test_announced_once_due(open_doc, late):
    now = DUE + late
    change = announce_overdue(open_doc, case_id="case-1", due_at=DUE, now=now)
    assert change.set == {"overdue_announced": True}
    assert change.push == {}
    [ev] = change.events
    assert ev.type == "case.overdue"
    assert ev.case_id == "case-1"
    assert ev.occurred_at == now
    assert ev.event_id == derived_id("overdue:case-1:2026-03-04T09:15:00+08:00", "case.overdue")
    assert ev.data == {"due_at": "2026-03-04T09:15:00+08:00", "escalation_level": 1}


def test_announcement_carries_the_current_escalation_level(open_doc):
    escalated = apply(open_doc, track(open_doc, other("case.escalated")))
    change = announce_overdue(escalated, case_id="case-1", due_at=DUE, now=DUE)
    assert change.events[0].data["escalation_level"] == 2


def test_same_deadline_same_event_id(open_doc):
    a = announce_overdue(open_doc, case_id="case-1", due_at=DUE, now=DUE)
    b = announce_overdue(open_doc, case_id="case-1", due_at=DUE, now=DUE + timedelta(hours=5))
    assert a.events[0].event_id == b.events[0].event_id


def test_no_document_no_announcement():
    assert announce_overdue(None, case_id="case-1", due_at=DUE, now=DUE + timedelta(days=1)) is None


@pytest.mark.parametrize("state", ["resolved", "closed", None])
def test_only_open_cases_are_announced(open_doc, state):
    doc = dict(open_doc)
    if state is None:
        del doc["state"]
    else:
        doc["state"] = state
    assert announce_overdue(doc, case_id="case-1", due_at=DUE, now=DUE + timedelta(days=1)) is None


def test_only_when_the_stored_deadline_matches(open_doc):
    resolved = apply(open_doc, track(open_doc, other("case.resolved")))
    reopened = apply(resolved, track(resolved, other("case.reopened")))
    late = NEW_DUE + timedelta(days=1)
    # a scan that read the old deadline: nothing
    assert announce_overdue(reopened, case_id="case-1", due_at=DUE, now=late) is None
    # the new deadline: a new announcement with its own id
    first = announce_overdue(open_doc, case_id="case-1", due_at=DUE, now=late)
    second = announce_overdue(reopened, case_id="case-1", due_at=NEW_DUE, now=late)
    assert second is not None
    assert second.events[0].event_id != first.events[0].event_id
    assert second.events[0].data["due_at"] == "2026-03-09T10:00:00+08:00"


def test_same_instant_in_another_zone_matches(open_doc):
    due_utc = DUE.astimezone(timezone.utc)  # what the store gives back
    change = announce_overdue(open_doc, case_id="case-1", due_at=due_utc, now=DUE)
    assert change is not None
    assert change.events[0].data["due_at"] == "2026-03-04T01:15:00Z"
