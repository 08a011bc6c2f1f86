"""services.rating.domain and services.sync.domain: their small folding rules."""

import copy
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.rating.domain import track
from services.sync.domain import outbound
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.store import Change

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
RESOLVED_AT = datetime(2026, 3, 3, 16, 0, tzinfo=SHANGHAI)
CITY_LEVEL = 4
HOTLINE = "hotline"


def event(type_, data, cause="cause-1"):
    return CaseEvent.new(cause=cause, type=type_, case_id="case-1", occurred_at=NOW, data=data)


def apply(doc, change):
    new = copy.deepcopy(doc) if doc is not None else {"_id": "case-1"}
    new.update(copy.deepcopy(change.set))
    for field, value in change.push.items():
        new.setdefault(field, []).append(value)
    return new


def registered(channel):
    return event("case.registered", ce.Registered(
        submission_id=f"{channel}-20260302-0001", channel=channel, tracking_no="QH2026030200001", received_at=NOW,
        enterprise=ce.PublicEnterprise(name="某公司", contact_phone="138****0000"), content="需要电力增容"))


RESOLVED = event("case.resolved", ce.Resolved(resolution="已增容", resolved_at=RESOLVED_AT, on_time=True,
                                              by="wang.wu"), cause="r1")
REOPENED = event("case.reopened", ce.Reopened(reason="不满意", due_at=RESOLVED_AT + timedelta(days=1)))
CLOSED = event("case.closed", ce.Closed(closed_at=RESOLVED_AT + timedelta(days=2)))
ACCEPTED = event("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"))
OVERDUE = event("case.overdue", ce.Overdue(due_at=RESOLVED_AT, escalation_level=1))


def rated(level, satisfied=True):
    return event("case.rated", ce.Rated(level=level, satisfied=satisfied))


def escalated(to_level, from_level=None, reason="逾期未办结"):
    return event("case.escalated", ce.Escalated(from_level=from_level or to_level - 1, to_level=to_level,
                                                reason=reason))


# ================================================================ rating

@pytest.fixture(scope="module")
def satisfied(org):
    return frozenset(level.code for level in org.rating_levels if level.satisfied)


def test_satisfied_levels_of_the_default_org(satisfied):
    assert satisfied == {"very_satisfied", "satisfied", "basically_satisfied"}


def test_first_resolution_opens_round_one(satisfied):
    assert track(None, RESOLVED, satisfied) == Change(set={
        "state": "awaiting_rating", "rounds": 1, "resolved_at": "2026-03-03T16:00:00+08:00",
        "resolved_by": "wang.wu"})


@pytest.mark.parametrize("rounds, expected", [(1, 2), (2, 3), (None, 1)])
def test_each_resolution_opens_a_new_round(satisfied, rounds, expected):
    doc = {"_id": "case-1", "state": "reopened"}
    if rounds is not None:
        doc["rounds"] = rounds
    assert track(doc, RESOLVED, satisfied).set["rounds"] == expected


@pytest.mark.parametrize("ev", [rated("satisfied"), REOPENED, CLOSED, ACCEPTED])
def test_nothing_before_a_resolution(satisfied, ev):
    assert track(None, ev, satisfied) is None


@pytest.mark.parametrize("level, is_satisfied", [
    ("very_satisfied", True), ("satisfied", True), ("basically_satisfied", True),
    ("dissatisfied", False), ("very_dissatisfied", False), ("unknown_level", False),
])
def test_rated(satisfied, level, is_satisfied):
    doc = apply(None, track(None, RESOLVED, satisfied))
    assert track(doc, rated(level), satisfied) == Change(set={"state": "rated", "level": level,
                                                                "satisfied": is_satisfied})


def test_satisfaction_comes_from_the_organisation_not_the_event(satisfied):
    doc = apply(None, track(None, RESOLVED, satisfied))
    assert track(doc, rated("dissatisfied", satisfied=True), satisfied).set["satisfied"] is False
    assert track(doc, rated("satisfied", satisfied=False), satisfied).set["satisfied"] is True
    assert track(doc, rated("satisfied"), frozenset()).set["satisfied"] is False


def test_reopened(satisfied):
    doc = apply(None, track(None, RESOLVED, satisfied))
    doc = apply(doc, track(doc, rated("dissatisfied"), satisfied))
    assert doc["state"] == "rated"
    assert track(doc, REOPENED, satisfied) == Change(set={"state": "reopened"})


