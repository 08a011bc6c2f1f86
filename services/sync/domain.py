"""Sync rules, pure: which case events must be carried to a remote platform."""

from typing import Any

from shared.contracts.envelope import CaseEvent
from shared.store import Change


def outbound(doc: dict[str, Any] | None, event: CaseEvent, *, city_level: int, hotline_channel: str) -> Change | None:
    """Remember the cases a remote side must hear about, and what it must hear."""
    data = event.data
    if event.type == "case.registered" and data["channel"] == hotline_channel:
        return Change(set={"hotline_submission_id": data["submission_id"], "targets": ["hotline"]})
    if event.type == "case.escalated" and data["to_level"] >= city_level:
        targets = sorted({*(doc or {}).get("targets", []), "city"})
        return Change(set={"targets": targets, "city_state": "to_send", "escalation_reason": data["reason"]})
    if doc is not None and event.type in ("case.resolved", "case.rated", "case.closed"):
        return Change(push={"updates": {"type": event.type, "event_id": event.event_id, "state": "to_send"}})
    return None
