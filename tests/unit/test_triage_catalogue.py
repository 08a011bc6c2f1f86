"""services.triage.catalogue and segment: the matters catalogue, its check for the console, segmentation."""

import pytest

from services.triage.catalogue import check_catalogue, load_catalogue, parse_catalogue, unit_scores
from services.triage.framing import normalise, split_frame
from services.triage.segment import Segmenter
from shared.org import load_organisation

ORG = load_organisation()
CATALOGUE = load_catalogue(ORG)
SEGMENTER = Segmenter.build(ORG, CATALOGUE.words())


def units_of(text: str) -> list[str]:
    matter = split_frame(text).matter
    return [h.matter.unit for h in CATALOGUE.find(matter, SEGMENTER.tokens(matter))]


def test_packaged_catalogue_covers_every_unit_with_400_matters():
    assert len(CATALOGUE) >= 400
    assert CATALOGUE.units == ORG.department_codes
    from importlib import resources
    text = resources.files("shared.data").joinpath("matters.yaml").read_text(encoding="utf-8")
    assert check_catalogue(text, ORG) == []


# Expected units written by hand from the county's duties (权责清单), not computed by the code under test.
@pytest.mark.parametrize("text, unit", [
    ("我们厂的食品生产许可证快到期了，续证材料交上去一个月没消息", "shichang"),
    ("车间里两台行车今年的定期检验一直没人来做", "shichang"),
    ("公司请了两个德国工程师，外国人工作许可办不下来", "keji"),
    ("茶叶基地想建加工车间，设施农业用地怎么备案", "nongye"),
    ("危化品经营许可证到期换证，材料交了没回音", "yingji"),
    ("留抵退税申请提交两个月了还没到账", "shuiwu"),
    ("厂房的不动产权证办不下来，说缺竣工验收备案", "ziranziyuan"),
    ("新车间接电报装两个月没人来", "gongdian"),
    ("厂区门口的污水管网还没接通，废水没法纳管", "shuiwugs"),
    ("取水证到期延续一直办不好", "shuili"),
    ("员工子女入学名额不够", "jiaoyu"),
    ("通过政府采购给县里一所中学供的课桌椅，验收半年了学校说钱要等教育局拨，到现在一分没付", "caizheng"),
    ("助企联络员走访了解到：企业的排污许可证延续卡住了", "shengtai"),
])
def test_matter_names_its_unit(text, unit):
    assert units_of(text)[0] == unit


def test_framing_names_no_unit():
    # 联络员 and 产业链 are words of units; in the framing they say only how the case arrived
    assert units_of("产业链牵头单位收集的问题：企业的叉车今年年检还没做") == ["shichang"]
    assert "yingshang" not in units_of("助企联络员走访时企业反映：食品经营许可证变更地址一直没办好")


def test_two_matters_of_two_units_are_both_found_and_weighed():
    hits = CATALOGUE.find(normalise("规划许可已经拿到，施工许可却说用地手续不全"))
    assert {h.matter.unit for h in hits} == {"ziranziyuan", "zhujian"}
    scores = unit_scores(hits)
    assert set(scores) == {"ziranziyuan", "zhujian"} and all(v >= 1.0 for v in scores.values())


def test_short_word_needs_to_be_a_word_of_the_segmented_text():
    # 上市 (a listing: the financial centre's matter) is no word in 超市上市场 (a shop and a market)
    matter = normalise("超市上市场买菜的人太多")
    assert "jinrong" not in {h.matter.unit for h in CATALOGUE.find(matter, SEGMENTER.tokens(matter))}
    matter = normalise("企业准备上市，股改辅导需要帮助")
    assert "jinrong" in {h.matter.unit for h in CATALOGUE.find(matter, SEGMENTER.tokens(matter))}


def test_segmenter_keeps_domain_words_whole():
    tokens = SEGMENTER.tokens("我们的食品生产许可证和设施农业用地备案都卡住了")
    assert "食品生产许可证" in tokens and "设施农业用地备案" in tokens


GOOD = """
units:
  gongdian:
    - {name: 电力增容, kind: 公用, words: [增容, 扩容]}
"""


def test_check_catalogue_names_each_problem_in_chinese():
    problems = check_catalogue("units:\n  nowhere:\n    - {name: 某事项, kind: 奇怪, words: [x]}\n"
                               "  gongdian:\n    - {name: 供电, kind: 公用, words: [增容]}\n"
                               "  shuiwugs:\n    - {name: 供水, kind: 公用, words: [增容]}\n", ORG)
    text = "\n".join(problems)
    assert "单位代码 nowhere 不在组织机构文件中" in text
    assert "类别（kind）" in text and "“x”太短" in text
    assert "词语“增容”同时属于单位 gongdian" in text
    assert "这些单位在事项目录中没有事项" in text and "jiaoyu" in text
    assert check_catalogue("units: [", ORG)[0].startswith("事项目录不是有效的 YAML")
    assert check_catalogue("- a\n- b\n", ORG) == ["事项目录应为一个含有 units 的映射（units: 单位代码: 事项列表）"]


def test_a_county_may_edit_the_catalogue():
    catalogue = parse_catalogue(GOOD)  # without the organisation: no coverage check
    assert [h.matter.name for h in catalogue.find(normalise("新车间要扩容"))] == ["电力增容"]
    with pytest.raises(ValueError):
        parse_catalogue(GOOD.replace("公用", "其他"))


def test_a_loan_held_up_by_another_matter_is_that_matter_s():
    """"银行贷款审批因此暂停": the bank loan is the consequence; the abnormal-operations list is the matter."""
    assert units_of("漏报年报被列入经营异常名录，已补报但一直未移出，银行贷款审批因此暂停") == ["shichang"]
    assert "jinrong" in units_of("贷款下个月到期，银行说要先还后贷，想问无还本续贷")
