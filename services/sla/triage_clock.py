"""Triage's own clock, pure: the enterprise service centre screens and assigns within 1 working day of receipt.

The clock starts at `case.registered` (due one working day after `received_at`, the same working-day rule as the
"123" deadlines) and stops at the first `case.assigned`, or at a terminal screening in `case.triaged`
(`non_business`, `duplicate`). An `unclear` screening pauses it (the enterprise owes details): the working time left
is kept and the clock runs again from `case.detail_added` (or a later `accepted` screening). When it passes with the
clock running, sla publishes once `case.reminded` with `kind: "triage_due"`, `level: 0` (triage comes before the
escalation ladder, whose level 1 is the unit) and `department: null`.

A case a unit sends back as not its own (`case.returned`) is with the service centre again, which has to verify,
judge and assign it anew: the policy's "在1个工作日内交办" applies to each assignment, so the clock starts a new
*round* of one working day from the return (and can fire once more: the round is part of the reminder's id).

The enterprise's 补充说明 is public as `case.supplemented` (CONTRACT.md section 2); it resumes a paused clock as
`case.detail_added` does. A clock paused waiting for it closes the case when none came within
`supplement_wait_days` working days of the pause (QHWY_SLA_SUPPLEMENT_WAIT_WORKING_DAYS, default 5): sla publishes
`case.closed` with `by: "sla"`, `reason_code: "no_supplement"` and a reason the enterprise is shown, once per pause
(firing `_id` = case and pause number). The clock stops at any `case.closed`.

One record per case in the `triage_clocks` collection; its `next_fire_at` is what the sweep looks at. A firing is
stored as a firing record (`firings`, `_id` = case and round: see domain.py) rather than as an update of the
clock record; the clock record takes `fired` from it at its next write.
"""

from datetime import datetime
from typing import Any

from shared.contracts.case_events import Closed, Reminded
from shared.contracts.envelope import CaseEvent
from shared.store import Change
from shared.workdays import WorkCalendar

KIND = "triage_due"
LEVEL = 0  # before the ladder
RUNNING, PAUSED, STOPPED = "running", "paused", "stopped"
TERMINAL_SCREENINGS = ("non_business", "duplicate")
RESUMING = ("case.detail_added", "case.supplemented")
NO_SUPPLEMENT = "no_supplement"
CLOSE_KIND = "triage_closed"
NO_SUPPLEMENT_REASON = "问题描述不清，企业未在规定时间内补充说明，案件已关闭；如问题仍存在，欢迎重新反映。"
DEFAULT_SUPPLEMENT_DAYS = 5


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _next_fire(doc: dict[str, Any]) -> datetime | None:
    if doc.get("state") == PAUSED:
        return _dt(doc.get("close_at"))
    return doc["due_at"] if doc.get("state") == RUNNING and not doc.get("fired") else None


def _change(doc: dict[str, Any], change: dict[str, Any]) -> Change:
    new = {**doc, **change}
    return Change(set={**change, "next_fire_at": _next_fire(new)})


def track(doc: dict[str, Any] | None, event: CaseEvent, calendar: WorkCalendar,
          partition: int | None = None, supplement_days: int = DEFAULT_SUPPLEMENT_DAYS) -> Change | None:
    """Fold a case event into the triage clock record (None: nothing changes)."""
    data = event.data
    if event.type == "case.registered":
        if doc is not None:
            return None  # one clock per case, from its first receipt
        received = _dt(data.get("received_at")) or event.occurred_at
        new = {"state": RUNNING, "received_at": received, "due_at": calendar.add_working_days(received, 1),
               "remaining_seconds": None, "fired": False, "stopped_by": None, "partition": partition}
        return Change(set={**new, "next_fire_at": _next_fire(new)})
    if doc is None or "state" not in doc:  # no clock: registered before sla followed the topic
        return None
    if doc["state"] == STOPPED and event.type != "case.returned":
        return None
    state = doc["state"]
    if event.type == "case.closed":
        return _change(doc, {"state": STOPPED, "stopped_by": "case.closed", "stopped_at": event.occurred_at,
                             "close_at": None})
    if event.type == "case.assigned":
        return _change(doc, {"state": STOPPED, "stopped_by": "case.assigned", "stopped_at": event.occurred_at})
    if event.type == "case.triaged":
        screening = data.get("screening")
        if screening in TERMINAL_SCREENINGS:
            return _change(doc, {"state": STOPPED, "stopped_by": screening, "stopped_at": event.occurred_at})
        if screening == "unclear" and state == RUNNING:
            left = calendar.working_seconds_between(event.occurred_at, doc["due_at"]) \
                if event.occurred_at < doc["due_at"] else 0.0
            return _change(doc, {"state": PAUSED, "paused_at": event.occurred_at, "remaining_seconds": left,
                                 "pauses": doc.get("pauses", 0) + 1,
                                 "close_at": calendar.add_working_days(event.occurred_at, supplement_days)})
        if screening == "accepted" and state == PAUSED:
            return _resume(doc, event.occurred_at, calendar)
        return None
    if event.type in RESUMING and state == PAUSED:
        return _resume(doc, event.occurred_at, calendar)
    if event.type == "case.returned" and doc.get("stopped_by") == "case.assigned":
        return _change(doc, {"state": RUNNING, "round": round_of(doc) + 1, "received_at": event.occurred_at,
                             "due_at": calendar.add_working_days(event.occurred_at, 1), "remaining_seconds": None,
                             "fired": False, "stopped_by": None, "returned_at": event.occurred_at})
    return None


