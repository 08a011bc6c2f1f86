"""The figures rating shows (its API and the `qhwy_rating_*` gauges), pure; computed in Python from the case files
(FerretDB's $group has only $sum/$count).

The figures insight shows too (满意率, 不满意数, 未评价率, 按期办结率, each source's evaluation and the combined one)
come from shared/figures.py, so both services give one value for one set of events (docs/metrics.md). As there,
a case counts for the unit that holds it now and in the period in which it was received.

rating's own figures, one per resolution round:
- rectified_share = referred rounds whose next resolution was rated satisfied (not excluded) / referred rounds
- revisit_coverage = rounds with at least one revisit / resolved rounds
- referred, reopened = rounds referred to the oversight unit / reopened
"""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared import figures as shared

DIMENSIONS = ("unit", "region", "month", "county")
UNKNOWN = "unknown"


def _ordered(doc: dict[str, Any]) -> list[dict[str, Any]]:
    rounds = doc.get("rounds", {})
    return [rounds[k] for k in sorted(rounds, key=int)]


def _verdict(evaluation: dict[str, Any] | None) -> bool | None:
    return None if evaluation is None else bool(evaluation.get("satisfied"))


def record_of(doc: dict[str, Any]) -> shared.Record:
    """A case file as shared/figures.py reads it."""
    rounds = []
    for r in _ordered(doc):
        rating, evaluations = r.get("rating"), r.get("evaluations") or {}
        rounds.append(shared.Round(
            number=int(r["number"]), on_time=r.get("on_time"),
            rated=None if rating is None else bool(rating.get("satisfied")),
            excluded=bool(rating and rating.get("excluded")),
            office=_verdict(evaluations.get("business_office")), third_party=_verdict(evaluations.get("third_party"))))
    return shared.Record(case_id=doc["_id"], rounds=tuple(rounds))


def received_at(doc: dict[str, Any]) -> datetime | None:
    """When the case was received (its period); a case file that missed its registration: its first resolution."""
    if doc.get("received_at") is not None:
        return doc["received_at"]
    ordered = _ordered(doc)
    return ordered[0]["resolved_at"] if ordered else None


def _own(docs: list[dict[str, Any]]) -> dict[str, Any]:
    referred = rectified = revisited = reopened = resolved = 0
    for doc in docs:
        ordered = _ordered(doc)
        for i, r in enumerate(ordered):
            resolved += 1
            revisited += bool(r.get("revisits"))
            reopened += bool(r.get("reopened"))
            if r.get("referred"):
                referred += 1
                following = ordered[i + 1].get("rating") if i + 1 < len(ordered) else None
                rectified += bool(following and following.get("satisfied") and not following.get("excluded"))
    return {"resolved": resolved, "referred": referred, "rectified": rectified, "revisited": revisited,
            "reopened": reopened, "rectified_share": shared.Rate(rectified, referred).value,
            "revisit_coverage": shared.Rate(revisited, resolved).value}


def summarise(docs: Iterable[dict[str, Any]], weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    docs = list(docs)
    common = shared.summary([record_of(d) for d in docs], weights=weights)
    unrated = common["unrated_rate"]
    return {
        **_own(docs),
        "cases": len(docs), "rated": common["rated"], "satisfied": common["satisfied"],
        "dissatisfied": common["dissatisfied"], "excluded": common["excluded"], "unrated": unrated["hits"],
        "satisfaction_rate": common["satisfaction_rate"]["value"], "unrated_rate": unrated["value"],
        "on_time_rate": common["on_time_rate"]["value"], "evaluation": common["evaluation"],
    }


def key_of(doc: dict[str, Any], dimension: str, tz: ZoneInfo) -> str:
    if dimension == "unit":
        return doc.get("department") or UNKNOWN
    if dimension == "region":
        return doc.get("region") or UNKNOWN
    if dimension == "month":
        at = received_at(doc)
        return at.astimezone(tz).strftime("%Y-%m") if at else UNKNOWN
    return "all"


def figures(docs: Iterable[dict[str, Any]], dimension: str, tz: ZoneInfo, start: datetime | None = None,
            end: datetime | None = None, weights: Mapping[str, float] | None = None) -> dict[str, Any]:
    """The figures of the cases received in [start, end), grouped by unit, region, month or the whole county."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension must be one of {DIMENSIONS}")
    selected = []
    for doc in docs:
        at = received_at(doc)
        if at is None or (start is not None and at < start) or (end is not None and at >= end):
            continue
        selected.append(doc)
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for doc in selected:
        groups[key_of(doc, dimension, tz)].append(doc)
    return {"by": dimension, "total": summarise(selected, weights),
            "groups": [{"key": key, **summarise(group, weights)} for key, group in sorted(groups.items())]}
