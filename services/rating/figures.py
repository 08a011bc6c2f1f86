"""The figures rating owns, pure: computed from case files in Python (FerretDB's $group has only $sum/$count).

One row per resolution (round). A round counts in the period of its resolution.
- 满意率 satisfaction_rate = satisfied / counted ratings (excluded ratings stay on record and out of the rates)
- 未评价率 unrated_rate = resolved rounds without a rating / resolved rounds
- rectified_share = referred rounds whose next resolution was rated satisfied / referred rounds
- revisit_coverage = rounds with at least one revisit / resolved rounds
- dissatisfied = counted ratings that are not satisfied; reopened = rounds reopened
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

DIMENSIONS = ("unit", "region", "month", "county")
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Row:
    case_id: str
    round: int
    unit: str
    region: str
    resolved_at: datetime
    rated: bool
    counted: bool
    satisfied: bool
    excluded: bool
    revisited: bool
    referred: bool
    rectified: bool
    reopened: bool


def rows_of(doc: dict[str, Any]) -> list[Row]:
    rounds = doc.get("rounds", {})
    out = []
    for key in sorted(rounds, key=int):
        r = rounds[key]
        rating = r.get("rating")
        following = rounds.get(str(int(key) + 1))
        next_rating = (following or {}).get("rating")
        rated = rating is not None
        excluded = bool(rated and rating.get("excluded"))
        out.append(Row(
            case_id=doc["_id"], round=int(key), unit=doc.get("department") or UNKNOWN,
            region=doc.get("region") or UNKNOWN, resolved_at=r["resolved_at"], rated=rated,
            counted=rated and not excluded, satisfied=bool(rated and not excluded and rating["satisfied"]),
            excluded=excluded, revisited=bool(r.get("revisits")), referred=bool(r.get("referred")),
            rectified=bool(r.get("referred") and next_rating is not None and next_rating["satisfied"]),
            reopened=bool(r.get("reopened")),
        ))
    return out


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def summarise(rows: Iterable[Row]) -> dict[str, Any]:
    rows = list(rows)
    resolved = len(rows)
    rated = sum(r.rated for r in rows)
    counted = sum(r.counted for r in rows)
    satisfied = sum(r.satisfied for r in rows)
    referred = sum(r.referred for r in rows)
    rectified = sum(r.rectified for r in rows)
    revisited = sum(r.revisited for r in rows)
    return {
        "resolved": resolved, "rated": rated, "counted": counted, "excluded": sum(r.excluded for r in rows),
        "satisfied": satisfied, "dissatisfied": counted - satisfied, "unrated": resolved - rated,
        "referred": referred, "rectified": rectified, "revisited": revisited,
        "reopened": sum(r.reopened for r in rows),
        "satisfaction_rate": _ratio(satisfied, counted), "unrated_rate": _ratio(resolved - rated, resolved),
        "rectified_share": _ratio(rectified, referred), "revisit_coverage": _ratio(revisited, resolved),
    }


def key_of(row: Row, dimension: str, tz: ZoneInfo) -> str:
    if dimension == "unit":
        return row.unit
    if dimension == "region":
        return row.region
    if dimension == "month":
        return row.resolved_at.astimezone(tz).strftime("%Y-%m")
    return "all"


def figures(rows: Iterable[Row], dimension: str, tz: ZoneInfo, start: datetime | None = None,
            end: datetime | None = None) -> dict[str, Any]:
    """The figures of the rounds resolved in [start, end), grouped by unit, region, month or the whole county."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    selected = [r for r in rows if (start is None or r.resolved_at >= start) and (end is None or r.resolved_at < end)]
    groups: dict[str, list[Row]] = defaultdict(list)
    for row in selected:
        groups[key_of(row, dimension, tz)].append(row)
    return {"by": dimension, "total": summarise(selected),
            "groups": [{"key": key, **summarise(group)} for key, group in sorted(groups.items())]}
