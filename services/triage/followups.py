"""Follow-ups, recurrences and shared problems, pure: is a new case the same problem as an earlier one?

Wording is no guide (a hotline summary of what an owner typed on the QR page shares few words with it), so the
same problem is recognised from who reports it and what it is about: the enterprise's identity (credit code,
masked phone, normalised name, intake's enterprise id), the same matter of the catalogue or the same unit, and
the same region, within a window. The earlier case still open: the new one is a duplicate (a follow-up, 催办).
The earlier case closed (销号): the new one is a recurrence, a new case linked to it. Another enterprise's open
case about the same thing at the same place (a road, a park's power line) is a duplicate too.
"""

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from services.triage.framing import normalise
from services.triage.link_model import LinkModel, evidence, load_link_model

# Words that say the enterprise reported this very problem before (not merely that something is still undone, which
# the first report of a problem says too: "申请备案后一直没有答复").
REPORTED_BEFORE_WORDS = [
    "上次反映", "上回反映", "之前反映", "此前反映", "前期反映", "早前反映", "反映过", "扫码反映", "平台上反映",
    "在平台反映", "再次反映", "再次来电", "又来电", "二次来电", "多次来电", "多次反映", "重复反映", "催办",
    "上个月反映", "上周反映", "前几天反映", "已经报到", "已报到", "已经通过", "之前问", "之前提", "之前打过",
    "此前已", "已多次", "上次说", "上回说", "上次来", "上次打", "上次提", "上报过", "报过", "上月反映", "反映后",
    "提到的", "提过的", "平台上说过", "已经说过", "已说过", "平台上问过", "平台上咨询", "又提到", "再次提到",
    # "本月初在二维码平台提交过变压器增容的诉求", "在平台留言过"
    "提交过[^，。；]{0,12}诉求", "(?:扫码|二维码|平台)[^，。；]{0,6}(?:提交|留言)过",
    # "5月份反映的储配站搬迁问题", "三月中旬在平台上问过", "5月初在平台上咨询的"
    "[0-9一二三四五六七八九十]月(?:份|初|中旬|底|下旬|上旬)?(?:在[^，。；]{0,10})?(?:反映|提|问|咨询|说)(?:过|的)",
    # a time before, then a word of telling (not of applying: "去年申报的补助" is a first report): "年前反映的开业证照
    # 问题", "上月经市平台反映的", "市平台三月份就交办了", "二月份联络员来厂里记的那个"
    "(?:上次|上回|年前|年初|节前|节后|上月|上个月|上周|上礼拜|上星期|[0-9一二三四五六七八九十]+月份?[初中底]?旬?|去年|前段时间|之前|当时|"
    "前些天|前几天|[一两二三四五六七八九十几半]+个?多?(?:月|星期|礼拜|周)前)[^，。；]{0,12}?(?<!申)"
    "(?:反映|交办|提的|说的|说过|提过|提了|记的|问的|来电(?!人)|打过(?!去)|转下来|转过来|转来的|报上去)",
    "二次交办", "再次交办", "打过热线", "打过12345", "会上说", "半月谈上说", "上说的",
    "回访[^，。；：:]{0,12}[：:，,][^，。；]{0,8}(?:称|反映的|说)",
]
EXPLICIT_FOLLOW_UP = re.compile("|".join(REPORTED_BEFORE_WORDS))
# Words of a follow-up: the enterprise says it asked before (above), or that nothing happened since.
FOLLOW_UP = re.compile("|".join([
    *REPORTED_BEFORE_WORDS, "提过", "说过",
    "还没解决", "还没有解决", "仍未解决", "一直未解决", "一直没解决", "至今未", "到现在还", "到现在也", "仍然没有",
    "还是没有", "还没有动静", "没有下文", "没有回音", "没人回复", "没有答复", "没人处理", "催一下",
    "进展如何", "进度如何", "办得怎么样", "还是没(?:弄|办|批|下来)",
    # said before, through any channel ("之前问的", "此前已在平台反映", "已经报到市里平台", "前些天在平台反映")
    "上次", "上回", "之前说", "之前已", "此前", "前些天", "前几天在", "早前", "多次找", "再次", "仍在问", "还在问",
    "还是问", "问过", "没动静", "来看过了", "还是卡着", "还卡着", "咨询过", "没下文", "怎么样了", "得怎么样", "仍未",
    # nothing happened since ("还没人回我", "说好来现场看的 到现在没人来")
    "还没人回", "没人回我", "还没有回复", "还没回复", "说好", "到现在没", "至今没有人", "至今没人", "至今没有答复",
    "没人联系", "没有人联系", "没人对接", "没有人对接",
    # it came back ("又堵了", "又开始了", "又被盗", "又全是坑了")
    "又开始", "又被", "又堵", "又坏", "又不稳", "又不行", "又出现", "又停", "又全是", "又陷", "又烧", "又漫", "又发生",
    "又来了", "又这样", "又下载不了",
    # still waiting since it was reported ("已经等了一个多月了", "转过来都三个多星期了", "反映后一个多月仍没有结果")
    "等了", "个多星期了", "个多月了", "仍没有结果", "还是没结果", "还没结果", "没有结果",
]))
# The trouble came back ("电压又掉下去了", "又一下子高出来一万多", "又淹了", "又塌了一块", "跟年前一模一样"):
# 又 before a word of trouble, or "the same as before".
CAME_BACK = re.compile("又(?:一下子|开始|是|再|自动)?"
                       "(?:掉|高|涨|低|坏|塌|淹|堵|停|漏|断|跳|臭|冒|出|不|没|被|陷|烧|漫|多了|来了|降|搭|盖|堆)|"
                       "(?:跟|和)(?:上次|上回|年前|之前|以前|去年)(?:一模)?一样")
