"""The officers' review API (/api/v1/triage): the queues, a case's decision file, the cases like it, claiming a
case and deciding it. Readers: triage officers, leaders and admins; deciders: triage officers and admins."""

import uuid
from datetime import timedelta
from typing import Any

from services.triage import duplicates, jobs, review
from services.triage.deps import Deps
from services.triage.store import QUEUE_SORTS, QUEUE_VIEWS
from shared.http import Call, RouteTable, int_query, read_json
from shared.jsonable import iso
from shared.refusal import Refusal
from shared.store import Change

READERS = ("triage_officer", "leader", "admin")
DECIDERS = ("triage_officer", "admin")

ROUTES = RouteTable("/api/v1/triage")


def summary(doc: dict[str, Any]) -> dict[str, Any]:
    """A case as the queue lists it."""
    returned = doc.get("returned")
    return {"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"),
            "registered_at": iso(doc.get("registered_at")),
            "channel": doc.get("channel"), "enterprise": doc.get("enterprise_name"), "content": doc.get("content"),
            "proposal": doc.get("proposal"), "min_confidence": doc.get("min_confidence"),
            "returned": {**returned, "at": iso(returned.get("at"))} if doc.get("returned_open") and returned else None,
            "claimed_by": doc.get("claimed_by"), "claimed_until": iso(doc.get("claimed_until")),
            "awaiting_detail": bool(doc.get("awaiting_detail")), "detail_asked_at": iso(doc.get("detail_asked_at")),
            "supplement_rounds": int(doc.get("supplement_rounds") or 0)}


async def case_of(call: Call[Deps]) -> dict[str, Any]:
    doc = await call.deps.store.cases.get(call.path("case_id"))
    if doc is None:
        raise Refusal(404, "未找到该案件的研判记录")
    return doc


@ROUTES.get("/queue", roles=READERS)
async def review_queue(call: Call[Deps]) -> Any:
    sort = call.query("sort", "oldest")
    if sort not in QUEUE_SORTS:
        raise Refusal(422, "参数 sort 应为 newest、oldest 或 confidence", detail=[{"field": "sort", "msg": "bad sort"}])
    view = call.query("view", "review")
    if view not in QUEUE_VIEWS:
        raise Refusal(422, "参数 view 应为 review（待人工研判）或 awaiting_detail（待企业补充说明）",
                      detail=[{"field": "view", "msg": "bad view"}])
    limit, skip = call.page()
    store = call.deps.store
    docs = await store.review_queue(sort, limit, skip, view)
    return {"items": [summary(d) for d in docs], "total": await store.queue_length(view), "sort": sort,
            "view": view, "limit": limit, "offset": skip}


@ROUTES.get("/cases/{case_id}", roles=READERS)
async def get_case(call: Call[Deps]) -> Any:
    doc = await case_of(call)
    history = [{**h, "at": iso(h.get("at"))} for h in doc.get("history") or []]
    return {**summary(doc), "decision": doc.get("decision"), "decided_by": doc.get("decided_by"),
            "needs_review": doc.get("needs_review"), "history": history, "closed": bool(doc.get("closed")),
            "urge_count": int(doc.get("urge_count") or 0)}


@ROUTES.get("/cases/{case_id}/similar", roles=READERS)
async def similar(call: Call[Deps]) -> Any:
    """Earlier cases worded like this one (sharing an LSH key or the enterprise), most alike first: what an
    officer compares before marking a duplicate. From the in-memory index, so as fast with any store size."""
    deps = call.deps
    doc = await case_of(call)
    limit = int_query(call.request, "limit", 10, 1, 50)  # no offset: the most alike only
    text = doc.get("text") or doc.get("content") or ""
    vocabulary = deps.vocabulary
    keys = doc.get("dup_keys") or duplicates.index_keys(vocabulary, text, doc.get("enterprise_name") or "", None)
    since = deps.ctx.clock() - timedelta(days=deps.settings.duplicate_window_days)
    enterprise = doc.get("enterprise_key") or keys[0]
    ranked = sorted(((vocabulary.similarity(text, c.content), c)
                     for c in deps.index.candidates(keys, doc["_id"], since, deps.settings.duplicate_candidates)),
                    key=lambda pair: (-pair[0], pair[1].case_id))
    items = []
    for score, cand in ranked[:limit]:
        other = await deps.store.cases.get(cand.case_id) or {}
        items.append({"case_id": cand.case_id, "tracking_no": other.get("tracking_no"),
                      "similarity": round(score, 3), "same_enterprise": cand.enterprise == enterprise,
                      "content": cand.content, "department": cand.department, "region": cand.region,
                      "registered_at": iso(other.get("registered_at"))})
    return {"case_id": doc["_id"], "duplicate_of": (doc.get("decision") or {}).get("duplicate_of"), "items": items}


