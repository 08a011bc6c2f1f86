"""SLA rules, pure: each case's clock (the deadline record), its timers, and what firing them publishes.

A case's clock starts at `case.assigned` (and again at `case.reopened`, with the new deadline); each start is an
*epoch*. Its timers, all computed from the record:

- reminders at fractions of the working time of the window (half, 80%) and before the office day of the
  assignment closes ("一般不过夜");
- `overdue` at the deadline: `case.overdue`, and the case climbs one level of the escalation ladder;
- `escalate-<level>`: each level has a response window in working hours; when it passes with the case still
  open, the case climbs again, up to the top level (the city platform, which the sync service tells);
- `response` (issue 17, "一般不过夜、最多过一夜"): each assignment has a response deadline for the unit's 签收: the
  close of the office day it was assigned, or, when less than `response_late_seconds` of office time is left that
  day (or it is not a working day), the end of the next working morning. Missed, it fires `case.reminded` with
  `kind: "response_missed"`; `response-escalate`, `response_grace_seconds` of working time later and still not
  accepted, climbs the case from the unit (level 1) to level 2. A 签收 (`case.accepted`) meets it;
- `follow-up-<date>`: a resolved case with follow-up dates (问题清单) reminds its unit on each date, at the opening
  of the office day (`case.reminded` with `kind: "follow_up"`), until it is closed.

A timer's id is `<epoch>/<kind>`; the events it fires have ids derived from the case and the timer, and the
record keeps the ids it fired, so a repeated sweep, a restart or a second instance fires nothing twice. After a
long outage the timers that fell due fire in order, except reminders overtaken by a later due timer.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, overload

from shared import figures
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
RESPONSE = "response"
RESPONSE_ESCALATE = "response-escalate"
FOLLOW_UP_PREFIX = "follow-up-"
URGED = "urged"  # the kind of the reminder a triage officer's 催办 publishes (handling.py)
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
    # the response deadline (不过夜): less office time than this left in the day -> the next working morning
    response_late_seconds: float = 2 * 3600.0
    # working time after a missed response deadline before the case climbs from the unit to level 2
    response_grace_seconds: float = 2 * 3600.0


def response_due(calendar: WorkCalendar, assigned_at: datetime, late_seconds: float) -> datetime:
    """The unit's response deadline (签收) for an assignment at `assigned_at`: "一般不过夜、最多过一夜" (the one
    definition lives in shared/figures.py)."""
    return figures.response_deadline(calendar, assigned_at, late_seconds)


def follow_up_instant(calendar: WorkCalendar, day: date | str) -> datetime:
    """When a follow-up date reminds: the office opening of that day, or of the next working day."""
    day = date.fromisoformat(day) if isinstance(day, str) else day
    if not calendar.is_working_day(day):
        day = calendar.next_working_day(day)
    return datetime.combine(day, calendar.hours.opens, tzinfo=calendar.tz)


@dataclass(frozen=True)
class Timer:
    id: str
    kind: str
    at: datetime


@overload
def _dt(value: None) -> None: ...


@overload
def _dt(value: datetime | str) -> datetime: ...


def _dt(value: datetime | str | None) -> datetime | None:
    """A stored instant (a datetime, or its ISO text); None stays None."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


# ---------------------------------------------------------------------- timers


def timers(doc: dict[str, Any], policy: Policy) -> list[Timer]:
    """The timers of the current epoch that have not fired yet, earliest first (none for a closed clock)."""
    fired = set(doc.get("fired", ()))
    if doc.get("state") == "resolved":  # the problem list's follow-up dates
        out = [Timer(f"{doc['epoch']}/{FOLLOW_UP_PREFIX}{day}", "follow_up", follow_up_instant(policy.calendar, day))
               for day in doc.get("follow_up_at") or ()]
        return sorted((t for t in out if t.id not in fired), key=lambda t: (t.at, t.id))
    if doc.get("state") not in OPEN_STATES:
        return []
    epoch, started, due = doc["epoch"], _dt(doc["started_at"]), _dt(doc["due_at"])
    out = []
    response_at = _dt(doc.get("response_due_at"))
    if response_at is not None and doc.get("state") == "assigned" and doc.get("accepted_at") is None:
        out.append(Timer(f"{epoch}/{RESPONSE}", RESPONSE, response_at))
        out.append(Timer(f"{epoch}/{RESPONSE_ESCALATE}", RESPONSE_ESCALATE,
                         policy.calendar.add_working_seconds(response_at, policy.response_grace_seconds)))
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
        events += _fire_timer(state, timer, bool(later), case_id=case_id, now=now, policy=policy)
        state["fired"].append(timer.id)
        lags.append((timer.kind, (now - timer.at).total_seconds()))
    if not lags:
        return None
    return Change(set={"fired": state["fired"], "overdue": state.get("overdue", False),
                       "escalation_level": state.get("escalation_level", 1), "escalate_at": state.get("escalate_at"),
                       "response_missed": bool(state.get("response_missed")),
                       "last_lags": [{"kind": k, "seconds": s} for k, s in lags], **schedule(state, policy)},
                  events=events)


