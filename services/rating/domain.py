"""Rating rules, pure: the case file each event leaves, the enterprise's rating, referrals, revisits, appeals.

The case file (one document per case) is folded from the case events: who handled the case, its deadlines, and
one *round* per resolution (the first resolution is round 1; a case reopened and resolved again starts round 2).
Each round holds its rating, its revisits, whether it was referred to the oversight unit, and its appeal.
Every decision that produces events takes its time from the causing event or the caller (no clock here).
"""

import copy
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from services.rating.links import LinkRefused  # the enterprise's rating is refused for the link's reasons
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.jsonable import iso
from shared.masking import mask_text
from shared.refusal import Refusal
from shared.store import Change
from shared.workdays import add_working_days

TIMELINE_LIMIT = 500  # a case with more events than this keeps its first ones (FerretDB ignores $push $slice)


@dataclass(frozen=True)
class Policy:
    """What the organisation file and rating's settings decide."""

    satisfied_levels: frozenset[str]
    level_names: dict[str, str]  # code -> name, in the file's order (best first)
    oversight_unit: str  # the code referrals go to
    oversight_name: str
    tz: ZoneInfo
    unrated_window_working_days: int = 3
    rectification_working_days: int = 5
    phone_revisit_percent: int = 100


SupervisionAction = Literal["finding", "pressed", "closed"]  # a supervisor's step (ce.Supervised.action)
ReviewDecision = Literal["upheld", "excluded"]  # an appeal's outcome (ce.RatingReviewed.decision)


class Refused(Refusal):
    """A request the rules refuse, answered with its status; `message` is shown to people (Chinese), `reason`
    names the rule (in the answer too)."""

    def __init__(self, status: int, message: str, reason: str = "refused"):
        super().__init__(status, message, reason=reason)
        self.reason = reason


# ================================================================ the case file

Folder = Callable[[dict[str, Any], CaseEvent, Any, Policy], list[CaseEvent]]


def fold(doc: dict[str, Any] | None, event: CaseEvent, data: BaseModel, policy: Policy) -> Change | None:
    """Fold one case event into the case file; a dissatisfied rating or an unsolved revisit refers the case."""
    new: dict[str, Any] = copy.deepcopy(doc) if doc is not None else {"state": "open", "round": 0, "rounds": {}}
    folder = _FOLDERS.get(event.type)
    events = folder(new, event, data, policy) if folder is not None else []
    entry = _timeline_entry(event, data)
    return _change(doc, new, events, entry if len(new.get("timeline", [])) < TIMELINE_LIMIT else None)


def _registered(new: dict[str, Any], event: CaseEvent, data: ce.Registered, policy: Policy) -> list[CaseEvent]:
    new.update(tracking_no=data.tracking_no, channel=data.channel, received_at=data.received_at,
               enterprise={"name": data.enterprise.name, "contact_phone": data.enterprise.contact_phone,
                           "contact_name": data.enterprise.contact_name})
    return []


def _triaged(new: dict[str, Any], event: CaseEvent, data: ce.Triaged, policy: Policy) -> list[CaseEvent]:
    if data.region and not new.get("region"):
        new["region"] = data.region
    return []


def _assigned(new: dict[str, Any], event: CaseEvent, data: ce.Assigned, policy: Policy) -> list[CaseEvent]:
    new.update(department=data.department, co_departments=list(data.co_departments),
               region=data.region or new.get("region"), complexity=data.complexity)
    _add(new, "units", data.department, *data.co_departments)
    new.setdefault("deadlines", []).append({"kind": "assigned", "set_at": event.occurred_at,
                                            "due_at": data.due_at, "met": None})
    return []


def _handled(new: dict[str, Any], event: CaseEvent, data: Any, policy: Policy) -> list[CaseEvent]:
    """Accepted, progressed or returned: the unit and the person who handled it."""
    _add(new, "units", data.department)
    _add(new, "people", data.by)
    return []


