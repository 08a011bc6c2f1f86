"""Officers' decisions on the review queue, pure: what a decision changes, the audit record, the events.

Every manual decision is recorded (who, when, what changed, why), published as `case.triaged` with
`decided_by: officer` (plus `case.assigned` when accepted), and kept as a labelled example for training.
"""

from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from services.triage.classifier import Example
from services.triage.framing import matter_text
from services.triage.learning import Correction
from services.triage.domain import ACCEPTED, DUPLICATE, NON_BUSINESS, UNCLEAR, Proposal, Triage, events_for
from shared.auth import Staff
from shared.contracts.envelope import CaseEvent
from shared.refusal import Refusal

Action = Literal["accept", "reroute", "duplicate", "ask_detail", "reject"]
SCREENING_OF: dict[str, str] = {"accept": ACCEPTED, "reroute": ACCEPTED, "duplicate": DUPLICATE,
                                "ask_detail": UNCLEAR, "reject": NON_BUSINESS}
COMPARED = ("screening", "duplicate_of", "department", "co_departments", "region", "complexity")


class DecisionRequest(BaseModel):
    """POST /api/v1/triage/cases/{case_id}/decision. Codes are checked against the organisation file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    reason: str | None = Field(default=None, max_length=2000)
    department: str | None = None
    co_departments: list[str] | None = None
    region: str | None = None
    complexity: str | None = None
    duplicate_of: str | None = Field(default=None, max_length=64)
    decision_id: str | None = Field(default=None, min_length=1, max_length=64)  # a retry sends the same id

    @field_validator("department")
    @classmethod
    def _department(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value not in info.context["org"].department_codes:
            raise ValueError(f"unknown department {value!r}")
        return value

    @field_validator("co_departments")
    @classmethod
    def _co(cls, value: list[str] | None, info: ValidationInfo) -> list[str] | None:
        unknown = [v for v in value or [] if v not in info.context["org"].department_codes]
        if unknown:
            raise ValueError(f"unknown departments {unknown}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value not in info.context["org"].region_codes:
            raise ValueError(f"unknown region {value!r}")
        return value

    @field_validator("complexity")
    @classmethod
    def _complexity(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None and value not in {c.code for c in info.context["org"].complexity}:
            raise ValueError(f"unknown complexity {value!r}")
        return value

    @model_validator(mode="after")
    def _needs(self) -> "DecisionRequest":
        if self.action != "accept" and not (self.reason or "").strip():
            raise ValueError("reason: a reason is required for every decision but accept")
        if self.action == "reroute" and not self.department:
            raise ValueError("department: rerouting needs the new lead department")
        if self.action == "duplicate" and not self.duplicate_of:
            raise ValueError("duplicate_of: marking a duplicate needs the case it repeats")
        return self


class DecisionRefused(Refusal):
    """A decision that the case's state does not allow (409 to the officer)."""

    def __init__(self, message: str):
        super().__init__(409, message)


def claim_state(doc: dict[str, Any], staff: Staff, now: datetime, minutes: int) -> tuple[bool, str | None]:
    """(may this officer claim it now, who holds it otherwise). A claim lapses after `minutes`."""
    holder, until = doc.get("claimed_by"), doc.get("claimed_until")
    if holder and holder != staff.sub and until is not None and until > now:
        return False, holder
    return True, None


def claim_change(staff: Staff, now: datetime, minutes: int) -> dict[str, Any]:
    return {"claimed_by": staff.sub, "claimed_at": now, "claimed_until": now + timedelta(minutes=minutes)}


def officer_proposal(request: DecisionRequest, doc: dict[str, Any], triage: Triage) -> Proposal:
    """The decision an officer's request makes, starting from what the case has now (the automatic proposal)."""
    current = doc.get("proposal") or {}
    screening = SCREENING_OF[request.action]
    reason = (request.reason or "").strip() or "人工研判：同意自动研判结果"
    if request.action == "duplicate":
        if request.duplicate_of == doc["_id"]:
            raise DecisionRefused("一个案件不能重复它自己")
        return Proposal(DUPLICATE, None, (), current.get("region"), None, None, False, {}, reason,
                        duplicate_of=request.duplicate_of)
    if screening != ACCEPTED:
        return Proposal(screening, None, (), current.get("region"), None, None, False, {}, reason)
    department = request.department or current.get("department")
    if not department:
        raise DecisionRefused("受理交办需要指定牵头单位")
    if request.co_departments is not None:
        co = tuple(c for c in request.co_departments if c != department)
    elif request.department and request.department != current.get("department"):
        co = tuple(c for c in current.get("co_departments") or () if c != department)
    else:
        co = tuple(current.get("co_departments") or ())
    region = request.region or current.get("region")
    complexity = request.complexity or current.get("complexity") or ("general" if co else "simple")
    if complexity == "simple" and co:
        complexity = "general"  # several units are never a one-unit case
    return Proposal(ACCEPTED, department, co, region, complexity, triage.escalation_for(complexity), False, {},
                    reason)


