"""The staff console's pure core: sign-in requests, the pages each role sees in its menu, the case read model
kept for search and the timeline, search query parsing, and the organisation file's validation and diff.

No rule of another service is repeated here: what a role may *do* is what that service's API answers; the
menu only decides which pages are worth showing to whom.
"""

import re
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.console.names import ORG_CHANGES, ORG_SECTIONS, Names
from shared.org import Organisation
from shared.workdays import YearSchedule, parse_year_file

ROLE_NAMES = {"triage_officer": "研判员", "unit_handler": "承办单位经办人", "leader": "领导",
              "supervisor": "纪检监督", "admin": "系统管理员"}

# page key -> label, in menu order
PAGES = {
    "triage": "研判队列", "inbox": "本单位待办", "problems": "问题清单", "boards": "超期督办",
    "revisits": "回访任务", "supervision": "监督件", "search": "案件查询", "dashboard": "评价与晾晒",
    "library": "案例库", "admin": "组织配置", "calendar": "工作日历", "settings": "规则参数", "officers": "联络员",
}
MENU: dict[str, tuple[str, ...]] = {
    # 营商办 also presses units (催办) on the overdue board and does revisits (issue 17 item 12)
    "triage_officer": ("triage", "boards", "revisits", "search", "dashboard", "library"),
    "unit_handler": ("inbox", "problems", "search", "dashboard", "library"),
    "leader": ("boards", "problems", "revisits", "search", "dashboard", "library"),
    "supervisor": ("supervision", "search", "dashboard", "library"),
    "admin": ("admin", "calendar", "settings", "officers", "triage", "boards", "revisits", "supervision", "search",
              "dashboard", "library"),
}

EVENT_LABELS = {
    "case.registered": "受理登记", "case.triaged": "研判", "case.assigned": "交办", "case.accepted": "签收",
    "case.progressed": "办理进展", "case.returned": "退回", "case.reminded": "时限提醒", "case.overdue": "超期",
    "case.escalated": "升级督办", "case.resolved": "办结", "case.rated": "企业评价", "case.revisited": "回访",
    "case.referred": "移送监督", "case.reopened": "重新办理", "case.closed": "销号", "case.synced": "同步",
    "case.rating_appealed": "评价申诉", "case.rating_reviewed": "申诉复核", "case.supervised": "监督",
    "case.detail_added": "补充材料", "case.supplemented": "企业补充说明", "case.urged": "企业催办",
    "case.evaluated": "营商办或第三方评价",
}
# the data fields worth a line in the timeline, per event type (the rest stays in the service that owns it)
SUMMARY_FIELDS = {
    "case.registered": ("channel", "tracking_no"),
    "case.triaged": ("screening", "department", "region", "complexity", "decided_by", "needs_review"),
    "case.assigned": ("department", "co_departments", "complexity", "due_at"),
    "case.accepted": ("department", "by"), "case.progressed": ("department", "kind", "to", "by", "note"),
    "case.returned": ("department", "by", "reason"), "case.reminded": ("kind", "level", "due_at"),
    "case.overdue": ("due_at", "escalation_level"), "case.escalated": ("from_level", "to_level", "reason"),
    "case.resolved": ("resolution", "on_time", "by"), "case.rated": ("level", "satisfied", "comment"),
    "case.revisited": ("method", "outcome", "solved", "by"), "case.referred": ("to", "reason"),
    "case.reopened": ("reason", "due_at"),
    "case.closed": ("closed_at",), "case.synced": ("target", "direction"),
    "case.rating_appealed": ("round", "reason"), "case.rating_reviewed": ("round", "decision", "reason"),
    "case.supervised": ("action", "by", "note"), "case.supplemented": ("content",),
}
CONTENT_CHARS = 500  # what the search result shows of a problem's text; the full text stays with intake
TRACKING_NO = re.compile(r"^QH\d{13}$")


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


def menu_for(role: str) -> list[dict[str, str]]:
    return [{"page": key, "label": PAGES[key]} for key in MENU.get(role, ("search",))]


def who(user_id: str, name: str | None, role: str, unit: str | None, org: Organisation) -> dict[str, Any]:
    """The header's "who am I": name, role and unit in words, and the menu."""
    unit_name = None
    if unit:
        names = {d.code: d.name for d in org.departments} | {r.code: r.name for r in org.regions}
        unit_name = names.get(unit, unit)
    return {"sub": user_id, "name": name or user_id, "role": role, "role_name": ROLE_NAMES.get(role, role),
            "unit": unit, "unit_name": unit_name, "menu": menu_for(role)}


# ---------------------------------------------------------------- the case read model (search + timeline)

