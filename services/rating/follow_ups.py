"""What a case file calls for once it changes: its revisit tasks and the enterprise's invitation to rate.

The consumer, the periodic scan and the routes that rate or resend all come here."""

from datetime import timedelta
from typing import Any

from services.rating import domain, links
from services.rating.deps import Deps
from services.rating.notifier import Invitation


async def invite(deps: Deps, doc: dict[str, Any]) -> dict[str, Any]:
    """Send the enterprise a fresh one-time link for the current resolution; returns the invitation."""
    now = deps.ctx.clock()
    number = doc["round"]
    token, claim = links.issue(deps.link_secret, case_id=doc["_id"], round=number, now=now,
                               valid=timedelta(days=deps.settings.link_valid_days))
    current = doc["rounds"][str(number)]
    enterprise = doc.get("enterprise") or {}
    invitation = Invitation(
        case_id=doc["_id"], tracking_no=doc.get("tracking_no"), enterprise=enterprise.get("name"),
        contact_phone=enterprise.get("contact_phone"),
        link=f"{deps.settings.public_base_url.rstrip('/')}/e/rate/{token}", round=number,
        rectification=current.get("rectification", False), expires_at=claim.expires_at)
    await deps.notifier.send(invitation)
    await deps.store.cases.apply(doc["_id"], f"invite:{claim.link_id}", lambda d: domain.mark_invited(d, number, now))
    return {"sent_to": invitation.contact_phone, "round": number, "expires_at": claim.expires_at.isoformat()}


async def follow_up(deps: Deps, case_id: str) -> None:
    """Make sure what the case file calls for exists: its revisit tasks, its rating invitation. One at a time
    per case, so that one invitation goes out."""
    async with deps.follow_up_locks(case_id):
        doc = await deps.store.cases.get(case_id)
        if doc is None or doc.get("round", 0) == 0:
            return
        for method, reason in domain.wanted_revisits(doc):
            key = domain.task_id(case_id, doc["round"], method)
            await deps.store.revisits.apply(key, f"task:{key}", lambda task, m=method, r=reason: None if task else
                                            domain.new_task(doc, case_id, m, r, deps.ctx.clock()))
        if doc["state"] == "awaiting_rating" and not doc.get("invited"):
            try:
                await invite(deps, doc)
            except Exception:  # the periodic scan tries again; a failing gateway must not stop the stream
                deps.ctx.log.exception("rating_invitation_failed", case_id=case_id)
