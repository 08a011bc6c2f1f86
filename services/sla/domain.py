"""SLA rules, pure: each case's clock (the deadline record), its timers, and what firing them publishes.

A case's clock starts at `case.assigned` (and again at `case.reopened`, with the new deadline); each start is an
*epoch*. Its timers, all computed from the record:

- reminders at fractions of the working time of the window (half, 80%) and before the office day of the
  assignment closes ("一般不过夜");
- `overdue` at the deadline: `case.overdue`, and the case climbs one level of the escalation ladder;
- `escalate-<level>`: each level has a response window in working hours; when it passes with the case still
  open, the case climbs again, up to the top level (the city platform, which the sync service tells).

A timer's id is `<epoch>/<kind>`; the events it fires have ids derived from the case and the timer, and the
record keeps the ids it fired, so a repeated sweep, a restart or a second instance fires nothing twice. After a
long outage the timers that fell due fire in order, except reminders overtaken by a later due timer.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shared.contracts.case_events import Escalated, Overdue, Reminded
from shared.contracts.envelope import CaseEvent
from shared.store import Change
from shared.workdays import WorkCalendar

OPEN_STATES = ("assigned", "accepted")
STATES = ("assigned", "accepted", "resolved", "closed", "returned")
REMINDER_PREFIX = "remind-"
END_OF_DAY = "remind-eod"
OVERDUE = "overdue"
ESCALATE_PREFIX = "escalate-"
# the case events that change a clock record (track() ignores the others)
TRACKED = frozenset({"case.assigned", "case.reopened", "case.accepted", "case.progressed", "case.escalated",
                     "case.resolved", "case.returned", "case.closed"})


@dataclass(frozen=True)
class Policy:
    """What the clocks need to know: the calendar, the reminders, the ladder and its response windows."""

    calendar: WorkCalendar
    top_level: int
    windows: dict[int, float]  # level -> working seconds it has before the case climbs further
    reminder_fractions: tuple[float, ...] = (0.5, 0.8)
    end_of_day_lead: timedelta = timedelta(minutes=30)
    level_codes: dict[int, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Timer:
    id: str
    kind: str
    at: datetime


def _dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------------- timers


def timers(doc: dict[str, Any], policy: Policy) -> list[Timer]:
    """The timers of the current epoch that have not fired yet, earliest first (none for a closed clock)."""
    if doc.get("state") not in OPEN_STATES:
        return []
    epoch, started, due = doc["epoch"], _dt(doc["started_at"]), _dt(doc["due_at"])
    fired = set(doc.get("fired", ()))
    out: list[Timer] = []
    if f"{epoch}/{OVERDUE}" not in fired:
        for fraction in policy.reminder_fractions:
            at = policy.calendar.at_fraction(started, due, fraction)
            if started < at < due:
                out.append(Timer(f"{epoch}/{REMINDER_PREFIX}{round(fraction * 100)}", "reminder", at))
        closes = policy.calendar.end_of_office_day(started)
        if closes is not None:
            at = closes - policy.end_of_day_lead
            if started < at < due:
                out.append(Timer(f"{epoch}/{END_OF_DAY}", "reminder", at))
        out.append(Timer(f"{epoch}/{OVERDUE}", OVERDUE, due))
    escalate_at = _dt(doc.get("escalate_at"))
    level = doc.get("escalation_level", 1)
    if escalate_at is not None and level < policy.top_level:
        out.append(Timer(f"{epoch}/{ESCALATE_PREFIX}{level + 1}", "escalate", escalate_at))
    return sorted((t for t in out if t.id not in fired), key=lambda t: (t.at, t.id))


def schedule(doc: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The fields the sweep queries: when the next timer is due (None: nothing pending)."""
    pending = timers(doc, policy)
    return {"next_fire_at": pending[0].at if pending else None, "next_timer": pending[0].id if pending else None}


def timer_cause(case_id: str, timer_id: str) -> str:
    return f"timer:{case_id}:{timer_id}"


def _window_end(policy: Policy, start: datetime, level: int) -> datetime | None:
    """When `level`'s response window, opening at `start`, closes (None at the top of the ladder)."""
    if level >= policy.top_level:
        return None
    return policy.calendar.add_working_seconds(start, policy.windows.get(level, 0.0))