def round_of(doc: dict[str, Any] | None) -> int:
    return (doc or {}).get("round", 1)


def round_suffix(doc: dict[str, Any] | None) -> str:
    """'' for the first round (the ids published before rounds existed stay the same), ':<n>' after."""
    return "" if round_of(doc) == 1 else f":{round_of(doc)}"


def _resume(doc: dict[str, Any], at: datetime, calendar: WorkCalendar) -> Change:
    left = doc.get("remaining_seconds") or 0.0
    due = calendar.add_working_seconds(at, left) if left > 0 else at
    return _change(doc, {"state": RUNNING, "due_at": due, "remaining_seconds": None, "resumed_at": at,
                         "close_at": None})


def fire(doc: dict[str, Any] | None, *, case_id: str, now: datetime) -> Change | None:
    """The triage-due reminder, once, when the running clock has passed; the closing of a case paused past its
    wait for a supplement (None: nothing due)."""
    at = _next_fire(doc) if doc is not None else None
    if doc is None or at is None or at > now:
        return None
    if doc.get("state") == PAUSED:
        closed = CaseEvent.new(cause=f"triage-close:{case_id}:{doc.get('pauses', 1)}", type="case.closed",
                               case_id=case_id, occurred_at=now,
                               data=Closed(closed_at=now, by="sla", reason=NO_SUPPLEMENT_REASON,
                                           reason_code=NO_SUPPLEMENT))
        return Change(set={"state": STOPPED, "stopped_by": NO_SUPPLEMENT, "close_at": None, "next_fire_at": None,
                           "lag_seconds": (now - at).total_seconds()}, events=[closed])
    event = CaseEvent.new(cause=f"triage-clock:{case_id}{round_suffix(doc)}", type="case.reminded", case_id=case_id,
                          occurred_at=now,
                          data=Reminded(due_at=at, level=LEVEL, kind=KIND, department=None))
    return Change(set={"fired": True, "fired_at": now, "next_fire_at": None, "lag_seconds": (now - at).total_seconds()},
                  events=[event])


def firing_id(case_id: str, doc: dict[str, Any]) -> str:
    """The `_id` of the firing of the record's current round (one per round)."""
    return f"{case_id}|triage/{round_of(doc)}"


def close_firing_id(case_id: str, doc: dict[str, Any]) -> str:
    """The `_id` of the closing of a paused record for want of a supplement (one per pause)."""
    return f"{case_id}|triage-close/{doc.get('pauses', 1)}"


def firing_record(case_id: str, doc: dict[str, Any], change: Change, *, now: datetime) -> dict[str, Any]:
    if change.set.get("stopped_by") == NO_SUPPLEMENT:
        return {"_id": close_firing_id(case_id, doc), "case_id": case_id, "kind": CLOSE_KIND,
                "partition": doc.get("partition"), "round": round_of(doc), "fired_at": now,
                "lag_seconds": change.set["lag_seconds"], "events": [e.model_dump(mode="json") for e in change.events]}
    return {"_id": firing_id(case_id, doc), "case_id": case_id, "kind": KIND, "partition": doc.get("partition"),
            "round": round_of(doc), "fired_at": now, "lag_seconds": change.set["lag_seconds"],
            "events": [e.model_dump(mode="json") for e in change.events]}


def absorbing(change: Change | None, doc: dict[str, Any] | None = None) -> Change:
    """`change` to a record whose current round fired (per its firing record): the record learns it."""
    if change is None:
        return Change(set={"fired": True, "next_fire_at": _next_fire({**(doc or {}), "fired": True})})
    fields = {"fired": True, **change.set}
    if fields["fired"] and fields.get("state", RUNNING) == RUNNING:
        fields["next_fire_at"] = None
    return Change(set=fields, events=change.events, push=change.push)
