"""services.rating.domain: the case file, the enterprise's rating, referrals, revisits, supervision, appeals."""

import copy
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.rating import domain
from services.rating.links import LinkRefused
from shared.contracts import case_events as ce
from shared.contracts.case_events import DATA_MODELS
from shared.contracts.envelope import CaseEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
MON = datetime(2026, 3, 2, 9, 0, tzinfo=SHANGHAI)  # a Monday
CASE = "case-1"


@pytest.fixture(scope="module")
def policy(org):
    return domain.Policy(
        satisfied_levels=frozenset(level.code for level in org.rating_levels if level.satisfied),
        level_names={level.code: level.name for level in org.rating_levels},
        oversight_unit=org.oversight[0].code, oversight_name=org.oversight[0].name, tz=SHANGHAI,
        unrated_window_working_days=3, rectification_working_days=5, phone_revisit_percent=100)


def event(type_, data, n="1", at=MON):
    return CaseEvent.new(cause=f"cause-{n}", type=type_, case_id=CASE, occurred_at=at, data=data)


def apply(doc, change):
    """What CaseDocuments.apply writes: the set fields and one pushed value per array."""
    new = copy.deepcopy(doc) if doc is not None else {"_id": CASE}
    new.update(copy.deepcopy(change.set))
    for name, value in change.push.items():
        new.setdefault(name, []).append(value)
    return new


def run(policy, *events, doc=None):
    """Fold events in order, returning the document and the events the folds produced."""
    produced = []
    for ev in events:
        data = DATA_MODELS[ev.type][1].model_validate(ev.data)
        change = domain.fold(doc, ev, data, policy)
        if change is not None:
            doc = apply(doc, change)
            produced += change.events
    return doc, produced


REGISTERED = event("case.registered", ce.Registered(
    submission_id="s-1", channel="qrcode", tracking_no="QH2026030200001", received_at=MON,
    enterprise=ce.PublicEnterprise(name="某纸业公司", contact_phone="138****1234", contact_name="张*"),
    content="电力增容"), "reg")
ASSIGNED = event("case.assigned", ce.Assigned(department="gongdian", co_departments=["jingxin"], region="majin",
                                              complexity="simple", escalation_level=1,
                                              due_at=MON + timedelta(days=1)), "asg")
