"""services.triage.followups: the same problem by who reports it and what it is about, not by its wording."""

import pytest

from services.triage.followups import (Earlier, Probe, core_name, identity_keys, is_follow_up, link, localities,
                                      phone_key, relayed_identity, same_enterprise, says_also, says_reported_before,
                                      shared_things)

QR = identity_keys("开化县某某纸业有限公司", "91330824MA2XXXXXX1", "138****1234")
HOTLINE = identity_keys("开化某某纸业", None, "138****1234")  # the operator wrote the name short, no credit code


def test_identity_from_name_phone_and_code():
    assert core_name("开化县某某纸业有限公司") == core_name("（开化）某某纸业公司") == "某某纸业"
    assert phone_key("13800001234") == phone_key("138****1234") == "1381234"
    assert phone_key("0570-1234") is None
    assert same_enterprise(QR, HOTLINE)
    assert not same_enterprise(QR, identity_keys("开化县某某纸业有限公司", "91330824MA2YYYYYY2", None))
    # one phone (an accountant's) for two enterprises whose names disagree: two enterprises
    assert not same_enterprise(identity_keys("开化县甲乙纸业有限公司", None, "13800001234"),
                               identity_keys("开化县丙丁茶业有限公司", None, "13800001234"))


def test_follow_up_words():
    assert is_follow_up("上次反映的污水纳管问题到现在还没解决")
    assert is_follow_up("来电人反映：之前扫码反映过增容的事，没人回复")
    assert not is_follow_up("厂区需要电力增容")
    assert says_reported_before("公司本月初在二维码平台提交过变压器增容的诉求，到现在供电所还没有派人勘察")
    assert is_follow_up("屋顶光伏的备案还是没弄下来，这个月又提交了一次")
    assert not says_reported_before("公司准备提交环评报告，想问需要哪些材料")


def earlier(case_id="c1", identity=QR, department="gongdian", region="majin", matters=("电力增容",), closed=False,
            similarity=0.05, age_days=None) -> Earlier:
    return Earlier(case_id, identity, department, region, matters, closed, similarity, age_days=age_days)


def test_follow_up_on_an_open_case_is_a_duplicate_of_it():
    new = Probe(HOTLINE, "gongdian", "majin", ("电力增容",), follow_up=True)
    found = link(new, [earlier()])
    assert found is not None and (found.case_id, found.kind, found.same_enterprise) == ("c1", "duplicate", True)
    assert found.confidence >= 0.9


def test_same_problem_after_closure_is_a_recurrence():
    new = Probe(HOTLINE, "gongdian", "majin", ("电力增容",), follow_up=True)  # "增容的事又卡住了"
    assert link(new, [earlier(closed=True)]).kind == "recurrence"
    # an open case of the same problem wins over the closed one (a recurrence already reported)
    both = link(new, [earlier("old", closed=True), earlier("new")])
    assert (both.case_id, both.kind) == ("new", "duplicate")


def test_another_problem_of_the_same_enterprise_is_not_linked():
    new = Probe(HOTLINE, "renshe", "majin", ("企业招工用工服务",))
    assert link(new, [earlier()]) is None
    other_place = Probe(HOTLINE, "gongdian", "huabu", ())
    assert link(other_place, [earlier()]) is None


def test_a_vague_follow_up_goes_to_the_same_unit_case():
    new = Probe(QR, "gongdian", None, (), follow_up=True)
    assert link(new, [earlier(similarity=0.0)]).case_id == "c1"
    assert link(Probe(QR, "gongdian", None, ()), [earlier(similarity=0.0)]) is None  # no follow-up words


def test_other_enterprises_share_a_problem_only_about_a_shared_thing():
    someone = identity_keys("开化县另一家机械有限公司", None, "13900005678")
    road = earlier(department="jiaotong", matters=("农村公路建设与养护",), similarity=0.4)
    assert link(Probe(someone, "jiaotong", "majin", ("农村公路建设与养护",),
                      shared_matters=("农村公路建设与养护",)), [road]).kind == "duplicate"
    # two enterprises' own capacity increases at one place are two cases
    assert link(Probe(someone, "gongdian", "majin", ("电力增容",)), [earlier(similarity=0.4)]) is None
    # and never a recurrence of another enterprise's closed case
    assert link(Probe(someone, "jiaotong", "majin", ("农村公路建设与养护",), shared_matters=("农村公路建设与养护",)),
                [earlier(department="jiaotong", matters=("农村公路建设与养护",), similarity=0.9, closed=True)]) is None