@ROUTES.post("/cases/{case_id}/claim", roles=DECIDERS)
async def claim(call: Call[Deps]) -> Any:
    """Take a case for `claim_minutes`; 409 while another officer's claim lasts."""
    staff, minutes = call.caller, call.deps.settings.claim_minutes
    doc = await case_of(call)
    now = call.deps.ctx.clock()
    allowed, holder = review.claim_state(doc, staff, now, minutes)
    if not allowed:
        raise Refusal(409, f"该案件已由 {holder} 认领", claimed_by=holder)
    fields = review.claim_change(staff, now, minutes)

    def apply(current: dict[str, Any] | None) -> Change | None:
        ok, _ = review.claim_state(current or {}, staff, now, minutes)
        return Change(set=fields) if ok else None

    applied = await call.deps.store.cases.apply(doc["_id"], f"claim:{uuid.uuid4()}", apply)
    if applied.doc.get("claimed_by") != staff.sub:
        raise Refusal(409, f"该案件已由 {applied.doc.get('claimed_by')} 认领", claimed_by=applied.doc.get("claimed_by"))
    return {"case_id": doc["_id"], "claimed_by": staff.sub, "claimed_until": iso(fields["claimed_until"])}


@ROUTES.post("/cases/{case_id}/decision", roles=DECIDERS)
async def decide(call: Call[Deps]) -> Any:
    """An officer's decision on a case they hold (a retry with the same decision_id is answered again)."""
    deps, staff = call.deps, call.caller
    body = review.DecisionRequest.model_validate(await read_json(call.request), context={"org": deps.ctx.org})
    doc = await case_of(call)
    now = deps.ctx.clock()
    if doc.get("claimed_by") != staff.sub or (doc.get("claimed_until") and doc["claimed_until"] <= now):
        if not (body.decision_id and f"officer:{body.decision_id}" in doc.get("processed", ())):
            raise Refusal(409, "请先认领该案件再作出研判决定")
    if body.action == "duplicate" and await deps.store.cases.get(body.duplicate_of or "") is None:
        raise Refusal(422, "duplicate_of: 未找到被重复的案件",
                      detail=[{"field": "duplicate_of", "msg": "unknown case"}])
    decision_id = body.decision_id or str(uuid.uuid4())
    outcome: dict[str, Any] = {}

    def apply(current: dict[str, Any] | None) -> Change | None:
        if current is None:
            return None
        try:
            fields, events, record = review.decide(body, current, staff, deps.triage, now=now,
                                                   decision_id=decision_id, tz=deps.tz)
        except review.DecisionRefused as exc:
            outcome["refused"] = exc  # raised below: the refusal is recorded as this decision's answer
            return None
        outcome.update(fields=fields, record=record)
        return Change(set=fields, events=events, push={"history": record})

    applied = await deps.store.cases.apply(doc["_id"], f"officer:{decision_id}", apply)
    if "refused" in outcome:
        raise outcome["refused"]
    deps.index.sync(applied.doc)
    await deps.ctx.emit(deps.store.cases, doc["_id"], applied.events)
    if "fields" in outcome:
        decision = outcome["fields"]["decision"]
        await deps.store.add_example(review.example_from(doc, decision, decision_id))
        jobs.learn(deps, doc["_id"], doc.get("text") or "", decision)
        deps.metrics.decisions.labels("officer", decision["screening"], "false").inc()
    current = await deps.store.cases.get(doc["_id"]) or applied.doc
    return {"case_id": doc["_id"], "decision_id": decision_id, "decision": current.get("decision"),
            "events": [e.type for e in applied.events]}
