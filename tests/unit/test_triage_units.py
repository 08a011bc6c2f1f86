"""services.triage.units: the units a case names in the enterprise's own words, and the one it asks to act;
review.awaiting_fields / supplemented_content: an unclear case waits for detail, then reads with it."""

from datetime import UTC, datetime

from services.triage.framing import normalise
from services.triage.review import awaiting_fields, supplemented_content
from services.triage.units import load_unit_names
from shared.org import load_organisation

UNITS = load_unit_names(load_organisation())


def test_units_named_in_everyday_words():
    text = normalise("想办特种行业许可证 派出所说要先有消防意见 消防那边又说民宿不用出 文旅说他们只管评级")
    assert UNITS.mentioned(text) == ["gongan", "zhujian", "wenlv"]
    assert UNITS.addressed(text) == []
    # names written one after another count together ("水利、生态环境、农业农村部门")
    assert UNITS.mentioned(normalise("水利、生态环境、农业农村部门意见不一")) == ["shuili", "shengtai", "nongye"]
    # a bare core word that is not a unit where it stands ("教育培训") is no mention
    assert UNITS.mentioned(normalise("员工的教育培训经费怎么列支")) == []
    # a four-character core is a unit wherever it stands; a bare core at the end of the text too
    assert UNITS.mentioned(normalise("县里一个月内环保、安监、消防、市场监管先后来检查5次")) == [
        "shengtai", "yingji", "zhujian", "shichang"]
    assert UNITS.mentioned(normalise("学校说要等教育局拨 教育局说要等财政")) == ["jiaoyu", "caizheng"]
    assert UNITS.mentioned(normalise("交通部门说要审批，规划部门说要先调整总平面")) == ["jiaotong", "ziranziyuan"]


def test_the_unit_a_request_is_addressed_to():
    assert UNITS.addressed(normalise("希望商务部门会同财政部门明确今年的补助标准")) == ["shangwu"]
    assert UNITS.addressed(normalise("负责人不清楚如何延续，希望水利部门上门指导")) == ["shuili"]
    assert UNITS.addressed(normalise("企业希望营商办牵头组织各部门联合踏勘")) == ["yingshang"]
    assert UNITS.addressed(normalise("找财政说在走流程 都半年了")) == []  # what they did, not whom they ask


def test_an_unclear_case_waits_for_detail_from_when_it_was_asked():
    now = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    assert awaiting_fields("unclear", now) == {"awaiting_detail": True, "detail_asked_at": now}
    assert awaiting_fields("accepted", now) == {"awaiting_detail": False}
    assert (supplemented_content("有点问题想反映", " 食品生产许可证到期 ")
            == "有点问题想反映\n补充说明：食品生产许可证到期")
    assert supplemented_content("", "食品生产许可证到期") == "食品生产许可证到期"
