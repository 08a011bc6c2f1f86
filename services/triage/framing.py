"""The framing of a case, separated from its matter: who speaks and through which channel ("助企联络员走访…了解到",
"市平台转办", "来电人反映", "产业链…收集", "请按期办结并反馈") says how a case arrived, not what it is about. Some
of it names units' words (联络员, 产业链, 牵头, 协调); left in, it pulled framed cases to the catch-all unit and
invented co-departments. Rules, classifier and duplicate matching all read the matter only.
"""

import re
import unicodedata
from dataclasses import dataclass


def normalise(text: str) -> str:
    """Lower-case NFKC text without spaces or punctuation: what counts as the words of a case."""
    text = unicodedata.normalize("NFKC", text).lower()
    return re.sub(r"[\s\W_]+", "", text)


# Who passes a case on, as it reads after `normalise`: a lead-in that holds one of these and ends with a speech
# verb ("…走访…了解到", "…来电反映", "…收集的问题") is framing.
FRAME_MARKERS = ("走访", "联络员", "来电", "致电", "热线", "工单", "转办", "交办", "转来", "转交", "收集", "代表",
                 "委员", "商会", "协会", "专班", "链长", "产业链", "座谈", "半月谈", "调研", "上门", "服务日",
                 "平台", "市民", "群众", "下企业", "驻企", "诉求人", "来访")
SPEECH = re.compile("了解到|获悉|收集到的问题|收集的问题|收集到|发现|反映|反应|提出|称|表示|诉求如下|问题如下|情况如下|"
                    "诉求|记录|来电人|来电|转办件|交办件|转办|交办")
# A second speaker right after the first ("转办件：企业反映：", "来电人反映"): at most this many characters between.
CHAINED_GAP = 6
CHAINED = re.compile("了解到|反映|反应|提出|称|表示")
LEAD_IN_CHARS = 48  # a lead-in longer than this is the matter itself
# Fixed phrases of channels and closings, removed wherever they stand.
BOILERPLATE = re.compile("|".join([
    "来电人要求尽快处理", "请相关部门核实处理", "请相关单位核实处理", "建议相关部门研究解决", "请按期办结并反馈",
    "请按时办结并反馈", "请于\\d+个工作日内[办结反馈回复]+", "请及时办理", "请予以协调解决", "请予协调", "特此转办",
    "望尽快解决", "希望尽快解决", "企业希望尽快解决", "要求尽快处理", "麻烦尽快处理", "请尽快处理", "尽快处理",
    "请帮忙协调", "谢谢", "您好", "你好", "市企呼我应平台交办", "市平台转办件", "市平台转办", "市级平台交办",
    "走访记录", "来电人反映", "企业来电称", "来电反映", "来电称", "产业链牵头单位收集的问题", "链长制工作专班反映",
]))


@dataclass(frozen=True)
class Framed:
    frame: str  # the lead-in and channel phrases removed ("" when none)
    matter: str  # normalised words of the matter


def _colon_lead_in(content: str) -> int:
    """A lead-in written with a colon ("走访某某公司：", "市平台转办："): its length in normalised characters, or 0.
    The colon ends it where the writer put it; a speech verb further on ("应急管理局检查时提出") is the matter's."""
    raw = unicodedata.normalize("NFKC", content)
    colon = raw.find(":", 0, LEAD_IN_CHARS + 12)
    if colon <= 0:
        return 0
    lead = normalise(raw[:colon])
    return len(lead) if any(marker in lead for marker in FRAME_MARKERS) else 0


def split_frame(content: str) -> Framed:
    """The matter of a case and the framing around it."""
    text = normalise(content)
    removed: list[str] = []
    cut = _colon_lead_in(content)
    # else the lead-in: up to the first speech verb in the first LEAD_IN_CHARS characters that a frame marker
    # precedes
    head = text[:LEAD_IN_CHARS]
    for m in SPEECH.finditer(head) if not cut else ():
        if any(marker in head[:m.start()] or marker in m.group(0) for marker in FRAME_MARKERS):
            cut = m.end()
            break
    while cut:
        chained = CHAINED.search(text, cut, cut + CHAINED_GAP + 4)
        if chained is None or chained.start() - cut > CHAINED_GAP:
            break
        cut = chained.end()
    if cut:
        removed.append(text[:cut])
        text = text[cut:]

    def drop(m: re.Match[str]) -> str:
        removed.append(m.group(0))
        return ""

    text = BOILERPLATE.sub(drop, text)
    if not text:  # all of it looked like framing: keep the words rather than nothing
        text = normalise(content)
        removed = []
    return Framed("".join(removed), text)


def matter_text(content: str) -> str:
    """The words of the matter: normalised, without the channel's framing."""
    return split_frame(content).matter
