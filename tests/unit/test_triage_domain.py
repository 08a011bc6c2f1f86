"""services.triage.domain: screening, keyword routing by duties, region, complexity, and the events."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.triage.domain import (MIN_CONTENT_CHARS, Decision, decide, department_scores, events_for, find_region,
                                    fingerprint, normalise)
from shared.contracts.case_events import Assigned, PublicEnterprise, Registered, Triaged
from shared.contracts.envelope import derived_id
from shared.org import load_organisation
from shared.workdays import add_working_days

SHANGHAI = ZoneInfo("Asia/Shanghai")
THRESHOLD = 0.6
NAME = "开化县某某纸业有限公司"
USCC = "91330824MA2XXXXXXX"
ORG = load_organisation()


def registered(content, *, title=None, region_hint=None, name=NAME, uscc=None) -> Registered:
    return Registered(
        submission_id="hotline-20260302-0001", channel="hotline", tracking_no="QH2026030200001",
        received_at=datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI),
        enterprise=PublicEnterprise(name=name, uscc=uscc, contact_name="张*", contact_phone="138****0000"),
        content=content, title=title, region_hint=region_hint,
    )


def run(content, **kwargs) -> Decision:
    threshold = kwargs.pop("review_threshold", THRESHOLD)
    duplicate_of = kwargs.pop("duplicate_of", None)
    return decide(registered(content, **kwargs), ORG, review_threshold=threshold, duplicate_of=duplicate_of)


# ---------------------------------------------------------------- screening

@pytest.mark.parametrize("content", ["电费", "电费发票", "停电了", "  停电！！  ", "，，，电费！！！。。。", "a b c d e",
                                     "12345", "？？？？？？？？"])
def test_too_short_content_is_unclear(content):
    assert len(normalise(content)) < MIN_CONTENT_CHARS
    assert run(content) == Decision("unclear", None, (), None, None, None, False, {"screening": 0.9},
                                    "问题描述过短，请补充说明")


def test_six_meaningful_characters_are_enough():
    assert MIN_CONTENT_CHARS == 6
    assert run("需要电力增容").screening == "accepted"
    assert run("停电停电停！").screening == "unclear"  # 5 characters once punctuation is dropped


def test_title_does_not_count_toward_length():
    assert run("停电", title="厂区需要电力增容").screening == "unclear"


@pytest.mark.parametrize("content", ["需要电力增容", "电费"])
def test_duplicate_wins(content):
    assert run(content, duplicate_of="case-0") == Decision(
        "duplicate", None, (), None, None, None, False, {"screening": 0.95}, "同一企业的相同问题已在办理",
        duplicate_of="case-0")


# ---------------------------------------------------------------- routing

@pytest.mark.parametrize("text, scores", [
    ("需要电力增容", {"gongdian": 5}),  # full duty 3 + its parts 电力 1 + 增容 1
    ("停电停电停电", {"gongdian": 3}),  # a keyword counts once
    ("招工用工难，社会保险", {"renshe": 10}),
    ("电费一直算错，另外留抵退税一直没有办理", {"gongdian": 3, "shuiwu": 5}),
    ("供电和供水都不稳定，排水也堵", {"gongdian": 3, "shuiwugs": 6}),
    ("电费问题和发票问题", {"gongdian": 3, "shuiwu": 3, "yingshang": 1}),
    ("门口有一只流浪猫很吵闹", {}),
    ("", {}),
])
def test_department_scores(org, text, scores):
    assert department_scores(text, org) == scores


def test_one_department_is_confident_and_assigned_without_review():
    assert run("需要电力增容") == Decision(
        screening="accepted", department="gongdian", co_departments=(), region=None, complexity="simple",
        escalation_level=1, needs_review=False,
        confidence={"screening": 0.8, "department": 0.95, "region": 0.0, "complexity": 0.95},
        reason="按职能关键词匹配：gongdian")


@pytest.mark.parametrize("content, department", [
    ("需要电力增容", "gongdian"),
    ("留抵退税一直没有到账", "shuiwu"),
    ("招工用工难，社会保险", "renshe"),
    ("申请施工许可很慢", "zhujian"),
    ("排污许可证到期需要续办", "shengtai"),
    ("想申请银行贷款周转", "jinrong"),
    ("员工子女入学难以解决", "jiaoyu"),
    ("危险化学品仓库审批", "yingji"),
])
def test_single_duty_routes_to_its_department(content, department):
    decision = run(content)
    assert (decision.screening, decision.department, decision.co_departments, decision.complexity,
            decision.needs_review) == ("accepted", department, (), "simple", False)
    assert decision.confidence["department"] >= 0.85


def test_title_words_route_too():
    decision = run("这个问题已经拖了很久了", title="电力增容")
    assert decision.department == "gongdian" and decision.needs_review is False


def test_two_departments_give_general_with_co_department():
    decision = run("电费一直算错，另外留抵退税一直没有办理")
    assert decision == Decision(
        screening="accepted", department="shuiwu", co_departments=("gongdian",), region=None, complexity="general",
        escalation_level=1, needs_review=False,
        confidence={"screening": 0.8, "department": 0.95, "region": 0.0, "complexity": 0.95},
        reason="按职能关键词匹配：shuiwu")


def test_equal_scores_need_review_and_lead_is_alphabetical():
    decision = run("电费问题和发票问题")
    assert decision.department == "gongdian"
    assert decision.co_departments == ("shuiwu",)  # yingshang's single point is below the co threshold of 2
    assert decision.complexity == "general"
    assert decision.confidence["department"] == 0.5
    assert decision.needs_review is True


def test_no_keyword_falls_back_to_the_last_category_and_needs_review(org):
    decision = run("门口有一只流浪猫很吵闹")
    assert org.fallback_category.code == "other"
    assert decision == Decision(
        screening="accepted", department=org.fallback_category.departments[0], co_departments=(), region=None,
        complexity="simple", escalation_level=1, needs_review=True,
        confidence={"screening": 0.8, "department": 0.2, "region": 0.0, "complexity": 0.2},
        reason="未匹配到职能关键词，由综合协调单位牵头，待人工研判")
    assert decision.department == "yingshang"


@pytest.mark.parametrize("content, confidence", [
    ("研发方面困难很多", 0.55),  # one two-character part: 1 point
    ("研发补贴和补助困难", 0.7),  # two parts
    ("停电停电停电", 0.85),  # one full duty
    ("需要电力增容", 0.95),  # capped
])
def test_department_confidence_grows_with_score(content, confidence):
    decision = run(content)
    assert decision.confidence["department"] == confidence
    assert decision.confidence["complexity"] == confidence
    assert decision.needs_review is (confidence < THRESHOLD)


@pytest.mark.parametrize("threshold, review", [(0.0, False), (0.5, False), (0.56, True), (0.99, True)])
def test_review_threshold_is_applied(threshold, review):
    assert run("研发方面困难很多", review_threshold=threshold).needs_review is review


def test_fallback_without_review_when_threshold_is_low():
    assert run("门口有一只流浪猫很吵闹", review_threshold=0.1).needs_review is False


# ---------------------------------------------------------------- region

@pytest.mark.parametrize("content, region", [
    ("我们在马金镇的厂房需要电力增容", "majin"),
    ("我们在马金的厂房需要电力增容", "majin"),  # short form without 镇
    ("芹阳办事处辖区内停电", "qinyang"),
    ("芹阳这边经常停电", "qinyang"),  # 办事处 dropped
    ("音坑乡的厂房停电", "yinkeng"),
    ("音坑的厂房停电了", "yinkeng"),  # 乡 dropped
    ("大溪边的厂房停电了", "daxibian"),
    ("开化经济开发区厂房停电", "kaifaqu"),  # name before its parenthesis
    ("需要电力增容", None),
])
def test_region_from_text(content, region):
    decision = run(content)
    assert decision.region == region
    assert decision.confidence["region"] == (0.9 if region else 0.0)


def test_region_from_title():
    assert run("厂房需要电力增容", title="华埠镇企业").region == "huabu"


def test_region_from_enterprise_name():
    assert run("厂房需要电力增容", name="开化县华埠某某纸业有限公司").region == "huabu"


def test_text_region_beats_enterprise_name():
    assert run("马金镇厂房需要电力增容", name="开化县华埠某某纸业有限公司").region == "majin"


@pytest.mark.parametrize("hint, region", [("majin", "majin"), ("马金镇", "majin"), ("kaifaqu", "kaifaqu"),
                                          ("开化经济开发区(经开区企业社区)", "kaifaqu")])
def test_region_from_hint_code_or_name(hint, region):
    assert run("厂房需要电力增容", region_hint=hint).region == region


def test_hint_beats_text():
    assert run("华埠镇厂房需要电力增容", region_hint="majin").region == "majin"


def test_unknown_hint_falls_back_to_text():
    assert run("华埠镇厂房需要电力增容", region_hint="某地").region == "huabu"
    assert run("厂房需要电力增容", region_hint="某地").region is None


def test_find_region_directly(org):
    assert find_region(["池淮"], None, org) == "chihuai"
    assert find_region(["无", "苏庄镇某公司"], None, org) == "suzhuang"
    assert find_region([], "qixi", org) == "qixi"
    assert find_region([], None, org) is None
    assert find_region(["马"], None, org) is None


@pytest.mark.parametrize("code", ["qinyang", "huabu", "majin", "chihuai", "tongcun", "yanglin", "suzhuang", "qixi",
                                  "cuntou", "yinkeng", "zhongcun", "changhong", "hetian", "linshan", "daxibian",
                                  "kaifaqu"])
def test_every_region_found_by_its_full_name_code_and_hint(org, code):
    name = next(r.name for r in org.regions if r.code == code)
    assert find_region([f"位于{name}的企业"], None, org) == code
    assert find_region([], code, org) == code
    assert find_region([], name, org) == code


# ---------------------------------------------------------------- fingerprint

def test_normalise():
    assert normalise("  需要 电力增容！ ") == "需要电力增容"
    assert normalise("ＡＢＣ　１２３，停电。") == "abc123停电"
    assert normalise("A_B-C (d)") == "abcd"
    assert normalise("") == ""


BASE = fingerprint(NAME, USCC, "需要电力增容，已经等了三个月。")


@pytest.mark.parametrize("name, uscc, content", [
    (NAME, USCC, "需要电力增容，已经等了三个月。"),
    (NAME, USCC, "需要 电力增容 已经等了三个月"),
    (NAME, USCC, "需要电力增容！！已经等了三个月……"),
    (NAME, USCC, "  需要电力增容,已经等了三个月.  "),
    (NAME, USCC, "需要电力增容　已经等了三个月"),  # ideographic space
    ("另一个名称", USCC, "需要电力增容，已经等了三个月。"),  # the USCC identifies the enterprise
    (NAME, " 91330824ma2xxxxxxx ", "需要电力增容，已经等了三个月。"),
])
def test_fingerprint_same_enterprise_same_words(name, uscc, content):
    assert fingerprint(name, uscc, content) == BASE


def test_fingerprint_ignores_full_width_characters():
    assert fingerprint(NAME, None, "ＡＢＣ１２３号线路停电") == fingerprint(NAME, None, "abc123号线路停电")
    assert fingerprint("ＸＹＺ科技有限公司", None, "停电") == fingerprint("xyz科技有限公司", None, "停电")


def test_fingerprint_by_name_without_uscc():
    assert fingerprint(NAME, None, "停电") == fingerprint(" 开化县 某某纸业（有限公司）", "", "停电")
    assert fingerprint(NAME, None, "停电") == fingerprint(NAME, "   ", "停电")


@pytest.mark.parametrize("name, uscc, content", [
    (NAME, "91330824MA2YYYYYYY", "需要电力增容，已经等了三个月。"),  # other enterprise
    (NAME, USCC, "需要电力增容，已经等了四个月。"),  # other words
    (NAME, None, "需要电力增容，已经等了三个月。"),  # identified by name instead
])
def test_fingerprint_differs(name, uscc, content):
    assert fingerprint(name, uscc, content) != BASE


def test_fingerprint_differs_for_other_enterprise_by_name():
    assert fingerprint("甲公司", None, "停电") != fingerprint("乙公司", None, "停电")


def test_fingerprint_shape():
    assert len(BASE) == 64 and int(BASE, 16) >= 0


# ---------------------------------------------------------------- events

MONDAY = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
FRIDAY = datetime(2026, 3, 6, 16, 0, tzinfo=SHANGHAI)


def test_confident_decision_gives_triaged_and_assigned(org):
    decision = run("我们在马金镇的厂房需要电力增容")
    events = events_for(decision, cause="evt-registered", case_id="case-1", now=MONDAY, org=org, tz=SHANGHAI)
    assert [e.type for e in events] == ["case.triaged", "case.assigned"]
    triaged, assigned = events
    assert triaged.event_id == derived_id("evt-registered", "case.triaged")
    assert assigned.event_id == derived_id("evt-registered", "case.assigned")
    assert {e.case_id for e in events} == {"case-1"}
    assert {e.occurred_at for e in events} == {MONDAY}
    assert triaged.data == Triaged(
        screening="accepted", duplicate_of=None, department="gongdian", co_departments=[], region="majin",
        complexity="simple", decided_by="auto", needs_review=False,
        confidence={"screening": 0.8, "department": 0.95, "region": 0.9, "complexity": 0.95},
        reason="按职能关键词匹配：gongdian").model_dump(mode="json")
    assert assigned.data == {"department": "gongdian", "co_departments": [], "region": "majin",
                             "complexity": "simple", "escalation_level": 1, "due_at": "2026-03-03T09:15:00+08:00"}


@pytest.mark.parametrize("now", [MONDAY, FRIDAY, datetime(2026, 3, 7, 11, 0, tzinfo=SHANGHAI),
                                 datetime(2026, 3, 6, 16, 30, tzinfo=ZoneInfo("UTC"))])
@pytest.mark.parametrize("content, complexity, days", [
    ("需要电力增容", "simple", 1),
    ("电费一直算错，另外留抵退税一直没有办理", "general", 2),
])
def test_assigned_due_at_is_working_days_by_complexity(org, now, content, complexity, days):
    decision = run(content)
    assert decision.complexity == complexity and org.complexity_of(complexity).days == days
    events = events_for(decision, cause="c", case_id="case-1", now=now, org=org, tz=SHANGHAI)
    assigned = Assigned.model_validate(events[1].data)
    assert assigned.due_at == add_working_days(now, days, SHANGHAI)
    assert assigned.complexity == complexity
    assert assigned.co_departments == list(decision.co_departments)


def test_friday_simple_case_is_due_monday(org):
    events = events_for(run("需要电力增容"), cause="c", case_id="case-1", now=FRIDAY, org=org, tz=SHANGHAI)
    assert events[1].data["due_at"] == "2026-03-09T16:00:00+08:00"


@pytest.mark.parametrize("content, kwargs", [
    ("门口有一只流浪猫很吵闹", {}),  # fallback, needs review
    ("电费问题和发票问题", {}),  # tie, needs review
    ("电费", {}),  # unclear
    ("需要电力增容", {"duplicate_of": "case-0"}),  # duplicate
])
def test_review_or_not_accepted_gives_only_triaged(org, content, kwargs):
    decision = run(content, **kwargs)
    assert decision.needs_review or decision.screening != "accepted"
    events = events_for(decision, cause="c", case_id="case-1", now=MONDAY, org=org, tz=SHANGHAI)
    assert [e.type for e in events] == ["case.triaged"]
    data = Triaged.model_validate(events[0].data)
    assert data.screening == decision.screening
    assert data.needs_review == decision.needs_review
    assert data.duplicate_of == decision.duplicate_of
    assert data.decided_by == "auto"


def test_events_are_deterministic(org):
    decision = run("需要电力增容")
    a = events_for(decision, cause="c", case_id="case-1", now=MONDAY, org=org, tz=SHANGHAI)
    b = events_for(decision, cause="c", case_id="case-1", now=MONDAY, org=org, tz=SHANGHAI)
    assert a == b
    c = events_for(decision, cause="other", case_id="case-1", now=MONDAY, org=org, tz=SHANGHAI)
    assert {e.event_id for e in a}.isdisjoint({e.event_id for e in c})


def test_due_at_follows_the_zone(org):
    late = datetime(2026, 3, 6, 16, 30, tzinfo=ZoneInfo("UTC"))  # Saturday 00:30 in Shanghai
    events = events_for(run("需要电力增容"), cause="c", case_id="case-1", now=late, org=org, tz=SHANGHAI)
    assert events[1].data["due_at"] == "2026-03-10T00:00:00+08:00"
    assert timedelta(0) < datetime.fromisoformat(events[1].data["due_at"]) - late
