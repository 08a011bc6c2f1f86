"""insight rules, pure: case events -> per-case facts -> figures, rankings, early warnings.

The only projection kept in the store is one facts document per case, folded from that case's events
(`fold`). Every figure is a function of a set of facts (`figures`), so rebuilding the facts from the topic
gives the same numbers. Definitions: docs/metrics.md (the names here are the names there).
"""

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.envelope import CaseEvent, derived_id

Facts = dict[str, Any]

# ------------------------------------------------------------------------------------------------ fold

STATE_AFTER_SCREENING = {"accepted": "triaged", "non_business": "screened_out", "unclear": "awaiting_detail",
                         "duplicate": "duplicate"}
OPEN_STATES = frozenset({"assigned", "in_progress", "reopened"})
SOLVED_STATES = frozenset({"resolved", "closed"})


def _when(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _optional_code(value: Any) -> str | None:
    """An optional person or category field that may be a plain string or an object with a code/id/name."""
    if value is None or value == "":
        return None
    if isinstance(value, dict):
        for key in ("code", "id", "sub", "name"):
            if value.get(key):
                return str(value[key])
        return None
    return str(value)


def fold(facts: Facts | None, event: CaseEvent) -> Facts | None:
    """The fields that `event` sets on its case's facts (None: nothing). Counters add to what `facts` holds."""
    data, facts = event.data, facts or {}
    kind = event.type
    if kind == "case.registered":
        enterprise = data.get("enterprise") or {}
        return {
            "received_at": _when(data.get("received_at")) or event.occurred_at,
            "channel": data.get("channel"), "tracking_no": data.get("tracking_no"),
            "enterprise": enterprise.get("name"), "content": data.get("content", ""), "title": data.get("title"),
            "liaison": _optional_code(data.get("liaison_officer") or data.get("liaison")),
            "industry": _optional_code(data.get("industry") or enterprise.get("industry")),
            "state": facts.get("state") or "registered",
        }
    if kind == "case.triaged":
        screening = data.get("screening")
        out: Facts = {"screening": screening, "duplicate": screening == "duplicate"}
        for field in ("department", "region", "complexity"):
            if data.get(field):
                out[field] = data[field]
        if facts.get("state") in (None, "registered", "triaged", "screened_out", "awaiting_detail", "duplicate"):
            out["state"] = STATE_AFTER_SCREENING.get(screening, "triaged")
        return out
    if kind == "case.assigned":
        return {"department": data["department"], "region": data.get("region") or facts.get("region"),
                "complexity": data.get("complexity"), "assigned_at": facts.get("assigned_at") or event.occurred_at,
                "due_at": _when(data["due_at"]), "escalation_level": data.get("escalation_level", 0),
                "state": "assigned"}
    if kind == "case.accepted":
        out = {"state": "in_progress", "department": data.get("department") or facts.get("department")}
        if not facts.get("accepted_at"):
            out |= {"accepted_at": event.occurred_at, "accepted_by": data.get("by")}
        return out
    if kind == "case.resolved":
        return {"state": "resolved", "resolved_at": _when(data["resolved_at"]), "on_time": bool(data["on_time"]),
                "resolution": data.get("resolution", ""), "resolved_by": data.get("by"),
                "resolutions": facts.get("resolutions", 0) + 1}
    if kind == "case.rated":
        return {"rating_level": data.get("level"), "satisfied": bool(data.get("satisfied")),
                "rated_at": event.occurred_at}
    if kind == "case.reopened":
        return {"state": "reopened", "reopened": facts.get("reopened", 0) + 1, "due_at": _when(data["due_at"])}
    if kind == "case.escalated":
        return {"escalations": facts.get("escalations", 0) + 1, "escalation_level": data.get("to_level")}
    if kind == "case.overdue":
        return {"overdue": facts.get("overdue", 0) + 1}
    if kind == "case.referred":
        return {"referred": True}
    if kind == "case.returned":
        return {"returns": facts.get("returns", 0) + 1}
    if kind == "case.closed":
        return {"state": "closed", "closed_at": _when(data.get("closed_at")) or event.occurred_at}
    return None


FACT_FIELDS = ("received_at", "channel", "tracking_no", "enterprise", "content", "title", "liaison", "industry",
               "state", "screening", "duplicate", "department", "region", "complexity", "assigned_at", "due_at",
               "escalation_level", "accepted_at", "accepted_by", "resolved_at", "on_time", "resolution",
               "resolved_by", "resolutions", "rating_level", "satisfied", "rated_at", "reopened", "escalations",
               "overdue", "referred", "returns", "closed_at")


def fold_all(events: Iterable[CaseEvent]) -> dict[str, Facts]:
    """Fold a stream in memory (the rebuild and the benchmark): case id -> facts, each event id applied once."""
    cases: dict[str, Facts] = {}
    seen: set[str] = set()
    for event in events:
        if event.event_id in seen:
            continue
        seen.add(event.event_id)
        current = cases.get(event.case_id)
        change = fold(current, event)
        if change:
            if current is None:
                cases[event.case_id] = {"_id": event.case_id, **change}
            else:
                current.update(change)
        elif current is None:
            cases[event.case_id] = {"_id": event.case_id}
    return cases


# ------------------------------------------------------------------------------------------------ periods

PERIOD_KINDS = ("week", "month", "quarter", "year")
PERIOD_NAMES = {"week": "周", "month": "月", "quarter": "季度", "year": "年"}


def period_label(kind: str, day: date) -> str:
    if kind == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if kind == "month":
        return f"{day.year}-{day.month:02d}"
    if kind == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if kind == "year":
        return f"{day.year}"
    raise ValueError(f"unknown period kind {kind!r}")


def period_kind(label: str) -> str:
    if "-W" in label:
        return "week"
    if "-Q" in label:
        return "quarter"
    return "month" if "-" in label else "year"


def period_days(label: str) -> tuple[date, date]:
    """First day and the day after the last day of a period label (2026-W10, 2026-03, 2026-Q1, 2026)."""
    try:
        kind = period_kind(label)
        if kind == "week":
            year, week = label.split("-W")
            start = date.fromisocalendar(int(year), int(week), 1)
            return start, start + timedelta(days=7)
        if kind == "quarter":
            year, quarter = label.split("-Q")
            if not 1 <= int(quarter) <= 4:
                raise ValueError(label)
            start = date(int(year), 3 * int(quarter) - 2, 1)
        elif kind == "month":
            year, month = label.split("-")
            start = date(int(year), int(month), 1)
        else:
            start = date(int(label), 1, 1)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a period: {label!r}") from exc
    step = {"quarter": 3, "month": 1, "year": 12}[kind]
    month = start.month - 1 + step
    return start, date(start.year + month // 12, month % 12 + 1, 1)


def period_range(label: str, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The instants [start, end) of a period in local time."""
    first, after = period_days(label)
    return (datetime(first.year, first.month, first.day, tzinfo=tz),
            datetime(after.year, after.month, after.day, tzinfo=tz))


def period_of(kind: str, instant: datetime, tz: ZoneInfo) -> str:
    return period_label(kind, instant.astimezone(tz).date())


def periods_before(label: str, count: int) -> list[str]:
    """`count` periods ending with `label`, oldest first."""
    kind, out = period_kind(label), [label]
    while len(out) < count:
        first, _ = period_days(out[0])
        out.insert(0, period_label(kind, first - timedelta(days=1)))
    return out


def last_complete_period(kind: str, now: datetime, tz: ZoneInfo) -> str:
    current = period_of(kind, now, tz)
    first, _ = period_days(current)
    return period_label(kind, first - timedelta(days=1))


# ------------------------------------------------------------------------------------------------ figures

def _solved(f: Facts) -> bool:
    return f.get("state") in SOLVED_STATES


def _rated(f: Facts) -> bool:
    return f.get("satisfied") is not None


# name -> which cases it counts
COUNTS: dict[str, Callable[[Facts], bool]] = {
    "received": lambda f: True,
    "accepted": lambda f: f.get("accepted_at") is not None,
    "assigned": lambda f: f.get("assigned_at") is not None,
    "resolved": _solved,
    "rated": _rated,
    "dissatisfied": lambda f: _rated(f) and not f["satisfied"],
    "overdue": lambda f: f.get("overdue", 0) > 0,
    "reopened": lambda f: f.get("reopened", 0) > 0,
    "escalated": lambda f: f.get("escalations", 0) > 0,
    "duplicates": lambda f: bool(f.get("duplicate")),
    "referred": lambda f: bool(f.get("referred")),
}
# name -> (numerator, denominator): a rate is numerator cases / denominator cases
RATES: dict[str, tuple[Callable[[Facts], bool], Callable[[Facts], bool]]] = {
    "on_time_rate": (lambda f: f.get("resolutions", 0) > 0 and bool(f.get("on_time")),
                     lambda f: f.get("resolutions", 0) > 0),
    "resolution_rate": (_solved, COUNTS["assigned"]),
    "satisfaction_rate": (lambda f: _rated(f) and bool(f["satisfied"]), _rated),
}
FIGURE_NAMES = {
    "received": "受理问题数", "accepted": "签收数", "assigned": "交办数", "resolved": "已办结数", "rated": "已评价数",
    "dissatisfied": "不满意数", "overdue": "超期件数", "reopened": "重新办理数", "escalated": "提级督办数",
    "duplicates": "重复问题数", "referred": "移送纪委数", "on_time_rate": "按期办结率", "resolution_rate": "解决率",
    "satisfaction_rate": "满意率", "response_hours": "平均响应时长(小时)",
}


def response_hours(f: Facts) -> float | None:
    if f.get("accepted_at") is None or f.get("received_at") is None:
        return None
    return max((f["accepted_at"] - f["received_at"]).total_seconds(), 0.0) / 3600


def figures(facts: Iterable[Facts]) -> dict[str, dict[str, Any]]:
    """Every figure of a set of cases; each says how many cases it rests on (`n`)."""
    cases = [f for f in facts if f.get("received_at") is not None]
    out: dict[str, dict[str, Any]] = {}
    for name, counts in COUNTS.items():
        out[name] = {"value": sum(1 for f in cases if counts(f)), "n": len(cases)}
    for name, (numerator, denominator) in RATES.items():
        base = [f for f in cases if denominator(f)]
        hits = sum(1 for f in base if numerator(f))
        out[name] = {"value": round(hits / len(base), 4) if base else None, "n": len(base), "hits": hits}
    hours = [h for h in (response_hours(f) for f in cases) if h is not None]
    out["response_hours"] = {"value": round(statistics.fmean(hours), 2) if hours else None,
                             "median": round(statistics.median(hours), 2) if hours else None, "n": len(hours)}
    return out


DIMENSIONS: dict[str, Callable[[Facts], str | None]] = {
    "unit": lambda f: f.get("department"),
    "region": lambda f: f.get("region"),
    "liaison": lambda f: f.get("liaison"),
    "handler": lambda f: f.get("resolved_by"),
    "industry": lambda f: f.get("industry"),
    "channel": lambda f: f.get("channel"),
}


def by_dimension(facts: Iterable[Facts], dimension: str) -> dict[str, list[Facts]]:
    key_of = DIMENSIONS[dimension]
    groups: dict[str, list[Facts]] = defaultdict(list)
    for f in facts:
        key = key_of(f)
        if key is not None and f.get("received_at") is not None:
            groups[key].append(f)
    return dict(groups)


def figures_by(facts: Iterable[Facts], dimension: str) -> dict[str, dict[str, dict[str, Any]]]:
    return {key: figures(cases) for key, cases in sorted(by_dimension(facts, dimension).items())}


def figure_value(figs: dict[str, dict[str, Any]], metric: str) -> tuple[float | None, int]:
    return figs[metric]["value"], figs[metric]["n"]


def cases_behind(cases: list[Facts], metric: str, polarity: str) -> list[Facts]:
    """The cases behind a ranking entry: for a negative rate the ones that miss, for a positive one those that hit."""
    if metric in RATES:
        numerator, denominator = RATES[metric]
        want = polarity == "positive"
        return [f for f in cases if denominator(f) and numerator(f) == want]
    if metric in COUNTS:
        return [f for f in cases if COUNTS[metric](f)]
    return list(cases)


_OPS: dict[str, Callable[[float, float], bool]] = {
    "lt": lambda a, b: a < b, "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b}


def overdue_days(f: Facts, now: datetime) -> float | None:
    """How far past its deadline a case is (still open) or was when resolved; None if never late."""
    due = f.get("due_at")
    if due is None:
        return None
    if f.get("state") in OPEN_STATES:
        late = now - due
    elif f.get("resolved_at") is not None:
        late = f["resolved_at"] - due
    else:
        return None
    return late.total_seconds() / 86400 if late.total_seconds() > 0 else None


def case_brief(f: Facts, now: datetime | None = None) -> dict[str, Any]:
    brief = {"case_id": f["_id"], "tracking_no": f.get("tracking_no"), "department": f.get("department"),
             "region": f.get("region"), "state": f.get("state"), "enterprise": f.get("enterprise"),
             "content": (f.get("content") or "")[:80]}
    if now is not None:
        days = overdue_days(f, now)
        brief["overdue_days"] = round(days, 1) if days is not None else None
    return brief


def rank(rule: Any, facts: list[Facts], now: datetime) -> list[dict[str, Any]]:
    """The entries a 晾晒 rule puts on its list, each with the cases behind it."""
    if rule.kind == "overdue_cases":
        late = [(days, f) for f in facts if (days := overdue_days(f, now)) is not None and days > rule.days]
        late.sort(key=lambda item: (-item[0], item[1]["_id"]))
        return [{"key": f["_id"], "value": round(days, 1), "n": 1, "case_ids": [f["_id"]],
                 "cases": [case_brief(f, now)]} for days, f in late[: max(rule.top, 1) * 10]]
    groups = by_dimension(facts, rule.dimension)
    entries = []
    for key, cases in groups.items():
        figs = figures(cases)
        value, n = figs[rule.metric]["value"], figs[rule.metric]["n"]
        if value is None or n < rule.min_cases:
            continue
        if rule.kind == "metric" and not _OPS[rule.op](value, rule.threshold):
            continue
        if rule.kind == "most" and value <= 0:
            continue
        behind = cases_behind(cases, rule.metric, rule.polarity)
        entries.append({"key": key, "value": value, "n": n, "case_ids": sorted(f["_id"] for f in behind),
                        "cases": [case_brief(f, now) for f in sorted(behind, key=lambda f: f["_id"])[:20]]})
    higher_first = rule.kind == "most" or rule.polarity == "positive"
    entries.sort(key=lambda e: ((-e["value"] if higher_first else e["value"]), -e["n"], e["key"]))
    return entries[: rule.top]


def rankings(rules: Iterable[Any], facts: list[Facts], now: datetime) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"positive": [], "negative": []}
    for rule in rules:
        out["positive" if rule.polarity == "positive" else "negative"].append(
            {"rule": rule.code, "name": rule.name, "kind": rule.kind, "dimension": rule.dimension,
             "metric": rule.metric, "entries": rank(rule, facts, now)})
    return out


# ------------------------------------------------------------------------------------------------ early warning

def warning_window(now: datetime, tz: ZoneInfo, days: int) -> tuple[datetime, datetime]:
    """The recent window: the `days` local days ending with today (so a detection is stable within a day)."""
    today = now.astimezone(tz).date()
    end = datetime(today.year, today.month, today.day, tzinfo=tz) + timedelta(days=1)
    return end - timedelta(days=days), end


def detect_warnings(members: dict[str, str], facts: dict[str, Facts], now: datetime, tz: ZoneInfo, *,
                    window_days: int, baseline_windows: int, min_count: int, ratio: float,
                    floor: float) -> list[dict[str, Any]]:
    """Themes (problem groups) rising in a region or an industry faster than their normal rate.

    `members`: case id -> group id. For each (group, scope, code): the cases of the recent window against the
    average per window over the `baseline_windows` windows before it.
    """
    start, end = warning_window(now, tz, window_days)
    width = timedelta(days=window_days)
    base_start = start - baseline_windows * width
    recent: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    before: Counter[tuple[str, str, str]] = Counter()
    for case_id, group in members.items():
        f = facts.get(case_id)
        if not f or f.get("received_at") is None:
            continue
        at = f["received_at"]
        for scope in ("region", "industry"):
            code = f.get(scope)
            if not code:
                continue
            key = (group, scope, code)
            if start <= at < end:
                recent[key].append(case_id)
            elif base_start <= at < start:
                before[key] += 1
    found = []
    for (group, scope, code), case_ids in sorted(recent.items()):
        baseline = before[(group, scope, code)] / baseline_windows
        rise = len(case_ids) / max(baseline, floor)
        if len(case_ids) >= min_count and rise >= ratio:
            found.append({"theme": group, "scope": scope, "scope_code": code, "window_start": start,
                          "window_end": end, "count": len(case_ids), "baseline": round(baseline, 3),
                          "ratio": round(rise, 3), "case_ids": sorted(case_ids)})
    return found


def warning_id(warning: dict[str, Any]) -> str:
    return derived_id("insight.warning", warning["theme"], warning["scope"], warning["scope_code"],
                      warning["window_end"].isoformat())


# ------------------------------------------------------------------------------------------------ problem groups

def case_text(f: Facts) -> str:
    """What similarity looks at: the problem as reported and how it was solved."""
    return f"{f.get('title') or ''} {f.get('content') or ''} {f.get('resolution') or ''}".strip()


def group_documents(found: list[Any], cases: list[Facts], now: datetime, tz: ZoneInfo,
                    trend_weeks: int = 8) -> list[dict[str, Any]]:
    """Problem-group documents from the similarity groups over `cases` (indexes into it).

    A group's id comes from its earliest case, so it keeps its id while that case stays in it.
    """
    weeks = periods_before(period_of("week", now, tz), trend_weeks)
    docs = []
    for group in found:
        members = [cases[i] for i in group.members]
        anchor = min(members, key=lambda f: (f["received_at"], f["_id"]))
        central = members[0]
        per_week = Counter(period_of("week", f["received_at"], tz) for f in members)
        solved = sum(1 for f in members if f.get("state") in SOLVED_STATES)
        docs.append({
            "_id": "g-" + derived_id("problem-group", anchor["_id"])[:13],
            "label": (central.get("title") or central.get("content") or "")[:60],
            "keywords": group.keywords, "size": len(members),
            "case_ids": sorted(f["_id"] for f in members),
            "units": dict(Counter(f["department"] for f in members if f.get("department"))),
            "regions": dict(Counter(f["region"] for f in members if f.get("region"))),
            "solved": solved, "unsolved": len(members) - solved,
            "trend": [{"period": w, "count": per_week.get(w, 0)} for w in weeks],
            "first_at": anchor["received_at"], "last_at": max(f["received_at"] for f in members),
            "updated_at": now,
        })
    return docs
