"""Intake rules, pure: case identity, tracking numbers, registration, and the case view built from events."""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.case_events import PublicEnterprise, Registered
from shared.contracts.envelope import CaseEvent, derived_id
from shared.contracts.submissions import Enterprise, Submission
from shared.masking import mask_name, mask_phone, mask_text
from shared.store import Change

# Status a case has after each event type (events not listed leave it as it is).
STATUS_AFTER = {
    "case.registered": "registered",
    "case.assigned": "assigned",
    "case.accepted": "in_progress",
    "case.resolved": "resolved",
    "case.reopened": "reopened",
    "case.closed": "closed",
}
STATUS_AFTER_SCREENING = {
    "accepted": "triaged",
    "non_business": "screened_out",
    "unclear": "awaiting_detail",
    "duplicate": "duplicate",
}
STATUS_NAMES = {
    "registered": "已受理登记",
    "pending_review": "待人工研判",
    "triaged": "已研判",
    "screened_out": "非营商环境问题",
    "awaiting_detail": "待补充说明",
    "duplicate": "重复问题",
    "assigned": "已交办",
    "in_progress": "办理中",
    "resolved": "已办结",
    "reopened": "重新办理",
    "closed": "已销号",
}


def case_id_for(submission_id: str) -> str:
    """The same submission id always names the same case, whichever channel or retry brings it."""
    return derived_id("submission", submission_id)


def tracking_no(received_at: datetime, sequence: int, tz: ZoneInfo) -> str:
    """QH + local date + daily sequence: short enough to read out on the phone."""
    return f"QH{received_at.astimezone(tz):%Y%m%d}{sequence:05d}"


def public_enterprise(enterprise: Enterprise) -> PublicEnterprise:
    return PublicEnterprise(name=enterprise.name, uscc=enterprise.uscc,
                            contact_name=mask_name(enterprise.contact_name),
                            contact_phone=mask_phone(enterprise.contact_phone) or "")


def register(submission: Submission, *, tracking: str, now: datetime) -> Change:
    """A new case from a submission: the private record, and `case.registered` with personal data masked."""
    case_id = case_id_for(submission.submission_id)
    registered = Registered(
        submission_id=submission.submission_id,
        channel=submission.channel,
        tracking_no=tracking,
        received_at=now,
        submitted_at=submission.submitted_at,
        enterprise=public_enterprise(submission.enterprise),
        content=mask_text(submission.content),
        title=mask_text(submission.title) if submission.title else None,
        region_hint=submission.region_hint,
        reporter_kind=submission.reporter.kind if submission.reporter else None,
    )
    event = CaseEvent.new(cause=f"submission:{submission.submission_id}", type="case.registered",
                          case_id=case_id, occurred_at=now, data=registered)
    return Change(
        set={
            "case_id": case_id,
            "submission_id": submission.submission_id,
            "channel": submission.channel,
            "tracking_no": tracking,
            "received_at": now,
            "submission": submission.model_dump(mode="json"),  # private: full contact data stays here
            "enterprise_name": submission.enterprise.name,
            "status": "registered",
        },
        events=[event],
    )


def project(doc: dict[str, Any] | None, event: CaseEvent) -> Change | None:
    """Fold one public event into the case view (the state behind GET /api/v1/cases/{id})."""
    if doc is None and event.type != "case.registered":
        return None  # the view starts at registration; an orphan event has nothing to attach to
    fields: dict[str, Any] = {}
    data = event.data
    if event.type in STATUS_AFTER:
        fields["status"] = STATUS_AFTER[event.type]
    if event.type == "case.registered" and doc is None:
        fields.update(case_id=event.case_id, submission_id=data["submission_id"], channel=data["channel"],
                      tracking_no=data["tracking_no"], received_at=datetime.fromisoformat(data["received_at"]),
                      enterprise_name=data["enterprise"]["name"], history=[])
    elif event.type == "case.triaged":
        fields["triage"] = data
        screening = data.get("screening")
        fields["status"] = "pending_review" if data.get("needs_review") else STATUS_AFTER_SCREENING.get(screening, "triaged")
    elif event.type == "case.assigned":
        fields["assignment"] = data
        fields["due_at"] = data["due_at"]
        fields["escalation_level"] = data["escalation_level"]
        fields["department"] = data["department"]
    elif event.type == "case.overdue":
        fields["overdue"] = True
    elif event.type == "case.escalated":
        fields["escalation_level"] = data["to_level"]
    elif event.type == "case.resolved":
        fields["resolution"] = data
    elif event.type == "case.rated":
        fields["rating"] = data
    elif event.type == "case.referred":
        fields["supervision"] = data
    elif event.type == "case.reopened":
        fields["due_at"] = data["due_at"]
        fields["overdue"] = False
    entry = {"event_id": event.event_id, "type": event.type, "version": event.version,
             "occurred_at": event.occurred_at.isoformat(), "data": data}
    return Change(set=fields, push={"history": entry})


def case_view(doc: dict[str, Any]) -> dict[str, Any]:
    """The case as the API shows it. Contact data is never part of it (the events carry it masked)."""
    status = doc.get("status", "registered")
    return {
        "case_id": doc["_id"],
        "tracking_no": doc.get("tracking_no"),
        "submission_id": doc.get("submission_id"),
        "channel": doc.get("channel"),
        "status": status,
        "status_name": STATUS_NAMES.get(status, status),
        "received_at": _iso(doc.get("received_at")),
        "enterprise_name": doc.get("enterprise_name"),
        "triage": doc.get("triage"),
        "assignment": doc.get("assignment"),
        "department": doc.get("department"),
        "due_at": _iso(doc.get("due_at")),
        "overdue": bool(doc.get("overdue", False)),
        "escalation_level": doc.get("escalation_level"),
        "resolution": doc.get("resolution"),
        "rating": doc.get("rating"),
        "supervision": doc.get("supervision"),
        "history": doc.get("history", []),
    }


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value
