"""The data of each public case event type (CONTRACT.md section 2), version 1.

A consumer that meets an unknown type or a higher version skips it (see `parse_case_event`).
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from shared.contracts.envelope import CaseEvent


class _Data(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class PublicEnterprise(_Data):
    name: str
    uscc: str | None = None
    contact_name: str | None = None  # masked
    contact_phone: str  # masked


class Registered(_Data):
    submission_id: str
    channel: str
    tracking_no: str
    received_at: datetime
    submitted_at: datetime | None = None
    enterprise: PublicEnterprise
    content: str
    title: str | None = None
    region_hint: str | None = None
    reporter_kind: str | None = None
    # Optional additions (intake, issue 3): the item's id in its channel's own system (hotline ticket, city
    # platform case) so replies can go back; the enterprise's stable id across channels; the chosen category;
    # the liaison visit that recorded it.
    source_ref: str | None = None
    enterprise_id: str | None = None
    category: str | None = None
    visit_id: str | None = None
    # the 助企联络员 who found the problem on a visit (an id of intake's officer registry; the name is personal
    # data and stays in intake), so that officers can be ranked by problems found and solved
    liaison_officer: str | None = None


class Triaged(_Data):
    screening: str
    duplicate_of: str | None = None
    department: str | None = None
    co_departments: list[str] = []
    region: str | None = None
    complexity: str | None = None
    decided_by: Literal["auto", "officer"]
    needs_review: bool
    confidence: dict[str, float] = {}
    reason: str | None = None
    recurrence_of: str | None = None  # a closed (销号) case whose problem this new case brings back


class Urged(_Data):
    """The enterprise followed up on this open case (催办); the follow-up itself is a case screened duplicate."""

    submission_id: str
    channel: str
    urge_count: int
    follow_up_case_id: str | None = None


class Assigned(_Data):
    department: str
    co_departments: list[str] = []
    region: str | None = None
    complexity: str
    escalation_level: int
    due_at: datetime


class Accepted(_Data):
    department: str
    by: str


class Reminded(_Data):
    due_at: datetime
    level: int  # the escalation level that holds the case
    # sla: "50" / "80" (percent of the working time of the window), "eod" (不过夜), "response_missed" (the unit did not
    # 签收 by its response deadline), "follow_up" (a problem-list follow-up date), "urged" (催办 by 营商办 or a
    # leader), "triage_due" (triage's own clock, level 0)
    kind: str | None = None
    department: str | None = None
    by: str | None = None  # "urged": who pressed the unit
    note: str | None = None  # "urged": what they said (masked)


class Overdue(_Data):
    due_at: datetime
    escalation_level: int
    department: str | None = None


class Escalated(_Data):
    from_level: int
    to_level: int
    reason: str
    by: str | None = None  # "sla" for the ladder's clock, else the staff member who asked for coordination
    requested_by: str | None = None  # the unit that asked leadership to coordinate


class Resolved(_Data):
    resolution: str
    resolved_at: datetime
    on_time: bool
    by: str
    department: str | None = None
    # complex cases: the agreed solution and follow-up dates keep the case on the problem list until 销号
    solution: str | None = None
    follow_up_at: list[str] | None = None
    problem_list: bool | None = None


class Rated(_Data):
    level: str
    satisfied: bool
    comment: str | None = None
    round: int | None = None  # which resolution of the case was rated (1 = the first)
    rectification: bool | None = None  # the resolution followed a referral: the enterprise rates the rectification
    department: str | None = None  # the unit rated (the case's lead department then)


class Revisited(_Data):
    method: Literal["phone", "onsite"]
    outcome: str
    solved: bool | None = None  # whether the problem is really solved, as the revisit found
    round: int | None = None
    by: str | None = None


class Referred(_Data):
    to: str
    reason: str
    round: int | None = None
    case_file: dict[str, Any] | None = None  # timeline, units and people, deadlines, ratings, revisits


class Reopened(_Data):
    reason: str
    due_at: datetime


class Closed(_Data):
    closed_at: datetime
    by: str | None = None
    # why the case closed, for the enterprise too, when it was not closed after resolution (销号): e.g. sla closes
    # an unclear case whose enterprise gave no 补充说明 in time (reason_code "no_supplement")
    reason: str | None = None
    reason_code: str | None = None


class Returned(_Data):
    """A unit sends a case back to triage as not its own (退回)."""

    department: str
    by: str
    reason: str


class Progressed(_Data):
    """A unit (lead or co-department) records progress or its part of the work."""

    department: str
    by: str
    note: str
    kind: str | None = None  # progress (lead), part (a co-department's part), coordination_request
    to: str | None = None  # coordination_request: "lead"


class RatingAppealed(_Data):
    """A unit appeals a rating it holds to be mistaken or malicious (申诉)."""

    round: int
    department: str
    by: str
    reason: str
    evidence: list[str] = []


class RatingReviewed(_Data):
    """A reviewer's decision on an appeal (复核): an excluded rating stays on record but out of the rates."""

    round: int
    decision: Literal["upheld", "excluded"]
    by: str
    reason: str


