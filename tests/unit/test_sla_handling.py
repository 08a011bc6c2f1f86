"""services.sla.handling: who may do what when on a case, and the event each action is."""

import copy
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.sla import handling as h
from shared.auth import Staff
from shared.contracts.envelope import derived_id

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 10, tzinfo=SHANGHAI)
DUE = datetime(2026, 3, 3, 9, tzinfo=SHANGHAI)
DEADLINE = {"_id": "case-1", "state": "assigned", "epoch": 1, "department": "gongdian",
            "co_departments": ["shuiwu"], "escalation_level": 1, "due_at": DUE}
LEAD = Staff(sub="wang.wu", role="unit_handler", unit="gongdian")
CO = Staff(sub="zhao.liu", role="unit_handler", unit="shuiwu")
OTHER = Staff(sub="qian.qi", role="unit_handler", unit="fagai")
LEADER = Staff(sub="li.si", role="leader", unit=None)
OFFICER = Staff(sub="t", role="triage_officer", unit=None)
SUPERVISOR = Staff(sub="s", role="supervisor", unit=None)

BODY = {"accept": {}, "progress": {"note": "已联系企业"}, "coordination": {"to": "leadership", "note": "需县领导协调"},
        "return": {"reason": "不属于本单位职责"}, "resolve": {"resolution": "已完成电力增容"}, "close": {},
        "urge": {}}


def body(action, **kw):
    return h.BODIES[action].model_validate({**BODY[action], **kw})


def act(action, *, staff=LEAD, handling=None, deadline=DEADLINE, now=NOW, request="r1", **kw):
    return h.act(action, body(action, **kw), handling=handling, deadline=deadline, staff=staff, case_id="case-1",
                 cause=h.request_cause("case-1", action, request), now=now, top_level=4)


def after(doc, change):
    new = copy.deepcopy(doc) if doc else {"_id": "case-1"}
    new.update(change.set)
    for name, value in change.push.items():
        new.setdefault(name, []).append(value)
    return new


def refused(status, action, **kw):
    with pytest.raises(h.Refused) as info:
        act(action, **kw)
    assert info.value.status == status, info.value.message
    return info.value.message


def test_the_whole_handling_of_a_case():
    doc = None
    types = []
    for action in ("accept", "progress", "resolve", "close"):
        change = act(action, handling=doc, request=action)
        [ev] = change.events
        types.append(ev.type)
        doc = after(doc, change)
    assert types == ["case.accepted", "case.progressed", "case.resolved", "case.closed"]
    assert doc["status"] == "closed" and doc["epoch"] == 1
    assert [a["action"] for a in doc["actions"]] == ["accept", "progress", "resolve", "close"]


def test_event_data():
    accepted = act("accept").events[0]
    assert accepted.data == {"department": "gongdian", "by": "wang.wu"}
    assert accepted.event_id == derived_id(h.request_cause("case-1", "accept", "r1"), "case.accepted")
    accepted_doc = after(None, act("accept"))
    resolved = act("resolve", handling=accepted_doc, solution="分两期改造", follow_up_at=[date(2026, 3, 20)]).events[0]
    assert resolved.data["on_time"] is True and resolved.data["problem_list"] is True
    assert resolved.data["follow_up_at"] == ["2026-03-20"] and resolved.data["department"] == "gongdian"
    late = act("resolve", handling=accepted_doc, now=datetime(2026, 3, 3, 9, 1, tzinfo=SHANGHAI)).events[0]
    assert late.data["on_time"] is False and late.data["problem_list"] is False
    part = act("progress", staff=CO).events[0]
    assert part.data == {"department": "shuiwu", "by": "zhao.liu", "note": "已联系企业", "kind": "part", "to": None}