def _overdue(new: dict[str, Any], event: CaseEvent, data: ce.Overdue, policy: Policy) -> list[CaseEvent]:
    for deadline in new.get("deadlines", []):
        if deadline["due_at"] == data.due_at:
            deadline["met"] = False
    return []


def _rated(new: dict[str, Any], event: CaseEvent, data: ce.Rated, policy: Policy) -> list[CaseEvent]:
    number = data.round or new["round"]
    current = new["rounds"].get(str(number))
    if current is None or current.get("rating") is not None:
        return []
    # a rating from elsewhere (another channel)
    return _record_rating(new, event.case_id, number, level=data.level, comment=data.comment, at=event.occurred_at,
                          event_id=event.event_id, source="event", cause=event.event_id, policy=policy)


def _revisited(new: dict[str, Any], event: CaseEvent, data: ce.Revisited, policy: Policy) -> list[CaseEvent]:
    number = data.round or new["round"]
    current = new["rounds"].get(str(number))
    if current is None:
        return []
    current.setdefault("revisits", []).append({
        "method": data.method, "outcome": data.outcome, "solved": data.solved, "by": data.by,
        "at": event.occurred_at, "event_id": event.event_id})
    if data.by:
        _add(new, "revisited_by", data.by)
    if data.solved is False:
        return _refer(new, event.case_id, number, "回访发现问题未解决", event.occurred_at, event.event_id, policy,
                      referred_for="revisit")
    return []


def _referred(new: dict[str, Any], event: CaseEvent, data: ce.Referred, policy: Policy) -> list[CaseEvent]:
    current = new["rounds"].get(str(data.round or new["round"]))
    if current is not None and not current.get("referred"):
        current.update(referred=True, referral_reason=data.reason, referred_at=event.occurred_at)
    return []


def _reopened(new: dict[str, Any], event: CaseEvent, data: ce.Reopened, policy: Policy) -> list[CaseEvent]:
    new["state"] = "reopened"
    current = new["rounds"].get(str(new["round"]))
    if current is not None:
        current["reopened"] = True
    new.setdefault("deadlines", []).append({"kind": "reopened", "set_at": event.occurred_at,
                                            "due_at": data.due_at, "met": None, "reason": data.reason})
    return []


def _closed(new: dict[str, Any], event: CaseEvent, data: Any, policy: Policy) -> list[CaseEvent]:
    new["state"] = "closed"
    return []


def _rating_appealed(new: dict[str, Any], event: CaseEvent, data: ce.RatingAppealed,
                     policy: Policy) -> list[CaseEvent]:
    rating = new["rounds"].get(str(data.round), {}).get("rating")
    if rating is not None:
        rating["appeal"] = "pending"
    return []


def _rating_reviewed(new: dict[str, Any], event: CaseEvent, data: ce.RatingReviewed,
                     policy: Policy) -> list[CaseEvent]:
    rating = new["rounds"].get(str(data.round), {}).get("rating")
    if rating is not None:
        rating.update(appeal=data.decision, excluded=data.decision == "excluded")
        current = new["rounds"][str(data.round)]
        if data.decision == "excluded" and current.get("referred_for") == "rating":
            current["referral_rating_excluded"] = True
    return []


def _evaluated(new: dict[str, Any], event: CaseEvent, data: ce.Evaluated, policy: Policy) -> list[CaseEvent]:
    current = new["rounds"].get(str(data.round))
    if current is not None and data.source not in current.get("evaluations", {}):  # 营商办 or a survey
        current.setdefault("evaluations", {})[data.source] = evaluation_entry(data, event.occurred_at,
                                                                              event.event_id)
    return []


def _supervised(new: dict[str, Any], event: CaseEvent, data: ce.Supervised, policy: Policy) -> list[CaseEvent]:
    current = new["rounds"].get(str(data.round or new["round"]))
    if current is not None and data.findings:
        current["findings"] = sorted(set(current.get("findings", [])) | set(data.findings))
    return []


