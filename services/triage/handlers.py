"""triage's consumer of the case-events topic: `case.registered` -> decision -> `case.triaged` (and
`case.assigned` when no officer is needed); `case.returned` puts a case back in the queue; `case.supplemented`
(public) and `case.detail_added` (internal) decide an unclear case again on its text plus the enterprise's 补充说明;
`case.closed` ends a case's life as a possible original. Also the peer feed's handler (other instances' decisions).

The consumer runs with concurrency 1: the duplicate search of each case must see every earlier case decided."""

import asyncio
from typing import Any

from services.triage import engine, review
from services.triage.deps import Deps
from services.triage.domain import DUPLICATE, UNCLEAR, Case, Proposal, events_for, urged_event
from services.triage.dup_index import ACCEPTED
from shared.contracts.case_events import Closed, DetailAdded, Registered, Returned, Supplemented
from shared.contracts.envelope import CaseEvent
from shared.runtime import CaseEventHandler
from shared.store import Change


def assess(deps: Deps, case_id: str, case: Case, who: engine.Who) -> engine.Assessment:
    """The automatic proposal, linked to an earlier case of the same problem if there is one."""
    started = asyncio.get_running_loop().time()
    cfg = deps.settings
    found = engine.assess(deps.triage, deps.vocabulary, deps.index, case_id, case, who, deps.ctx.clock(),
                          cfg.duplicate_window_days, cfg.duplicate_candidates, cfg.cross_enterprise_duplicates)
    deps.metrics.decide_seconds.observe(asyncio.get_running_loop().time() - started)
    return found


def proposal_fields(deps: Deps, proposal: Proposal, events: list[CaseEvent]) -> dict[str, Any]:
    """What the case document keeps of an automatic decision (the queue shows it to officers)."""
    return {"proposal": {**events[0].data, "escalation_level": proposal.escalation_level,
                         "matters": [{"matter": m, "unit": u} for m, u in proposal.matters]},
            "decision": events[0].data, "screening": proposal.screening, "department": proposal.department,
            "co_departments": list(proposal.co_departments), "matters": [m for m, _ in proposal.matters],
            "region": proposal.region, "needs_review": proposal.needs_review, "decided_by": "auto",
            "min_confidence": min(proposal.confidence.values(), default=0.0),
            **review.awaiting_fields(proposal.screening, deps.ctx.clock())}


def count_decision(deps: Deps, proposal: Proposal) -> None:
    deps.metrics.decisions.labels("auto", proposal.screening, str(proposal.needs_review).lower()).inc()


async def urge(deps: Deps, original: str, follow_up: str, registered: Registered) -> None:
    """The enterprise followed up on its open case: `case.urged` on that case (once per follow-up)."""
    clock = deps.ctx.clock

    def apply(doc: dict[str, Any] | None) -> Change | None:
        if doc is None or doc.get("closed"):
            return None
        count = int(doc.get("urge_count") or 0) + 1
        event = urged_event(original, cause=f"urge:{follow_up}", now=clock(), count=count,
                            submission_id=registered.submission_id, channel=registered.channel,
                            follow_up=follow_up)
        return Change(set={"urge_count": count}, events=[event],
                      push={"urges": {"case_id": follow_up, "submission_id": registered.submission_id,
                                      "channel": registered.channel, "at": clock()}})

    applied = await deps.store.cases.apply(original, f"urge:{follow_up}", apply)
    await deps.ctx.emit(deps.store.cases, original, applied.events)


async def on_registered(event: CaseEvent, registered: Registered, deps: Deps) -> str:
    """Decide on a new case; a repeat of the same enterprise's open case also urges that case."""
    ctx, store = deps.ctx, deps.store
    case = Case(registered.content, registered.enterprise.name, registered.title, registered.region_hint,
                registered.channel)
    e = registered.enterprise
    found = assess(deps, event.case_id, case, engine.Who(e.name, e.uscc, e.contact_phone, registered.enterprise_id))
    proposal = found.proposal

    def apply(doc: dict[str, Any] | None) -> Change | None:
        if doc is not None and doc.get("decision"):
            return None  # already decided (a re-registration of the same case)
        events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                            org=ctx.org, tz=deps.tz)
        return Change(set={"text": case.text, "content": registered.content, "title": registered.title,
                           "enterprise_name": registered.enterprise.name, "enterprise_key": found.enterprise,
                           "identity": list(found.identity), "follow_up_of": found.follow_up_of,
                           "region_hint": registered.region_hint, "channel": registered.channel,
                           "tracking_no": registered.tracking_no, "registered_at": event.occurred_at,
                           "dup_keys": found.keys, "closed": False, **proposal_fields(deps, proposal, events)},
                      events=events)

    applied = await store.cases.apply(event.case_id, event.event_id, apply)
    deps.index.sync(applied.doc)
    await ctx.emit(store.cases, event.case_id, applied.events)
    original = applied.doc.get("follow_up_of")
    if original and applied.doc.get("screening") == DUPLICATE:
        await urge(deps, original, event.case_id, registered)  # also on a redelivery: the urge is idempotent
    if not applied.duplicate and applied.events:
        count_decision(deps, proposal)
    return "duplicate" if applied.duplicate else "ok"