def fire(doc: dict[str, Any] | None, *, case_id: str, now: datetime, policy: Policy) -> Change | None:
    """Fire every timer of the record that is due at `now`, in order; None when none is."""
    if doc is None:
        return None
    state = dict(doc)
    state["fired"] = list(doc.get("fired", ()))
    events: list[CaseEvent] = []
    lags: list[tuple[str, float]] = []
    while True:
        due_now = [t for t in timers(state, policy) if t.at <= now]
        if not due_now:
            break
        timer, later = due_now[0], due_now[1:]
        cause = timer_cause(case_id, timer.id)
        level = state.get("escalation_level", 1)
        due_at = _dt(state["due_at"])
        if timer.kind == "reminder":
            if not later:  # a reminder overtaken by a later due timer (after an outage) would only be noise
                kind = timer.id.split("/", 1)[1].removeprefix(REMINDER_PREFIX)
                events.append(CaseEvent.new(cause=cause, type="case.reminded", case_id=case_id, occurred_at=now,
                                            data=Reminded(due_at=due_at, level=level, kind=kind,
                                                          department=state.get("department"))))
        elif timer.kind == OVERDUE:
            state["overdue"] = True
            events.append(CaseEvent.new(cause=cause, type="case.overdue", case_id=case_id, occurred_at=now,
                                        data=Overdue(due_at=due_at, escalation_level=level,
                                                     department=state.get("department"))))
            state["escalate_at"] = None
            if level < policy.top_level:
                events.append(_escalated(cause, case_id, now, level, level + 1, "逾期未办结，提级协调"))
                state["escalation_level"] = level + 1
                state["escalate_at"] = _window_end(policy, timer.at, level + 1)
        else:
            target = int(timer.id.rsplit(ESCALATE_PREFIX, 1)[1])
            if level < target:
                events.append(_escalated(cause, case_id, now, level, target, "上一级响应时限内仍未办结，继续提级"))
                state["escalation_level"] = level = target
            state["escalate_at"] = _window_end(policy, timer.at, level)
        state["fired"].append(timer.id)
        lags.append((timer.kind, (now - timer.at).total_seconds()))
    if not lags:
        return None
    return Change(set={"fired": state["fired"], "overdue": state.get("overdue", False),
                       "escalation_level": state.get("escalation_level", 1), "escalate_at": state.get("escalate_at"),
                       "last_lags": [{"kind": k, "seconds": s} for k, s in lags], **schedule(state, policy)},
                  events=events)


def _escalated(cause: str, case_id: str, now: datetime, from_level: int, to_level: int, reason: str) -> CaseEvent:
    return CaseEvent.new(cause=cause, type="case.escalated", case_id=case_id, occurred_at=now,
                         data=Escalated(from_level=from_level, to_level=to_level, reason=reason, by="sla"))


# ---------------------------------------------------------------------- firing records

# A firing is stored as its own small record, inserted once with a deterministic `_id` (the case and the first timer
# it fires), instead of an update of the clock record: on FerretDB an update scans the whole collection, an insert
# does not (docs/ferretdb.md), and the unique `_id` is what makes a timer fire once across instances and restarts.
# The clock record absorbs its firings at its next write (any case event); until then a reader folds them in:
# the next firing of a record, if there is one, can only have the `_id` of its first pending timer.
FIRING_FIELDS = ("fired", "overdue", "escalation_level", "escalate_at")
MAX_CHAIN = 64  # more firings than a clock can have timers in one epoch: a broken chain, not a long one


def firing_id(case_id: str, timer_id: str) -> str:
    return f"{case_id}|{timer_id}"


def next_firing_id(case_id: str, doc: dict[str, Any], policy: Policy) -> str | None:
    """The `_id` the record's next firing has (None: no timer pending)."""
    pending = timers(doc, policy)
    return firing_id(case_id, pending[0].id) if pending else None


def firing_record(case_id: str, doc: dict[str, Any], change: Change, *, now: datetime,
                  partition: int | None) -> dict[str, Any]:
    """The firing record of `change` (what fire() returned for `doc`): its state after, and its events."""
    first = change.set["fired"][len(doc.get("fired", ()))]
    return {"_id": firing_id(case_id, first), "case_id": case_id, "partition": partition, "epoch": doc["epoch"],
            "fired_at": now, **{k: change.set[k] for k in FIRING_FIELDS}, "last_lags": change.set["last_lags"],
            "events": [e.model_dump(mode="json") for e in change.events]}


