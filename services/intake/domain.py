"""Intake rules, pure: case identity, tracking numbers, registration, and the case view built from events."""

import hashlib
import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from shared.contracts.case_events import PublicEnterprise, Registered, Supplemented
from shared.contracts.envelope import CaseEvent, derived_id
from shared.contracts.submissions import Enterprise, Submission
from shared.jsonable import iso
from shared.masking import mask_name, mask_phone, mask_text
from shared.refusal import Refusal
from shared.store import Change

# Status a case has after each event type (events not listed leave it as it is).
STATUS_AFTER = {
    "case.registered": "registered",
    "case.assigned": "assigned",
    "case.accepted": "in_progress",
    "case.resolved": "resolved",
    "case.reopened": "reopened",
    "case.closed": "closed",
    "case.returned": "returned",  # the unit handed it back: triage decides again
    "case.supplemented": "registered",  # the enterprise added detail: triage decides again
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
    "returned": "承办单位退回，重新研判交办",
}
SUPPLEMENT_MAX_CHARS = 2000
SUPPLEMENTS_PER_CASE = 5


def case_id_for(submission_id: str) -> str:
    """The same submission id always names the same case, whichever channel or retry brings it."""
    return derived_id("submission", submission_id)


def fingerprint(channel: str, enterprise_name: str, contact_phone: str, content: str) -> str:
    """What makes two sends of one submission id the same submission (a retry) rather than another one: who,
    through which channel, and what, ignoring white space."""
    basis = [channel, re.sub(r"\s+", "", enterprise_name), re.sub(r"\D", "", contact_phone),
             re.sub(r"\s+", "", content)]
    return hashlib.sha256(json.dumps(basis, ensure_ascii=False).encode()).hexdigest()


def submission_fingerprint(submission: Submission) -> str:
    return fingerprint(submission.channel, submission.enterprise.name, submission.enterprise.contact_phone,
                       submission.content)


def registration_fingerprint(registration: dict[str, Any]) -> str:
    """Of a stored registration (older records do not carry the fingerprint: computed from the submission)."""
    if registration.get("fingerprint"):
        return str(registration["fingerprint"])
    sub = registration.get("submission") or {}
    enterprise = sub.get("enterprise") or {}
    return fingerprint(str(sub.get("channel") or ""), str(enterprise.get("name") or ""),
                       str(enterprise.get("contact_phone") or ""), str(sub.get("content") or ""))


def tracking_no(received_at: datetime, sequence: int, tz: ZoneInfo) -> str:
    """QH + local date + daily sequence: short enough to read out on the phone."""
    return f"QH{received_at.astimezone(tz):%Y%m%d}{sequence:05d}"


def public_enterprise(enterprise: Enterprise) -> PublicEnterprise:
    return PublicEnterprise(name=enterprise.name, uscc=enterprise.uscc,
                            contact_name=mask_name(enterprise.contact_name),
                            contact_phone=mask_phone(enterprise.contact_phone) or "")


def register(submission: Submission, *, tracking: str, now: datetime, enterprise_id: str | None = None) -> Change:
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
        source_ref=submission.source_ref,
        enterprise_id=enterprise_id,
        category=submission.category,
        visit_id=submission.visit_id,
        liaison_officer=submission.reporter.id if submission.reporter and submission.reporter.kind ==
        "liaison_officer" else None,
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
            "fingerprint": submission_fingerprint(submission),
            "enterprise_name": submission.enterprise.name,
            "enterprise_id": enterprise_id,
            "source_ref": submission.source_ref,
            "visit_id": submission.visit_id,
            "category": submission.category,
            "status": "registered",
        },
        events=[event],
    )


class SupplementRefused(Refusal):
    """Not now (409): the case does not wait for detail, or has had all the supplements it may take."""

    def __init__(self, message: str) -> None:
        super().__init__(409, message)


def supplement(view: dict[str, Any] | None, registration: dict[str, Any], content: str, *, now: datetime,
               by: str = "enterprise") -> Change:
    """The enterprise's 补充说明 on a case screened unclear: `case.supplemented`, after which triage decides
    again. `view` is the case view (its status says whether the case waits for detail)."""
    if (view or {}).get("status") != "awaiting_detail":
        raise SupplementRefused("该问题目前不需要补充说明")
    done = len(registration.get("supplements") or [])
    if done >= SUPPLEMENTS_PER_CASE:
        raise SupplementRefused(f"每件问题最多补充说明{SUPPLEMENTS_PER_CASE}次，请联系营商办")
    case_id = registration["_id"]
    round_ = done + 1
    masked = mask_text(content)
    event = CaseEvent.new(cause=f"supplement:{case_id}:{round_}", type="case.supplemented", case_id=case_id,
                          occurred_at=now, data=Supplemented(content=masked, by=by, round=round_))
    return Change(push={"supplements": {"round": round_, "content": content, "at": now, "by": by}},
                  events=[event])


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
                      enterprise_name=data["enterprise"]["name"], history=[], content=data.get("content"),
                      category=data.get("category"), enterprise_id=data.get("enterprise_id"),
                      source_ref=data.get("source_ref"), visit_id=data.get("visit_id"))
    elif event.type == "case.triaged":
        fields["triage"] = data
        screening = data.get("screening")
        fields["status"] = ("pending_review" if data.get("needs_review")
                            else STATUS_AFTER_SCREENING.get(screening or "", "triaged"))
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
    elif event.type == "case.returned":  # the old deadline no longer stands: triage assigns again
        fields.update(due_at=None, department=None, assignment=None)
    elif event.type == "case.closed":
        fields["closed_reason"] = data.get("reason")
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
        "received_at": iso(doc.get("received_at")),
        "enterprise_name": doc.get("enterprise_name"),
        "enterprise_id": doc.get("enterprise_id"),
        "category": doc.get("category"),
        "source_ref": doc.get("source_ref"),
        "visit_id": doc.get("visit_id"),
        "triage": doc.get("triage"),
        "assignment": doc.get("assignment"),
        "department": doc.get("department"),
        "due_at": iso(doc.get("due_at")),
        "overdue": bool(doc.get("overdue", False)),
        "escalation_level": doc.get("escalation_level"),
        "resolution": doc.get("resolution"),
        "rating": doc.get("rating"),
        "supervision": doc.get("supervision"),
        "history": doc.get("history", []),
    }


