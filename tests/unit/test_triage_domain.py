"""services.triage: gazetteer, duty rules, fused proposal, events, duplicates, officers' decisions (pure)."""

import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.triage import duplicates, review
from services.triage.classifier import Scores
from services.triage.domain import (MIN_CONTENT_CHARS, Case, DuplicateMatch, DutyRules, Triage, events_for,
                                    load_lexicon, margin_confidence, normalise)
from services.triage.gazetteer import Gazetteer, load_gazetteer
from shared.auth import Staff
from shared.contracts.case_events import Assigned, Triaged
from shared.contracts.envelope import derived_id
from shared.org import load_organisation
from shared.workdays import add_working_days

SHANGHAI = ZoneInfo("Asia/Shanghai")
ORG = load_organisation()
GAZ = load_gazetteer(ORG)
RULES = DutyRules.build(ORG, load_lexicon())
MONDAY = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
OFFICER = Staff(sub="li.officer", role="triage_officer", unit=None)


class FixedScorer:
    """A stand-in for the fitted models: fixed probabilities per field."""

    def __init__(self, screening=None, department=None, complexity=None):
        self.value = Scores(screening or {"accepted": 0.95, "non_business": 0.03, "unclear": 0.02},
                            department or {"gongdian": 0.5, "jingxin": 0.1},
                            complexity or {"simple": 0.8, "general": 0.15, "complex": 0.05})

    def scores(self, text):
        return self.value


def triage(threshold=0.6, **scores) -> Triage:
    return Triage(ORG, GAZ, RULES, FixedScorer(**scores), threshold)


# ---------------------------------------------------------------- gazetteer

@pytest.mark.parametrize("text, region, evidence", [
    ("马金镇工业园区停电频繁", "majin", "text:马金镇"),
    ("金星村的厂房", "huabu", "text:金星村"),
    ("下淤村民宿", "yinkeng", "text:下淤村"),
    ("高田坑村的茶厂", "changhong", "text:高田坑村"),
    ("开化经济开发区的企业", "kaifaqu", "text:开化经济开发区"),
    ("在钱江源亲清半月谈活动中企业提出：用电困难", None, "none"),  # a forum's name is not a place
])
def test_places_in_text(text, region, evidence):
    guess = GAZ.locate(text, None, "某公司", ORG)
    assert (guess.region, guess.evidence) == (region, evidence)


def test_hint_then_text_then_enterprise_name():
    assert GAZ.locate("华埠镇厂房", "majin", "x", ORG).region == "majin"
    assert GAZ.locate("华埠镇厂房", "马金镇", "x", ORG).region == "majin"
    assert GAZ.locate("华埠镇厂房", "不存在", "x", ORG).region == "huabu"
    guess = GAZ.locate("厂房需要增容", None, "开化县池淮某某有限公司", ORG)
    assert (guess.region, guess.evidence, guess.confidence) == ("chihuai", "enterprise:池淮", 0.9)
    assert GAZ.locate("厂房需要增容", None, "某某有限公司", ORG).region is None


def test_two_regions_lower_the_confidence():
    one = GAZ.locate("马金镇的厂", None, "x", ORG)
    two = GAZ.locate("从华埠镇运货到马金镇", None, "x", ORG)
    assert one.confidence == 0.97 and two.confidence < 0.6 and two.region == "huabu"


@pytest.mark.parametrize("code", sorted(r.code for r in ORG.regions))
def test_every_region_found_by_name_and_hint(code):
    name = next(r.name for r in ORG.regions if r.code == code)
    assert GAZ.locate(f"位于{name}的企业", None, "x", ORG).region == code
    assert GAZ.locate("无", code, "x", ORG).region == code


def test_a_name_in_two_regions_is_refused():
    with pytest.raises(ValueError, match="two regions"):
        Gazetteer.build(ORG, {"majin": {"places": ["同名村"]}, "huabu": {"places": ["同名村"]}})
    with pytest.raises(ValueError, match="does not have"):
        Gazetteer.build(ORG, {"atlantis": {"places": ["x"]}})


def test_mask_hides_places_only():
    assert GAZ.mask("马金镇工业园区停电") == "某地工业园区停电"
    assert GAZ.mask("钱江源亲清半月谈") == "钱江源亲清半月谈"


# ---------------------------------------------------------------- rules and fusion