def test_coordination_requests():
    up = act("coordination").events[0]
    assert up.type == "case.escalated"
    assert (up.data["from_level"], up.data["to_level"], up.data["requested_by"]) == (1, 2, "gongdian")
    ask_lead = act("coordination", staff=CO, to="lead").events[0]
    assert ask_lead.type == "case.progressed" and ask_lead.data["kind"] == "coordination_request"
    refused(409, "coordination", to="lead")  # the lead asking itself
    refused(409, "coordination", deadline={**DEADLINE, "escalation_level": 4})


def test_return_sends_the_case_back():
    change = act("return")
    assert change.events[0].type == "case.returned"
    assert change.events[0].data == {"department": "gongdian", "by": "wang.wu", "reason": "不属于本单位职责"}
    assert refused(409, "accept", handling=after(None, change)) == "案件已退回"


@pytest.mark.parametrize("action", ["return", "resolve", "close"])
def test_co_departments_cannot_act_for_the_lead(action):
    refused(403, action, staff=CO)


@pytest.mark.parametrize("action", [a for a in BODY if a != "urge"])
@pytest.mark.parametrize("staff", [OTHER, OFFICER, SUPERVISOR], ids=["other-unit", "triage-officer", "supervisor"])
def test_others_cannot_act(action, staff):
    refused(403, action, staff=staff)


def test_leaders_act_for_the_lead_department():
    ev = act("accept", staff=LEADER).events[0]
    assert ev.data == {"department": "gongdian", "by": "li.si"}


def test_unknown_or_unassigned_case():
    refused(404, "accept", deadline=None)


def test_state_rules():
    accepted = after(None, act("accept"))
    assert refused(409, "accept", handling=accepted) == "案件已签收"
    assert refused(409, "resolve") == "请先签收再办结"
    assert refused(409, "close", handling=accepted) == "案件办结后才能销号"
    resolved = after(accepted, act("resolve", handling=accepted, request="x"))
    for action in ("accept", "progress", "return", "resolve", "coordination"):
        assert refused(409, action, handling=resolved) == "案件已办结"
    closed = after(resolved, act("close", handling=resolved, request="y"))
    assert refused(409, "close", handling=closed) == "案件已销号"


def test_follow_up_dates_need_a_solution():
    accepted = after(None, act("accept"))
    refused(422, "resolve", handling=accepted, follow_up_at=[date(2026, 3, 20)])


def test_case_events_seen_by_the_consumer_count_too():
    # resolved by an event the consumer folded (e.g. another instance's request): no second resolution
    assert refused(409, "resolve", deadline={**DEADLINE, "state": "resolved"},
                   handling=after(None, act("accept"))) == "案件已办结"


def test_a_new_epoch_starts_the_handling_afresh():
    closed = {"epoch": 1, "status": "closed"}
    reopened = {**DEADLINE, "epoch": 2, "state": "assigned"}
    assert h.status_of(closed, reopened) == "assigned"
    change = act("accept", handling=closed, deadline=reopened)
    assert change.set["epoch"] == 2 and change.set["status"] == "accepted"


def test_can_read():
    assert h.can_read(LEAD, DEADLINE) and h.can_read(CO, DEADLINE) and h.can_read(LEADER, DEADLINE)
    assert h.can_read(SUPERVISOR, DEADLINE)
    assert not h.can_read(OTHER, DEADLINE) and not h.can_read(OFFICER, DEADLINE)


@pytest.mark.parametrize("action, data, field", [
    ("progress", {}, "note"),
    ("progress", {"note": ""}, "note"),
    ("coordination", {"note": "x", "to": "mayor"}, "to"),
    ("return", {"reason": ""}, "reason"),
    ("resolve", {}, "resolution"),
    ("resolve", {"resolution": "ok ok", "follow_up_at": ["someday"]}, "follow_up_at"),
    ("accept", {"surprise": 1}, "surprise"),
    ("accept", {"request_id": "x" * 65}, "request_id"),
])
def test_bad_bodies_name_the_field(action, data, field):
    with pytest.raises(ValidationError) as info:
        h.BODIES[action].model_validate(data)
    assert field in {str(e["loc"][0]) for e in info.value.errors()}