def test_a_matter_named_again_long_after_without_follow_up_words_is_doubtful():
    """An enterprise raises several problems about one matter over the months, even within days (a 民宿's
    licences; an exporter's trade-fair subsidy and its export tax refund): without words saying it asked before,
    the link is doubtful (below the review threshold: an officer decides) unless the two say it in some of the
    same words or name the same shared thing."""
    new = Probe(HOTLINE, "gongdian", "majin", ("电力增容",))
    assert link(new, [earlier(similarity=0.05, age_days=40)]) is None  # little in common: another problem
    doubtful = link(new, [earlier(similarity=0.25, age_days=40)])
    assert doubtful is not None and doubtful.confidence < 0.6
    assert link(new, [earlier(similarity=0.4, age_days=40)]).confidence >= 0.8  # much of the same wording
    assert link(new, [earlier(similarity=0.25, age_days=3)]).confidence >= 0.8  # days later, some same words
    assert link(new, [earlier(similarity=0.05, age_days=3)]) is None  # days later, nothing in common
    told = link(Probe(HOTLINE, "gongdian", "majin", ("电力增容",), follow_up=True),
                [earlier(similarity=0.0, age_days=60)])
    assert told.confidence >= 0.9  # "上次问的增容" weeks later: a follow-up


def test_follow_up_words_of_other_channels_and_returns():
    assert is_follow_up("之前问的消防验收和竣工验收合并的事 还没人回我")
    assert is_follow_up("来电人反映：此前已在平台反映，乡镇称资金未到位")
    assert is_follow_up("厂门口那个排水沟又堵了 上回疏通完没两个月")
    assert is_follow_up("茶叶车间那个生产许可变更 说好来现场看的 到现在没人来")
    assert not is_follow_up("我们民宿想办特种行业许可证 派出所说要先有消防意见 消防那边又说民宿不用出")


def test_other_enterprises_naming_one_shared_thing_at_one_place_within_days_are_one_problem():
    """One outage told by two enterprises in their own words (no matter or wording in common): the same place,
    the same unit, the same shared thing (data/shared_things.yaml), within 14 days; not at another named place
    of the same town, not weeks later, not to another unit."""
    first = identity_keys("开化县鑫达五金制品有限公司", None, "13800001111")
    second = identity_keys("开化县恒泰塑业有限公司", None, "13900002222")
    typed = "开发区园区路这边从昨天晚上到现在停了三次电了 机器一停料全废"
    told = "来电人反映：其公司位于开化经济开发区园区路，自7月31日晚至今园区路沿线反复停电，请求排查线路故障"
    assert shared_things(typed) == ("供电",) and shared_things(told) == ("供电",)

    def old(**kw):
        fields = dict(case_id="c-1", identity=first, department="gongdian", region="kaifaqu", similarity=0.09,
                      age_days=0.5, things=shared_things(typed), places=localities(typed))
        return Earlier(**{**fields, **kw})

    probe = Probe(second, "gongdian", "kaifaqu", things=shared_things(told), places=localities(told))
    found = link(probe, [old()])
    assert found.kind == "duplicate" and not found.same_enterprise and found.confidence >= 0.7
    assert link(probe, [old(age_days=20)]) is None
    assert link(probe, [old(department="shuiwugs")]) is None
    assert link(probe, [old(places=("桃源村",))]) is None
    assert link(probe, [old(closed=True)]) is None


def test_named_places_below_the_region():
    assert localities("华埠镇封家村通往工业点的村道") == ("封家村",)
    assert localities("那座小石桥裂了好几道缝") == ("小石桥",)
    assert localities("厂区门口的道路被压坏 十字路口天天堵") == ()
    # words of a sentence before 园区 or 村 are no place
    assert localities("申请纳管时被告知园区污水处理厂已经满负荷") == ()
    assert localities("了解园区另有多家企业也卡在这里") == ()
    assert localities("公司位于桐村，道路狭窄") == ("桐村",)


