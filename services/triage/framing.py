"""The words of the matter: a case's text without the channel's framing ("来电人反映：", "助企联络员走访时企业反映",
"请按期办结并反馈"). The framing says how a case arrived, not what it is about, and some of it names a unit's words
(联络员, 产业链, 牵头): left in, it pulled cases toward the wrong unit and invented co-departments."""

import re
import unicodedata


def normalise(text: str) -> str:
    """Lower-case NFKC text without spaces or punctuation: what counts as the words of a case."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s\W_]+", "", text)


# Channel boilerplate, as it reads after `normalise` (no punctuation, no spaces).
FRAMING = re.compile("|".join([
    "来电人反映", "来电人要求尽快处理", "企业来电称", "来电反映", "请相关部门核实处理", "助企联络员走访时企业反映",
    "走访记录", "企业希望尽快解决", "在钱江源亲清半月谈活动中企业提出", "半月谈现场企业代表反映",
    "县人大代表转交企业诉求", "人大代表反映", "建议相关部门研究解决", "政协委员反映", "政协委员走访企业了解到",
    "县商会反映会员企业诉求", "行业协会转来会员企业问题", "产业链牵头单位收集的问题", "链长制工作专班反映",
    "市企呼我应平台交办", "请按期办结并反馈", "市平台转办件", "麻烦尽快处理", "谢谢", "您好",
]))


def matter_text(content: str) -> str:
    """The words of the matter: normalised, without the channel's framing."""
    return FRAMING.sub("", normalise(content))
