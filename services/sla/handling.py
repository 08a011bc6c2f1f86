"""The units' handling of a case, pure: who may do what when, and the case event each action is.

Lead department: accept (签收), progress, ask for coordination, send back (退回), resolve (办结), close (销号).
Co-departments: see the case, accept (签收) and record their part, ask the lead department or leadership to
coordinate. A co-department's 签收 is of its part only (`case.progressed` with `kind: "part_accepted"`): the case
stays with the lead department, whose own 签收 is the response the response deadline waits for.
Leaders and administrators act county-wide (on the lead department's behalf).
The business environment office (营商办, role `triage_officer`), leaders and administrators may press the unit
(催办, action `urge`): `case.reminded` with `kind: "urged"`, now.

A request for leadership coordination escalates from the level it was made at (`from_level` in the body, else
the level the case shows): a second request made at the same level is the same request (one escalation, the same
event id), and one made at a level the case has left is refused.

The handling record (one per case, written by these actions only) keeps the status within the current clock
epoch; the deadline record (written by the case-event consumer) says which unit holds the case and since when.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.auth import Staff
from shared.contracts.case_events import Accepted, Closed, Escalated, Progressed, Reminded, Resolved, Returned
from shared.contracts.envelope import CaseEvent
from shared.masking import mask_text
from shared.refusal import Refusal
from shared.store import Change

ACTING_ROLES = ("unit_handler", "leader", "admin")
URGING_ROLES = ("triage_officer", "leader", "admin")
PART_ACCEPTED = "part_accepted"
URGED = "urged"
READING_ROLES = ("unit_handler", "leader", "admin", "supervisor")
RANK = {"assigned": 0, "accepted": 1, "resolved": 2, "closed": 3, "returned": 3}


class Refused(Refusal):
    """An action not allowed now (403/404/409/422): answered as it is by the HTTP layer (shared.http.endpoint)."""


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    # The same request_id sent again (a retried POST) acts once; also accepted as the Idempotency-Key header.
    request_id: str | None = Field(default=None, min_length=1, max_length=64)


class AcceptBody(_Body):
    pass


class ProgressBody(_Body):
    note: str = Field(min_length=1, max_length=4000)


class CoordinationBody(_Body):
    to: Literal["lead", "leadership"]
    note: str = Field(min_length=1, max_length=4000)
    # the escalation level the requester saw (leadership): a request made at a level the case left is stale
    from_level: int | None = Field(default=None, ge=1, le=20)


class UrgeBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


class ReturnBody(_Body):
    reason: str = Field(min_length=2, max_length=2000)


class ResolveBody(_Body):
    resolution: str = Field(min_length=2, max_length=8000)
    # complex cases: the agreed solution and the follow-up dates put the case on the problem list (问题清单)
    solution: str | None = Field(default=None, min_length=2, max_length=8000)
    follow_up_at: list[date] = Field(default_factory=list, max_length=20)


class CloseBody(_Body):
    note: str | None = Field(default=None, max_length=2000)


BODIES: dict[str, type[_Body]] = {
    "accept": AcceptBody, "progress": ProgressBody, "coordination": CoordinationBody, "return": ReturnBody,
    "resolve": ResolveBody, "close": CloseBody, "urge": UrgeBody,
}


def can_read(staff: Staff, deadline: dict[str, Any]) -> bool:
    if staff.role not in READING_ROLES:
        return False
    if staff.role != "unit_handler":
        return True
    return staff.unit == deadline.get("department") or staff.unit in deadline.get("co_departments", ())


def status_of(handling: dict[str, Any] | None, deadline: dict[str, Any]) -> str:
    """The furthest of what the units did in this epoch and what the case events say."""
    seen = deadline.get("state", "assigned")
    if handling is None or handling.get("epoch") != deadline.get("epoch"):
        return seen
    own = handling.get("status", "assigned")
    return own if RANK.get(own, 0) > RANK.get(seen, 0) else seen


def _role_in_case(staff: Staff, deadline: dict[str, Any]) -> Literal["lead", "co"]:
    if staff.role not in ACTING_ROLES:
        raise Refused(403, "当前角色无权办理案件")
    if staff.role != "unit_handler" or staff.unit == deadline.get("department"):
        return "lead"
    if staff.unit in deadline.get("co_departments", ()):
        return "co"
    raise Refused(403, "只能办理本单位承办或协办的案件")


def escalation_from(body: CoordinationBody, deadline: dict[str, Any] | None) -> int:
    """The level a leadership coordination request was made at."""
    return body.from_level or (deadline or {}).get("escalation_level", 1)


def escalation_cause(case_id: str, epoch: Any, from_level: int) -> str:
    """One escalation per case, epoch and level it starts from: requests made at the same level are one."""
    return f"escalation:{case_id}:{epoch}:{from_level}"


def cause_for(action: str, body: _Body, *, case_id: str, request_id: str, deadline: dict[str, Any] | None) -> str:
    """The cause (and so the event id) of a request: its request id, except for leadership coordination."""
    if action == "coordination" and isinstance(body, CoordinationBody) and body.to == "leadership":
        return escalation_cause(case_id, (deadline or {}).get("epoch"), escalation_from(body, deadline))
    return request_cause(case_id, action, request_id)


def _urge(staff: Staff, deadline: dict[str, Any], status: str, body: "UrgeBody") -> tuple[str, BaseModel]:
    if staff.role not in URGING_ROLES:
        raise Refused(403, "只有营商办或领导可以催办")
    if status not in ("assigned", "accepted"):
        raise Refused(409, _closed_message(status))
    return "case.reminded", Reminded(due_at=deadline["due_at"], level=deadline.get("escalation_level", 1),
                                     kind=URGED, department=deadline["department"], by=staff.sub,
                                     note=mask_text(body.note) if body.note else None)


@dataclass(frozen=True)
class _Turn:
    """What one unit action sees: who acts (their role in the case, their unit), the records, and when."""

    staff: Staff
    deadline: dict[str, Any]
    handling: dict[str, Any] | None
    role: Literal["lead", "co"]
    status: str
    unit: str
    now: datetime
    top_level: int

    @property
    def lead(self) -> str:
        return self.deadline["department"]

    @property
    def is_open(self) -> bool:
        return self.status in ("assigned", "accepted")

    def only_lead(self, what: str) -> None:
        if self.role != "lead":
            raise Refused(403, f"只有牵头（承办）单位可以{what}")

    def needs_open(self) -> None:
        if not self.is_open:
            raise Refused(409, _closed_message(self.status))


Step = tuple[str, str, BaseModel]  # the handling record's new status, the event's type and its data


def _accept(turn: _Turn, body: _Body) -> Step:
    turn.needs_open()
    if turn.role == "co":  # a co-department's 签收 is of its part only
        epoch = turn.deadline.get("epoch")
        if any(a.get("action") == "accept" and a.get("unit") == turn.unit and a.get("epoch") == epoch
               for a in (turn.handling or {}).get("actions", ())):
            raise Refused(409, "本单位已签收协办部分")
        return turn.status, "case.progressed", Progressed(department=turn.unit, by=turn.staff.sub,
                                                          note="协办单位签收协办部分", kind=PART_ACCEPTED)
    if turn.status == "accepted":
        raise Refused(409, "案件已签收")
    return "accepted", "case.accepted", Accepted(department=turn.lead, by=turn.staff.sub)


def _progress(turn: _Turn, body: _Body) -> Step:
    turn.needs_open()
    assert isinstance(body, ProgressBody)
    return turn.status, "case.progressed", Progressed(department=turn.unit, by=turn.staff.sub,
                                                      note=mask_text(body.note),
                                                      kind="progress" if turn.role == "lead" else "part")


def _coordination(turn: _Turn, body: _Body) -> Step:
    turn.needs_open()
    assert isinstance(body, CoordinationBody)
    if body.to == "lead":
        if turn.role == "lead":
            raise Refused(409, "牵头单位无需向自己申请协调")
        return turn.status, "case.progressed", Progressed(department=turn.unit, by=turn.staff.sub,
                                                          note=mask_text(body.note), kind="coordination_request",
                                                          to="lead")
    level = turn.deadline.get("escalation_level", 1)
    if level >= turn.top_level:
        raise Refused(409, "案件已在最高协调层级")
    if body.from_level is not None and body.from_level != level:
        raise Refused(409, f"案件已由第{body.from_level}级提至第{level}级协调，无需重复申请"
                      if body.from_level < level else "申请时的协调层级不符")
    return turn.status, "case.escalated", Escalated(from_level=level, to_level=level + 1, reason=mask_text(body.note),
                                                    by=turn.staff.sub, requested_by=turn.unit)


def _return(turn: _Turn, body: _Body) -> Step:
    turn.only_lead("退回")
    turn.needs_open()
    assert isinstance(body, ReturnBody)
    return "returned", "case.returned", Returned(department=turn.lead, by=turn.staff.sub,
                                                 reason=mask_text(body.reason))


def _resolve(turn: _Turn, body: _Body) -> Step:
    turn.only_lead("办结")
    turn.needs_open()
    assert isinstance(body, ResolveBody)
    if turn.status != "accepted":
        raise Refused(409, "请先签收再办结")
    if body.follow_up_at and not body.solution:
        raise Refused(422, "填写跟进日期时须同时填写解决方案")
    now = turn.now
    return "resolved", "case.resolved", Resolved(
        resolution=mask_text(body.resolution), resolved_at=now, on_time=now <= turn.deadline["due_at"],
        by=turn.staff.sub, department=turn.lead, solution=mask_text(body.solution) if body.solution else None,
        follow_up_at=[d.isoformat() for d in body.follow_up_at] or None, problem_list=bool(body.solution))


def _close(turn: _Turn, body: _Body) -> Step:
    turn.only_lead("销号")
    if turn.status != "resolved":
        raise Refused(409, "案件办结后才能销号" if turn.is_open else _closed_message(turn.status))
    return "closed", "case.closed", Closed(closed_at=turn.now, by=turn.staff.sub)


_STEPS: dict[str, Callable[[_Turn, _Body], Step]] = {
    "accept": _accept, "progress": _progress, "coordination": _coordination, "return": _return,
    "resolve": _resolve, "close": _close}


def act(action: str, body: _Body, *, handling: dict[str, Any] | None, deadline: dict[str, Any] | None,
        staff: Staff, case_id: str, cause: str, now: datetime, top_level: int) -> Change:
    """The change one unit action makes to the handling record, with its case event; Refused when not allowed."""
    if deadline is None:
        raise Refused(404, "案件不存在或尚未交办")
    if action == "urge":
        assert isinstance(body, UrgeBody)
        type_, urge = _urge(staff, deadline, status_of(handling, deadline), body)
        event = CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=now, data=urge)
        return Change(set={"epoch": deadline.get("epoch"), "department": deadline["department"], "updated_at": now},
                      push={"actions": {"action": action, "type": type_, "event_id": event.event_id, "cause": cause,
                                        "by": staff.sub, "unit": None, "at": now, "epoch": deadline.get("epoch")}},
                      events=[event])
    role = _role_in_case(staff, deadline)
    lead = deadline["department"]
    unit = lead if role == "lead" else staff.unit
    assert unit is not None
    turn = _Turn(staff=staff, deadline=deadline, handling=handling, role=role, status=status_of(handling, deadline),
                 unit=unit, now=now, top_level=top_level)
    step = _STEPS.get(action)
    if step is None:
        raise Refused(404, "未知的办理操作")
    new_status, type_, data = step(turn, body)
    event = CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=now, data=data)
    return Change(
        set={"epoch": deadline.get("epoch"), "status": new_status, "department": lead, "updated_at": now},
        push={"actions": {"action": action, "type": type_, "event_id": event.event_id, "cause": cause, "by": staff.sub,
                          "unit": unit, "at": now, "epoch": deadline.get("epoch")}},
        events=[event])


def _closed_message(status: str) -> str:
    return {"resolved": "案件已办结", "closed": "案件已销号",
            "returned": "案件已退回"}.get(status, "案件当前状态不允许此操作")


def request_cause(case_id: str, action: str, request_id: str) -> str:
    """A retried request (same id) is the same cause: it acts once and answers with the same event."""
    return f"request:{case_id}:{action}:{request_id}"