def test_saying_it_was_reported_before_links_the_enterprise_s_open_case_in_other_words():
    """"之前在平台扫码反映过" with the open case of another unit (the catalogue read the two differently): the
    same problem within 30 days; a first report that something is still unanswered is not a follow-up."""
    assert says_reported_before("之前在平台扫码反映过，至今没有人回复")
    assert not says_reported_before("向人社部门申请备案后一直没有答复")
    new = Probe(HOTLINE, "yingji", "tongcun", ("安全生产检查与隐患整改",), follow_up=True, reported_before=True)
    other_unit = earlier(department="shengtai", region="tongcun", matters=("环评审批",), similarity=0.08, age_days=4)
    assert link(new, [other_unit]).confidence >= 0.8
    assert link(new, [Earlier(**{**other_unit.__dict__, "age_days": 45})]) is None


def test_a_caller_s_personal_name_is_no_enterprise_identity():
    assert identity_keys("个人") == ()
    assert identity_keys("王女士", None, "13800001234") == ("p:1381234",)


def test_a_relayed_case_is_the_named_enterprise_s():
    """A deputy or a chain's lead unit relays: the enterprise the text names is who reports it."""
    text = "县人大代表反映：桐村镇开化县桐村众佳竹木有限公司老厂区翻建的事，企业本月已经通过市平台反映过"
    assert relayed_identity("县人大代表徐某（桐村选区）", text) == ("n:桐村众佳竹木",)
    # an enterprise reports for itself
    assert relayed_identity("开化县某某纸业有限公司", "我们和开化县桐村众佳竹木有限公司是邻居") == ()
    assert same_enterprise(relayed_identity("县人大代表", text),
                           identity_keys("开化县桐村众佳竹木有限公司", None, "13800001111"))


def test_a_report_that_says_it_joins_another_s_is_the_same_problem():
    assert says_also("茶产业链补充收集：某某茶厂也反映，和前面那家合作社用的是村里同一台变压器")
    assert not says_also("我们厂的变压器要增容")
    other = identity_keys("开化县大溪边上安茶厂", None, "13900003333")
    joined = Probe(other, "gongdian", "daxibian", says_also=True)
    assert link(joined, [earlier(region="daxibian", age_days=11)]).kind == "duplicate"
    assert link(joined, [earlier(region="daxibian", age_days=40)]) is None  # weeks later: another problem
    assert link(Probe(other, "gongdian", "daxibian"), [earlier(region="daxibian", age_days=11)]) is None


def test_the_trouble_came_back_is_a_follow_up_and_what_others_said_is_not_the_enterprise_s():
    assert is_follow_up("这两天开工了电压又掉下去了 刨床还是带不动 跟年前一模一样")
    assert is_follow_up("4月份又一下子高出来一万多 产量没变 麻烦再来查查")
    assert is_follow_up("入梅以后经开区兴业路和创业路路口又淹了")
    assert not is_follow_up("又快又好地推进项目建设")
    assert not is_follow_up("派出所说要先有消防意见 消防那边又说民宿不用出")
    # others reported it: joining them, not the enterprise's own earlier report
    heard = "路口每次下雨都是一大片积水，之前听说有企业反映过还没弄好"
    assert says_also(heard) and not says_reported_before(heard)
    # a bureau that says it reported upwards is not the enterprise reporting before
    assert not says_reported_before("奖励迟迟不到账，商务局说已经报到县里，财政局说没有收到拨付审批")
    assert says_reported_before("上次反映的污水纳管问题到现在还没解决")


def test_a_time_before_and_a_word_of_telling_say_it_was_reported_before():
    assert says_reported_before("业主称年前反映的开业证照问题，特种行业许可还没办下来")
    assert says_reported_before("企业称上月经市平台反映的排污权指标问题，目前仍无进展")
    assert says_reported_before("村道工程款 市平台三月份就交办了 到现在一分钱没给")
    assert says_reported_before("二月份联络员来厂里记的那个技改审批的事 还是各走各的")
    assert says_reported_before("市平台二次交办：企业称款项一直未退")
    # applying is no telling: the first report of a subsidy applied for last year
    assert not says_reported_before("去年申报的失业保险稳岗返还，系统显示审核通过，款项至今未到账")
    assert not says_reported_before("之前测算的金额少了四百多元，来电人认为计算有误")


