"""services.triage: the channel's framing is not the matter, and the policy's "123" words (pure)."""

import pytest

from services.triage.classifier import Scores
from services.triage.domain import (COMPLEX, GENERAL, SIMPLE, Case, ComplexityCues, DutyRules, Triage,
                                    load_complexity_cues, load_lexicon)
from services.triage.catalogue import load_catalogue
from services.triage.framing import matter_text
from services.triage.gazetteer import load_gazetteer
from services.triage.segment import Segmenter
from services.triage.units import load_unit_names
from shared.org import load_organisation

ORG = load_organisation()
GAZ = load_gazetteer(ORG)
RULES = DutyRules.build(ORG, load_lexicon())
CUES = load_complexity_cues()


class FixedScorer:
    def __init__(self, department, complexity):
        self.value = Scores({"accepted": 0.95, "non_business": 0.03, "unclear": 0.02}, department, complexity)

    def scores(self, text):
        return self.value


def triage(department, complexity=None) -> Triage:
    # an unsure complexity model by default: the units found decide the grade
    scorer = FixedScorer(department, complexity or {"simple": 0.5, "general": 0.3, "complex": 0.2})
    return Triage(ORG, GAZ, RULES, scorer, 0.6, CUES)


CATALOGUE = load_catalogue(ORG)
SEGMENTER = Segmenter.build(ORG, CATALOGUE.words())
UNITS = load_unit_names(ORG)


def full_triage(department, complexity=None) -> Triage:
    """With the catalogue, segmentation and the units' everyday names, as the service builds it."""
    # an unsure complexity model by default: the units found decide the grade
    scorer = FixedScorer(department, complexity or {"simple": 0.5, "general": 0.3, "complex": 0.2})
    return Triage(ORG, GAZ, RULES, scorer, 0.6, CUES, CATALOGUE, SEGMENTER, None, UNITS)


@pytest.mark.parametrize("framed, matter", [
    ("助企联络员走访时企业反映：社保缴费基数改了。", "社保缴费基数改了"),
    ("产业链牵头单位收集的问题：环保检查让我们停产。", "环保检查让我们停产"),
    ("市“企呼我应”平台交办：停电。请按期办结并反馈。", "停电"),
])
def test_framing_is_stripped(framed, matter):
    assert matter_text(framed) == matter


def test_framing_names_no_unit():
    """联络员 (yingshang) and 产业链 (jingxin) in the channel's framing made them co-departments."""
    proposal = triage({"renshe": 0.6, "yingshang": 0.1}).propose(
        Case("助企联络员走访时企业反映：社保缴费基数改了之后系统一直报异常，员工的社会保险断缴了。", "甲公司"))
    assert (proposal.department, proposal.co_departments, proposal.complexity) == ("renshe", (), SIMPLE)
    proposal = triage({"shengtai": 0.6, "jingxin": 0.1}).propose(
        Case("产业链牵头单位收集的问题：环保检查让我们停产整改，排污许可也要重新办。", "甲公司"))
    assert (proposal.department, proposal.co_departments) == ("shengtai", ())


def test_places_name_no_unit():
    """A park called 数字经济产业园 is a place, not the digital-economy duty of jingxin."""
    proposal = triage({"renshe": 0.6, "jingxin": 0.1}).propose(
        Case("企业位于数字经济产业园，社会保险和劳动合同的问题想咨询。", "甲公司"))
    assert "jingxin" not in proposal.co_departments


@pytest.mark.parametrize("matter, evidence", [
    ("规划国土住建都说不归自己拖了十年", "都说不归"),
    ("重大项目的水电路都没配套好项目停下来了", "重大项目+停下来"),
    ("企业申报的省重点建设项目材料已经交了", None),  # an important project, nothing held back
    ("项目拖了半年", None),  # held back, but no important project or industry
    # the county asked to decide for an industry (报请县委县政府研究决策), whatever the number of units
    ("全县没有危废处置单位建议县里研究规划建设", "县里研究+全县"),
    ("建议县里研究怎么办", None),  # the county asked, but about no industry
    ("文旅、住建、公安各管一段，民宿只能带病经营，影响全县民宿产业发展", "各管一段"),
])
def test_complex_evidence(matter, evidence):
    assert CUES.complex_evidence(matter) == evidence