def test_duty_rules_count_a_word_once_and_prefer_the_longer():
    scores = RULES.scores("电力增容，电力增容，停电")
    assert scores["gongdian"] == 2 + 2  # duty phrases 电力增容 and 停电; 电力 and 增容 inside the first do not count
    assert RULES.scores("变压器跳闸") == {"gongdian": 1 + 1}  # two lexicon words
    assert RULES.scores("门口的流浪猫") == {}


def test_lexicon_must_name_known_departments():
    with pytest.raises(ValueError):
        DutyRules.build(ORG, {"nowhere": ["x"]})


def test_margin_confidence():
    assert margin_confidence({"a": 0.6, "b": 0.2}, "a") == 0.75
    assert margin_confidence({"a": 0.5, "b": 0.5}, "a") == 0.5
    assert margin_confidence({"a": 1.0}, "a") == 1.0


def test_clear_case_is_accepted_and_assigned():
    proposal = triage().propose(Case("我们公司需要电力增容，马金镇工业园区停电频繁，影响生产", "开化县某纸业有限公司"))
    assert (proposal.screening, proposal.department, proposal.co_departments, proposal.region,
            proposal.complexity, proposal.escalation_level, proposal.needs_review) == (
        "accepted", "gongdian", (), "majin", "simple", 1, False)
    assert set(proposal.confidence) == {"screening", "department", "region", "complexity"}


def test_rules_outvote_a_wrong_model():
    t = triage(department={"jingxin": 0.6, "gongdian": 0.4})
    assert t.propose(Case("电力增容和停电问题，马金镇", "x")).department == "gongdian"


def test_second_unit_with_rule_evidence_is_co_department_and_general():
    proposal = triage().propose(Case("马金镇厂区电力增容没批，留抵退税也一直没到账", "x"))
    assert proposal.department == "gongdian" and proposal.co_departments == ("shuiwu",)
    assert proposal.complexity == "general" and proposal.escalation_level == 1


def test_complex_starts_with_the_leader_in_charge():
    t = triage(complexity={"simple": 0.05, "general": 0.15, "complex": 0.8})
    proposal = t.propose(Case("马金镇重点项目电力增容卡住，多个部门推诿", "x"))
    assert proposal.complexity == "complex" and proposal.escalation_level == 2


@pytest.mark.parametrize("content", ["电费", "停电了！", "？？？？？？", "a b c"])
def test_too_short_is_unclear(content):
    assert len(normalise(content)) < MIN_CONTENT_CHARS
    proposal = triage().propose(Case(content, "x"))
    assert (proposal.screening, proposal.needs_review, proposal.department) == ("unclear", False, None)


def test_non_business_by_the_model():
    t = triage(screening={"accepted": 0.05, "non_business": 0.9, "unclear": 0.05})
    proposal = t.propose(Case("邻居家装修太吵影响休息", "个人来电"))
    assert (proposal.screening, proposal.department, proposal.needs_review) == ("non_business", None, False)


def test_duty_words_pull_screening_toward_accepted():
    t = triage(screening={"accepted": 0.3, "non_business": 0.6, "unclear": 0.1})
    assert t.propose(Case("邻居家装修太吵影响休息", "x")).screening == "non_business"
    assert t.propose(Case("电力增容和留抵退税都没办好", "x")).screening == "accepted"


@pytest.mark.parametrize("threshold, review_", [(0.0, False), (0.5, False), (0.99, True)])
def test_threshold_sends_doubtful_cases_to_review(threshold, review_):
    t = triage(threshold, department={"gongdian": 0.3, "jingxin": 0.28})
    assert t.propose(Case("马金镇需要做一些事情才能生产", "x")).needs_review is review_


def test_no_region_is_no_doubt_but_two_regions_are():
    proposal = triage().propose(Case("我们公司需要电力增容", "某某有限公司"))
    assert proposal.region is None and proposal.needs_review is False and proposal.confidence["region"] == 0.0
    proposal = triage().propose(Case("华埠镇的厂需要电力增容，另外马金镇的仓库也要", "某某有限公司"))
    assert proposal.region == "huabu" and proposal.needs_review is True


@pytest.mark.parametrize("text", [
    "华埠镇和马金镇的厂都需要电力增容",  # regions listed together: several places
    "马金镇、齐溪镇一带的茶企停电频次明显增加",
    "全县竹木加工企业普遍反映电价偏高，华埠镇某某公司等企业希望调整",  # the county, many enterprises
])
def test_a_problem_of_several_regions_or_the_whole_county_has_no_one_region(text):
    proposal = triage().propose(Case(text, "某某有限公司"))
    assert proposal.region is None and proposal.needs_review is False
    assert "属地依据：涉及多个乡镇" in proposal.reason or "属地依据：全县性问题，不归一个乡镇" in proposal.reason