def evaluation_entry(data: ce.Evaluated, at: datetime, event_id: str) -> dict[str, Any]:
    return {"satisfied": data.satisfied, "level": data.level, "score": data.score,
            "comment": mask_text(data.comment) if data.comment else None, "by": data.by, "at": at,
            "event_id": event_id}


def _resolve(new: dict[str, Any], event: CaseEvent, data: ce.Resolved, policy: Policy) -> list[CaseEvent]:
    previous = new["rounds"].get(str(new["round"]))
    number = new["round"] + 1
    new["round"] = number
    new["rounds"][str(number)] = {
        "number": number, "resolved_at": data.resolved_at, "by": data.by, "on_time": data.on_time,
        "resolution": mask_text(data.resolution),
        "rating_due_at": add_working_days(data.resolved_at, policy.unrated_window_working_days, policy.tz),
        # the round after a referral is the rectification, which the enterprise rates too
        "rectification": bool(previous and previous.get("referred")),
        "rating": None, "revisits": [], "referred": False, "reopened": False, "unrated_revisit": False,
        "invited_at": None, "phone_sampled": sampled(event.case_id, number, policy.phone_revisit_percent),
    }
    new.update(state="awaiting_rating", rating_due_at=new["rounds"][str(number)]["rating_due_at"],
               unrated_flagged=False, invited=False)
    _add(new, "people", data.by)
    open_deadlines = [d for d in new.get("deadlines", []) if d["met"] is None]
    if open_deadlines:
        open_deadlines[-1]["met"] = data.on_time
    return []


