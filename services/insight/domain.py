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

from shared import figures as shared_figures
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
    folder = _FOLDS.get(event.type)
    return folder(event.data, facts or {}, event) if folder is not None else None


def _registered(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    enterprise = data.get("enterprise") or {}
    return {
        "received_at": _when(data.get("received_at")) or event.occurred_at,
        "channel": data.get("channel"), "tracking_no": data.get("tracking_no"),
        "enterprise": enterprise.get("name"), "content": data.get("content", ""), "title": data.get("title"),
        "liaison": _optional_code(data.get("liaison_officer") or data.get("liaison")),
        "visit_id": data.get("visit_id"),
        "industry": _optional_code(data.get("industry") or enterprise.get("industry")),
        "state": facts.get("state") or "registered",
    }


def _triaged(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    screening = data.get("screening")
    out: Facts = {"screening": screening, "duplicate": screening == "duplicate"}
    if data.get("recurrence_of"):
        out["recurrence_of"] = data["recurrence_of"]  # 回头件: a problem back after its case was closed
    for field in ("department", "region", "complexity"):
        if data.get(field):
            out[field] = data[field]
    if facts.get("state") in (None, "registered", "triaged", "screened_out", "awaiting_detail", "duplicate"):
        out["state"] = STATE_AFTER_SCREENING.get(screening or "", "triaged")
    return out


def _assigned(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    return {"department": data["department"], "region": data.get("region") or facts.get("region"),
            "complexity": data.get("complexity"), "assigned_at": facts.get("assigned_at") or event.occurred_at,
            "due_at": _when(data["due_at"]), "escalation_level": data.get("escalation_level", 0),
            "state": "assigned"}


def _accepted(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    out = {"state": "in_progress", "department": data.get("department") or facts.get("department")}
    if not facts.get("accepted_at"):
        out |= {"accepted_at": event.occurred_at, "accepted_by": data.get("by")}
    return out


def _resolved(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    number = facts.get("resolutions", 0) + 1
    return {"state": "resolved", "resolved_at": _when(data["resolved_at"]), "on_time": bool(data["on_time"]),
            "resolution": data.get("resolution", ""), "resolved_by": data.get("by"), "resolutions": number,
            "rounds": _round(facts, number, on_time=bool(data["on_time"]))}


def _rated(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    number = data.get("round") or facts.get("resolutions") or 1
    if (facts.get("rounds") or {}).get(str(number), {}).get("rated") is not None:
        return None  # each resolution is rated once
    return {"rating_level": data.get("level"), "satisfied": bool(data.get("satisfied")),
            "rated_at": event.occurred_at, "rounds": _round(facts, number, rated=bool(data.get("satisfied")))}


def _rating_reviewed(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    number = str(data.get("round") or 1)
    return {"rounds": _round(facts, int(number), excluded=data.get("decision") == "excluded")}


def _evaluated(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    number = int(data.get("round") or facts.get("resolutions") or 1)
    field = {"business_office": "office", "third_party": "third_party"}.get(data.get("source") or "")
    if field is None or (facts.get("rounds") or {}).get(str(number), {}).get(field) is not None:
        return None  # one evaluation per source and round
    return {"rounds": _round(facts, number, **{field: bool(data.get("satisfied"))})}


def _closed(data: dict[str, Any], facts: Facts, event: CaseEvent) -> Facts | None:
    return {"state": "closed", "closed_at": _when(data.get("closed_at")) or event.occurred_at,
            "closed_unit": facts.get("department")}


# event type -> the fields it sets (data, facts so far, event)
_FOLDS: dict[str, Callable[[dict[str, Any], Facts, CaseEvent], Facts | None]] = {
    "case.registered": _registered,
    "case.triaged": _triaged,
    "case.assigned": _assigned,
    "case.accepted": _accepted,
    "case.resolved": _resolved,
    "case.rated": _rated,
    "case.rating_reviewed": _rating_reviewed,
    "case.evaluated": _evaluated,
    "case.reopened": lambda data, facts, _: {"state": "reopened", "reopened": facts.get("reopened", 0) + 1,
                                             "due_at": _when(data["due_at"])},
    "case.escalated": lambda data, facts, _: {"escalations": facts.get("escalations", 0) + 1,
                                              "escalation_level": data.get("to_level")},
    "case.overdue": lambda _, facts, __: {"overdue": facts.get("overdue", 0) + 1},
    "case.referred": lambda *_: {"referred": True},
    "case.returned": lambda _, facts, __: {"returns": facts.get("returns", 0) + 1},
    "case.closed": _closed,
}


def _round(facts: Facts, number: int, **values: Any) -> dict[str, dict[str, Any]]:
    """The case's rounds (one per resolution) with `values` set on round `number` (a new dict: facts are folded
    as whole fields)."""
    rounds = {k: dict(v) for k, v in (facts.get("rounds") or {}).items()}
    rounds.setdefault(str(number), {}).update(values)
    return rounds


FACT_FIELDS = ("received_at", "channel", "tracking_no", "enterprise", "content", "title", "liaison", "industry",
               "state", "screening", "duplicate", "department", "region", "complexity", "assigned_at", "due_at",
               "escalation_level", "accepted_at", "accepted_by", "resolved_at", "on_time", "resolution",
               "resolved_by", "resolutions", "rating_level", "satisfied", "rated_at", "reopened", "escalations",
               "overdue", "referred", "returns", "closed_at", "visit_id", "recurrence_of", "rounds", "closed_unit")


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
    months = start.month - 1 + step  # from January of the start's year to the end's month
    return start, date(start.year + months // 12, months % 12 + 1, 1)


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


def record_of(f: Facts) -> shared_figures.Record:
    """A case's facts as shared/figures.py reads them (facts folded before rounds were kept: one round)."""
    rounds = f.get("rounds")
    if rounds is None and f.get("resolutions"):
        rounds = {"1": {"on_time": f.get("on_time"), "rated": f.get("satisfied")}}
    return shared_figures.Record(
        case_id=f.get("_id", ""),
        rounds=tuple(shared_figures.Round(number=int(k), on_time=v.get("on_time"), rated=v.get("rated"),
                                          excluded=bool(v.get("excluded")), office=v.get("office"),
                                          third_party=v.get("third_party"))
                     for k, v in sorted((rounds or {}).items(), key=lambda kv: int(kv[0]))),
        assigned_at=f.get("assigned_at"), accepted_at=f.get("accepted_at"))


def _rec(f: Facts, r: shared_figures.Record | None) -> shared_figures.Record:
    return r if r is not None else record_of(f)


# Each takes a case's facts and, optionally, its record (record_of) when the caller has it already.
# name -> how much a case adds to it: cases (True/False) or, for ratings, how many of its ratings
COUNTS: dict[str, Callable[..., int]] = {
    "received": lambda f, r=None: True,
    "accepted": lambda f, r=None: f.get("accepted_at") is not None,
    "assigned": lambda f, r=None: f.get("assigned_at") is not None,
    "resolved": lambda f, r=None: _solved(f),
    "rated": lambda f, r=None: len(shared_figures.counted_ratings(_rec(f, r))),
    "dissatisfied": lambda f, r=None: shared_figures.dissatisfied(_rec(f, r)),
    "excluded": lambda f, r=None: shared_figures.excluded(_rec(f, r)),
    "overdue": lambda f, r=None: f.get("overdue", 0) > 0,
    "reopened": lambda f, r=None: f.get("reopened", 0) > 0,
    "escalated": lambda f, r=None: f.get("escalations", 0) > 0,
    "duplicates": lambda f, r=None: bool(f.get("duplicate")),
    "referred": lambda f, r=None: bool(f.get("referred")),
    "recurrences": lambda f, r=None: bool(f.get("recurrence_of")),
}
# name -> a case's part of the rate (hits, n); the rate is the sums' quotient
RATES: dict[str, Callable[..., shared_figures.Rate]] = {
    "on_time_rate": lambda f, r=None: shared_figures.on_time(_rec(f, r)),
    "resolution_rate": lambda f, r=None: shared_figures.Rate(int(_solved(f)), 1) if f.get("assigned_at") is not None
    else shared_figures.Rate(0, 0),
    "satisfaction_rate": lambda f, r=None: shared_figures.satisfaction(_rec(f, r)),
    "unrated_rate": lambda f, r=None: shared_figures.unrated(_rec(f, r)),
}
FIGURE_NAMES = {
    "received": "受理问题数", "accepted": "签收数", "assigned": "交办数", "resolved": "已办结数", "rated": "已评价数",
    "dissatisfied": "不满意数", "excluded": "申诉核减评价数", "overdue": "超期件数", "reopened": "重新办理数",
    "escalated": "提级督办数", "duplicates": "重复问题数", "referred": "移送纪委数", "recurrences": "回头件数",
    "closed_recurrences": "回头件数(按销号单位)", "on_time_rate": "按期办结率", "resolution_rate": "解决率",
    "satisfaction_rate": "满意率", "unrated_rate": "未评价率", "response_rate": "响应率",
    "response_hours": "平均响应时长(小时)", "combined_satisfaction": "综合满意率",
}


def office_close() -> shared_figures.Closes:
    from shared.workdays import default_calendar  # the holiday schedule is read once, when first needed

    return shared_figures.office_day_close(default_calendar())


def response_hours(f: Facts) -> float | None:
    if f.get("accepted_at") is None or f.get("received_at") is None:
        return None
    waited: timedelta = f["accepted_at"] - f["received_at"]
    return max(waited.total_seconds(), 0.0) / 3600


def figures(facts: Iterable[Facts], now: datetime | None = None, *, closes: shared_figures.Closes | None = None,
            weights: dict[str, float] | None = None) -> dict[str, dict[str, Any]]:
    """Every figure of a set of cases; each says how many cases (or ratings) it rests on (`n`).

    `now` is when the figures are asked (响应率 counts a case whose window is still open only once answered);
    without it there is no 响应率.
    """
    cases = [(f, record_of(f)) for f in facts if f.get("received_at") is not None]
    out: dict[str, dict[str, Any]] = {}
    for name, counts in COUNTS.items():
        out[name] = {"value": sum(int(counts(f, r)) for f, r in cases), "n": len(cases)}
    for name, part in RATES.items():
        out[name] = shared_figures.total(part(f, r) for f, r in cases).as_dict()
    if now is not None:
        close = closes or office_close()
        out["response_rate"] = shared_figures.total(shared_figures.responded(r, close, now) for _, r in cases).as_dict()
    hours = [h for h in (response_hours(f) for f, _ in cases) if h is not None]
    out["response_hours"] = {"value": round(statistics.fmean(hours), 2) if hours else None,
                             "median": round(statistics.median(hours), 2) if hours else None, "n": len(hours)}
    out["evaluation"] = shared_figures.evaluation((r for _, r in cases), weights)
    out["combined_satisfaction"] = {"value": out["evaluation"]["combined"], "n": out["evaluation"]["enterprise"]["n"]}
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


def figures_by(facts: Iterable[Facts], dimension: str, now: datetime | None = None, *,
               closes: shared_figures.Closes | None = None,
               weights: dict[str, float] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    return {key: figures(cases, now, closes=closes, weights=weights)
            for key, cases in sorted(by_dimension(facts, dimension).items())}


def closed_recurrences(facts: Iterable[Facts], earlier: dict[str, Facts]) -> dict[str, list[str]]:
    """回头件 by the unit that closed (销号) the earlier case: unit -> the new cases. `earlier`: the closed cases the
    new ones name (`recurrence_of`), by id."""
    closer = {case_id: f.get("closed_unit") or f.get("department") for case_id, f in earlier.items()}
    return shared_figures.recurrences(((f["_id"], f.get("recurrence_of")) for f in facts), closer)


def add_recurrences(groups: dict[str, dict[str, dict[str, Any]]], found: dict[str, list[str]],
                    received: int | None = None) -> None:
    """Put each unit's 回头件 (against the unit that closed the earlier case) on its figures."""
    for unit, case_ids in found.items():
        figs = groups.setdefault(unit, figures([]))
        figs["closed_recurrences"] = {"value": len(case_ids), "n": len(case_ids), "case_ids": case_ids}
    for figs in groups.values():
        figs.setdefault("closed_recurrences", {"value": 0, "n": 0, "case_ids": []})


LIAISON_MEASURES = {"visits": "走访次数", "found": "发现问题数", "solved": "解决问题数", "satisfaction": "满意率"}


def liaison_board(facts: Iterable[Facts], names: dict[str, str], by: str = "solved") -> list[dict[str, Any]]:
    """助企联络员晾晒: per officer, visits (distinct visit ids), problems found (cases), problems solved (resolved
    or closed now), and the 满意率 of their cases (shared/figures.py); ordered by `by`, then the others."""
    if by not in LIAISON_MEASURES:
        raise ValueError(f"by must be one of {tuple(LIAISON_MEASURES)}")
    entries: list[dict[str, Any]] = []
    for officer, cases in by_dimension(facts, "liaison").items():
        sat = shared_figures.total(shared_figures.satisfaction(record_of(f)) for f in cases)
        entries.append({"officer_id": officer, "name": names.get(officer) or officer, "named": officer in names,
                        "visits": len({f["visit_id"] for f in cases if f.get("visit_id")}), "found": len(cases),
                        "solved": sum(1 for f in cases if _solved(f)), "satisfaction": sat.as_dict(),
                        "case_ids": sorted(f["_id"] for f in cases)[:50]})

    def value(entry: dict[str, Any], measure: str) -> float:
        v = entry["satisfaction"]["value"] if measure == "satisfaction" else entry[measure]
        return -1.0 if v is None else float(v)

    order = [by] + [m for m in LIAISON_MEASURES if m != by]
    entries.sort(key=lambda e: (*(-value(e, m) for m in order), e["officer_id"]))
    for measure in LIAISON_MEASURES:  # each officer's place on each measure (1 = best; equal values share it)
        for e in entries:
            e.setdefault("ranks", {})[measure] = 1 + sum(1 for o in entries if value(o, measure) > value(e, measure))
    for place, e in enumerate(entries, start=1):
        e["place"] = place
    return entries


def cases_behind(cases: list[Facts], metric: str, polarity: str) -> list[Facts]:
    """The cases behind a ranking entry: for a negative rate the ones that miss, for a positive one those that hit."""
    if metric in RATES:
        parts = [(f, RATES[metric](f, record_of(f))) for f in cases]
        if polarity == "positive":
            return [f for f, rate in parts if rate.hits > 0]
        return [f for f, rate in parts if rate.n > rate.hits]
    if metric in COUNTS:
        return [f for f in cases if COUNTS[metric](f, record_of(f))]
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
        figs = figures(cases, now)
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
