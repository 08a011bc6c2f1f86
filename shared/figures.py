"""The figures of the evaluation, each defined once (docs/metrics.md), pure.

rating (its figures API and Prometheus gauges) and insight (boards, 晾晒 rankings, reports) both fold the public
case events into their own documents; each turns a case into a `Record` and asks this module for every figure
they share, so one set of events gives one 满意率 wherever it is shown.

- A case's figures count for the unit that holds it now (its latest `case.assigned`) and in the period in which
  it was received; the callers choose the cases, this module counts them.
- Every rating, evaluation and on-time flag belongs to one resolution round (round 1 = the first `case.resolved`;
  a reopened case resolved again is round 2). Each round is rated at most once by the enterprise.
- An enterprise rating excluded on appeal (申诉复核, `case.rating_reviewed` decision `excluded`) stays on record and
  counts nowhere: not in 满意率, 不满意数, 已评价数 or 未评价率 (numerator or denominator).
"""

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

SOURCES = ("enterprise", "business_office", "third_party")
SOURCE_NAMES = {"enterprise": "企业评价", "business_office": "营商办评价", "third_party": "第三方评价"}
DEFAULT_WEIGHTS = {"enterprise": 0.6, "business_office": 0.2, "third_party": 0.2}


@dataclass(frozen=True)
class Round:
    """One resolution of a case and what was said of it."""

    number: int
    on_time: bool | None = None
    rated: bool | None = None  # the enterprise's rating: True satisfied, False not, None unrated
    excluded: bool = False  # that rating was excluded on appeal
    office: bool | None = None  # 营商办's evaluation: satisfied or not, None none
    third_party: bool | None = None  # a third-party survey's


@dataclass(frozen=True)
class Record:
    case_id: str
    rounds: tuple[Round, ...] = ()
    assigned_at: datetime | None = None  # the first assignment
    accepted_at: datetime | None = None  # the first 签收
    extra: Mapping[str, Any] = field(default_factory=dict)


class Rate(NamedTuple):
    hits: int
    n: int

    @property
    def value(self) -> float | None:
        """hits / n to 4 decimals; None when nothing is behind it (never 0 % or 100 %)."""
        return round(self.hits / self.n, 4) if self.n else None

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "n": self.n, "hits": self.hits}


# ------------------------------------------------------------------------------ one case's part of each figure

def counted_ratings(r: Record) -> list[Round]:
    """The rounds whose enterprise rating counts (given and not excluded)."""
    return [x for x in r.rounds if x.rated is not None and not x.excluded]


def satisfaction(r: Record) -> Rate:
    """满意率: counted ratings that are satisfied / counted ratings."""
    counted = counted_ratings(r)
    return Rate(sum(1 for x in counted if x.rated), len(counted))


def dissatisfied(r: Record) -> int:
    """不满意数: counted ratings that are not satisfied."""
    return sum(1 for x in counted_ratings(r) if not x.rated)


def excluded(r: Record) -> int:
    """Ratings excluded on appeal (on record, in no figure)."""
    return sum(1 for x in r.rounds if x.rated is not None and x.excluded)


def unrated(r: Record) -> Rate:
    """未评价率: resolutions without an enterprise rating / resolutions (rounds with an excluded rating left out)."""
    base = [x for x in r.rounds if not (x.rated is not None and x.excluded)]
    return Rate(sum(1 for x in base if x.rated is None), len(base))


def on_time(r: Record) -> Rate:
    """按期办结率: resolutions made by their deadline / resolutions (each round once)."""
    known = [x for x in r.rounds if x.on_time is not None]
    return Rate(sum(1 for x in known if x.on_time), len(known))


Closes = Callable[[datetime], datetime | None]  # the close of the response window of an assignment


def responded(r: Record, closes: Closes, now: datetime) -> Rate:
    """响应率 (一般不过夜): a case assigned is answered when its unit accepted it (签收) by the close of the office day
    of its first assignment (an assignment after hours or on a rest day: by the close of the next office day, as
    `closes` says). A case counts once its window has closed or it was accepted."""
    if r.assigned_at is None:
        return Rate(0, 0)
    due = closes(r.assigned_at)
    if r.accepted_at is not None:
        return Rate(int(due is None or r.accepted_at <= due), 1)
    return Rate(0, 1) if due is not None and now > due else Rate(0, 0)


