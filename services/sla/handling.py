"""The units' handling of a case, pure: who may do what when, and the case event each action is.

Lead department: accept (签收), progress, ask for coordination, send back (退回), resolve (办结), close (销号).
Co-departments: see the case, record their part, ask the lead department or leadership to coordinate.
Leaders and administrators act county-wide (on the lead department's behalf).

The handling record (one per case, written by these actions only) keeps the status within the current clock
epoch; the deadline record (written by the case-event consumer) says which unit holds the case and since when.
"""

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.auth import Staff
from shared.contracts.case_events import Accepted, Closed, Escalated, Progressed, Resolved, Returned
from shared.contracts.envelope import CaseEvent
from shared.masking import mask_text
from shared.store import Change

ACTING_ROLES = ("unit_handler", "leader", "admin")
READING_ROLES = ("unit_handler", "leader", "admin", "supervisor")
RANK = {"assigned": 0, "accepted": 1, "resolved": 2, "closed": 3, "returned": 3}


class Refused(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


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
    "resolve": ResolveBody, "close": CloseBody,
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


def act(action: str, body: _Body, *, handling: dict[str, Any] | None, deadline: dict[str, Any] | None,
        staff: Staff, case_id: str, cause: str, now: datetime, top_level: int) -> Change:
    """The change one unit action makes to the handling record, with its case event; Refused when not allowed."""
    if deadline is None:
        raise Refused(404, "案件不存在或尚未交办")
    role = _role_in_case(staff, deadline)
    status = status_of(handling, deadline)
    lead = deadline["department"]
    unit = lead if role == "lead" else staff.unit
    assert unit is not None
    is_open = status in ("assigned", "accepted")

    def only_lead(what: str) -> None:
        if role != "lead":
            raise Refused(403, f"只有牵头（承办）单位可以{what}")

    def needs_open() -> None:
        if not is_open:
            raise Refused(409, _closed_message(status))

    data: BaseModel
    new_status = status
    if action == "accept":
        only_lead("签收")
        needs_open()
        if status == "accepted":
            raise Refused(409, "案件已签收")
        new_status, type_ = "accepted", "case.accepted"
        data = Accepted(department=lead, by=staff.sub)
    elif action == "progress":
        needs_open()
        assert isinstance(body, ProgressBody)
        type_ = "case.progressed"
        data = Progressed(department=unit, by=staff.sub, note=mask_text(body.note),
                          kind="progress" if role == "lead" else "part")
    elif action == "coordination":
        needs_open()
        assert isinstance(body, CoordinationBody)
        if body.to == "lead":
            if role == "lead":
                raise Refused(409, "牵头单位无需向自己申请协调")
            type_ = "case.progressed"
            data = Progressed(department=unit, by=staff.sub, note=mask_text(body.note), kind="coordination_request",
                              to="lead")
        else:
            level = deadline.get("escalation_level", 1)
            if level >= top_level:
                raise Refused(409, "案件已在最高协调层级")
            type_ = "case.escalated"
            data = Escalated(from_level=level, to_level=level + 1, reason=mask_text(body.note), by=staff.sub,
                             requested_by=unit)
    elif action == "return":
        only_lead("退回")
        needs_open()
        assert isinstance(body, ReturnBody)
        new_status, type_ = "returned", "case.returned"
        data = Returned(department=lead, by=staff.sub, reason=mask_text(body.reason))
    elif action == "resolve":
        only_lead("办结")
        needs_open()
        assert isinstance(body, ResolveBody)
        if status != "accepted":
            raise Refused(409, "请先签收再办结")
        if body.follow_up_at and not body.solution:
            raise Refused(422, "填写跟进日期时须同时填写解决方案")
        due_at = deadline["due_at"]
        new_status, type_ = "resolved", "case.resolved"
        data = Resolved(resolution=mask_text(body.resolution), resolved_at=now, on_time=now <= due_at, by=staff.sub,
                        department=lead, solution=mask_text(body.solution) if body.solution else None,
                        follow_up_at=[d.isoformat() for d in body.follow_up_at] or None,
                        problem_list=bool(body.solution))
    elif action == "close":
        only_lead("销号")
        if status != "resolved":
            raise Refused(409, "案件办结后才能销号" if is_open else _closed_message(status))
        new_status, type_ = "closed", "case.closed"
        data = Closed(closed_at=now, by=staff.sub)
    else:
        raise Refused(404, "未知的办理操作")
    event = CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=now, data=data)
    return Change(
        set={"epoch": deadline.get("epoch"), "status": new_status, "department": lead, "updated_at": now},
        push={"actions": {"action": action, "type": type_, "event_id": event.event_id, "cause": cause, "by": staff.sub,
                          "unit": unit, "at": now, "epoch": deadline.get("epoch")}},
        events=[event])


def _closed_message(status: str) -> str:
    return {"resolved": "案件已办结", "closed": "案件已销号", "returned": "案件已退回"}.get(status, "案件当前状态不允许此操作")


def request_cause(case_id: str, action: str, request_id: str) -> str:
    """A retried request (same id) is the same cause: it acts once and answers with the same event."""
    return f"request:{case_id}:{action}:{request_id}"