def test_request_cause():
    assert h.request_cause("c", "accept", "k") == "request:c:accept:k"
    assert h.request_cause("c", "accept", "k") != h.request_cause("c", "resolve", "k")


# ---------------------------------------------------------------- issue 17


def test_a_co_department_accepts_its_part_without_taking_the_leads_acceptance():
    change = act("accept", staff=CO)
    [ev] = change.events
    assert ev.type == "case.progressed"
    assert ev.data == {"department": "shuiwu", "by": "zhao.liu", "note": "协办单位签收协办部分",
                       "kind": "part_accepted", "to": None}
    doc = after(None, change)
    assert doc["status"] == "assigned"  # the lead still has to 签收
    assert refused(409, "accept", staff=CO, handling=doc, request="r2") == "本单位已签收协办部分"
    lead = act("accept", handling=doc, request="r3").events[0]
    assert lead.type == "case.accepted" and lead.data == {"department": "gongdian", "by": "wang.wu"}


def test_two_leadership_requests_at_the_same_level_are_one_escalation():
    first = h.BODIES["coordination"].model_validate(BODY["coordination"])
    second = h.BODIES["coordination"].model_validate({**BODY["coordination"], "note": "再次申请"})
    # sent back to back: the second comes before the consumer folded the first (the case still shows level 1)
    c1 = h.cause_for("coordination", first, case_id="case-1", request_id="k1", deadline=DEADLINE)
    c2 = h.cause_for("coordination", second, case_id="case-1", request_id="k2", deadline=DEADLINE)
    assert c1 == c2 == "escalation:case-1:1:1"  # one cause: the store applies it once, one event id
    e1 = h.act("coordination", first, handling=None, deadline=DEADLINE, staff=LEAD, case_id="case-1", cause=c1,
               now=NOW, top_level=4).events[0]
    e2 = h.act("coordination", second, handling=None, deadline=DEADLINE, staff=LEAD, case_id="case-1", cause=c2,
               now=NOW, top_level=4).events[0]
    assert e1.event_id == e2.event_id == derived_id("escalation:case-1:1:1", "case.escalated")
    # a request made at level 1 once the case is at level 2 is stale, not a second climb
    at_two = {**DEADLINE, "escalation_level": 2}
    assert refused(409, "coordination", deadline=at_two, from_level=1) == "案件已由第1级提至第2级协调，无需重复申请"
    # made at level 2 (seen by the requester): a new, deliberate request, 2 -> 3
    up = act("coordination", deadline=at_two, from_level=2).events[0]
    assert (up.data["from_level"], up.data["to_level"]) == (2, 3)
    assert h.cause_for("coordination", body("coordination", from_level=2), case_id="case-1", request_id="k3",
                       deadline=at_two) == "escalation:case-1:1:2"
    # other actions keep their request ids
    assert h.cause_for("progress", body("progress"), case_id="case-1", request_id="k4",
                       deadline=DEADLINE) == "request:case-1:progress:k4"


def test_the_business_environment_office_urges_the_unit():
    change = act("urge", staff=OFFICER, note="企业反映多次，请今日内联系企业")
    [ev] = change.events
    assert ev.type == "case.reminded"
    assert ev.data == {"due_at": "2026-03-03T09:00:00+08:00", "level": 1, "kind": "urged", "department": "gongdian",
                       "by": "t", "note": "企业反映多次，请今日内联系企业"}
    assert after(None, change)["actions"][0]["action"] == "urge"
    assert act("urge", staff=LEADER).events[0].data["by"] == "li.si"
    for staff in (LEAD, CO, SUPERVISOR):
        assert refused(403, "urge", staff=staff) == "只有营商办或领导可以催办"
    assert refused(409, "urge", staff=OFFICER, deadline={**DEADLINE, "state": "resolved"}) == "案件已办结"