# Same enterprise: a follow-up of the same unit shares little wording; without a follow-up word it must share more.
SAME_UNIT_FOLLOW_UP = 0.0
SAME_UNIT_SIMILARITY = 0.12
SAME_ENTERPRISE_SIMILARITY = 0.35
# Another enterprise: the same place, the same unit and nearly the same wording, or a matter about something
# enterprises share (a road, a park's power line) named by both and some of the same wording. Two enterprises'
# own applications (a capacity increase, a permit) at one place are two cases however alike.
OTHER_SIMILARITY = 0.7
# The same enterprise and matter, some common wording, but no word of a follow-up: a link an officer confirms
# (below the review threshold, so the case is proposed as new and waits for the officer with the link named).
DOUBTFUL_SIMILARITY = 0.2
# Within this many days the same enterprise telling the same matter again (through another channel, in other
# words, without saying it asked before) is the same problem; later, it is usually a new one of that matter.
RECENT_DAYS = 15
# ... and says it in some of the same words: one enterprise often raises two problems of one matter within days
# (a 民宿's fire approval and its sewage; an exporter's trade-fair subsidy and its export tax refund).
RECENT_SAME_MATTER_SIMILARITY = 0.2
DOUBTFUL = 0.5
OTHER_SHARED_MATTER_SIMILARITY = 0.3
# Another enterprise naming the same shared thing (data/shared_things.yaml) at the same place, to the same unit:
# one problem when told within this many days (an outage, a broken road); later it is usually a new one.
SHARED_THING_DAYS = 14
# The enterprise says it reported the problem before, but names it in other words than its open case: that
# case, when registered within this many days.
REPORTED_BEFORE_DAYS = 90
# ... but when both name matters and none is common (nor the unit, nor a shared thing), only a recent one: an
# enterprise (or a chamber relaying for many) that says it reported "before" may mean any of its earlier cases.
OTHER_MATTERS_REPORTED_DAYS = 30

NAME_NOISE = re.compile(r"^(浙江省|浙江|衢州市|衢州|开化县|开化)|"
                        r"(股份有限公司|有限责任公司|有限公司|分公司|公司|总厂|厂|"
                        r"专业合作社|合作社|家庭农场|经营部|商行|工作室|门市部)$")


