"""Rating rules, pure: which resolved cases wait for the enterprise's rating."""

from typing import Any

from shared.contracts.envelope import CaseEvent
from shared.store import Change


def track(doc: dict[str, Any] | None, event: CaseEvent, satisfied_levels: frozenset[str]) -> Change | None:
    data = event.data
    if event.type == "case.resolved":
        # A resolution (first or after a reopening) opens a new round of rating.
        rounds = (doc or {}).get("rounds", 0) + 1
        return Change(set={"state": "awaiting_rating", "rounds": rounds, "resolved_at": data["resolved_at"],
                           "resolved_by": data["by"]})
    if doc is None:
        return None
    if event.type == "case.rated":
        return Change(set={"state": "rated", "level": data["level"], "satisfied": data["level"] in satisfied_levels})
    if event.type == "case.reopened":
        return Change(set={"state": "reopened"})
    return None