def summary_of(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    keep = SUMMARY_FIELDS.get(event_type, ())
    return {k: data[k] for k in keep if data.get(k) not in (None, [], "")}


# What each event makes of the case's status (events not listed leave it): a person reads the name, never the code.
STATUS_AFTER = {
    "case.registered": "registered", "case.supplemented": "registered", "case.assigned": "assigned",
    "case.accepted": "in_progress", "case.returned": "returned", "case.resolved": "resolved", "case.rated": "rated",
    "case.referred": "referred", "case.reopened": "reopened", "case.closed": "closed",
}
STATUS_AFTER_SCREENING = {"accepted": "triaged", "non_business": "screened_out", "unclear": "awaiting_detail",
                          "duplicate": "duplicate"}
STATUS_NAMES = {
    "registered": "已受理登记", "pending_review": "待人工研判", "triaged": "已研判，待交办",
    "screened_out": "不予受理（非营商环境问题）", "awaiting_detail": "待企业补充说明",
    "duplicate": "重复件，已并入原件",
    "assigned": "已交办，待签收", "in_progress": "办理中", "returned": "承办单位退回，待重新研判交办",
    "resolved": "已办结，待评价", "rated": "企业已评价", "referred": "不满意，已移送监督", "reopened": "重新办理",
    "closed": "已销号",
}
# events that set or clear the deadline: a reopening brings a new one, a return takes it away until reassigned
DEADLINE_EVENTS = ("case.assigned", "case.reopened", "case.returned")


def status_after(event_type: str, data: dict[str, Any]) -> str | None:
    if event_type == "case.triaged":
        if data.get("needs_review"):
            return "pending_review"
        return STATUS_AFTER_SCREENING.get(data.get("screening") or "", "triaged")
    return STATUS_AFTER.get(event_type)


def status_name(doc: dict[str, Any]) -> str:
    """The case's status in words (rows folded before statuses were kept: from their latest event)."""
    status = doc.get("status")
    if status in STATUS_NAMES:
        return STATUS_NAMES[status]
    return EVENT_LABELS.get(doc.get("last_event") or "", "")


BRIEF_CHARS = 30  # the first words of a problem that stand for its title in a list


def brief(row: dict[str, Any]) -> dict[str, Any]:
    """How a list names a case for people: tracking number, enterprise, title (or the first words of the text)."""
    text = " ".join(str(row.get("title") or row.get("content") or "").split())
    title = text if len(text) <= BRIEF_CHARS else text[:BRIEF_CHARS] + "…"
    return {"tracking_no": row.get("tracking_no"), "enterprise": row.get("enterprise"), "title": title,
            "department": row.get("department"), "region": row.get("region")}


def calendar_banner(status: dict[str, Any], role: str) -> dict[str, str] | None:
    """The header's warning for administrators and leaders when next year's (or this year's) holidays are missing."""
    if role not in ("admin", "leader") or not status:
        return None
    todo = "请在“工作日历”页面上传并应用" if role == "admin" else "请提醒系统管理员在“工作日历”页面上传并应用"
    said = []
    if status.get("current_year_missing"):
        said.append(f"本年度（{status['year'] - 1} 年）节假日安排缺失，办理时限暂按周一至周五计算。")
    if status.get("warning"):
        said.append(f"{status['year']} 年节假日安排尚未导入，距 1 月 1 日还有 {status['days_left']} 天；"
                    f"未导入前，{status['year']} 年的办理时限将按周一至周五计算。")
    if not said:
        return None
    return {"level": "error" if status.get("current_year_missing") else "warning",
            "text": "".join(said) + f"{todo}国务院办公厅公布的安排。"}


def _not_older(doc: dict[str, Any] | None, key: str, at: datetime) -> bool:
    previous = (doc or {}).get(key)
    return previous is None or _naive(at) >= _naive(previous)


def case_change(doc: dict[str, Any] | None, *, event_id: str, event_type: str, occurred_at: datetime,
                data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """What one case event does to the console's case document: fields to set, one timeline entry to append.

    Events may arrive before `case.registered` is seen (other partitions, replays): every field is set only by
    the event that owns it, so the order does not matter. Status and deadline each follow the latest event that
    sets them, by time (`status_at`, `due_set_at`): a late older event never moves them back.
    """
    fields: dict[str, Any] = {}
    if event_type == "case.registered":
        enterprise = data.get("enterprise") or {}
        fields.update(tracking_no=data.get("tracking_no"), enterprise=enterprise.get("name"),
                      enterprise_key=(enterprise.get("name") or "").strip().lower(),
                      content=(data.get("content") or "")[:CONTENT_CHARS], channel=data.get("channel"),
                      received_at=occurred_at)
        if data.get("title"):
            fields["title"] = str(data["title"])[:120]
    if event_type in ("case.triaged", "case.assigned"):
        for key in ("department", "region", "complexity"):
            if data.get(key):
                fields[key] = data[key]
        if data.get("department"):  # the units that may find the case in search: lead and co-departments
            fields["co_departments"] = list(data.get("co_departments") or [])
            fields["units"] = [data["department"], *fields["co_departments"]]
    if event_type in DEADLINE_EVENTS and _not_older(doc, "due_set_at", occurred_at):
        due = data.get("due_at") if event_type != "case.returned" else None
        if event_type == "case.returned" or due:
            fields.update(due_at=due.isoformat() if isinstance(due, datetime) else due, due_set_at=occurred_at)
            fields["overdue"] = False
    if event_type == "case.overdue" and _not_older(doc, "due_set_at", occurred_at):
        fields["overdue"] = True
    status = status_after(event_type, data)
    if status is not None and _not_older(doc, "status_at", occurred_at):
        fields.update(status=status, status_at=occurred_at)
    latest = (doc or {}).get("updated_at")
    if latest is None or _naive(occurred_at) >= _naive(latest):
        fields.update(last_event=event_type, updated_at=occurred_at)
    entry = {"event_id": event_id, "type": event_type, "at": occurred_at, "summary": summary_of(event_type, data)}
    return fields, entry


def _naive(value: datetime) -> datetime:
    """The store gives back naive UTC datetimes; events carry aware ones."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def timeline(entries: list[dict[str, Any]], names: "Names | None" = None) -> list[dict[str, Any]]:
    """Every event of a case, oldest first, each with its label in Chinese and (given the names) its summary as
    labelled lines in words. An event type the console does not know is "其他记录", never its code."""
    ordered = sorted(entries, key=lambda e: (_naive(e["at"]) if isinstance(e["at"], datetime) else e["at"]))
    return [{**e, "label": EVENT_LABELS.get(e["type"], "其他记录"),
             **({"details": names.details(e["type"], e.get("summary") or {})} if names is not None else {})}
            for e in ordered]


def search_query(q: str) -> dict[str, Any]:
    """How a search box entry is read: a tracking number exactly, otherwise enterprise name or text."""
    q = q.strip()
    if not q:
        return {"kind": "recent"}
    if TRACKING_NO.match(q.upper()):
        return {"kind": "tracking_no", "value": q.upper()}
    return {"kind": "text", "value": q, "pattern": re.escape(q)}


# ---------------------------------------------------------------- the organisation file

SECTIONS = ("regions", "departments", "categories", "escalation_levels", "complexity", "screening", "channels",
            "rating_levels", "oversight")


def validate_org(text: str) -> tuple[Organisation | None, list[dict[str, str]]]:
    """An uploaded organisation file: the parsed organisation, or the errors in words (each naming its place)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [{"field": "yaml", "message": f"YAML 格式错误: {exc}"}]
    if not isinstance(raw, dict):
        return None, [{"field": "yaml", "message": "文件内容应为一个映射（键: 值）"}]
    try:
        return Organisation.model_validate(raw), []
    except ValidationError as exc:
        return None, [{"field": ".".join(str(p) for p in e["loc"]) or "organisation",
                       "message": e["msg"].removeprefix("Value error, ")}
                      for e in exc.errors(include_url=False, include_input=False)]


def org_changes(old: Organisation, new: Organisation) -> list[dict[str, Any]]:
    """What an edit changes, item by item (by code), for the audit trail."""
    changes: list[dict[str, Any]] = []
    if old.county != new.county:
        changes.append({"section": "county", "code": new.county.code, "change": "changed"})
    for section in SECTIONS:
        before = {_key(i): i.model_dump(mode="json") for i in getattr(old, section)}
        after = {_key(i): i.model_dump(mode="json") for i in getattr(new, section)}
        for code in sorted(after.keys() - before.keys()):
            changes.append({"section": section, "code": code, "change": "added"})
        for code in sorted(before.keys() - after.keys()):
            changes.append({"section": section, "code": code, "change": "removed"})
        for code in sorted(before.keys() & after.keys()):
            if before[code] != after[code]:
                fields = sorted(k for k in before[code].keys() | after[code].keys()
                                if before[code].get(k) != after[code].get(k))
                changes.append({"section": section, "code": code, "change": "changed", "fields": fields})
    return changes


def _key(item: Any) -> str:
    return str(getattr(item, "code", None) or getattr(item, "level", None) or item)


def org_change_text(change: dict[str, Any], current: Organisation, checked: Organisation | None = None
                    ) -> dict[str, str]:
    """One change of the organisation file in words: its section, the item by its name (the running file's name
    over the checked file's), what changed. An item only the file knows is named by the code written in it."""
    section = change.get("section", "")
    code = change.get("code", "")
    item = ""
    for org in (checked, current) if checked is not None else (current,):
        for i in getattr(org, section, ()) if section != "county" else (org.county,):
            if str(getattr(i, "code", None) or getattr(i, "level", "")) == str(code):
                item = i.name
    return {"section": ORG_SECTIONS.get(section, "其他"), "item": item or f"编码 {code}",
            "change": ORG_CHANGES.get(change.get("change", ""), "修改")
            + (f"（{len(change['fields'])} 处）" if change.get("fields") else "")}


def org_overview(org: Organisation) -> dict[str, Any]:
    """The organisation file as the admin page lists it."""
    return {"county": org.county.model_dump(mode="json"),
            **{section: [i.model_dump(mode="json") for i in getattr(org, section)] for section in SECTIONS}}


# ---------------------------------------------------------------- sign-in attempts

@dataclass
class SignInLimiter:
    """Failed sign-ins per user name and per client address in a sliding window: after `limit` failures within
    `window_seconds` that key is refused until its oldest failure leaves the window. In memory, per process: it
    slows guessing down, it is no account lock (a restart forgets it). `now` is a monotonic clock reading."""

    limit: int = 5
    window_seconds: float = 300.0
    max_keys: int = 100_000  # a flood of made-up names must not fill the memory: the oldest keys go first
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self.failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_seconds:
            times.popleft()
        if not times:
            del self.failures[key]
        return times

    def retry_after(self, keys: Iterable[str], now: float) -> float | None:
        """Seconds until a sign-in under these keys is heard again, or None if it may be tried now."""
        waits = []
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.limit:
                waits.append(times[-self.limit] + self.window_seconds - now)
        return max(waits) if waits else None

    def failed(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            times = self._recent(key, now)
            if not times:
                if len(self.failures) >= self.max_keys:
                    del self.failures[next(iter(self.failures))]
                self.failures[key] = times
            times.append(now)
            while len(times) > self.limit:  # more than `limit` is never needed to decide
                times.popleft()

    def succeeded(self, username_key: str) -> None:
        self.failures.pop(username_key, None)


def sign_in_keys(username: str, client: str | None) -> list[str]:
    keys = [f"user:{username.strip().lower()}"]
    if client:
        keys.append(f"client:{client}")
    return keys


def too_many_attempts_message(retry_after: float) -> str:
    minutes = max(1, -(-int(retry_after) // 60))
    return f"登录失败次数过多，请 {minutes} 分钟后再试"


# ---------------------------------------------------------------- the working-day calendar's years

def calendar_years(schedules: dict[int, YearSchedule], today: date) -> dict[str, Any]:
    """The years the calendar knows (with where each comes from) and those it needs but lacks: the current and
    the next year at least (deadlines set in December run into January)."""
    years = [{"year": y, "source": s.source, "holidays": len(s.holidays), "workdays": len(s.workdays)}
             for y, s in sorted(schedules.items())]
    missing = [y for y in (today.year, today.year + 1) if y not in schedules]
    return {"years": years, "missing": missing}


def validate_year_file(text: str) -> tuple[YearSchedule | None, list[dict[str, str]]]:
    """An uploaded year schedule, read by the calendar's own loader: the schedule, or the problem in words."""
    try:
        return parse_year_file(text), []
    except yaml.YAMLError as exc:
        return None, [{"field": "yaml", "message": f"YAML 格式错误: {exc}"}]
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        return None, [{"field": "schedule", "message": f"节假日安排有误: {exc}"}]


def year_changes(old: YearSchedule | None, new: YearSchedule) -> dict[str, Any]:
    """What an uploaded year changes against what the calendar has for that year now."""
    before_h = old.holidays if old else frozenset()
    before_w = old.workdays if old else frozenset()

    def days(values: Iterable[date]) -> list[str]:
        return [d.isoformat() for d in sorted(values)]

    return {"year": new.year, "replaces": old.source if old else None,
            "holidays": len(new.holidays), "workdays": len(new.workdays),
            "holidays_added": days(new.holidays - before_h), "holidays_removed": days(before_h - new.holidays),
            "workdays_added": days(new.workdays - before_w), "workdays_removed": days(before_w - new.workdays)}


# ---------------------------------------------------------------- the settings that steer the rules

def settings_rows(sources: Iterable[tuple[str, Any, dict[str, str]]]) -> list[dict[str, Any]]:
    """(service, settings instance, {field: label}) -> one row per field: its effective value and the environment
    variable that changes it (the class's env_prefix + the field name, as pydantic-settings reads it)."""
    rows = []
    for service, settings, labels in sources:
        prefix = settings.model_config.get("env_prefix", "")
        for name, label in labels.items():
            value = getattr(settings, name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, dict):
                value = {str(k): v for k, v in value.items()}
            elif not isinstance(value, (int, float, str, bool, list, type(None))):
                value = str(value)
            rows.append({"service": service, "name": name, "label": label, "value": value,
                         "env": f"{prefix}{name}".upper()})
    return rows