# A caller's personal name, not an enterprise's ("个人", "王女士", "潘女士（个人）"), as core_name leaves it.
PERSON = re.compile(r"个人|^(匿名|市民|群众|来电人|未知|无)$|^.{1,3}(先生|女士|师傅|老板|总)$")


def core_name(name: str) -> str:
    """开化县某某纸业有限公司, 开化某某纸业, （开化）某某纸业公司 -> 某某纸业."""
    text = normalise(unicodedata.normalize("NFKC", name or ""))
    for _ in range(3):
        shorter = NAME_NOISE.sub("", text)
        if shorter == text:
            break
        text = shorter
    return text


def phone_key(phone: str | None) -> str | None:
    """Masked or not, a mobile is known by its first 3 and last 4 digits (what public events keep)."""
    if not phone:
        return None
    digits = re.sub(r"[^\d*]", "", phone)
    plain = digits.replace("*", "")
    if len(digits) >= 11 and len(plain) >= 7 and digits[0] == "1":
        return digits[:3] + digits[-4:]
    return None


def person_name(name: str) -> bool:
    return PERSON.search(core_name(name)) is not None


def identity_keys(name: str, uscc: str | None = None, phone: str | None = None,
                  enterprise_id: str | None = None) -> tuple[str, ...]:
    """Everything that says who the enterprise is; two cases sharing any key are the same enterprise."""
    keys = []
    if uscc and len(uscc.strip()) >= 15:
        keys.append("u:" + uscc.strip().upper())
    if enterprise_id:
        keys.append("i:" + enterprise_id)
    core = core_name(name)
    if len(core) >= 2 and not PERSON.search(core):  # "个人", "王女士": a caller, not an enterprise's name
        keys.append("n:" + core)
    phone = phone_key(phone)
    if phone:
        keys.append("p:" + phone)
    return tuple(keys)


# A reporter who speaks for many enterprises (a deputy, a chamber, a chain's lead unit, a liaison station, a
# forum): that it "reported before" says which of its problems only when the matter or the unit is the same.
COLLECTIVE = re.compile("代表|委员|协会|商会|联络站|产业链|链长|局|办公室|政府|乡镇|半月谈|工商联|联合会|管委会|专班")
# A reporter who is no enterprise: one of those, or a person.
RELAYER = re.compile(f"{COLLECTIVE.pattern}|个人|女士|先生")
NAMED_ENTERPRISE = re.compile(r"(?:浙江|开化县|开化)[\u4e00-\u9fff]{2,10}?"
                              r"(?:股份有限公司|有限责任公司|有限公司|专业合作社|家庭农场|经营部|商行)")


def relayed_identity(reporter: str, content: str) -> tuple[str, ...]:
    """When a deputy, a chamber or a chain's lead unit relays a case, the enterprises the text names are who
    reports it ("县人大代表反映：桐村镇开化县某某竹木有限公司老厂区…"): their name keys."""
    if not RELAYER.search(reporter or "") and core_name(reporter) != "":
        return ()
    cores = (core_name(name) for name in NAMED_ENTERPRISE.findall(content))
    return tuple(dict.fromkeys(f"n:{core}" for core in cores if len(core) >= 2 and not PERSON.search(core)))


def _keys(identity: Iterable[str], kind: str) -> set[str]:
    return {k[2:] for k in identity if k.startswith(kind)}


def _names_agree(a: set[str], b: set[str]) -> bool:
    """Two sets of core names that may be one enterprise: one inside the other, or mostly the same characters."""
    for x in a:
        for y in b:
            if x in y or y in x or len(set(x) & set(y)) / len(set(x) | set(y)) >= 0.6:
                return True
    return False


