"""Who may read a case, and what (CONTRACT.md section 3, version 2). Pure: no I/O, the clock is a parameter.

- Staff see the case as it stands, within their role and unit.
- The enterprise, with a proof (the last four phone digits, a one-time code sent to the contact phone, or the
  signed link on its receipt), sees the public steps only.
- Anyone else sees nothing: 404 whether or not the case exists.

Wrong proofs are limited per tracking number (across all callers) and per address, in fixed windows, so that the
10,000 possible last-four digits cannot be tried; the code and the signed link stay open to the real enterprise.
"""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.intake.domain import STATUS_NAMES, as_local, timeline
from shared.auth import Staff
from shared.track_links import TrackClaim, issue_track_token, verify_track_token  # noqa: F401 (re-exported)

# Roles that read every case in the county; a unit handler reads only its unit's cases.
COUNTY_ROLES = ("triage_officer", "leader", "supervisor", "admin")
# Parts of the case only some roles read: the discipline commission's case file and the enterprise's comment.
SUPERVISION_ROLES = ("leader", "supervisor", "admin")

CODE_DIGITS = 6


# ---------------------------------------------------------------------------------------------- staff


def units_of(doc: dict[str, Any]) -> set[str]:
    """The lead and co-departments a case is (or was proposed to be) handled by."""
    units: set[str] = set()
    for part in (doc.get("assignment") or {}, doc.get("triage") or {}):
        if part.get("department"):
            units.add(part["department"])
        units.update(part.get("co_departments") or [])
    if doc.get("department"):
        units.add(doc["department"])
    return units


def staff_may_read(staff: Staff, doc: dict[str, Any]) -> bool:
    if staff.role in COUNTY_ROLES:
        return True
    return staff.role == "unit_handler" and bool(staff.unit) and staff.unit in units_of(doc)


def staff_view(staff: Staff, view: dict[str, Any]) -> dict[str, Any]:
    """The full case view, less what the role does not read."""
    if staff.role in SUPERVISION_ROLES:
        return view
    hidden = {"case.referred", "case.supervised"}
    history = [e for e in view.get("history") or [] if e.get("type") not in hidden]
    rating = view.get("rating")
    if rating and staff.role == "unit_handler":
        rating = {k: v for k, v in rating.items() if k != "comment"}
    return {**view, "supervision": None, "rating": rating, "history": history}


# ---------------------------------------------------------------------------------------------- the enterprise


def enterprise_view(doc: dict[str, Any], org: Any, tz: ZoneInfo) -> dict[str, Any]:
    """What the enterprise sees: status, the handling unit's name, the deadline and the public steps (received,
    accepted for handling, assigned, taken up, resolved with the reply written for it, rated). Never internal
    notes, staff identities, supervision files, case ids or anything about other cases."""
    names = {d.code: d.name for d in org.departments} | {r.code: r.name for r in org.regions}
    status = doc.get("status", "registered")
    assignment = doc.get("assignment") or {}
    unit = doc.get("department") or assignment.get("department")
    resolution = doc.get("resolution") or {}
    rating = doc.get("rating") or {}
    levels = {r.code: r.name for r in org.rating_levels}
    return {
        "tracking_no": doc.get("tracking_no"),
        "status": status,
        "status_name": STATUS_NAMES.get(status, status),
        "received_at": as_local(doc.get("received_at"), tz),
        "enterprise_name": doc.get("enterprise_name"),
        "unit_name": names.get(unit) if unit else None,
        "co_unit_names": [names.get(c, c) for c in assignment.get("co_departments") or []],
        "due_at": as_local(doc.get("due_at"), tz),
        "overdue": bool(doc.get("overdue", False)),
        "reply": resolution.get("resolution"),
        "rating": {"level": rating["level"], "name": levels.get(rating["level"], rating["level"])}
        if rating.get("level") else None,
        "closed_reason": doc.get("closed_reason"),
        "awaiting_detail": status == "awaiting_detail",
        "timeline": timeline(doc, org, tz),
    }


# ---------------------------------------------------------------------------------------------- one-time codes


def new_code() -> str:
    return f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"


def code_hash(tracking_no: str, code: str, secret: str) -> str:
    """Stored instead of the code: a store dump does not give working codes."""
    return hmac.new(secret.encode(), f"{tracking_no}:{code}".encode(), hashlib.sha256).hexdigest()


def code_matches(stored: dict[str, Any] | None, tracking_no: str, code: str, secret: str, now: datetime,
                 max_attempts: int) -> bool:
    if stored is None or stored.get("used") or stored.get("attempts", 0) >= max_attempts:
        return False
    expires = stored.get("expires_at")
    if expires is None or aware(expires) <= now:
        return False
    return hmac.compare_digest(stored.get("hash", ""), code_hash(tracking_no, code, secret))


def code_message(code: str, county: str, minutes: int) -> str:
    return f"【{county}企呼我应】您的查询验证码为{code}，{minutes}分钟内有效。如非本人操作，请忽略。"


def aware(value: datetime) -> datetime:
    """A stored time read without its offset is UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- guessing budget


@dataclass(frozen=True)
class Window:
    index: int
    retry_after: int  # seconds until the window ends

    def key(self, kind: str, subject: str) -> str:
        return f"{kind}:{subject}:{self.index}"


def window_at(now: datetime, seconds: int) -> Window:
    """Fixed windows: a correct proof works again once the window in which the budget ran out has passed."""
    stamp = int(now.timestamp())
    index = stamp // seconds
    return Window(index=index, retry_after=max((index + 1) * seconds - stamp, 1))


def normalise_tracking_no(raw: str | None) -> str:
    return (raw or "").strip().upper()[:32]