# ---------------------------------------------------------------- the enterprise's tracking page

TIMELINE_STEPS = (
    ("received", "已受理"),
    ("screened", "已研判"),
    ("assigned", "已交办"),
    ("accepted", "承办单位已签收"),
    ("resolved", "已办结"),
    ("rated", "已评价"),
)
SCREENING_NOTES = {
    "accepted": "属于营商环境问题，予以受理",
    "non_business": "经研判不属于营商环境问题",
    "unclear": "问题描述不够清楚，请补充说明",
    "duplicate": "与正在办理的问题相同，已并入原问题办理，并已催办承办单位",
}


def phone_matches(registration: dict[str, Any] | None, last4: str) -> bool:
    """The tracking page asks for the last four digits of the contact phone given when submitting."""
    if registration is None or len(last4) != 4 or not last4.isdigit():
        return False
    phone = (registration.get("submission") or {}).get("enterprise", {}).get("contact_phone", "")
    digits = "".join(ch for ch in phone if ch.isdigit())
    return digits.endswith(last4)


def timeline(doc: dict[str, Any], org: Any, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The case's progress as the enterprise sees it: each step done (with when and what) or still to come.

    Built from the case's event history; unit codes become the names in the organisation file; times are local.
    """
    names = {d.code: d.name for d in org.departments} | {r.code: r.name for r in org.regions}
    levels = {r.code: r.name for r in org.rating_levels}
    steps: dict[str, dict[str, Any]] = {key: {"step": key, "name": name, "done": False, "at": None, "detail": None}
                                        for key, name in TIMELINE_STEPS}

    def done(key: str, at: Any, detail: str | None) -> None:
        steps[key].update(done=True, at=as_local(at, tz), detail=detail)

    done("received", doc.get("received_at"), f"查询编号 {doc.get('tracking_no')}")
    for entry in doc.get("history") or []:
        data, at = entry.get("data") or {}, entry.get("occurred_at")
        kind = entry.get("type")
        if kind == "case.triaged":
            if data.get("needs_review"):
                done("screened", at, "正在人工研判")
                steps["screened"]["done"] = False
            elif data.get("recurrence_of"):
                done("screened", at, "此前已销号的问题再次出现，已作为新问题受理")
            else:
                done("screened", at, SCREENING_NOTES.get(data.get("screening") or "", "已研判"))
        elif kind == "case.supplemented":
            done("screened", at, "已收到您的补充说明，正在重新研判")
            steps["screened"]["done"] = False
        elif kind == "case.returned":
            for key in ("assigned", "accepted"):
                steps[key].update(done=False, at=None, detail=None)
            steps["screened"]["detail"] = "承办单位申请退回，正在重新研判交办"
        elif kind == "case.assigned":
            unit = names.get(data.get("department"), data.get("department"))
            co = [names.get(c, c) for c in data.get("co_departments") or []]
            detail = f"交由{unit}办理" + (f"，{'、'.join(co)}协办" if co else "")
            done("assigned", at, detail + f"，办理时限至{as_local(data.get('due_at'), tz, minutes=True)}")
            steps["assigned"]["due_at"] = as_local(data.get("due_at"), tz)
        elif kind == "case.accepted":
            done("accepted", at, f"{names.get(data.get('department'), data.get('department'))}已签收")
        elif kind == "case.escalated":
            steps["assigned"]["detail"] = (steps["assigned"]["detail"] or "") + "；已提级督办"
        elif kind == "case.resolved":
            done("resolved", at, data.get("resolution"))
        elif kind == "case.reopened":
            for key in ("resolved", "rated"):
                steps[key].update(done=False, at=None, detail=None)
            steps["assigned"]["detail"] = (steps["assigned"]["detail"] or "") + "；已重新办理"
        elif kind == "case.rated":
            done("rated", at, levels.get(data.get("level"), data.get("level")))
    if doc.get("status") in ("screened_out", "duplicate"):
        return [steps["received"], steps["screened"]]
    return [steps[key] for key, _ in TIMELINE_STEPS]


def as_local(value: Any, tz: ZoneInfo, *, minutes: bool = False) -> str | None:
    """A stored time (or its ISO text) as the county's local time, to the second or the minute."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    moment = moment.astimezone(tz)
    return moment.strftime("%Y-%m-%d %H:%M") if minutes else moment.isoformat(timespec="seconds")