def _fire_timer(state: dict[str, Any], timer: Timer, overtaken: bool, *, case_id: str, now: datetime,
                policy: Policy) -> list[CaseEvent]:
    """Fire one due timer on the working copy `state` (changed in place): the events it publishes. `overtaken`:
    a later timer is due too (after an outage), so a mere reminder would only be noise."""
    cause = timer_cause(case_id, timer.id)
    level = state.get("escalation_level", 1)
    due_at = _dt(state["due_at"])
    events: list[CaseEvent] = []
    if timer.kind == "reminder":
        if not overtaken:
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
    elif timer.kind == RESPONSE:
        state["response_missed"] = True
        if not overtaken:  # the record keeps the fact, the unit hears the later news
            events.append(CaseEvent.new(cause=cause, type="case.reminded", case_id=case_id, occurred_at=now,
                                        data=Reminded(due_at=timer.at, level=level, kind="response_missed",
                                                      department=state.get("department"))))
    elif timer.kind == RESPONSE_ESCALATE:
        if level == 1 and level < policy.top_level:  # still with the unit: leadership takes notice
            events.append(_escalated(cause, case_id, now, level, level + 1, "超过响应时限仍未签收，提级督办"))
            state["escalation_level"] = level + 1
    elif timer.kind == "follow_up":
        events.append(CaseEvent.new(cause=cause, type="case.reminded", case_id=case_id, occurred_at=now,
                                    data=Reminded(due_at=timer.at, level=level, kind="follow_up",
                                                  department=state.get("department"))))
    else:
        target = int(timer.id.rsplit(ESCALATE_PREFIX, 1)[1])
        if level < target:
            events.append(_escalated(cause, case_id, now, level, target, "上一级响应时限内仍未办结，继续提级"))
            state["escalation_level"] = level = target
        state["escalate_at"] = _window_end(policy, timer.at, level)
    return events


def _escalated(cause: str, case_id: str, now: datetime, from_level: int, to_level: int, reason: str) -> CaseEvent:
    return CaseEvent.new(cause=cause, type="case.escalated", case_id=case_id, occurred_at=now,
                         data=Escalated(from_level=from_level, to_level=to_level, reason=reason, by="sla"))


# ---------------------------------------------------------------------- firing records

# A firing is stored as its own small record, inserted once with a deterministic `_id` (the case and the first timer
# it fires), instead of an update of the clock record: on FerretDB an update scans the whole collection, an insert
# does not (docs/ferretdb.md), and the unique `_id` is what makes a timer fire once across instances and restarts.
# The clock record absorbs its firings at its next write (any case event); until then a reader folds them in:
# the next firing of a record, if there is one, can only have the `_id` of its first pending timer.
FIRING_FIELDS = ("fired", "overdue", "escalation_level", "escalate_at", "response_missed")
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
              "response_missed": bool(doc.get("response_missed")) or bool(firing.get("response_missed")),
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
        if next_id is None or firing is None:
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
    if event.type == "case.assigned":
        return _assigned(doc, event, policy, partition)
    if doc is None:
        return None  # only assigned cases have a clock
    if event.type == "case.reopened":
        return _reopened(doc, event, policy)
    change = _moved(doc, event, policy)
    if not change:
        return None
    return Change(set={**change, **schedule({**doc, **change}, policy)})


def _assigned(doc: dict[str, Any] | None, event: CaseEvent, policy: Policy, partition: int | None) -> Change:
    """An assignment (the first or a later one) starts a new clock: a new epoch, a new response deadline."""
    data = event.data
    past = past_responses(doc, event.occurred_at)
    new = {
        "state": "assigned", "epoch": (doc or {}).get("epoch", 0) + 1,
        "department": data["department"], "co_departments": data.get("co_departments", []),
        "region": data.get("region"), "complexity": data["complexity"],
        "escalation_level": data["escalation_level"], "started_at": event.occurred_at,
        "assigned_at": event.occurred_at, "due_at": _dt(data["due_at"]), "fired": [], "overdue": False,
        "escalate_at": None, "accepted_at": None, "resolved_at": None, "on_time": None, "closed_at": None,
        "returned_at": None, "problem_list": False, "partition": partition,
        "response_due_at": response_due(policy.calendar, event.occurred_at, policy.response_late_seconds),
        "response_missed": False, "responses": past,
    }
    return Change(set={**new, **schedule(new, policy)})