ACCEPTED = event("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), "acc")


def resolved(n="res1", at=MON + timedelta(hours=5), on_time=True, by="wang.wu"):
    return event("case.resolved", ce.Resolved(resolution="已增容，联系电话13800001234", resolved_at=at,
                                              on_time=on_time, by=by), n, at)


def rate(doc, policy, level, at=MON + timedelta(days=1), link_round=None, comment=None):
    return domain.rate(doc, case_id=CASE, link_round=link_round or doc["round"], level=level, comment=comment,
                       now=at, source="link", request_id=f"rate:{CASE}:{doc['round']}", policy=policy)


def resolved_case(policy):
    doc, produced = run(policy, REGISTERED, ASSIGNED, ACCEPTED, resolved())
    assert produced == []
    return doc


# ---------------------------------------------------------------- the case file

def test_the_case_file_gathers_units_people_and_deadlines(policy):
    doc = resolved_case(policy)
    assert doc["tracking_no"] == "QH2026030200001"
    assert doc["enterprise"] == {"name": "某纸业公司", "contact_phone": "138****1234", "contact_name": "张*"}
    assert (doc["department"], doc["region"], doc["units"]) == ("gongdian", "majin", ["gongdian", "jingxin"])
    assert doc["people"] == ["wang.wu"]
    assert doc["deadlines"] == [{"kind": "assigned", "set_at": MON, "due_at": MON + timedelta(days=1), "met": True}]
    assert [e["type"] for e in doc["timeline"]] == ["case.registered", "case.assigned", "case.accepted",
                                                   "case.resolved"]


def test_a_resolution_opens_a_round_awaiting_rating(policy):
    doc = resolved_case(policy)
    assert doc["state"] == "awaiting_rating" and doc["round"] == 1 and doc["invited"] is False
    current = doc["rounds"]["1"]
    assert current["resolution"] == "已增容，联系电话138****1234"  # masked
    assert current["rating"] is None and current["rectification"] is False
    # three working days after Monday 14:00: Thursday 14:00
    assert current["rating_due_at"] == datetime(2026, 3, 5, 14, 0, tzinfo=SHANGHAI)
    assert doc["rating_due_at"] == current["rating_due_at"]


def test_an_overdue_deadline_is_missed(policy):
    due = MON + timedelta(days=1)
    doc, _ = run(policy, REGISTERED, ASSIGNED, event("case.overdue", ce.Overdue(due_at=due, escalation_level=1)))
    assert doc["deadlines"][0]["met"] is False
    doc, _ = run(policy, resolved(on_time=False), doc=doc)
    assert doc["deadlines"][0]["met"] is False


def test_events_before_registration_still_make_a_file(policy):
    doc, _ = run(policy, resolved())
    assert doc["round"] == 1 and doc["state"] == "awaiting_rating" and "tracking_no" not in doc


def test_a_new_document_has_no_dotted_keys(policy):
    change = domain.fold(None, REGISTERED, DATA_MODELS["case.registered"][1].model_validate(REGISTERED.data), policy)
    assert all("." not in key for key in change.set)


# ---------------------------------------------------------------- the enterprise rates

@pytest.mark.parametrize("level", ["very_satisfied", "satisfied", "basically_satisfied"])
def test_a_satisfied_rating_is_published_and_nothing_else(policy, level):
    doc = resolved_case(policy)
    change = rate(doc, policy, level, comment="服务很好")
    assert [e.type for e in change.events] == ["case.rated"]
    data = change.events[0].data
    assert data == {"level": level, "satisfied": True, "comment": "服务很好", "round": 1, "rectification": False,
                    "department": "gongdian"}
    doc = apply(doc, change)
    assert doc["state"] == "rated"
    assert doc["rounds"]["1"]["rating"]["event_id"] == change.events[0].event_id


@pytest.mark.parametrize("level", ["dissatisfied", "very_dissatisfied"])
def test_a_dissatisfied_rating_is_referred_and_reopened(policy, level):
    doc = resolved_case(policy)
    at = MON + timedelta(days=1)  # Tuesday
    change = rate(doc, policy, level, at=at, comment="还是经常停电，电话13912345678")
    assert [e.type for e in change.events] == ["case.rated", "case.referred", "case.reopened"]
    rated, referred, reopened = (e.data for e in change.events)
    assert rated["satisfied"] is False and rated["comment"] == "还是经常停电，电话139****5678"
    assert referred["to"] == "jiwei" and referred["round"] == 1 and "不满意" in referred["reason"]
    case_file = referred["case_file"]
    assert case_file["units"] == ["gongdian", "jingxin"] and case_file["people"] == ["wang.wu"]
    assert case_file["rounds"][0]["rating"]["level"] == level
    assert case_file["deadlines"][0]["met"] is True
    assert [e["type"] for e in case_file["timeline"]][-1] == "case.resolved"
    assert reopened["due_at"] == "2026-03-10T09:00:00+08:00"  # five working days after Tuesday 09:00
    assert "县纪委县监委" in reopened["reason"]
    doc = apply(doc, change)
    assert doc["state"] == "reopened" and doc["rounds"]["1"]["referred"] is True
    assert len({e.event_id for e in change.events}) == 3


def test_the_oversight_unit_comes_from_the_policy(policy):
    other = domain.Policy(**{**policy.__dict__, "oversight_unit": "zuzhibu", "oversight_name": "县委组织部"})
    change = rate(resolved_case(policy), other, "dissatisfied")
    assert change.events[1].data["to"] == "zuzhibu" and "县委组织部" in change.events[2].data["reason"]


def test_one_rating_per_resolution(policy):
    doc = apply(resolved_case(policy), rate(resolved_case(policy), policy, "satisfied"))
    with pytest.raises(LinkRefused) as refused:
        rate(doc, policy, "very_satisfied")
    assert refused.value.reason == "replayed" and refused.value.status == 409


def test_a_link_of_an_earlier_resolution_is_superseded(policy):
    doc = resolved_case(policy)
    doc = apply(doc, rate(doc, policy, "dissatisfied"))
    doc, _ = run(policy, resolved("res2", at=MON + timedelta(days=3)), doc=doc)
    with pytest.raises(LinkRefused) as refused:
        rate(doc, policy, "satisfied", link_round=1)
    assert refused.value.reason == "superseded"
    with pytest.raises(LinkRefused) as refused:
        rate(doc, policy, "satisfied", link_round=3)
    assert refused.value.reason == "forged"


def test_no_rating_while_reopened_or_before_resolution(policy):
    with pytest.raises(LinkRefused) as refused:
        rate({"round": 0, "state": "open", "rounds": {}}, policy, "satisfied", link_round=1)
    assert refused.value.reason == "unknown_case"
    with pytest.raises(LinkRefused):
        domain.rate(None, case_id=CASE, link_round=1, level="satisfied", comment=None, now=MON, source="link",
                    request_id="r", policy=policy)
    doc, _ = run(policy, event("case.reopened", ce.Reopened(reason="企业反映未解决", due_at=MON + timedelta(days=3)),
                               "ro"), doc=resolved_case(policy))
    with pytest.raises(LinkRefused) as refused:
        rate(doc, policy, "satisfied")
    assert refused.value.reason == "not_awaiting"


def test_a_closed_case_can_still_be_rated(policy):
    doc, _ = run(policy, event("case.closed", ce.Closed(closed_at=MON + timedelta(hours=6)), "cl"),
                 doc=resolved_case(policy))
    assert [e.type for e in rate(doc, policy, "satisfied").events] == ["case.rated"]


def test_an_unknown_level_is_refused(policy):
    with pytest.raises(domain.Refused) as refused:
        rate(resolved_case(policy), policy, "so_so")
    assert refused.value.status == 422


def test_our_own_rated_event_is_not_recorded_twice(policy):
    doc = resolved_case(policy)
    change = rate(doc, policy, "dissatisfied")
    doc = apply(doc, change)
    doc, produced = run(policy, *change.events, doc=doc)
    assert produced == []
    assert doc["rounds"]["1"]["rating"]["source"] == "link"
    assert [e["type"] for e in doc["timeline"]][-3:] == ["case.rated", "case.referred", "case.reopened"]
    assert doc["deadlines"][-1]["kind"] == "reopened"


def test_a_rating_from_another_channel_is_recorded_with_its_consequences(policy):
    doc = resolved_case(policy)
    foreign = event("case.rated", ce.Rated(level="very_dissatisfied", satisfied=False, comment="差"), "hotline")
    doc, produced = run(policy, foreign, doc=doc)
    assert doc["rounds"]["1"]["rating"]["source"] == "event"
    assert [e.type for e in produced] == ["case.referred", "case.reopened"]
    again, produced = run(policy, event("case.rated", ce.Rated(level="satisfied", satisfied=True), "late"), doc=doc)
    assert produced == [] and again["rounds"]["1"]["rating"]["level"] == "very_dissatisfied"


def test_the_resolution_after_a_referral_is_rated_as_rectification(policy):
    doc = resolved_case(policy)
    change = rate(doc, policy, "dissatisfied")
    doc, _ = run(policy, *change.events, doc=apply(doc, change))
    doc, _ = run(policy, resolved("res2", at=MON + timedelta(days=4), by="zhao.qi"), doc=doc)
    assert doc["round"] == 2 and doc["rounds"]["2"]["rectification"] is True and doc["state"] == "awaiting_rating"
    assert doc["people"] == ["wang.wu", "zhao.qi"]
    second = rate(doc, policy, "satisfied", at=MON + timedelta(days=5))
    assert second.events[0].data["rectification"] is True and second.events[0].data["round"] == 2


def test_rating_status_for_the_tracking_page(policy):
    assert domain.rating_status(None, policy)["awaiting"] is False
    doc = resolved_case(policy)
    status = domain.rating_status(doc, policy)
    assert status["awaiting"] is True and status["round"] == 1 and status["rating"] is None
    assert [lv["name"] for lv in status["levels"]] == ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    status = domain.rating_status(apply(doc, rate(doc, policy, "satisfied")), policy)
    assert status["awaiting"] is False and status["rating"]["name"] == "满意"


def test_invitations_and_resending(policy):
    doc = resolved_case(policy)
    assert domain.may_resend(doc, MON, 300)
    doc = apply(doc, domain.mark_invited(doc, 1, MON))
    assert doc["invited"] is True and doc["rounds"]["1"]["invitations"] == 1
    assert not domain.may_resend(doc, MON + timedelta(seconds=299), 300)
    assert domain.may_resend(doc, MON + timedelta(seconds=300), 300)
    assert domain.mark_invited(None, 1, MON) is None


# ---------------------------------------------------------------- unrated rounds and revisit tasks

def test_no_rating_within_the_window_calls_for_a_phone_revisit(policy):
    no_sample = domain.Policy(**{**policy.__dict__, "phone_revisit_percent": 0})
    doc, _ = run(no_sample, REGISTERED, ASSIGNED, resolved())
    assert domain.wanted_revisits(doc) == []
    due = doc["rounds"]["1"]["rating_due_at"]
    assert domain.flag_unrated(doc, due - timedelta(seconds=1)) is None
    doc = apply(doc, domain.flag_unrated(doc, due))
    assert doc["unrated_flagged"] is True
    assert domain.wanted_revisits(doc) == [("phone", "unrated")]
    assert domain.flag_unrated(doc, due) is None  # once


def test_a_rated_round_is_not_flagged(policy):
    doc = resolved_case(policy)
    doc = apply(doc, rate(doc, policy, "satisfied"))
    assert domain.flag_unrated(doc, MON + timedelta(days=30)) is None


def test_every_resolution_gets_a_phone_revisit_and_every_dissatisfied_one_a_visit(policy):
    doc = resolved_case(policy)
    assert domain.wanted_revisits(doc) == [("phone", "resolved")]
    doc = apply(doc, rate(doc, policy, "very_dissatisfied"))
    assert domain.wanted_revisits(doc) == [("phone", "resolved"), ("onsite", "dissatisfied")]


def test_the_phone_sample_is_deterministic_and_near_its_share():
    picks = [domain.sampled(f"case-{i}", 1, 30) for i in range(2000)]
    assert picks == [domain.sampled(f"case-{i}", 1, 30) for i in range(2000)]
    assert 0.25 < sum(picks) / len(picks) < 0.35
    assert all(domain.sampled(f"c{i}", 1, 100) for i in range(100))
    assert not any(domain.sampled(f"c{i}", 1, 0) for i in range(100))


def new_task(policy, method="phone"):
    doc = resolved_case(policy)
    return apply(None, domain.new_task(doc, CASE, method, "resolved", MON))


def test_a_revisit_record_publishes_what_was_found(policy):
    task = new_task(policy)
    assert (task["state"], task["department"], task["tracking_no"]) == ("open", "gongdian", "QH2026030200001")
    change = domain.record_revisit(task, by="revisit.1", said="企业说已恢复供电，电话13800001234", solved=True,
                                   visited_at=MON, note=None, now=MON + timedelta(hours=1), cause="rec")
    assert change.set["state"] == "done" and change.set["record"]["said"] == "企业说已恢复供电，电话138****1234"
    [revisited] = change.events
    assert revisited.type == "case.revisited"
    assert revisited.data == {"method": "phone", "outcome": "企业说已恢复供电，电话138****1234", "solved": True,
                              "round": 1, "by": "revisit.1"}
    with pytest.raises(domain.Refused) as refused:
        domain.record_revisit(apply(task, change), by="x", said="再次", solved=True, visited_at=MON, note=None,
                              now=MON, cause="rec2")
    assert refused.value.status == 409
    with pytest.raises(domain.Refused):
        domain.record_revisit(None, by="x", said="s", solved=True, visited_at=MON, note=None, now=MON, cause="c")


def test_an_unsolved_revisit_refers_and_reopens_once(policy):
    doc = resolved_case(policy)
    unsolved = event("case.revisited", ce.Revisited(method="phone", outcome="仍未解决", solved=False, round=1,
                                                    by="revisit.1"), "rv1")
    doc, produced = run(policy, unsolved, doc=doc)
    assert [e.type for e in produced] == ["case.referred", "case.reopened"]
    assert produced[0].data["reason"] == "回访发现问题未解决"
    assert doc["rounds"]["1"]["revisits"][0]["solved"] is False and doc["revisited_by"] == ["revisit.1"]
    again = event("case.revisited", ce.Revisited(method="onsite", outcome="仍未解决", solved=False, round=1), "rv2")
    doc, produced = run(policy, again, doc=doc)
    assert produced == [] and len(doc["rounds"]["1"]["revisits"]) == 2


def test_a_solved_revisit_changes_nothing_else(policy):
    solved = event("case.revisited", ce.Revisited(method="phone", outcome="认可", solved=True), "rv")
    doc, produced = run(policy, solved, doc=resolved_case(policy))
    assert produced == [] and doc["state"] == "awaiting_rating"


# ---------------------------------------------------------------- supervision

FINDINGS = {"shirking": "推诿塞责", "ineffective": "处置不力"}


def supervision(policy):
    doc = resolved_case(policy)
    change = rate(doc, policy, "dissatisfied")
    doc = apply(doc, change)
    referred = change.events[1]
    data = ce.Referred.model_validate(referred.data)
    return apply(None, domain.open_supervision(None, referred, data, doc)), referred, data, doc


def test_a_referral_opens_one_supervision_with_the_case_file(policy):
    sup, referred, data, doc = supervision(policy)
    assert (sup["state"], sup["round"], sup["to"], sup["department"]) == ("open", 1, "jiwei", "gongdian")
    assert sup["case_file"]["rounds"][0]["rating"]["level"] == "dissatisfied"
    assert domain.open_supervision(sup, referred, data, doc) is None


def test_supervisor_steps_are_audited_events(policy):
    sup, *_ = supervision(policy)
    change = domain.supervise(sup, action="finding", by="jw.1", note="倒查发现承办人推诿", findings=["shirking"],
                              known_findings=FINDINGS, now=MON, cause="s1")
    assert change.events[0].type == "case.supervised"
    assert change.events[0].data["findings"] == ["shirking"] and change.events[0].data["department"] == "gongdian"
    sup = apply(sup, change)
    sup = apply(sup, domain.supervise(sup, action="pressed", by="jw.1", note="督促限期整改", findings=[],
                                      known_findings=FINDINGS, now=MON, cause="s2"))
    sup = apply(sup, domain.supervise(sup, action="closed", by="jw.1", note="已整改到位", findings=["ineffective"],
                                      known_findings=FINDINGS, now=MON, cause="s3"))
    assert [a["action"] for a in sup["actions"]] == ["finding", "pressed", "closed"]
    assert sup["findings"] == ["ineffective", "shirking"] and sup["state"] == "closed"
    with pytest.raises(domain.Refused) as refused:
        domain.supervise(sup, action="pressed", by="jw.1", note="再督促", findings=[], known_findings=FINDINGS,
                         now=MON, cause="s4")
    assert refused.value.status == 409


@pytest.mark.parametrize("findings, status", [(["made_up"], 422), ([], 422)])
def test_findings_must_be_known_and_present(policy, findings, status):
    sup, *_ = supervision(policy)
    with pytest.raises(domain.Refused) as refused:
        domain.supervise(sup, action="finding", by="jw", note="n", findings=findings, known_findings=FINDINGS,
                         now=MON, cause="c")
    assert refused.value.status == status


def test_findings_reach_the_case_file(policy):
    sup, *_ = supervision(policy)
    change = domain.supervise(sup, action="finding", by="jw", note="n", findings=["shirking"],
                              known_findings=FINDINGS, now=MON, cause="c")
    doc, _ = run(policy, change.events[0], doc=resolved_case(policy))
    assert domain.case_file(doc, CASE)["rounds"][0]["findings"] == ["shirking"]


# ---------------------------------------------------------------- appeals

def rated_case(policy, level="very_dissatisfied"):
    doc = resolved_case(policy)
    return apply(doc, rate(doc, policy, level))


def test_a_unit_appeals_its_own_rating_once(policy):
    doc = rated_case(policy)
    change = domain.appeal(None, doc, case_id=CASE, number=1, unit="gongdian", by="wang.wu", reason="企业恶意差评",
                           evidence=["通话录音：已恢复供电"], now=MON, cause="a")
    assert change.events[0].type == "case.rating_appealed" and change.set["state"] == "pending"
    with pytest.raises(domain.Refused) as refused:
        domain.appeal(apply(None, change), doc, case_id=CASE, number=1, unit="gongdian", by="wang.wu", reason="再申诉",
                      evidence=[], now=MON, cause="a2")
    assert refused.value.status == 409


@pytest.mark.parametrize("unit, number, status", [("fagai", 1, 403), ("gongdian", 2, 404)])
def test_appeals_only_for_own_existing_ratings(policy, unit, number, status):
    with pytest.raises(domain.Refused) as refused:
        domain.appeal(None, rated_case(policy), case_id=CASE, number=number, unit=unit, by="x", reason="r",
                      evidence=[], now=MON, cause="a")
    assert refused.value.status == status


@pytest.mark.parametrize("decision, excluded", [("excluded", True), ("upheld", False)])
def test_a_review_decides_and_an_excluded_rating_stays_on_record(policy, decision, excluded):
    doc = rated_case(policy)
    appealed = domain.appeal(None, doc, case_id=CASE, number=1, unit="gongdian", by="wang.wu", reason="误评",
                             evidence=[], now=MON, cause="a")
    appeal_doc = apply(None, appealed)
    reviewed = domain.review(appeal_doc, decision=decision, by="li.si", reason="理由", now=MON, cause="r")
    assert reviewed.events[0].data["decision"] == decision and reviewed.set["state"] == decision
    with pytest.raises(domain.Refused):
        domain.review(apply(appeal_doc, reviewed), decision="upheld", by="li.si", reason="再审", now=MON, cause="r2")
    doc, _ = run(policy, appealed.events[0], doc=doc)
    assert doc["rounds"]["1"]["rating"]["appeal"] == "pending"
    doc, _ = run(policy, reviewed.events[0], doc=doc)
    rating = doc["rounds"]["1"]["rating"]
    assert rating["level"] == "very_dissatisfied" and rating["excluded"] is excluded and rating["appeal"] == decision


def test_a_review_of_no_appeal_is_refused():
    with pytest.raises(domain.Refused) as refused:
        domain.review(None, decision="upheld", by="x", reason="r", now=MON, cause="c")
    assert refused.value.status == 404


# ---------------------------------------------------------------- an excluded rating that had started a supervision

def reviewed(decision, number=1, reason="企业承认误评，联系电话13800001234"):
    return ce.RatingReviewed(round=number, decision=decision, by="li.si", reason=reason)


def test_an_excluded_rating_that_caused_the_referral_is_recorded_on_the_supervision(policy):
    sup, _, _, doc = supervision(policy)
    data = reviewed("excluded")
    doc, _ = run(policy, event("case.rating_reviewed", data, "rv"), doc=doc)
    assert doc["rounds"]["1"]["referred_for"] == "rating" and doc["rounds"]["1"]["referral_rating_excluded"]
    change = domain.note_rating_excluded(sup, doc, data, MON + timedelta(days=2))
    assert change is not None and change.events == []
    noted = apply(sup, change)
    assert noted["rating_excluded"]["case_reopened"] is True and noted["rating_excluded"]["by"] == "li.si"
    assert "13800001234" not in str(noted)  # the reason is masked like every other note
    [entry] = [a for a in noted["actions"] if a["action"] == "rating_excluded"]
    assert "申诉复核已排除" in entry["note"] and "重新交办" in entry["note"]
    assert noted["state"] == "open"  # the supervisor decides what follows
    assert domain.note_rating_excluded(noted, doc, data, MON) is None  # once


def test_an_upheld_rating_or_no_supervision_records_nothing(policy):
    sup, _, _, doc = supervision(policy)
    assert domain.note_rating_excluded(sup, doc, reviewed("upheld"), MON) is None
    assert domain.note_rating_excluded(None, doc, reviewed("excluded"), MON) is None


def test_a_referral_for_a_failed_revisit_is_not_touched_by_excluding_the_rating(policy):
    doc = resolved_case(policy)
    failed = event("case.revisited", ce.Revisited(method="phone", outcome="仍然停电", solved=False), "rv")
    doc, produced = run(policy, failed, doc=doc)
    referred = next(e for e in produced if e.type == "case.referred")
    data = ce.Referred.model_validate(referred.data)
    sup = apply(None, domain.open_supervision(None, referred, data, doc))
    assert doc["rounds"]["1"]["referred_for"] == "revisit"
    doc = apply(doc, rate(doc, policy, "dissatisfied")) if doc["state"] == "awaiting_rating" else doc
    assert domain.note_rating_excluded(sup, doc, reviewed("excluded"), MON) is None