class Evaluated(_Data):
    """An evaluation of a resolution beside the enterprise's own rating (服务企业评价体系: 企业评价为主, 营商部门和第三方
    评价为辅): 营商办's own (`business_office`) or a third-party survey's (`third_party`); one per source and round."""  # noqa: E501 (the docstring is the published schema's description: tests/unit/snapshots)

    source: Literal["business_office", "third_party"]
    round: int
    satisfied: bool
    level: str | None = None  # a rating level code of the organisation file
    score: float | None = None  # a survey's score (0-100), when it gave one instead of a level
    comment: str | None = None  # masked
    by: str | None = None  # the staff member who recorded it (营商办) or imported it (survey)
    department: str | None = None  # the unit evaluated (the case's lead department then)


class Supervised(_Data):
    """A step of the oversight unit's supervision of a referred case (findings, pressing the unit, closing)."""

    action: Literal["finding", "pressed", "closed"]
    by: str
    note: str
    round: int | None = None
    findings: list[str] = []
    department: str | None = None


class DetailAdded(_Data):
    """The enterprise adds detail to a case screened as unclear (补充说明); triage decides on it again."""

    detail: str
    by: str | None = None  # "enterprise", or the staff member who recorded it


class Supplemented(_Data):
    """The enterprise added detail to a case screened `unclear` (补充说明, CONTRACT.md section 2); a new
    `case.triaged` follows within the same 1-working-day rule."""

    content: str  # masked like every public text
    by: str = "enterprise"  # or the staff member who recorded what the enterprise said
    round: int = 1  # the how-many-th supplement of the case


class Synced(_Data):
    target: str
    direction: str
    remote_id: str | None = None


# type -> (highest version this code understands, data model)
DATA_MODELS: dict[str, tuple[int, type[_Data]]] = {
    "case.registered": (1, Registered),
    "case.triaged": (1, Triaged),
    "case.assigned": (1, Assigned),
    "case.accepted": (1, Accepted),
    "case.reminded": (1, Reminded),
    "case.overdue": (1, Overdue),
    "case.escalated": (1, Escalated),
    "case.resolved": (1, Resolved),
    "case.rated": (1, Rated),
    "case.revisited": (1, Revisited),
    "case.referred": (1, Referred),
    "case.reopened": (1, Reopened),
    "case.closed": (1, Closed),
    "case.synced": (1, Synced),
    "case.returned": (1, Returned),
    "case.progressed": (1, Progressed),
    "case.rating_appealed": (1, RatingAppealed),
    "case.rating_reviewed": (1, RatingReviewed),
    "case.supervised": (1, Supervised),
    "case.evaluated": (1, Evaluated),
    "case.detail_added": (1, DetailAdded),
    "case.urged": (1, Urged),
    "case.supplemented": (1, Supplemented),
}


class UnreadableEvent(ValueError):
    """The bytes are not a case event at all (bad JSON, missing envelope fields, bad data for a known type)."""

    def __init__(self, reason: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.errors = errors or []


def parse_case_event(raw: bytes) -> tuple[CaseEvent, _Data] | None:
    """Decode an event for a consumer. None means: a type or version this code does not know; skip it."""
    try:
        event = CaseEvent.model_validate_json(raw)
    except ValidationError as exc:
        raise UnreadableEvent("invalid case event envelope", _errors(exc))
    known = DATA_MODELS.get(event.type)
    if known is None or event.version > known[0]:
        return None
    try:
        return event, known[1].model_validate(event.data)
    except ValidationError as exc:
        raise UnreadableEvent(f"invalid data for {event.type}", _errors(exc))


def _errors(exc: ValidationError) -> list[dict[str, Any]]:
    """The validation errors as plain dicts (for the dead letter), without URLs or the input."""
    return [dict(error) for error in exc.errors(include_url=False, include_input=False)]