def changes(before: dict[str, Any], after: Proposal) -> dict[str, dict[str, Any]]:
    """Field -> {"before", "after"} for what the decision changed. (Not [before, after]: with co_departments that
    was a list of lists, which FerretDB refuses to store.)"""
    out = {}
    for name in COMPARED:
        old, new = before.get(name), getattr(after, name)
        if isinstance(new, tuple):
            new = list(new)
        if isinstance(old, tuple):
            old = list(old)
        if (old or None) != (new or None):
            out[name] = {"before": old, "after": new}
    return out


def decide(request: DecisionRequest, doc: dict[str, Any], staff: Staff, triage: Triage, *, now: datetime,
           decision_id: str, tz: Any) -> tuple[dict[str, Any], list[CaseEvent], dict[str, Any]]:
    """(fields to set, events, audit record) for an officer's decision on the case document `doc`."""
    proposal = officer_proposal(request, doc, triage)
    before = doc.get("decision") or {}
    record = {"id": decision_id, "at": now, "by": staff.sub, "role": staff.role, "action": request.action,
              "reason": proposal.reason, "changes": changes(before, proposal),
              "returned_by": (doc.get("returned") or {}).get("department") if doc.get("returned_open") else None}
    events = events_for(proposal, cause=f"officer:{decision_id}", case_id=doc["_id"], now=now, org=triage.org,
                        tz=tz, decided_by="officer")
    fields = {"decision": events[0].data, "screening": proposal.screening, "department": proposal.department,
              "needs_review": False, "min_confidence": 1.0, "claimed_by": None, "claimed_until": None,
              "returned_open": False, "decided_by": "officer", **awaiting_fields(proposal.screening, now)}
    return fields, events, record


def awaiting_fields(screening: str, now: datetime) -> dict[str, Any]:
    """A case screened unclear waits for the enterprise's 补充说明 (the officers' "awaiting detail" queue), from
    the time it was asked; any other screening waits for nothing."""
    if screening == UNCLEAR:
        return {"awaiting_detail": True, "detail_asked_at": now}
    return {"awaiting_detail": False}


SUPPLEMENT_MARK = "补充说明："


def supplemented_content(original: str, detail: str) -> str:
    """What the case says once the enterprise has added detail: the original text, then the supplement."""
    detail = detail.strip()
    return f"{original.rstrip()}\n{SUPPLEMENT_MARK}{detail}" if original.strip() else detail


def example_from(doc: dict[str, Any], proposal_data: dict[str, Any], decision_id: str) -> dict[str, Any]:
    """The officer's decision as a labelled example (stored; used at the next training)."""
    screening = proposal_data["screening"]
    return {"_id": decision_id, "text": doc.get("text") or "", "screening": ACCEPTED if screening == DUPLICATE
            else screening, "department": proposal_data.get("department"),
            "co_departments": proposal_data.get("co_departments") or [], "complexity": proposal_data.get("complexity"),
            "region": proposal_data.get("region"), "case_id": doc["_id"],
            "corrected": (doc.get("proposal") or {}).get("department") != proposal_data.get("department")}


def example_of_record(record: dict[str, Any]) -> Example:
    return Example(text=record["text"], screening=record["screening"], department=record.get("department"),
                   co_departments=tuple(record.get("co_departments") or ()), complexity=record.get("complexity"),
                   region=record.get("region"), source="officer")


def correction_of(case_id: str, text: str, decision: dict[str, Any]) -> Correction:
    """An officer's decision (the data of its `case.triaged`) as the memory keeps it: by the matter's words."""
    screening = decision.get("screening") or ACCEPTED  # a duplicate is not remembered (OfficerMemory.add)
    return Correction(case_id, matter_text(text), screening, decision.get("department"),
                      tuple(decision.get("co_departments") or ()), decision.get("complexity"))


def correction_of_record(record: dict[str, Any]) -> Correction:
    return correction_of(record.get("case_id") or record["_id"], record.get("text") or "", record)