def test_a_forum_s_words_of_reporting_before_link_only_its_report_of_the_same_matter_or_unit():
    forum = identity_keys("开化县钱江源亲清半月谈")
    old = Earlier("f1", forum, "shangwu", "kaifaqu", ("外贸出口扶持",), similarity=0.05, age_days=20)
    other_matter = Probe(forum, "renshe", "kaifaqu", (), reported_before=True, collective=True)
    assert link(other_matter, [old]) is None  # the forum relays many enterprises' problems
    same_unit = Probe(forum, "shangwu", "kaifaqu", (), follow_up=True, reported_before=True, collective=True)
    assert link(same_unit, [old]).case_id == "f1"
    # one enterprise saying it reported before: its open case, even two months on
    firm = Probe(HOTLINE, "renshe", "majin", (), reported_before=True)
    found = link(firm, [earlier(department="shengtai", matters=("环评审批",), age_days=70)])
    assert found is not None and found.confidence >= 0.8


def test_shared_things_in_plain_words():
    assert shared_things("往下游村那段路塌了半边 毛竹运不进来") == ("道路",)
    assert shared_things("这两天电一会有一会没的 设备报警好几次") == ("供电",)
    assert shared_things("今早自来水一点点 锅炉补水补不进去") == ("供水",)


def test_an_enterprise_joining_a_forum_s_or_deputy_s_report_is_that_report():
    forum = identity_keys("钱江源亲清半月谈（医疗健康专场）")
    report = Earlier("f1", forum, "weijian", "qinyang", ("医疗机构执业登记", "放射诊疗许可"), similarity=0.14,
                     age_days=17)
    clinic = identity_keys("开化县芹阳微笑口腔诊所", None, "139****0001")
    text = "我是上次半月谈反映口腔CT许可的那家诊所，两边到现在还是互相等对方的材料"
    assert says_reported_before(text)
    new = Probe(clinic, "weijian", "qinyang", ("医疗机构执业登记",), follow_up=True, reported_before=True)
    assert link(new, [report]).case_id == "f1"
    assert says_also("去年人大代表帮我们几家一起反映过 说是历史遗留问题")
    assert not says_also("问了几家单位，都说新的消纳场选址不归自己管")
    # the rule joins no other enterprise's own report (the fitted model, refit on twenty sets in which such
    # reports of one matter, unit and region within weeks were mostly one problem, may still)
    firm = Earlier("e1", identity_keys("开化县某某医疗器械有限公司"), "weijian", "qinyang", ("医疗机构执业登记",),
                   similarity=0.14, age_days=17)
    assert link(new, [firm], model=None) is None
    # nor the forum's report of another unit's matter, nor an old one
    assert link(new, [Earlier(**{**report.__dict__, "department": "shengtai", "matters": ("环评审批",)})]) is None
    assert link(new, [Earlier(**{**report.__dict__, "age_days": 120})]) is None


def test_words_of_a_sentence_are_no_named_place():
    assert localities("供水管道昨晚爆裂路面全是水，今天上午园区东区多家企业停水") == ()
    assert localities("县道上有一座老石拱桥，去年被鉴定为危桥") == ("老石拱桥",)
    assert localities("村头镇通往国道的老桥") == ()


def test_a_report_of_another_problem_is_no_follow_up():
    text = ("联络员回访某某茶业：企业表示新车间消防验收已经通过，对办理结果满意。"
            "本次企业提出新的问题：食品生产许可证9月到期")
    assert not is_follow_up(text) and not says_reported_before(text)
    assert not is_follow_up("联络员回访金穗米业，企业另提一事：公司承储的储备粮仓库漏雨，至今没人处理")


@pytest.mark.parametrize("text", [
    "走访某某石材公司：上次反映的电缆被盗后派出所加强了夜间巡逻，企业表示感谢。企业本次反映：运输车进出要经过村道，村民拦车。",
    "走访某某软件公司：之前反映的基站已建好，信号问题解决。企业新反映：去年承接的系统升级项目尾款一直没付。",
    "走访某某米业：烘干房用地的事还在对接，企业表示等结果。企业反映新情况：流转的水田被农户收回去种茶。",
    "再次走访某某新材料公司，上次的事已办结。本次需交办：出口竹筷要原产地证明，不知道在哪里办。",
])
def test_a_liaison_note_of_what_is_raised_this_time_is_no_follow_up(text):
    """The note tells how an earlier report went, then what the enterprise raises this time: a new problem."""
    assert not is_follow_up(text) and not says_reported_before(text)


def test_a_follow_up_without_those_words_still_is_one():
    text = "走访某某石材公司：上次反映的电缆被盗问题，派出所只来过一次，最近又被偷了，企业希望恢复夜间巡逻。"
    assert says_reported_before(text)