def test_duplicate_proposal():
    match = DuplicateMatch("case-0", 0.8, True)
    proposal = triage().propose(Case("需要电力增容", "x"), match, 0.9)
    assert (proposal.screening, proposal.duplicate_of, proposal.needs_review) == ("duplicate", "case-0", False)
    assert triage().propose(Case("需要电力增容", "x"), match, 0.5).needs_review is True


# ---------------------------------------------------------------- events

def test_confident_decision_gives_triaged_and_assigned():
    proposal = triage().propose(Case("我们在马金镇的厂房需要电力增容", "x"))
    events = events_for(proposal, cause="evt", case_id="case-1", now=MONDAY, org=ORG, tz=SHANGHAI)
    assert [e.type for e in events] == ["case.triaged", "case.assigned"]
    assert events[0].event_id == derived_id("evt", "case.triaged")
    triaged = Triaged.model_validate(events[0].data)
    assert (triaged.decided_by, triaged.department, triaged.region) == ("auto", "gongdian", "majin")
    assert events[1].data["due_at"] == "2026-03-03T09:15:00+08:00"
    assert events == events_for(proposal, cause="evt", case_id="case-1", now=MONDAY, org=ORG, tz=SHANGHAI)


@pytest.mark.parametrize("complexity, days", [("simple", 1), ("general", 2), ("complex", 3)])
def test_due_at_by_complexity(complexity, days):
    probabilities = {"simple": 0.01, "general": 0.01, "complex": 0.01, complexity: 0.97}
    proposal = triage(complexity=probabilities).propose(Case("马金镇厂房需要电力增容", "x"))
    assert proposal.complexity == complexity
    events = events_for(proposal, cause="c", case_id="case-1", now=MONDAY, org=ORG, tz=SHANGHAI)
    assert Assigned.model_validate(events[1].data).due_at == add_working_days(MONDAY, days, SHANGHAI)


def test_waiting_or_not_accepted_gives_only_triaged():
    for proposal in [triage().propose(Case("华埠镇的厂需要电力增容，马金镇的也要", "某公司")),  # two regions: review
                     triage().propose(Case("电费", "x"))]:  # unclear
        events = events_for(proposal, cause="c", case_id="case-1", now=MONDAY, org=ORG, tz=SHANGHAI)
        assert [e.type for e in events] == ["case.triaged"]


# ---------------------------------------------------------------- duplicates

VOCAB = duplicates.Vocabulary.build(["企业反映停电", "企业反映用地", "企业反映招工", "来电反映税务问题"] * 5)


def test_band_keys_are_stable_and_shared_by_near_copies():
    a = duplicates.index_keys(VOCAB, "马金镇工业园区停电频繁影响生产", "甲公司", "913300001")
    b = duplicates.index_keys(VOCAB, "马金镇工业园区停电频繁，影响生产！", "甲公司", "913300001")
    assert a == b and len(a) == duplicates.BANDS + 1 and a[0].startswith("e:")
    c = duplicates.index_keys(VOCAB, "华埠镇招工困难缺少普工五十人", "乙公司", None)
    assert not set(a[1:]) & set(c[1:])


def test_boilerplate_does_not_make_cases_alike():
    assert duplicates.matter_text("来电人反映：停电。来电人要求尽快处理。") == "停电"


def test_enterprise_key_prefers_uscc():
    assert duplicates.enterprise_key("甲", " 9133ab ") == duplicates.enterprise_key("乙", "9133AB")
    assert duplicates.enterprise_key("开化 甲公司", None) == duplicates.enterprise_key("开化甲公司！", "")


# ---------------------------------------------------------------- officers

def doc_with(proposal_fields=None, **extra):
    proposal = {"screening": "accepted", "department": "gongdian", "co_departments": [], "region": "majin",
                "complexity": "simple", **(proposal_fields or {})}
    return {"_id": "case-1", "text": "马金镇停电", "proposal": proposal, "decision": dict(proposal), **extra}


def request(**body):
    return review.DecisionRequest.model_validate(body, context={"org": ORG})