def merge_firing(doc: dict[str, Any], firing: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """The clock record with a firing folded in (the firing was computed from it, or from an older view of it)."""
    fired = list(doc.get("fired", ()))
    fired += [t for t in firing.get("fired", ()) if t not in fired]
    level = doc.get("escalation_level", 1)
    theirs = firing.get("escalation_level", 1)
    merged = {**doc, "fired": fired, "overdue": bool(doc.get("overdue")) or bool(firing.get("overdue")),
              "escalation_level": max(level, theirs),
              "escalate_at": _dt(firing.get("escalate_at")) if theirs >= level else doc.get("escalate_at")}
    return {**merged, **schedule(merged, policy)}


def with_firings(case_id: str, doc: dict[str, Any] | None, policy: Policy,
                 lookup: Callable[[str], dict[str, Any] | None]) -> tuple[dict[str, Any] | None, list[str]]:
    """The record with the firings it has not absorbed yet folded in, and their ids (`lookup`: a firing by id)."""
    used: list[str] = []
    while doc is not None and len(used) < MAX_CHAIN:
        next_id = next_firing_id(case_id, doc, policy)
        firing = lookup(next_id) if next_id else None
        if firing is None:
            break
        doc = merge_firing(doc, firing, policy)
        used.append(next_id)
    return doc, used


def absorbing(merged: dict[str, Any] | None, used: list[str], change: Change | None) -> Change | None:
    """`change` to the stored record, plus the state of the firings folded into `merged` (so they can go)."""
    if not used or merged is None:
        return change
    absorbed = {k: merged.get(k) for k in (*FIRING_FIELDS, "next_fire_at", "next_timer")}
    if change is None:
        return Change(set=absorbed)
    return Change(set={**absorbed, **change.set}, events=change.events, push=change.push)


# ---------------------------------------------------------------------- folding case events


def track(doc: dict[str, Any] | None, event: CaseEvent, policy: Policy, partition: int | None = None) -> Change | None:
    """Fold a case event into the deadline record (and reschedule its timers)."""
    data = event.data
    if event.type == "case.assigned":
        new = {
            "state": "assigned", "epoch": (doc or {}).get("epoch", 0) + 1,
            "department": data["department"], "co_departments": data.get("co_departments", []),
            "region": data.get("region"), "complexity": data["complexity"],
            "escalation_level": data["escalation_level"], "started_at": event.occurred_at,
            "assigned_at": event.occurred_at, "due_at": _dt(data["due_at"]), "fired": [], "overdue": False,
            "escalate_at": None, "accepted_at": None, "resolved_at": None, "on_time": None, "closed_at": None,
            "returned_at": None, "problem_list": False, "partition": partition,
        }
        return Change(set={**new, **schedule(new, policy)})
    if doc is None:
        return None  # only assigned cases have a clock
    if event.type == "case.reopened":
        new = {**doc, "state": "assigned", "epoch": doc.get("epoch", 0) + 1, "started_at": event.occurred_at,
               "due_at": _dt(data["due_at"]), "fired": [], "overdue": False, "escalate_at": None,
               "accepted_at": None, "resolved_at": None, "on_time": None, "closed_at": None}
        fields = ("state", "epoch", "started_at", "due_at", "fired", "overdue", "escalate_at", "accepted_at",
                  "resolved_at", "on_time", "closed_at")
        return Change(set={**{k: new[k] for k in fields}, **schedule(new, policy)})
    state = doc.get("state")
    change: dict[str, Any] = {}
    if event.type == "case.accepted":
        if state == "assigned":
            change = {"state": "accepted", "accepted_at": event.occurred_at}
    elif event.type == "case.progressed":
        change = {"last_progress_at": event.occurred_at, "progress_count": doc.get("progress_count", 0) + 1}
    elif event.type == "case.escalated":
        if data["to_level"] > doc.get("escalation_level", 1):
            change = {"escalation_level": data["to_level"]}
            if doc.get("escalate_at") is not None:  # the ladder goes on from the new level's window
                change["escalate_at"] = _window_end(policy, event.occurred_at, data["to_level"])
    elif event.type == "case.resolved":
        if state in OPEN_STATES:
            change = {"state": "resolved", "resolved_at": _dt(data["resolved_at"]), "on_time": data["on_time"],
                      "problem_list": bool(data.get("problem_list")), "solution": data.get("solution"),
                      "follow_up_at": data.get("follow_up_at") or []}
    elif event.type == "case.returned":
        if state in OPEN_STATES:
            change = {"state": "returned", "returned_at": event.occurred_at}
    elif event.type == "case.closed":
        if state != "closed":
            change = {"state": "closed", "closed_at": _dt(data["closed_at"])}
    if not change:
        return None
    return Change(set={**change, **schedule({**doc, **change}, policy)})


def working_seconds(policy: Policy, start: datetime | None, end: datetime | None) -> float | None:
    """Office time between two instants, in seconds (the histograms' 'working seconds')."""
    if start is None or end is None:
        return None
    return policy.calendar.working_seconds_between(_dt(start), _dt(end))
