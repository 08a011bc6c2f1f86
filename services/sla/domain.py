"""SLA rules, pure: the deadline record each event leaves, and when a case becomes overdue."""

from datetime import datetime
from typing import Any

from shared.contracts.case_events import Overdue
from shared.contracts.envelope import CaseEvent
from shared.store import Change


def track(doc: dict[str, Any] | None, event: CaseEvent) -> Change | None:
    """Fold a case event into the deadline record."""
    data = event.data
    if event.type == "case.assigned":
        return Change(set={
            "state": "open", "department": data["department"], "co_departments": data.get("co_departments", []),
            "region": data.get("region"), "complexity": data["complexity"],
            "escalation_level": data["escalation_level"], "assigned_at": event.occurred_at,
            "due_at": datetime.fromisoformat(data["due_at"]), "overdue_announced": False,
        })
    if doc is None:
        return None  # only assigned cases have a clock
    if event.type == "case.escalated":
        return Change(set={"escalation_level": data["to_level"]})
    if event.type == "case.resolved":
        return Change(set={"state": "resolved", "resolved_at": datetime.fromisoformat(data["resolved_at"]),
                           "on_time": data["on_time"]})
    if event.type == "case.reopened":
        return Change(set={"state": "open", "due_at": datetime.fromisoformat(data["due_at"]),
                           "overdue_announced": False})
    if event.type == "case.closed":
        return Change(set={"state": "closed"})
    return None


def overdue_cause(case_id: str, due_at: datetime) -> str:
    """One announcement per deadline: a reopened case with a new deadline can be overdue again."""
    return f"overdue:{case_id}:{due_at.isoformat()}"


def announce_overdue(doc: dict[str, Any] | None, *, case_id: str, due_at: datetime, now: datetime) -> Change | None:
    if doc is None or doc.get("state") != "open" or doc["due_at"] != due_at or now < due_at:
        return None
    event = CaseEvent.new(cause=overdue_cause(case_id, due_at), type="case.overdue", case_id=case_id,
                          occurred_at=now, data=Overdue(due_at=due_at, escalation_level=doc["escalation_level"]))
    return Change(set={"overdue_announced": True}, events=[event])