async def supplement(deps: Deps, event: CaseEvent, detail: str, by: str | None, round_: int | None) -> str:
    """The enterprise's 补充说明 on a case screened unclear: decide again on the original text plus the detail
    (a new `case.triaged`; an accepted decision also assigns it). Other cases only record nothing."""
    ctx, store, cfg = deps.ctx, deps.store, deps.settings
    doc = await store.cases.get(event.case_id)
    if doc is None or doc.get("screening") != UNCLEAR:
        return "skipped"  # only a case waiting for detail is decided again
    rounds = int(doc.get("supplement_rounds") or 0) + 1
    original = Case(doc.get("content") or "", doc.get("enterprise_name") or "", doc.get("title"),
                    doc.get("region_hint"), doc.get("channel"))
    started = asyncio.get_running_loop().time()
    case, found = engine.assess_supplemented(deps.triage, deps.vocabulary, deps.index, event.case_id, original,
                                             detail, engine.Who(doc.get("enterprise_name") or ""), ctx.clock(),
                                             cfg.duplicate_window_days, cfg.duplicate_candidates,
                                             cfg.cross_enterprise_duplicates)
    deps.metrics.decide_seconds.observe(asyncio.get_running_loop().time() - started)
    proposal = found.proposal
    keys = [doc.get("enterprise_key") or found.keys[0], *found.keys[1:],
            *(f"id:{k}" for k in doc.get("identity") or ())]

    def apply(current: dict[str, Any] | None) -> Change | None:
        if current is None or current.get("screening") != UNCLEAR:
            return None
        events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                            org=ctx.org, tz=deps.tz)
        return Change(set={"text": case.text, "content": case.content, "dup_keys": list(dict.fromkeys(keys)),
                           "supplement_rounds": max(rounds, round_ or 0), "supplemented_at": event.occurred_at,
                           **proposal_fields(deps, proposal, events)}, events=events,
                      push={"history": {"id": event.event_id, "at": ctx.clock(), "by": by or "enterprise",
                                        "action": "supplemented", "reason": detail, "round": round_ or rounds,
                                        "changes": review.changes(current.get("decision") or {}, proposal)}})

    applied = await store.cases.apply(event.case_id, event.event_id, apply)
    deps.index.sync(applied.doc)
    await ctx.emit(store.cases, event.case_id, applied.events)
    if not applied.duplicate and applied.events:
        count_decision(deps, proposal)
    return "duplicate" if applied.duplicate else "ok"


async def on_detail_added(event: CaseEvent, added: DetailAdded, deps: Deps) -> str:
    return await supplement(deps, event, added.detail, added.by, None)


async def on_supplemented(event: CaseEvent, supplemented: Supplemented, deps: Deps) -> str:
    return await supplement(deps, event, supplemented.content, supplemented.by, supplemented.round)


async def on_returned(event: CaseEvent, returned: Returned, deps: Deps) -> str:
    """A unit gave the case back: it waits for an officer again, with the unit's reason."""

    def apply(doc: dict[str, Any] | None) -> Change | None:
        if doc is None:
            return None  # never triaged here: nothing to put back
        return Change(set={"needs_review": True, "returned_open": True, "min_confidence": 0.0,
                           "returned": {"department": returned.department, "by": returned.by,
                                        "reason": returned.reason, "at": event.occurred_at}},
                      push={"history": {"id": event.event_id, "at": event.occurred_at, "by": returned.by,
                                        "action": "returned", "reason": returned.reason,
                                        "changes": {"department": {"before": returned.department,
                                                                   "after": None}}}})

    applied = await deps.store.cases.apply(event.case_id, event.event_id, apply)
    return "duplicate" if applied.duplicate else "ok"


async def on_closed(event: CaseEvent, closed: Closed, deps: Deps) -> str:
    """A closed case is repeated no more (a recurrence within the window links to it instead)."""

    def apply(doc: dict[str, Any] | None) -> Change | None:
        return None if doc is None else Change(set={"closed": True, "closed_at": closed.closed_at})

    applied = await deps.store.cases.apply(event.case_id, event.event_id, apply)
    deps.index.close(event.case_id)
    return "duplicate" if applied.duplicate else "ok"


HANDLERS: dict[str, CaseEventHandler] = {
    "case.registered": on_registered,
    "case.returned": on_returned,
    "case.detail_added": on_detail_added,
    "case.supplemented": on_supplemented,
    "case.closed": on_closed,
}


async def on_peer_decision(kind: str, case_id: str, data: dict[str, Any], *, deps: Deps) -> None:
    """A decision seen on the topic (maybe another instance's): index what this instance does not know yet."""
    index, store = deps.index, deps.store
    if kind == "case.closed":
        index.close(case_id)
        return
    if data.get("decided_by") == "officer":  # another instance's officer decision: learn it here too
        doc = await store.cases.get(case_id)
        if doc is not None:
            deps.memory.add(review.correction_of(case_id, doc.get("text") or "", data))
    entry = index.get(case_id)
    if data.get("screening") != ACCEPTED:
        index.remove(case_id)
    elif entry is None or entry.candidate.department != data.get("department"):
        doc = await store.cases.get(case_id)
        if doc is not None:
            index.sync(doc)