def test_reroute_records_who_what_why_and_assigns():
    fields, events, record = review.decide(request(action="reroute", department="jingxin", reason="属于有序用电"),
                                           doc_with(), OFFICER, triage(), now=MONDAY, decision_id="d1", tz=SHANGHAI)
    assert [e.type for e in events] == ["case.triaged", "case.assigned"]
    assert events[0].data["decided_by"] == "officer" and events[0].data["department"] == "jingxin"
    assert events[0].event_id == derived_id("officer:d1", "case.triaged")
    assert record["by"] == "li.officer" and record["at"] == MONDAY and record["reason"] == "属于有序用电"
    assert record["changes"] == {"department": {"before": "gongdian", "after": "jingxin"}}
    assert fields["needs_review"] is False and fields["claimed_by"] is None


@pytest.mark.parametrize("body, screening, types", [
    ({"action": "accept"}, "accepted", ["case.triaged", "case.assigned"]),
    ({"action": "reject", "reason": "个人纠纷"}, "non_business", ["case.triaged"]),
    ({"action": "ask_detail", "reason": "请说明具体地点"}, "unclear", ["case.triaged"]),
    ({"action": "duplicate", "duplicate_of": "case-0", "reason": "同一问题"}, "duplicate", ["case.triaged"]),
])
def test_each_action(body, screening, types):
    _, events, _ = review.decide(request(**body), doc_with(), OFFICER, triage(), now=MONDAY, decision_id="d",
                                 tz=SHANGHAI)
    assert [e.type for e in events] == types and events[0].data["screening"] == screening


def test_accept_with_complex_override_escalates():
    _, events, _ = review.decide(request(action="accept", complexity="complex"), doc_with(), OFFICER, triage(),
                                 now=MONDAY, decision_id="d", tz=SHANGHAI)
    assert events[1].data["escalation_level"] == 2
    assert events[1].data["due_at"] == add_working_days(MONDAY, 3, SHANGHAI).isoformat()


@pytest.mark.parametrize("body, field", [
    ({"action": "reroute", "reason": "x"}, "department"),
    ({"action": "reject"}, "reason"),
    ({"action": "duplicate", "reason": "x"}, "duplicate_of"),
    ({"action": "accept", "department": "nowhere"}, "department"),
    ({"action": "accept", "region": "atlantis"}, "region"),
    ({"action": "accept", "complexity": "hard"}, "complexity"),
    ({"action": "promote"}, "action"),
])
def test_bad_requests_name_the_field(body, field):
    with pytest.raises(Exception) as info:
        request(**body)
    assert field in str(info.value)


def test_duplicate_of_itself_is_refused():
    with pytest.raises(review.DecisionRefused):
        review.officer_proposal(request(action="duplicate", duplicate_of="case-1", reason="x"), doc_with(), triage())


def test_claims_lapse():
    other = Staff(sub="wang", role="triage_officer", unit=None)
    doc = {"claimed_by": "wang", "claimed_until": MONDAY + timedelta(minutes=5)}
    assert review.claim_state(doc, OFFICER, MONDAY, 30) == (False, "wang")
    assert review.claim_state(doc, other, MONDAY, 30) == (True, None)
    assert review.claim_state(doc, OFFICER, MONDAY + timedelta(minutes=6), 30) == (True, None)


def test_officer_decision_becomes_a_labelled_example():
    doc = doc_with()
    _, events, _ = review.decide(request(action="reroute", department="jingxin", reason="x"), doc, OFFICER,
                                 triage(), now=MONDAY, decision_id="d9", tz=SHANGHAI)
    example = review.example_from(doc, events[0].data, "d9")
    assert example["_id"] == "d9" and example["department"] == "jingxin" and example["corrected"] is True
    assert review.example_of_record(example).source == "officer"


@pytest.mark.parametrize("text, region", [
    ("园区到县城的公交早上最早一班太晚", "kaifaqu"),  # 园区 alone is the development zone
    ("马金镇工业园区停电", "majin"),  # ... not inside another town's 工业园区
    ("企业拟在华埠镇化工园区扩建，但园区已无可用工业用地，园区扩区需要重新认定", "huabu"),  # said thrice, one place
    ("到县行政服务中心办理营业执照变更，跑了五趟", None),  # where a service counter is, not where the problem is
])
def test_loose_place_names(text, region):
    assert GAZ.locate(text, None, "某某有限公司", ORG).region == region


def test_the_officer_reads_why_in_chinese():
    proposal = triage().propose(Case("华埠镇的厂需要电力增容，另外马金镇的仓库也要", "某某有限公司"))
    assert "置信度低：属地" in proposal.reason and "属地依据：文中地名“华埠镇”" in proposal.reason
    assert not re.search("[A-Za-z]", proposal.reason), proposal.reason