def test_complex_words_make_a_case_complex_whatever_the_classifier_says():
    case = Case("厂房无证是历史遗留问题，规划、国土、住建都说不归自己，拖了十年。", "甲公司")
    proposal = triage({"ziranziyuan": 0.6, "zhujian": 0.2}, {"simple": 0.9, "general": 0.05, "complex": 0.05})
    decided = proposal.propose(case)
    assert decided.complexity == COMPLEX
    assert decided.escalation_level == proposal.complex_start_level
    assert decided.confidence["complexity"] >= 0.8


def test_several_units_without_complex_words_are_general():
    assert Triage.complexity_of({"simple": 0.9, "general": 0.05, "complex": 0.05}, ("gongan",))[0] == GENERAL
    assert Triage.complexity_of({"simple": 0.9, "general": 0.05, "complex": 0.05}, ())[0] == SIMPLE
    assert Triage.complexity_of({"simple": 0.9, "general": 0.05, "complex": 0.05}, (), "没人牵头")[0] == COMPLEX


def test_a_confident_classifier_overrules_the_grade_derived_from_the_units_found():
    """Derived from the catalogue's units (one unit simple, several general) unless the classifier, trained on
    thousands of independently written cases, gives another grade 0.7 or more (blind sets K-V: complexity
    78.6 -> 85.8 % on average)."""
    unsure = {"simple": 0.5, "general": 0.3, "complex": 0.2}
    assert Triage.complexity_of(unsure, ("gongan",), derived=True) == (GENERAL, 0.85)
    assert Triage.complexity_of(unsure, (), derived=True) == (SIMPLE, 0.85)
    assert Triage.complexity_of({"simple": 0.1, "general": 0.75, "complex": 0.15}, (), derived=True)[0] == GENERAL
    assert Triage.complexity_of({"simple": 0.8, "general": 0.15, "complex": 0.05}, ("gongan",),
                                derived=True)[0] == SIMPLE
    assert Triage.complexity_of({"simple": 0.05, "general": 0.2, "complex": 0.75}, ("gongan",),
                                derived=True)[0] == COMPLEX
    just_under = {"simple": 0.69, "general": 0.21, "complex": 0.1}
    assert Triage.complexity_of(just_under, ("gongan",), derived=True)[0] == GENERAL
    # the policy's words for a complex case still decide, whatever the classifier says
    assert Triage.complexity_of({"simple": 0.9, "general": 0.05, "complex": 0.05}, ("gongan",), "没人牵头",
                                derived=True)[0] == COMPLEX


def test_no_cues_no_rule():
    assert ComplexityCues().complex_evidence("没人牵头") is None


def test_a_service_matter_alone_names_no_co_department():
    """茶叶 says who the enterprise is, 浙里办 how it applies: neither makes its unit a co-department unless the
    case names that unit."""
    text = "马金工业园这边今天上午又停电了 一点通知都没有 烘干机里的茶叶全坏了"
    plain = full_triage({"gongdian": 0.7, "nongye": 0.1}).propose(Case(text, "甲茶业公司"))
    assert ("茶叶产业服务", "nongye") in plain.matters  # found, and shown to the officer
    assert (plain.department, plain.co_departments, plain.complexity) == ("gongdian", (), SIMPLE)
    named = full_triage({"gongdian": 0.7, "nongye": 0.1}).propose(
        Case("马金工业园又停电了，烘干机里的茶叶全坏了，农业部门说茶叶损失补助要供电所出证明", "甲茶业公司"))
    assert "nongye" in named.co_departments and named.complexity == GENERAL


