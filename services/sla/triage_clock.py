"""Triage's own clock, pure: the enterprise service centre screens and assigns within 1 working day of receipt.

The clock starts at `case.registered` (due one working day after `received_at`, the same working-day rule as the
"123" deadlines) and stops at the first `case.assigned`, or at a terminal screening in `case.triaged`
(`non_business`, `duplicate`). An `unclear` screening pauses it (the enterprise owes details): the working time left
is kept and the clock runs again from `case.detail_added` (or a later `accepted` screening). When it passes with the
clock running, sla publishes once `case.reminded` with `kind: "triage_due"`, `level: 0` (triage comes before the
escalation ladder, whose level 1 is the unit) and `department: null`.

One record per case in the `triage_clocks` collection; its `next_fire_at` is what the sweep looks at.
"""

from datetime import datetime
from typing import Any

from shared.contracts.case_events import Reminded
from shared.contracts.envelope import CaseEvent
from shared.store import Change
from shared.workdays import WorkCalendar

KIND = "triage_due"
LEVEL = 0  # before the ladder
RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
TERMINAL_SCREENINGS = ("non_business", "duplicate")


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _next_fire(doc: dict[str, Any]) -> datetime | None:
    return doc["due_at"] if doc.get("state") == RUNNING and not doc.get("fired") else None


def _change(doc: dict[str, Any], change: dict[str, Any]) -> Change:
    new = {**doc, **change}
    return Change(set={**change, "next_fire_at": _next_fire(new)})


def track(doc: dict[str, Any] | None, event: CaseEvent, calendar: WorkCalendar,
          partition: int | None = None) -> Change | None:
    """Fold a case event into the triage clock record (None: nothing changes)."""
    data = event.data
    if event.type == "case.registered":
        if doc is not None:
            return None  # one clock per case, from its first receipt
        received = _dt(data.get("received_at")) or event.occurred_at
        new = {"state": RUNNING, "received_at": received, "due_at": calendar.add_working_days(received, 1),
               "remaining_seconds": None, "fired": False, "stopped_by": None, "partition": partition}
        return Change(set={**new, "next_fire_at": _next_fire(new)})
    if doc is None or doc.get("state") == STOPPED:
        return None
    state = doc["state"]
    if event.type == "case.assigned":
        return _change(doc, {"state": STOPPED, "stopped_by": "case.assigned", "stopped_at": event.occurred_at})
    if event.type == "case.triaged":
        screening = data.get("screening")
        if screening in TERMINAL_SCREENINGS:
            return _change(doc, {"state": STOPPED, "stopped_by": screening, "stopped_at": event.occurred_at})
        if screening == "unclear" and state == RUNNING:
            left = calendar.working_seconds_between(event.occurred_at, doc["due_at"]) \
                if event.occurred_at < doc["due_at"] else 0.0
            return _change(doc, {"state": PAUSED, "paused_at": event.occurred_at, "remaining_seconds": left})
        if screening == "accepted" and state == PAUSED:
            return _resume(doc, event.occurred_at, calendar)
        return None
    if event.type == "case.detail_added" and state == PAUSED:
        return _resume(doc, event.occurred_at, calendar)
    return None


def _resume(doc: dict[str, Any], at: datetime, calendar: WorkCalendar) -> Change:
    left = doc.get("remaining_seconds") or 0.0
    due = calendar.add_working_seconds(at, left) if left > 0 else at
    return _change(doc, {"state": RUNNING, "due_at": due, "remaining_seconds": None, "resumed_at": at})


def fire(doc: dict[str, Any] | None, *, case_id: str, now: datetime) -> Change | None:
    """The triage-due reminder, once, when the running clock has passed (None: nothing due)."""
    at = _next_fire(doc) if doc is not None else None
    if at is None or at > now:
        return None
    event = CaseEvent.new(cause=f"triage-clock:{case_id}", type="case.reminded", case_id=case_id, occurred_at=now,
                          data=Reminded(due_at=at, level=LEVEL, kind=KIND, department=None))
    return Change(set={"fired": True, "fired_at": now, "next_fire_at": None, "lag_seconds": (now - at).total_seconds()},
                  events=[event])