def same_enterprise(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two cases' identity keys name one enterprise. A credit code, intake's enterprise id or the
    normalised name in common is enough, unless both carry credit codes and they differ; a phone in common only
    when the names do not contradict it (an accountant or an agent may report for several enterprises)."""
    a, b = tuple(a), tuple(b)
    ua, ub = _keys(a, "u:"), _keys(b, "u:")
    if ua and ub:
        return bool(ua & ub)
    if _keys(a, "i:") & _keys(b, "i:") or _keys(a, "n:") & _keys(b, "n:"):
        return True
    if _keys(a, "p:") & _keys(b, "p:"):
        na, nb = _keys(a, "n:"), _keys(b, "n:")
        return not (na and nb) or _names_agree(na, nb)
    return False


# The report says it is another problem ("本次企业提出新的问题", "企业另提一事"), or a liaison's note tells how an
# earlier one went and then what the enterprise raises this time ("…已办好，企业表示感谢。企业本次反映：…",
# "企业新反映", "反映新情况"): whatever it says of earlier reports, it is no follow-up. In the scored sets: 25 such
# reports, none a follow-up of the same enterprise (one joined other enterprises' shared problem).
NEW_PROBLEM = re.compile("新的问题|新问题|另提一事|另提了|另外一件事|另一个问题|另一件事|新的诉求|新诉求|另外反映|"
                         "企业本次|本次(?:企业)?(?:反映|提出|需交办|着急|谈到)|(?:企业|公司|厂方|厂里)新反映|"
                         "反映了?新的?情况|另外(?:企业)?提出")


def _own_report(content: str) -> str | None:
    """The report's own words (what others said left out), or None when it says it brings another problem."""
    text = OTHERS_SAID.sub("", normalise(content))
    return None if NEW_PROBLEM.search(text) else text


def is_follow_up(content: str) -> bool:
    text = _own_report(content)
    return text is not None and (FOLLOW_UP.search(text) is not None or CAME_BACK.search(text) is not None)


# Words of a report that joins what other enterprises reported ("…也反映", "和前面那家用的是同一台变压器").
ALSO = re.compile("也反映|同样反映|也在反映|和前面那家|跟前面那家|也是这个问题|同村几家|同村的几家|一样的情况|"
                  # it was told together with others ("好几家一起跟联络员说了", "人大代表帮我们几家一起反映过")
                  "一起(?:跟|向|找|去)?[\u4e00-\u9fff]{0,5}?(?:反映|说了|说过|提了|提过)|大家都反映|几家一起|几家都(?:说过|反映|提)|"
                  "也在等|"
                  # others reported it before ("听说有企业反映过", "年前就听说有人反映了", "前面已经有企业反映过")
                  "有人反映|有企业反映|别的企业反映|其他企业反映|别家反映|有别的企业")
# What others did, not the enterprise: "听说有企业反映过" is no "反映过" of its own; "商务局说已经报到县里" is the
# bureau's report, not the enterprise's.
OTHERS_SAID = re.compile("(?:听说|有人|有企业|别的企业|其他企业|别家)[^，。；,;]{0,6}?反映过?|"
                         "(?:局|部门|单位|窗口|镇里|乡里|村里)[^，。；,;]{0,4}?说[^，。；,;]{0,3}?已经?报")
ALSO_DAYS = 30


def says_also(content: str) -> bool:
    return ALSO.search(normalise(content)) is not None


def says_reported_before(content: str) -> bool:
    text = _own_report(content)
    return text is not None and EXPLICIT_FOLLOW_UP.search(text) is not None


def load_shared_things(path: Path | None = None) -> dict[str, re.Pattern[str]]:
    """data/shared_things.yaml: name -> the words naming a thing many enterprises at one place share."""
    if path is None:
        text = resources.files("services.triage.data").joinpath("shared_things.yaml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return {name: re.compile(str(words)) for name, words in (yaml.safe_load(text) or {}).items()}


SHARED_THINGS = load_shared_things()
LINK_MODEL = load_link_model()


# A place below the region (a village, a road, a park, a bridge): two reports naming different ones are two places.
LOCALITY = re.compile(r"[\u4e00-\u9fff]{1,3}?(?:工业功能区|工业园区|工业区|园区|小区|社区|"
                      r"村(?!民|委|里|集体|干部|两委)|路|街|桥|坑口|大道)")


# "那座小石桥" -> 小石桥, "华埠镇封家村" -> 封家村; words of a sentence are no place's ("昨晚爆裂路面" -> 路面,
# "会上反映村里" -> 村里,
# "被告知园区" -> 园区, "了解园区" -> 园区)
PLACE_NOISE = re.compile("^.*(?:了解|[的个那这一座条些段在到从镇乡县市晚午说看映中了过裂是有和与及"
                         "往向去来被把将给划批为对知因但称示于而就也还又让使要想等由告])")
GENERIC_ENDINGS = ("十字路", "道路", "马路", "公路", "小路", "线路", "电路", "进厂路", "修路")
GENERIC_PLACES = frozenset({"道路", "马路", "公路", "十字路", "小路", "路", "桥", "村", "园区", "小区", "社区", "街",
                            "工业区", "大道", "进厂路", "出路", "修路", "网路", "线路", "电路", "思路", "门路",
                            "工业园区", "工业功能区", "功能区",
                            "老桥", "危桥", "小桥", "石桥", "新桥", "大桥", "老路", "新路", "老街"})


def localities(content: str) -> tuple[str, ...]:
    """The named places below the region (桃源村, 园区路, 池淮工业区), not generic words (道路, 十字路口)."""
    found = (PLACE_NOISE.sub("", p) for p in LOCALITY.findall(normalise(content)))
    return tuple(dict.fromkeys(p for p in found if len(p) >= 2 and p not in GENERIC_PLACES
                               and not p.endswith(GENERIC_ENDINGS)))


def _places_agree(a: Iterable[str], b: Iterable[str]) -> bool:
    """Whether two reports may be about one place: one names none, or they name the same one (mostly the same
    characters: 池淮工业区 and 池淮镇工业区)."""
    a, b = tuple(a), tuple(b)
    if not a or not b:
        return True
    return any(x in y or y in x or len(set(x) & set(y)) / len(set(x) | set(y)) >= 0.6 for x in a for y in b)


def shared_things(content: str, table: Mapping[str, re.Pattern[str]] = SHARED_THINGS) -> tuple[str, ...]:
    """The shared things a case names (its power supply, the road to it...)."""
    text = normalise(content)
    return tuple(name for name, words in table.items() if words.search(text))


@dataclass(frozen=True)
class Probe:
    """The new case, as the linking sees it."""

    identity: tuple[str, ...]
    department: str | None
    region: str | None
    matters: tuple[str, ...] = ()
    follow_up: bool = False
    shared_matters: tuple[str, ...] = ()  # its matters about something enterprises share (a road, a supply)
    things: tuple[str, ...] = ()  # the shared things it names (shared_things)
    reported_before: bool = False  # it says the enterprise reported this before (says_reported_before)
    places: tuple[str, ...] = ()  # the places below the region it names (localities)
    says_also: bool = False  # it says it joins what others reported ("也反映", "同村几家") (says_also)
    co_departments: tuple[str, ...] = ()
    collective: bool = False  # reported by a forum, a chamber, a deputy (COLLECTIVE), not one enterprise


@dataclass(frozen=True)
class Earlier:
    """An earlier case that the new one may repeat."""

    case_id: str
    identity: tuple[str, ...]
    department: str | None
    region: str | None
    matters: tuple[str, ...] = ()
    closed: bool = False
    similarity: float = 0.0  # of the two matter texts (IDF-weighted bigram cosine)
    co_departments: tuple[str, ...] = field(default=())
    age_days: float | None = None  # how long before the new case it was registered
    things: tuple[str, ...] = ()
    places: tuple[str, ...] = ()


@dataclass(frozen=True)
class Link:
    case_id: str
    kind: str  # "duplicate" (the earlier case is open) or "recurrence" (it was closed)
    same_enterprise: bool
    confidence: float
    why: str  # Chinese, for the officer


def _same_problem(new: Probe, old: Earlier) -> tuple[float, str] | None:
    """(strength, why) when `old` is the same problem as `new`, else None."""
    same = same_enterprise(new.identity, old.identity)
    shared = set(new.matters) & set(old.matters)
    things = set(new.things) & set(old.things)
    same_unit = new.department is not None and new.department == old.department
    if new.region and old.region and new.region != old.region and not shared:
        return None  # another place: another problem
    if same:
        return _same_enterprise(new, old, shared, things, same_unit)
    if _joins_collective_report(new, old, shared, things, same_unit):
        return 0.8 + min(old.similarity, 0.2) / 10, "企业说明此前已由半月谈、代表、商会或产业链等一并反映"
    if old.closed or not (new.region and new.region == old.region):
        return None
    common = shared & set(new.shared_matters)
    recent = old.age_days is not None and old.age_days <= SHARED_THING_DAYS
    alike = old.similarity >= OTHER_SIMILARITY or (common and old.similarity >= OTHER_SHARED_MATTER_SIMILARITY)
    if same_unit and alike:
        return 0.7 + min(old.similarity - OTHER_SHARED_MATTER_SIMILARITY, 0.2), "不同企业反映同一地点的同一问题"
    if recent and things and (same_unit or common) and _places_agree(new.places, old.places):
        # one outage, one broken road, one crossroads: told by each enterprise it hurts, in its own words
        return 0.75 + min(old.similarity, 0.2) / 10, f"不同企业近期反映同一地点的同一{'、'.join(sorted(things))}问题"
    if recent and common and old.similarity >= OTHER_SHARED_MATTER_SIMILARITY:  # the units read it differently
        return 0.72 + min(old.similarity - OTHER_SHARED_MATTER_SIMILARITY, 0.2) / 10, "不同企业反映同一地点的同一问题"
    if new.says_also and (same_unit or shared) and old.age_days is not None and old.age_days <= ALSO_DAYS:
        # "…也反映，和前面那家合作社用的是同一台变压器": the report itself says it joins another's
        return 0.8 + min(old.similarity, 0.2) / 10, "不同企业反映同一问题（说明与他人反映的相同）"
    return None


def _joins_collective_report(new: Probe, old: Earlier, shared: set[str], things: set[str], same_unit: bool) -> bool:
    """An enterprise that says its problem was told before, or together with others, and an open recent report of
    a forum, a deputy, a chamber or a chain's lead unit about the same matter, unit or shared thing: that report
    (a collective report names the problem of several enterprises, often none of them by its full name)."""
    if old.closed or old.age_days is None or old.age_days > REPORTED_BEFORE_DAYS:
        return False
    if not (new.reported_before or new.says_also) or not (shared or things or same_unit):
        return False
    if new.region and old.region and new.region != old.region:
        return False
    return any(COLLECTIVE.search(name) for name in _keys(old.identity, "n:"))


def _same_enterprise(new: Probe, old: Earlier, shared: set[str], things: set[str],
                     same_unit: bool) -> tuple[float, str] | None:
    units_of_old = {old.department, *old.co_departments}
    # An enterprise raises several problems about related matters (a 民宿's licences, an exporter's
    # subsidies): without words saying it asked before, only much of the same wording makes it the same one.
    closeness = min(old.similarity, 0.3) / 10 + (0.02 if same_unit else 0.0) + (0.01 if things else 0.0)
    recent = old.age_days is not None and old.age_days <= RECENT_DAYS
    if new.reported_before and (shared or things or same_unit):
        return 0.93 + closeness, "同一企业再次反映此前的问题"
    if new.matters and old.matters and not shared and not same_unit and not things:
        if new.reported_before and not new.collective and old.age_days is not None \
                and old.age_days <= OTHER_MATTERS_REPORTED_DAYS:
            return 0.8 + closeness, "同一企业说明此前反映过（事项表述不同）"
        return None  # both name matters, none in common, other units: another problem of the enterprise
    if (shared or things) and new.follow_up:
        return 0.93 + closeness, "同一企业就同一事项再次反映"
    if same_unit and new.follow_up and old.similarity >= SAME_UNIT_FOLLOW_UP:
        return 0.88 + closeness, "同一企业就同一单位的问题再次反映"
    if new.reported_before and not new.collective and old.age_days is not None \
            and old.age_days <= REPORTED_BEFORE_DAYS:
        return 0.8 + closeness, "同一企业说明此前反映过（事项表述不同）"
    if recent and shared and (things or old.similarity >= RECENT_SAME_MATTER_SIMILARITY):
        return 0.86 + closeness, "同一企业近期就同一事项再次反映"
    if recent and same_unit and old.similarity >= SAME_UNIT_SIMILARITY:
        return 0.8 + closeness, "同一企业近期就同一单位的问题再次反映"
    if (shared or same_unit) and old.similarity >= SAME_ENTERPRISE_SIMILARITY:
        return 0.8 + closeness, "同一企业、同一事项、表述相近"
    if shared and old.similarity >= DOUBTFUL_SIMILARITY:
        return DOUBTFUL + closeness, "同一企业、同一事项，但未说明此前反映过"
    if old.similarity >= SAME_ENTERPRISE_SIMILARITY and (new.department is None or new.department in units_of_old):
        return 0.75 + min(old.similarity - SAME_ENTERPRISE_SIMILARITY, 0.2), "同一企业、表述相近"
    return None


def link(new: Probe, earlier: Iterable[Earlier], model: LinkModel | None = LINK_MODEL) -> Link | None:
    """The earlier case the new one repeats or brings back, if any. The rules decide when they are sure of one
    (or doubtful of one: an officer looks); when they find nothing, the fitted model (link_model.py) may still
    find one it holds likely, never one the rules rule out. An open case before a closed one at equal strength
    (a follow-up of a recurrence belongs to the recurrence)."""
    earlier = list(earlier)
    best: tuple[float, int, Earlier, str] | None = None
    for old in earlier:
        found = _same_problem(new, old)
        if found is not None and (best is None or (round(found[0], 3), 0 if old.closed else 1) > best[:2]):
            best = (round(found[0], 3), 0 if old.closed else 1, old, found[1])
    if best is not None or model is None:
        return _link(new, best[2], best[0], best[3]) if best is not None else None
    for old in earlier:
        if ruled_out(new, old):
            continue
        same = same_enterprise(new.identity, old.identity)
        seen = evidence(new, old)
        likely = model.probability(seen, same)
        if likely >= model.threshold and (best is None or (round(likely, 3), 0 if old.closed else 1) > best[:2]):
            best = (round(likely, 3), 0 if old.closed else 1, old, _why(seen, same))
    return _link(new, best[2], _confidence(best[0], model), best[3]) if best is not None else None


def _link(new: Probe, old: Earlier, confidence: float, why: str) -> Link:
    same = same_enterprise(new.identity, old.identity)
    return Link(old.case_id, "recurrence" if old.closed else "duplicate", same, round(min(confidence, 0.99), 2), why)


def ruled_out(new: Probe, old: Earlier) -> bool:
    """Never the same problem: another region and no matter in common; another enterprise's closed case (a
    recurrence is the same enterprise's); another enterprise at another named place."""
    if new.region and old.region and new.region != old.region and not set(new.matters) & set(old.matters):
        return True
    if same_enterprise(new.identity, old.identity):
        return False
    return old.closed or not _places_agree(new.places, old.places)


def _confidence(probability: float, model: LinkModel) -> float:
    """The model's probability (at least its threshold) as the link's confidence: 0.7 and up, linked without an
    officer (the review threshold is 0.6)."""
    return 0.7 + 0.29 * (probability - model.threshold) / (1 - model.threshold)


def _why(seen: dict[str, float], same: bool) -> str:
    """What agreed, for the officer, when the rules named no reason of their own."""
    parts = ["同一企业" if same else "不同企业"]
    parts += [text for name, text in (("matters", "同一事项"), ("unit", "同一承办单位"), ("region", "同一属地"),
                                      ("places", "同一地点"), ("follow_up", "有再次反映的表述")) if seen[name]]
    if seen["similarity"] >= 0.2:
        parts.append("表述相近")
    return "、".join(parts) + "（综合判断）"