def sampled(case_id: str, round_number: int, percent: int) -> bool:
    """A deterministic sample: the same case and round are always in or out (redelivery, restarts)."""
    digest = hashlib.sha256(f"{case_id}/{round_number}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 100 < percent


def _record_rating(new: dict[str, Any], case_id: str, number: int, *, level: str, comment: str | None, at: datetime,
                   event_id: str, source: str, cause: str, policy: Policy) -> list[CaseEvent]:
    current = new["rounds"][str(number)]
    satisfied = level in policy.satisfied_levels
    current["rating"] = {"level": level, "name": policy.level_names.get(level, level), "satisfied": satisfied,
                         "comment": mask_text(comment) if comment else None, "at": at, "event_id": event_id,
                         "source": source, "appeal": None, "excluded": False}
    if new["state"] == "awaiting_rating" and number == new["round"]:
        new["state"] = "rated"
    new["last_rated_at"] = at
    if satisfied:
        return []
    return _refer(new, case_id, number, f"企业评价为“{policy.level_names.get(level, level)}”", at, cause, policy,
                  referred_for="rating")


def _refer(new: dict[str, Any], case_id: str, number: int, reason: str, at: datetime, cause: str,
           policy: Policy, referred_for: str) -> list[CaseEvent]:
    """Refer a round to the oversight unit and reopen the case for rectification (once per round).

    `referred_for` ("rating" or "revisit") says what caused it, so that an appeal that excludes the rating can
    be recorded on the supervision it started.
    """
    current = new["rounds"][str(number)]
    if current.get("referred"):
        return []
    due = add_working_days(at, policy.rectification_working_days, policy.tz)
    current.update(referred=True, referral_reason=reason, referred_at=at, rectification_due_at=due,
                   referred_for=referred_for)
    referred = CaseEvent.new(cause=cause, type="case.referred", case_id=case_id, occurred_at=at,
                             data=ce.Referred(to=policy.oversight_unit, reason=reason, round=number,
                                              case_file=case_file(new, case_id)))
    events = [referred]
    if number == new["round"]:  # an older round's referral does not reopen the current resolution
        new["state"] = "reopened"
        current["reopened"] = True
        events.append(CaseEvent.new(cause=cause, type="case.reopened", case_id=case_id, occurred_at=at,
                                    data=ce.Reopened(reason=f"{reason}，转{policy.oversight_name}监督，限期整改",
                                                     due_at=due)))
    return events


def _add(doc: dict[str, Any], field: str, *values: str | None) -> None:
    present = doc.setdefault(field, [])
    for value in values:
        if value and value not in present:
            present.append(value)


def _timeline_entry(event: CaseEvent, data: BaseModel) -> dict[str, Any]:
    entry: dict[str, Any] = {"at": event.occurred_at, "type": event.type, "event_id": event.event_id}
    for name in ("department", "by", "level", "method", "outcome", "reason", "to", "action", "decision", "round"):
        value = getattr(data, name, None)
        if value is not None:
            entry[name] = mask_text(value) if isinstance(value, str) else value
    due_at = getattr(data, "due_at", None)
    if due_at is not None:
        entry["due_at"] = due_at
    return entry


def _change(doc: dict[str, Any] | None, new: dict[str, Any], events: list[CaseEvent],
            entry: dict[str, Any] | None) -> Change:
    """Top-level fields that changed are set whole (a new document cannot take dotted keys)."""
    before = doc or {}
    changed = {k: v for k, v in new.items() if k not in ("_id", "processed", "outbox", "rev", "timeline",
                                                           "pending_since") and before.get(k) != v}
    return Change(set=changed, events=events, push={"timeline": entry} if entry else {})


_FOLDERS: dict[str, Folder] = {
    "case.registered": _registered, "case.triaged": _triaged, "case.assigned": _assigned,
    "case.accepted": _handled, "case.progressed": _handled, "case.returned": _handled,
    "case.overdue": _overdue, "case.resolved": _resolve, "case.rated": _rated, "case.revisited": _revisited,
    "case.referred": _referred, "case.reopened": _reopened, "case.closed": _closed,
    "case.rating_appealed": _rating_appealed, "case.rating_reviewed": _rating_reviewed,
    "case.evaluated": _evaluated, "case.supervised": _supervised,
}


# ================================================================ the case file as the oversight unit reads it

def case_file(doc: dict[str, Any], case_id: str) -> dict[str, Any]:
    """Timeline, units and people, deadlines met or missed, ratings and revisits: what a referral carries."""
    rounds = [doc["rounds"][k] for k in sorted(doc.get("rounds", {}), key=int)]
    return {
        "case_id": case_id,
        "tracking_no": doc.get("tracking_no"),
        "enterprise": (doc.get("enterprise") or {}).get("name"),
        "department": doc.get("department"),
        "region": doc.get("region"),
        "units": list(doc.get("units", [])),
        "people": list(doc.get("people", [])),
        "revisited_by": list(doc.get("revisited_by", [])),
        "deadlines": [{"kind": d["kind"], "due_at": iso(d["due_at"]), "met": d["met"]}
                      for d in doc.get("deadlines", [])],
        "rounds": [{
            "round": r["number"], "resolved_at": iso(r["resolved_at"]), "by": r["by"], "on_time": r["on_time"],
            "resolution": r.get("resolution"), "rectification": r.get("rectification", False),
            "rating": None if r.get("rating") is None else {
                k: iso(v) for k, v in r["rating"].items() if k in ("level", "name", "satisfied", "comment", "at",
                                                                       "excluded", "appeal")},
            "revisits": [{k: iso(v) for k, v in visit.items() if k != "event_id"} for visit in r.get("revisits", [])],
            "evaluations": {source: {k: iso(v) for k, v in e.items() if k != "event_id"}
                            for source, e in r.get("evaluations", {}).items()},
            "referred": r.get("referred", False), "referral_reason": r.get("referral_reason"),
            "findings": list(r.get("findings", [])),
        } for r in rounds],
        "timeline": [{k: iso(v) for k, v in e.items() if k != "event_id"} for e in doc.get("timeline", [])],
    }


# ================================================================ the enterprise rates

def rate(doc: dict[str, Any] | None, *, case_id: str, link_round: int, level: str, comment: str | None,
         now: datetime, source: str, request_id: str, policy: Policy) -> Change:
    """The enterprise rates the resolution its link (or tracking page) names: once, and only the current one."""
    if doc is None or doc.get("round", 0) == 0:
        raise LinkRefused("unknown_case")
    if level not in policy.level_names:
        raise Refused(422, "评价等级无效", "bad_level")
    number = doc["round"]
    if link_round < number:
        raise LinkRefused("superseded")
    if link_round > number:
        raise LinkRefused("forged")
    if doc["rounds"][str(number)].get("rating") is not None:
        raise LinkRefused("replayed")
    if doc["state"] not in ("awaiting_rating", "closed"):
        raise LinkRefused("not_awaiting")
    new = copy.deepcopy(doc)
    cause = request_id
    rated = CaseEvent.new(cause=cause, type="case.rated", case_id=case_id, occurred_at=now, data=ce.Rated(
        level=level, satisfied=level in policy.satisfied_levels, comment=mask_text(comment) if comment else None,
        round=number, rectification=new["rounds"][str(number)].get("rectification", False),
        department=new.get("department")))
    events = [rated, *_record_rating(new, case_id, number, level=level, comment=comment, at=now,
                                     event_id=rated.event_id, source=source, cause=cause, policy=policy)]
    return _change(doc, new, events, None)  # the timeline entry comes with the event


def rating_status(doc: dict[str, Any] | None, policy: Policy) -> dict[str, Any]:
    """What the enterprise's tracking page shows about rating."""
    if doc is None or doc.get("round", 0) == 0:
        return {"awaiting": False, "round": 0, "rating": None, "levels": levels(policy)}
    current = doc["rounds"][str(doc["round"])]
    rating = current.get("rating")
    return {
        "awaiting": rating is None and doc["state"] in ("awaiting_rating", "closed"),
        "round": doc["round"], "rectification": current.get("rectification", False),
        "resolved_at": iso(current["resolved_at"]), "resolution": current.get("resolution"),
        "rating": None if rating is None else {"level": rating["level"], "name": rating["name"],
                                               "at": iso(rating["at"])},
        "levels": levels(policy),
    }


def levels(policy: Policy) -> list[dict[str, str]]:
    return [{"code": code, "name": name} for code, name in policy.level_names.items()]


def mark_invited(doc: dict[str, Any] | None, number: int, now: datetime) -> Change | None:
    if doc is None or str(number) not in doc.get("rounds", {}):
        return None
    rounds = copy.deepcopy(doc["rounds"])
    rounds[str(number)]["invited_at"] = now
    rounds[str(number)]["invitations"] = rounds[str(number)].get("invitations", 0) + 1
    return Change(set={"rounds": rounds, "invited": True})


def may_resend(doc: dict[str, Any], now: datetime, interval_seconds: int) -> bool:
    invited_at = doc["rounds"][str(doc["round"])].get("invited_at")
    return invited_at is None or (now - invited_at).total_seconds() >= interval_seconds


# ================================================================ unrated rounds

def flag_unrated(doc: dict[str, Any] | None, now: datetime) -> Change | None:
    """The rating window passed without a rating: the round gets a phone revisit."""
    if doc is None or doc.get("state") != "awaiting_rating" or doc.get("unrated_flagged"):
        return None
    number = doc["round"]
    current = doc["rounds"][str(number)]
    if current.get("rating") is not None or now < current["rating_due_at"]:
        return None
    rounds = copy.deepcopy(doc["rounds"])
    rounds[str(number)]["unrated_revisit"] = True
    return Change(set={"rounds": rounds, "unrated_flagged": True})


def wanted_revisits(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """The revisit tasks the current round calls for: (method, reason)."""
    number = doc.get("round", 0)
    if number == 0:
        return []
    current = doc["rounds"][str(number)]
    wanted = []
    if current.get("phone_sampled") or current.get("unrated_revisit"):
        wanted.append(("phone", "unrated" if current.get("unrated_revisit") and not current.get("phone_sampled")
                       else "resolved"))
    rating = current.get("rating")
    if rating is not None and not rating["satisfied"]:
        wanted.append(("onsite", "dissatisfied"))
    return wanted


def task_id(case_id: str, number: int, method: str) -> str:
    return f"{case_id}:{number}:{method}"


REVISIT_REASONS = {"resolved": "办结回访", "unrated": "逾期未评价", "dissatisfied": "不满意件"}


def new_task(doc: dict[str, Any], case_id: str, method: str, reason: str, now: datetime) -> Change:
    number = doc["round"]
    return Change(set={
        "case_id": case_id, "round": number, "method": method, "reason": reason, "state": "open",
        "created_at": now, "department": doc.get("department"), "region": doc.get("region"),
        "tracking_no": doc.get("tracking_no"), "enterprise": doc.get("enterprise"),
        "resolved_at": doc["rounds"][str(number)]["resolved_at"], "record": None,
    })


def record_revisit(task: dict[str, Any] | None, *, by: str, said: str, solved: bool, visited_at: datetime,
                   note: str | None, now: datetime, cause: str) -> Change:
    """Revisit staff record a call or visit: method, who, when, what the enterprise said, whether it is solved."""
    if task is None:
        raise Refused(404, "未找到该回访任务", "unknown_task")
    if task["state"] != "open":
        raise Refused(409, "该回访任务已记录", "done")
    record = {"by": by, "visited_at": visited_at, "said": mask_text(said), "solved": solved,
              "note": mask_text(note) if note else None, "recorded_at": now}
    event = CaseEvent.new(cause=cause, type="case.revisited", case_id=task["case_id"], occurred_at=now,
                          data=ce.Revisited(method=task["method"], outcome=mask_text(said), solved=solved,
                                            round=task["round"], by=by))
    return Change(set={"state": "done", "record": record}, events=[event])


# ================================================================ supervision

def open_supervision(doc: dict[str, Any] | None, event: CaseEvent, data: ce.Referred,
                     case: dict[str, Any] | None) -> Change | None:
    if doc is not None:
        return None
    number = data.round or (case or {}).get("round", 0)
    return Change(set={
        "case_id": event.case_id, "round": number, "to": data.to, "reason": data.reason,
        "referred_at": event.occurred_at, "state": "open", "department": (case or {}).get("department"),
        "region": (case or {}).get("region"), "tracking_no": (case or {}).get("tracking_no"),
        "case_file": data.case_file or (case_file(case, event.case_id) if case else None),
        "findings": [], "actions": [], "closed_at": None,
    })


def note_rating_excluded(doc: dict[str, Any] | None, case: dict[str, Any] | None, data: ce.RatingReviewed,
                         at: datetime) -> Change | None:
    """An appeal excluded the rating that started this supervision (and reopened the case): say so on it.

    The supervision stays as it is (open or closed) and the reopening stands; the supervisor decides what follows
    (e.g. close it as 未发现问题). No event of its own: the review is already the audited `case.rating_reviewed`.
    """
    if doc is None or data.decision != "excluded" or doc.get("rating_excluded"):
        return None
    current = ((case or {}).get("rounds") or {}).get(str(data.round)) or {}
    caused_by = current.get("referred_for") or ("rating" if str(doc.get("reason", "")).startswith("企业评价")
                                                 else "revisit")
    if caused_by != "rating":
        return None  # referred for a failed revisit: the exclusion of the rating does not touch it
    reopened = bool(current.get("reopened"))
    note = ("申诉复核已排除引发本次监督的企业评价" + ("（案件已因该评价重新交办整改）" if reopened else "") +
            f"：{mask_text(data.reason)}")
    entry = {"action": "rating_excluded", "by": data.by, "at": at, "note": note, "findings": []}
    return Change(set={
        "rating_excluded": {"by": data.by, "at": at, "reason": mask_text(data.reason), "case_reopened": reopened},
        "actions": [*doc.get("actions", []), entry],
    })


def supervise(doc: dict[str, Any] | None, *, action: SupervisionAction, by: str, note: str, findings: list[str],
              known_findings: dict[str, str], now: datetime, cause: str) -> Change:
    """A supervisor's step: record findings, press the unit, close; each is an audited event."""
    if doc is None:
        raise Refused(404, "未找到该监督件", "unknown_supervision")
    if doc["state"] == "closed":
        raise Refused(409, "该监督件已办结", "closed")
    unknown = [f for f in findings if f not in known_findings]
    if unknown:
        raise Refused(422, f"未知的问题类型：{'、'.join(unknown)}", "bad_finding")
    if action == "finding" and not findings:
        raise Refused(422, "请至少选择一项查实的问题", "no_finding")
    entry = {"action": action, "by": by, "at": now, "note": mask_text(note), "findings": findings}
    fields: dict[str, Any] = {"actions": [*doc.get("actions", []), entry]}
    if findings:
        fields["findings"] = sorted(set(doc.get("findings", [])) | set(findings))
    if action == "closed":
        fields.update(state="closed", closed_at=now, conclusion=mask_text(note))
    event = CaseEvent.new(cause=cause, type="case.supervised", case_id=doc["case_id"], occurred_at=now,
                          data=ce.Supervised(action=action, by=by, note=mask_text(note), round=doc["round"],
                                             findings=findings, department=doc.get("department")))
    return Change(set=fields, events=[event])


# ================================================================ appeals

def appeal(existing: dict[str, Any] | None, case: dict[str, Any] | None, *, case_id: str, number: int,
           unit: str, by: str, reason: str, evidence: list[str], now: datetime, cause: str) -> Change:
    """A unit appeals a rating of its own case, with evidence; one appeal per rating."""
    rating = ((case or {}).get("rounds", {}).get(str(number)) or {}).get("rating")
    if case is None or rating is None:
        raise Refused(404, "未找到该次评价", "unknown_rating")
    if case.get("department") != unit:
        raise Refused(403, "只能对本单位承办问题件的评价提出申诉", "not_own_unit")
    if existing is not None:
        raise Refused(409, "该次评价已提出过申诉", "appealed")
    event = CaseEvent.new(cause=cause, type="case.rating_appealed", case_id=case_id, occurred_at=now,
                          data=ce.RatingAppealed(round=number, department=unit, by=by, reason=mask_text(reason),
                                                 evidence=[mask_text(e) for e in evidence]))
    return Change(set={
        "case_id": case_id, "round": number, "department": unit, "state": "pending", "rating": {
            "level": rating["level"], "name": rating["name"], "comment": rating.get("comment"), "at": rating["at"]},
        "appeal": {"by": by, "at": now, "reason": mask_text(reason), "evidence": [mask_text(e) for e in evidence]},
        "review": None,
    }, events=[event])


def review(existing: dict[str, Any] | None, *, decision: ReviewDecision, by: str, reason: str, now: datetime,
           cause: str) -> Change:
    if existing is None:
        raise Refused(404, "未找到该申诉", "unknown_appeal")
    if existing["state"] != "pending":
        raise Refused(409, "该申诉已复核", "reviewed")
    event = CaseEvent.new(cause=cause, type="case.rating_reviewed", case_id=existing["case_id"], occurred_at=now,
                          data=ce.RatingReviewed(round=existing["round"], decision=decision, by=by,
                                                 reason=mask_text(reason)))
    return Change(set={"state": decision, "review": {"by": by, "at": now, "decision": decision,
                                                     "reason": mask_text(reason)}}, events=[event])
