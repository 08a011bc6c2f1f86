"""Codes and login ids in words, for every place a person reads: units, townships, "123" complexity, screening,
channels, rating levels, oversight units and escalation levels from the organisation file; staff from the staff
directory. Pure: built from what the caller loaded.

A code nobody can name is never shown raw: it reads "（未知单位）" and the like, or the line is left out.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.org import Organisation

YES_NO = {True: "是", False: "否"}
DECIDED_BY = {"auto": "系统自动研判", "officer": "研判员"}
REVISIT_METHODS = {"phone": "电话回访", "onsite": "上门回访"}
REVIEW_DECISIONS = {"upheld": "维持评价", "excluded": "评价不计入"}
SUPERVISION_ACTIONS = {"finding": "问题认定", "pressed": "督促整改", "closed": "办结监督",
                       "findings": "问题认定", "press": "督促整改", "close": "办结监督", "referred": "移送监督"}
REMINDER_KINDS = {"triage_due": "研判时限将到", "response_missed": "超时未签收", "follow_up": "跟踪日期到",
                  "end_of_day": "下班前提醒（一般不过夜）"}
COORDINATION = {"lead": "请牵头单位协调", "leadership": "提请领导协调"}
PROGRESS_KINDS = {"progress": "办理进展", "part": "协办单位办理情况", "coordination_request": "请求协调"}
SYNC_TARGETS = {"city": "市级平台", "hotline": "12345热线"}
SYNC_DIRECTIONS = {"outbound": "推送", "inbound": "接收", "out": "推送", "in": "接收"}
ORG_SECTIONS = {"county": "县", "regions": "乡镇（街道）", "departments": "单位", "categories": "问题类别",
                "escalation_levels": "督办层级", "complexity": "复杂度（123时限）", "screening": "筛查结论",
                "channels": "反映渠道", "rating_levels": "评价等级", "oversight": "监督单位"}
ORG_CHANGES = {"added": "新增", "removed": "删除", "changed": "修改"}
SERVICE_NAMES = {"platform": "平台", "calendar": "工作日历", "triage": "研判", "sla": "时限督办", "intake": "受理",
                 "console": "工作台", "rating": "评价回访", "sync": "同步", "insight": "分析"}

# the lines of a timeline entry: (field, label, how to read its value)
FIELD_LABELS: dict[str, str] = {
    "channel": "渠道", "tracking_no": "受理编号", "screening": "筛查", "department": "承办单位",
    "co_departments": "协办单位", "region": "属地", "complexity": "复杂度", "decided_by": "研判方式",
    "needs_review": "待人工复核", "due_at": "办理时限", "by": "经办人", "note": "说明", "reason": "理由",
    "kind": "类型", "to": "对象", "level": "等级", "escalation_level": "督办层级", "from_level": "原层级",
    "to_level": "升至", "resolution": "办理结果", "on_time": "按期", "satisfied": "满意", "comment": "企业意见",
    "method": "方式", "outcome": "回访情况", "solved": "问题已解决", "closed_at": "销号时间", "target": "同步至",
    "direction": "方向", "round": "轮次", "decision": "复核结论", "action": "监督动作", "findings": "认定问题",
    "content": "补充内容",
}


@dataclass(frozen=True)
class Names:
    org: Organisation
    people: Mapping[str, str] = field(default_factory=dict)
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))

    @classmethod
    def of(cls, org: Organisation, people: Iterable[tuple[str, str]] = (), tz: ZoneInfo | None = None) -> "Names":
        return cls(org, dict(people), tz or ZoneInfo("Asia/Shanghai"))

    def _table(self, section: str) -> dict[str, str]:
        return {str(getattr(i, "code", "")): i.name for i in getattr(self.org, section)}

    def unit(self, code: str | None) -> str:
        if not code:
            return ""
        return self._table("departments").get(code) or self._table("regions").get(code) or "（未知单位）"

    def region(self, code: str | None) -> str:
        return self._table("regions").get(code or "", "（未知乡镇）") if code else ""

    def person(self, user_id: str | None) -> str:
        """A staff member by name; the platform's own clocks as the system; a stranger's id never."""
        if not user_id:
            return ""
        if user_id in self.people:
            return self.people[user_id]
        if user_id in ("sla", "system", "auto", "triage", "rating"):
            return "系统"
        return "其他工作人员"

    def level(self, value: Any) -> str:
        for item in self.org.escalation_levels:
            if str(item.level) == str(value):
                return item.name
        return f"第 {value} 级" if value not in (None, "") else ""

    def time(self, value: Any) -> str:
        if isinstance(value, str):
            text = value
            try:
                value = datetime.fromisoformat(text)
            except ValueError:
                return text
        if isinstance(value, datetime):
            aware = value if value.tzinfo is not None else value.replace(tzinfo=ZoneInfo("UTC"))
            return aware.astimezone(self.tz).strftime("%Y-%m-%d %H:%M")
        return str(value)

    def value(self, event_type: str, key: str, value: Any) -> str | None:
        """One summary field in words, or None when it cannot be said without a raw code."""
        tables = {"channel": "channels", "screening": "screening", "complexity": "complexity"}
        if key in tables:
            return self._table(tables[key]).get(str(value))
        if key == "department":
            return self.unit(value)
        if key == "co_departments":
            return "、".join(self.unit(c) for c in value) if isinstance(value, list) else self.unit(value)
        if key == "region":
            return self.region(value)
        if key == "by":
            return self.person(value)
        if key in ("needs_review", "on_time", "satisfied", "solved"):
            return YES_NO.get(bool(value))
        if key == "decided_by":
            return DECIDED_BY.get(value)
        if key in ("due_at", "closed_at"):
            return self.time(value)
        if key in ("escalation_level", "from_level", "to_level"):
            return self.level(value)
        if key == "level":
            if event_type == "case.rated":
                return self._table("rating_levels").get(str(value))
            return self.level(value)
        if key == "kind":
            kinds = PROGRESS_KINDS if event_type == "case.progressed" else REMINDER_KINDS
            return kinds.get(value, "时限提醒" if event_type == "case.reminded" else None)
        if key == "to":
            if event_type == "case.referred":
                return self._table("oversight").get(str(value))
            return COORDINATION.get(value)
        if key == "method":
            return REVISIT_METHODS.get(value)
        if key == "decision":
            return REVIEW_DECISIONS.get(value)
        if key == "action":
            return SUPERVISION_ACTIONS.get(value)
        if key == "target":
            return SYNC_TARGETS.get(value)
        if key == "direction":
            return SYNC_DIRECTIONS.get(value)
        if key == "round":
            return f"第 {value} 轮"
        if key == "tracking_no":
            return str(value)
        if key in ("note", "reason", "resolution", "comment", "outcome", "content"):
            return str(value)  # people's own words: shown as written (the page writes text nodes only)
        return None

    def details(self, event_type: str, summary: Mapping[str, Any]) -> list[dict[str, str]]:
        """A timeline entry's summary as labelled lines in words."""
        out = []
        for key, value in summary.items():
            text = self.value(event_type, key, value)
            if text:
                out.append({"label": FIELD_LABELS.get(key, "说明"), "text": text})
        return out