def _reopened(doc: dict[str, Any], event: CaseEvent, policy: Policy) -> Change:
    """A reopening is no new assignment: no response deadline (the assignment's outcome is kept)."""
    data = event.data
    new = {**doc, "state": "assigned", "epoch": doc.get("epoch", 0) + 1, "started_at": event.occurred_at,
           "due_at": _dt(data["due_at"]), "fired": [], "overdue": False, "escalate_at": None,
           "accepted_at": None, "resolved_at": None, "on_time": None, "closed_at": None,
           "responses": past_responses(doc, event.occurred_at), "response_due_at": None,
           "response_missed": False}
    fields = ("state", "epoch", "started_at", "due_at", "fired", "overdue", "escalate_at", "accepted_at",
              "resolved_at", "on_time", "closed_at", "responses", "response_due_at", "response_missed")
    return Change(set={**{k: new[k] for k in fields}, **schedule(new, policy)})


def _moved(doc: dict[str, Any], event: CaseEvent, policy: Policy) -> dict[str, Any]:
    """The fields an event of a running clock changes (none: nothing to write)."""
    data = event.data
    state = doc.get("state")
    change: dict[str, Any] = {}
    if event.type == "case.accepted":
        if state == "assigned":
            change = {"state": "accepted", "accepted_at": event.occurred_at}
    elif event.type == "case.progressed":
        change = {"last_progress_at": event.occurred_at, "progress_count": doc.get("progress_count", 0) + 1}
        if data.get("kind") == PART_ACCEPTED:
            parts = dict(doc.get("parts_accepted") or {})
            parts.setdefault(data["department"], event.occurred_at)
            change["parts_accepted"] = parts
    elif event.type == "case.reminded" and data.get("kind") == URGED:  # 催办 (see tracks())
        change = {"urges": doc.get("urges", 0) + 1, "last_urged_at": event.occurred_at}
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
    return change


def tracks(event: CaseEvent) -> bool:
    """Whether a case event changes a clock record (sla's own reminders do not: no write for them)."""
    return event.type in TRACKED or (event.type == "case.reminded" and event.data.get("kind") == URGED)


PART_ACCEPTED = "part_accepted"  # a co-department's 签收 of its part (a case.progressed kind, handling.py)


# ---------------------------------------------------------------------- response rate (响应率)


def response_outcome(doc: dict[str, Any] | None, now: datetime) -> bool | None:
    """Whether the current assignment's response deadline was met (True), missed (False), or is not decided or
    does not count (None: still within it, sent back within it, or no response deadline, e.g. a reopening)."""
    due = _dt((doc or {}).get("response_due_at"))
    if doc is None or due is None:
        return None
    answered = _dt(doc.get("accepted_at")) or _dt(doc.get("resolved_at"))
    if answered is not None:
        return answered <= due
    returned = _dt(doc.get("returned_at"))
    if returned is not None and returned <= due:
        return None  # sent back as not its own within the deadline: not the unit's assignment to answer
    if doc.get("response_missed") or now >= due:
        return False
    return None


def past_responses(doc: dict[str, Any] | None, now: datetime) -> list[dict[str, Any]]:
    """The decided outcomes of the record's earlier assignments, with the current one's added (kept when a new
    assignment or a reopening starts a new epoch)."""
    past = list((doc or {}).get("responses") or [])
    met = response_outcome(doc, now)
    if met is not None and doc is not None:
        past.append({"department": doc.get("department"), "met": met})
    return past


def response_outcomes(doc: dict[str, Any], now: datetime) -> list[tuple[str | None, bool]]:
    """(department, met) for every decided assignment of the record: the response rate's numerator and
    denominator are counts of these."""
    out = [(r.get("department"), bool(r.get("met"))) for r in doc.get("responses") or ()]
    met = response_outcome(doc, now)
    if met is not None:
        out.append((doc.get("department"), met))
    return out


def unanswered(doc: dict[str, Any], now: datetime) -> bool:
    """An open assignment past its response deadline and still not accepted (签收)."""
    due = _dt(doc.get("response_due_at"))
    return doc.get("state") == "assigned" and doc.get("accepted_at") is None and due is not None and due <= now


def working_seconds(policy: Policy, start: datetime | None, end: datetime | None) -> float | None:
    """Office time between two instants, in seconds (the histograms' 'working seconds')."""
    if start is None or end is None:
        return None
    return policy.calendar.working_seconds_between(_dt(start), _dt(end))