def test_the_unit_asked_to_act_leads_only_when_the_matter_is_its_own():
    """"希望经信部门和供电公司研究临时供电方案": asked first, but the capacity increase is the power company's."""
    case = Case("企业新上一条生产线，需增加用电容量800千伏安，供电公司答复变电站容量不足要明年才能增容，"
                "希望经信部门和供电公司研究先行的临时供电方案。", "甲公司")
    assert full_triage({"jingxin": 0.5, "gongdian": 0.4}).propose(case).department == "gongdian"
    # asked, and no matter named at all: the unit asked leads
    asked = Case("我们这个事情说不清归谁，希望人社部门来厂里看一下", "甲公司")
    assert full_triage({"yingshang": 0.5, "renshe": 0.1}).propose(asked).department == "renshe"


def test_the_one_unit_named_leads_when_no_matter_is_named():
    case = Case("上个月应急局来检查说我们喷漆房要整改 该换的都换了 整改报告也交上去了 半个月了没人来复查", "甲公司")
    assert full_triage({"shengtai": 0.6, "yingji": 0.3}).propose(case).department == "yingji"


@pytest.mark.parametrize("framed, matter", [
    # a colon ends the lead-in: a speech verb further on is the matter's ("检查时提出")
    ("走访桐村镇某某砂石有限公司：企业矿区应急预案修订后没能备案，应急管理局检查时提出要整改。",
     "企业矿区应急预案修订后没能备案应急管理局检查时提出要整改"),
    ("县人大代表某某反映：中村乡沿溪的几家企业被淹。", "中村乡沿溪的几家企业被淹"),
    ("我们厂的事：行车没人来检", "我们厂的事行车没人来检"),  # no frame marker before the colon: all matter
])
def test_a_colon_ends_the_lead_in(framed, matter):
    assert matter_text(framed) == matter


@pytest.mark.parametrize("name, text, screening", [
    ("潘女士（个人）", "来电人潘女士反映：给孩子报的校外培训机构突然关门，要求帮助追回学费。", "non_business"),
    ("个人", "来电人反映其在县城一家公司上班，公司已两个月未发工资，要求帮忙讨薪。", "non_business"),
    ("王女士", "我开的小饭店办食品经营许可延续，网上一直传不上去", "accepted"),  # her own business
    ("开化县某某有限公司", "公司两个月未发工资的事情，想问劳动监察", "accepted"),  # an enterprise's name
])
def test_a_person_about_no_business_of_their_own_is_a_private_matter(name, text, screening):
    assert triage({"renshe": 0.7, "shichang": 0.2}).propose(Case(text, name)).screening == screening


def test_an_owner_s_own_words_of_another_unit_are_context_unless_it_names_the_unit():
    """On the QR page or the hotline the owner's 民宿 is who it is, not a second unit that must act; a liaison's
    note of the same words names the tourism bureau's matter as a co-department; the owner naming the unit does."""
    text = "长虹乡高田坑村一带近一个月经常停电，一天停两三次，民宿冰箱里的食材坏了好几次，客人投诉很大。"
    own = full_triage({"gongdian": 0.7}).propose(Case(text, "某某民宿", channel="qrcode"))
    assert (own.department, own.co_departments, own.complexity) == ("gongdian", (), SIMPLE)
    noted = full_triage({"gongdian": 0.7}).propose(Case(text, "某某民宿", channel="liaison"))
    assert (noted.department, noted.co_departments, noted.complexity) == ("gongdian", ("wenlv",), GENERAL)
    named = full_triage({"gongdian": 0.7}).propose(
        Case(text + "文旅局说民宿等级评定要看投诉，希望文旅局也帮忙协调。", "某某民宿", channel="hotline"))
    assert {named.department, *named.co_departments} == {"gongdian", "wenlv"} and named.complexity == GENERAL


def test_the_coordinating_unit_is_no_co_department_unless_named():
    text = "企业反映营商环境不好，办电增容一直拖着，希望协调解决。"
    proposal = full_triage({"gongdian": 0.7}).propose(Case(text, "甲公司", channel="liaison"))
    assert "yingshang" not in proposal.co_departments
    named = full_triage({"gongdian": 0.7}).propose(Case(text + "请营商办牵头协调。", "甲公司", channel="liaison"))
    assert "yingshang" in named.co_departments