@pytest.mark.parametrize("ev", [CLOSED, ACCEPTED, OVERDUE, escalated(2)])
def test_other_events_leave_the_rating(satisfied, ev):
    doc = apply(None, track(None, RESOLVED, satisfied))
    assert track(doc, ev, satisfied) is None


def test_rating_lifecycle(satisfied):
    doc = None
    states = []
    for ev in (RESOLVED, rated("dissatisfied"), REOPENED, RESOLVED, rated("very_satisfied"), CLOSED):
        change = track(doc, ev, satisfied)
        if change is not None:
            doc = apply(doc, change)
        states.append((doc["state"], doc["rounds"], doc.get("satisfied")))
    assert states == [("awaiting_rating", 1, None), ("rated", 1, False), ("reopened", 1, False),
                      ("awaiting_rating", 2, False), ("rated", 2, True), ("rated", 2, True)]


# ================================================================ sync

def out(doc, ev):
    return outbound(doc, ev, city_level=CITY_LEVEL, hotline_channel=HOTLINE)


def test_hotline_registration_is_remembered():
    assert out(None, registered("hotline")) == Change(set={"hotline_submission_id": "hotline-20260302-0001",
                                                            "targets": ["hotline"]})


@pytest.mark.parametrize("channel", ["qrcode", "liaison", "city_platform", "forum"])
def test_other_channels_are_not(channel):
    assert out(None, registered(channel)) is None


def test_hotline_channel_is_configurable():
    change = outbound(None, registered("qrcode"), city_level=CITY_LEVEL, hotline_channel="qrcode")
    assert change.set == {"hotline_submission_id": "qrcode-20260302-0001", "targets": ["hotline"]}
    assert outbound(None, registered("hotline"), city_level=CITY_LEVEL, hotline_channel="qrcode") is None


@pytest.mark.parametrize("to_level", [2, 3])
def test_escalation_below_city_level_stays_local(to_level):
    assert out(None, escalated(to_level)) is None
    assert out({"targets": ["hotline"]}, escalated(to_level)) is None


@pytest.mark.parametrize("to_level", [4, 5])
def test_escalation_to_city_level(to_level):
    assert out(None, escalated(to_level)) == Change(set={"targets": ["city"], "city_state": "to_send",
                                                          "escalation_reason": "逾期未办结"})


def test_escalation_of_a_hotline_case_keeps_both_targets():
    doc = apply(None, out(None, registered("hotline")))
    change = out(doc, escalated(4))
    assert change.set["targets"] == ["city", "hotline"]
    again = apply(doc, change)
    assert out(again, escalated(4, from_level=4)).set["targets"] == ["city", "hotline"]  # no duplicates


def test_city_level_is_configurable():
    assert outbound(None, escalated(2), city_level=2, hotline_channel=HOTLINE).set["targets"] == ["city"]
    assert outbound(None, escalated(4), city_level=5, hotline_channel=HOTLINE) is None


@pytest.mark.parametrize("ev", [RESOLVED, rated("satisfied"), CLOSED])
def test_updates_are_queued_for_known_cases(ev):
    doc = apply(None, out(None, registered("hotline")))
    assert out(doc, ev) == Change(push={"updates": {"type": ev.type, "event_id": ev.event_id, "state": "to_send"}})


@pytest.mark.parametrize("ev", [RESOLVED, rated("satisfied"), CLOSED])
def test_updates_of_unknown_cases_are_ignored(ev):
    assert out(None, ev) is None


@pytest.mark.parametrize("ev", [REOPENED, ACCEPTED, OVERDUE])
def test_other_events_are_not_carried(ev):
    doc = apply(None, out(None, registered("hotline")))
    assert out(doc, ev) is None


def test_sync_lifecycle_of_a_hotline_case_escalated_to_the_city():
    doc = None
    for ev in (registered("hotline"), ACCEPTED, escalated(2), escalated(4), RESOLVED, rated("dissatisfied"), CLOSED):
        change = out(doc, ev)
        if change is not None:
            doc = apply(doc, change)
    assert doc["targets"] == ["city", "hotline"]
    assert doc["city_state"] == "to_send"
    assert [u["type"] for u in doc["updates"]] == ["case.resolved", "case.rated", "case.closed"]