RESPONSE_LATE_SECONDS = 2 * 3600.0  # less office time than this left in the day: the next working morning


def response_deadline(calendar: Any, assigned_at: datetime, late_seconds: float = RESPONSE_LATE_SECONDS) -> datetime:
    """The unit's response deadline (签收) for an assignment at `assigned_at`, "一般不过夜、最多过一夜": the close of
    that office day, or the end of the next working morning when less than `late_seconds` of office time is left
    that day (or it came after hours or on a rest day). The one definition: sla's timers and 响应率, insight's
    boards and reports all use it (docs/metrics.md)."""
    local = assigned_at.astimezone(calendar.tz)
    closes: datetime | None = calendar.end_of_office_day(local)
    if closes is not None and calendar.working_seconds_between(local, closes) >= late_seconds:
        return closes
    day = local.date() if calendar.is_working_day(local.date()) and local.time() < calendar.hours.opens \
        else calendar.next_working_day(local.date())
    return datetime.combine(day, calendar.hours.periods[0][1], tzinfo=calendar.tz)


def office_day_close(calendar: Any, late_seconds: float = RESPONSE_LATE_SECONDS) -> Closes:
    """`closes` for responded(): the response deadline of an assignment, by a shared.workdays.WorkCalendar."""

    def closes(at: datetime) -> datetime:
        return response_deadline(calendar, at, late_seconds)

    return closes


def source_rate(r: Record, source: str) -> Rate:
    """One evaluation source's 满意率 over the rounds it evaluated."""
    if source == "enterprise":
        return satisfaction(r)
    values = [x.office if source == "business_office" else x.third_party for x in r.rounds]
    given = [v for v in values if v is not None]
    return Rate(sum(1 for v in given if v), len(given))


# ------------------------------------------------------------------------------ a set of cases

def total(rates: Iterable[Rate]) -> Rate:
    hits = n = 0
    for rate in rates:
        hits, n = hits + rate.hits, n + rate.n
    return Rate(hits, n)


def combined(rates: Mapping[str, Rate], weights: Mapping[str, float] | None = None) -> float | None:
    """综合满意率: the weighted mean of the sources' 满意率, over the sources that have evaluations (their weights
    renormalised); None when none has."""
    weights = weights or DEFAULT_WEIGHTS
    parts = [(weights.get(s, 0.0), value) for s in SOURCES if s in rates and (value := rates[s].value) is not None]
    weight = sum(w for w, _ in parts)
    if not parts or weight <= 0:
        return None
    return round(sum(w * v for w, v in parts) / weight, 4)


def evaluation(records: Iterable[Record], weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """Each source's 满意率 and the combined one, with the weights used."""
    records = list(records)
    rates = {s: total(source_rate(r, s) for r in records) for s in SOURCES}
    return {**{s: rates[s].as_dict() for s in SOURCES}, "combined": combined(rates, weights),
            "weights": dict(weights or DEFAULT_WEIGHTS)}


def summary(records: Iterable[Record], *, closes: Closes | None = None, now: datetime | None = None,
            weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The shared figures of a set of cases, under the names of docs/metrics.md."""
    records = list(records)
    sat = total(satisfaction(r) for r in records)
    out: dict[str, Any] = {
        "resolutions": sum(len(r.rounds) for r in records),
        "rated": sat.n,
        "satisfied": sat.hits,
        "dissatisfied": sum(dissatisfied(r) for r in records),
        "excluded": sum(excluded(r) for r in records),
        "satisfaction_rate": sat.as_dict(),
        "unrated_rate": total(unrated(r) for r in records).as_dict(),
        "on_time_rate": total(on_time(r) for r in records).as_dict(),
        "evaluation": evaluation(records, weights),
    }
    if closes is not None and now is not None:
        out["response_rate"] = total(responded(r, closes, now) for r in records).as_dict()
    return out


def recurrences(cases: Iterable[tuple[str, str | None]], closer_of: Mapping[str, str | None]) -> dict[str, list[str]]:
    """回头件: unit -> the new cases (case id, recurrence_of) whose earlier case that unit closed (销号)."""
    out: dict[str, list[str]] = defaultdict(list)
    for case_id, earlier in cases:
        unit = closer_of.get(earlier) if earlier else None
        if unit:
            out[unit].append(case_id)
    return {unit: sorted(ids) for unit, ids in sorted(out.items())}
