"""triage: `case.registered` -> decision -> `case.triaged` (and `case.assigned` when no officer is needed);
officers' review queue; `case.returned` puts a case back in the queue; `case.detail_added` decides again."""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.routing import Route

from services.triage import classifier, duplicates, review
from services.triage.dup_index import ACCEPTED, DuplicateIndex
from services.triage.peers import PeerFeed
from services.triage.domain import (UNCLEAR, Case, DutyRules, Proposal, Triage, events_for, load_complexity_cues,
                                    load_lexicon)
from services.triage.gazetteer import load_gazetteer
from services.triage.settings import TriageSettings
from services.triage.store import QUEUE_SORTS, TriageStore
from shared.auth import require_role
from shared.contracts import topics
from shared.contracts.case_events import DetailAdded, Registered, Returned
from shared.contracts.envelope import CaseEvent
from shared.http import HttpError, endpoint, int_query, read_json, staff_of
from shared.runtime import Parts, ServiceContext
from shared.store import Change

NAME = "triage"
READERS = ("triage_officer", "leader", "admin")
DECIDERS = ("triage_officer", "admin")


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def build(ctx: ServiceContext) -> Parts:
    settings = TriageSettings()
    store = TriageStore(ctx.db, ctx.clock)
    gazetteer = load_gazetteer(ctx.org, settings.gazetteer)
    rules = DutyRules.build(ctx.org, load_lexicon(settings.lexicon))
    cues = load_complexity_cues(settings.complexity_cues)
    vocabulary = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))
    state: dict[str, Triage] = {}
    decisions = Counter("qhwy_triage_decisions_total", "Triage decisions", ["decided_by", "screening", "review"],
                        registry=ctx.registry)
    index = DuplicateIndex()
    indexed = Gauge("qhwy_triage_duplicate_index_cases", "Cases held in memory as possible originals of a repeat",
                    registry=ctx.registry)
    indexed.set_function(lambda: len(index))
    seconds = Histogram("qhwy_triage_decide_seconds", "Time to decide on one case (model and duplicate lookup)",
                        registry=ctx.registry, buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))

    async def train() -> None:
        """Fit the text models (corpus train split + rule words + officers' stored decisions) before consuming."""
        extra = [review.example_of_record(r) for r in await store.all_examples()]
        models = await asyncio.to_thread(classifier.train, gazetteer, rules.words, extra)
        state["triage"] = Triage(ctx.org, gazetteer, rules, models, ctx.settings.triage_review_threshold, cues)
        ctx.log.info("triage_models_trained", examples=models.trained_on, officer_examples=len(extra))

    def triage() -> Triage:
        return state["triage"]

    async def assess(case_id: str, case: Case, name: str, uscc: str | None) -> tuple[Proposal, list[str], str]:
        """The automatic proposal, with the duplicate lookup over earlier cases that share a key."""
        started = asyncio.get_running_loop().time()
        proposal = triage().propose(case)
        keys = duplicates.index_keys(vocabulary, case.content, name, uscc)
        enterprise = keys[0]
        since = ctx.clock() - timedelta(days=settings.duplicate_window_days)
        candidates = index.candidates(keys, case_id, since, settings.duplicate_candidates)
        match, confidence = duplicates.best_match(vocabulary, case.content, enterprise, proposal.region,
                                                  proposal.department, candidates,
                                                  other_enterprises=settings.cross_enterprise_duplicates)
        if match is not None:
            proposal = triage().propose(case, match, confidence)
        seconds.observe(asyncio.get_running_loop().time() - started)
        return proposal, keys, enterprise

    def proposal_fields(proposal: Proposal, events: list[CaseEvent]) -> dict[str, Any]:
        return {"proposal": {**events[0].data, "escalation_level": proposal.escalation_level},
                "decision": events[0].data, "screening": proposal.screening, "department": proposal.department,
                "region": proposal.region, "needs_review": proposal.needs_review, "decided_by": "auto",
                "min_confidence": min(proposal.confidence.values(), default=0.0)}

    async def on_registered(event: CaseEvent, registered: Registered) -> str:
        case = Case(registered.content, registered.enterprise.name, registered.title, registered.region_hint)
        proposal, keys, enterprise = await assess(event.case_id, case, registered.enterprise.name,
                                                  registered.enterprise.uscc)

        def apply(doc: dict[str, Any] | None) -> Change | None:
            if doc is not None and doc.get("decision"):
                return None  # already decided (a re-registration of the same case)
            events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                                org=ctx.org, tz=ctx.settings.tz)
            return Change(set={"text": case.text, "content": registered.content, "title": registered.title,
                               "enterprise_name": registered.enterprise.name, "enterprise_key": enterprise,
                               "region_hint": registered.region_hint, "channel": registered.channel,
                               "tracking_no": registered.tracking_no, "registered_at": event.occurred_at,
                               "dup_keys": keys, "closed": False, **proposal_fields(proposal, events)},
                          events=events)

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        index.sync(applied.doc)
        await ctx.emit(store.cases, event.case_id, applied.events)
        if not applied.duplicate and applied.events:
            decisions.labels("auto", proposal.screening, str(proposal.needs_review).lower()).inc()
        return "duplicate" if applied.duplicate else "ok"

    async def on_detail_added(event: CaseEvent, added: DetailAdded) -> str:
        doc = await store.cases.get(event.case_id)
        if doc is None or doc.get("screening") != UNCLEAR:
            return "skipped"  # only a case waiting for detail is decided again
        content = f"{doc.get('content') or ''}\n补充说明：{added.detail}"
        case = Case(content, doc.get("enterprise_name") or "", doc.get("title"), doc.get("region_hint"))
        proposal, keys, _ = await assess(event.case_id, case, doc.get("enterprise_name") or "", None)
        keys = [doc.get("enterprise_key") or keys[0], *keys[1:]]

        def apply(current: dict[str, Any] | None) -> Change | None:
            if current is None or current.get("screening") != UNCLEAR:
                return None
            events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                                org=ctx.org, tz=ctx.settings.tz)
            return Change(set={"text": case.text, "content": content, "dup_keys": keys,
                               **proposal_fields(proposal, events)}, events=events,
                          push={"history": {"id": event.event_id, "at": ctx.clock(), "by": added.by or "enterprise",
                                            "action": "detail_added", "reason": added.detail, "changes": {}}})

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        index.sync(applied.doc)
        await ctx.emit(store.cases, event.case_id, applied.events)
        return "duplicate" if applied.duplicate else "ok"

    async def on_returned(event: CaseEvent, returned: Returned) -> str:
        def apply(doc: dict[str, Any] | None) -> Change | None:
            if doc is None:
                return None  # never triaged here: nothing to put back
            return Change(set={"needs_review": True, "returned_open": True, "min_confidence": 0.0,
                               "returned": {"department": returned.department, "by": returned.by,
                                            "reason": returned.reason, "at": event.occurred_at}},
                          push={"history": {"id": event.event_id, "at": event.occurred_at, "by": returned.by,
                                            "action": "returned", "reason": returned.reason,
                                            "changes": {"department": [returned.department, None]}}})

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        return "duplicate" if applied.duplicate else "ok"

    async def on_closed(event: CaseEvent) -> str:
        def apply(doc: dict[str, Any] | None) -> Change | None:
            return None if doc is None else Change(set={"closed": True})

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        index.close(event.case_id)
        return "duplicate" if applied.duplicate else "ok"

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, data = parsed
        if event.type == "case.registered":
            return await on_registered(event, data)
        if event.type == "case.returned":
            return await on_returned(event, data)
        if event.type == "case.detail_added":
            return await on_detail_added(event, data)
        if event.type == "case.closed":
            return await on_closed(event)
        return "skipped"

    ctx.consume_case_events(on_case_event)

    # ------------------------------------------------------------------ officers

    def summary(doc: dict[str, Any]) -> dict[str, Any]:
        return {"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"), "registered_at": iso(doc.get("registered_at")),
                "channel": doc.get("channel"), "enterprise": doc.get("enterprise_name"), "content": doc.get("content"),
                "proposal": doc.get("proposal"), "min_confidence": doc.get("min_confidence"),
                "returned": {**doc["returned"], "at": iso(doc["returned"].get("at"))}
                if doc.get("returned_open") and doc.get("returned") else None,
                "claimed_by": doc.get("claimed_by"), "claimed_until": iso(doc.get("claimed_until"))}

    async def review_queue(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *READERS)
        sort = request.query_params.get("sort", "oldest")
        if sort not in QUEUE_SORTS:
            raise HttpError(422, "参数 sort 应为 newest、oldest 或 confidence", detail=[{"field": "sort", "msg": "bad sort"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.review_queue(sort, limit, skip)
        return {"items": [summary(d) for d in docs], "total": await store.queue_length(), "sort": sort,
                "limit": limit, "offset": skip}

    async def case_of(request: Request) -> dict[str, Any]:
        doc = await store.cases.get(request.path_params["case_id"])
        if doc is None:
            raise HttpError(404, "未找到该案件的研判记录")
        return doc

    async def get_case(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *READERS)
        doc = await case_of(request)
        history = [{**h, "at": iso(h.get("at"))} for h in doc.get("history") or []]
        return {**summary(doc), "decision": doc.get("decision"), "decided_by": doc.get("decided_by"),
                "needs_review": doc.get("needs_review"), "history": history}

    async def similar(request: Request) -> Any:
        """Earlier cases worded like this one (sharing an LSH key or the enterprise), most alike first: what an
        officer compares before marking a duplicate. From the in-memory index, so as fast with any store size."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *READERS)
        doc = await case_of(request)
        limit = int_query(request, "limit", 10, 1, 50)
        text = doc.get("text") or doc.get("content") or ""
        keys = doc.get("dup_keys") or duplicates.index_keys(vocabulary, text, doc.get("enterprise_name") or "", None)
        since = ctx.clock() - timedelta(days=settings.duplicate_window_days)
        enterprise = doc.get("enterprise_key") or keys[0]
        ranked = sorted(((vocabulary.similarity(text, c.content), c)
                         for c in index.candidates(keys, doc["_id"], since, settings.duplicate_candidates)),
                        key=lambda pair: (-pair[0], pair[1].case_id))
        items = []
        for score, cand in ranked[:limit]:
            other = await store.cases.get(cand.case_id) or {}
            items.append({"case_id": cand.case_id, "tracking_no": other.get("tracking_no"),
                          "similarity": round(score, 3), "same_enterprise": cand.enterprise == enterprise,
                          "content": cand.content, "department": cand.department, "region": cand.region,
                          "registered_at": iso(other.get("registered_at"))})
        return {"case_id": doc["_id"], "duplicate_of": (doc.get("decision") or {}).get("duplicate_of"),
                "items": items}

    async def claim(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *DECIDERS)
        doc = await case_of(request)
        now = ctx.clock()
        allowed, holder = review.claim_state(doc, staff, now, settings.claim_minutes)
        if not allowed:
            raise HttpError(409, f"该案件已由 {holder} 认领", claimed_by=holder)
        fields = review.claim_change(staff, now, settings.claim_minutes)
        cause = f"claim:{uuid.uuid4()}"

        def apply(current: dict[str, Any] | None) -> Change | None:
            ok, _ = review.claim_state(current or {}, staff, now, settings.claim_minutes)
            return Change(set=fields) if ok else None

        applied = await store.cases.apply(doc["_id"], cause, apply)
        if applied.doc.get("claimed_by") != staff.sub:
            raise HttpError(409, f"该案件已由 {applied.doc.get('claimed_by')} 认领", claimed_by=applied.doc.get("claimed_by"))
        return {"case_id": doc["_id"], "claimed_by": staff.sub, "claimed_until": iso(fields["claimed_until"])}

    async def decide(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *DECIDERS)
        body = review.DecisionRequest.model_validate(await read_json(request), context={"org": ctx.org})
        doc = await case_of(request)
        now = ctx.clock()
        if doc.get("claimed_by") != staff.sub or (doc.get("claimed_until") and doc["claimed_until"] <= now):
            if not (body.decision_id and f"officer:{body.decision_id}" in doc.get("processed", ())):
                raise HttpError(409, "请先认领该案件再作出研判决定")
        if body.action == "duplicate" and await store.cases.get(body.duplicate_of or "") is None:
            raise HttpError(422, "duplicate_of: 未找到被重复的案件", detail=[{"field": "duplicate_of", "msg": "unknown case"}])
        decision_id = body.decision_id or str(uuid.uuid4())
        outcome: dict[str, Any] = {}

        def apply(current: dict[str, Any] | None) -> Change | None:
            if current is None:
                return None
            try:
                fields, events, record = review.decide(body, current, staff, triage(), now=now,
                                                       decision_id=decision_id, tz=ctx.settings.tz)
            except review.DecisionRefused as exc:
                outcome["refused"] = str(exc)
                return None
            outcome.update(fields=fields, record=record)
            return Change(set=fields, events=events, push={"history": record})

        applied = await store.cases.apply(doc["_id"], f"officer:{decision_id}", apply)
        if "refused" in outcome:
            raise HttpError(409, outcome["refused"])
        index.sync(applied.doc)
        await ctx.emit(store.cases, doc["_id"], applied.events)
        if "fields" in outcome:
            decision = outcome["fields"]["decision"]
            await store.add_example(review.example_from(doc, decision, decision_id))
            decisions.labels("officer", decision["screening"], "false").inc()
        current = await store.cases.get(doc["_id"]) or applied.doc
        return {"case_id": doc["_id"], "decision_id": decision_id, "decision": current.get("decision"),
                "events": [e.type for e in applied.events]}

    async def sweep() -> None:
        await ctx.sweep_outbox(store.cases)

    # ------------------------------------------------------------------ the duplicate index

    async def on_peer_decision(kind: str, case_id: str, data: dict[str, Any]) -> None:
        """A decision seen on the topic (maybe another instance's): index what this instance does not know yet."""
        if kind == "case.closed":
            index.close(case_id)
            return
        entry = index.get(case_id)
        if data.get("screening") != ACCEPTED:
            index.remove(case_id)
        elif entry is None or entry.candidate.department != data.get("department"):
            doc = await store.cases.get(case_id)
            if doc is not None:
                index.sync(doc)

    peers = PeerFeed(ctx.settings.kafka_bootstrap, ctx.settings.topic(topics.CASE_EVENTS), on_peer_decision, ctx.log)

    async def load_index() -> None:
        await peers.start()  # positioned first: decisions made while the store is read are applied after it
        index.load(await store.index_documents())
        peers.ready.set()
        ctx.log.info("duplicate_index_loaded", cases=len(index))

    async def prune_index() -> None:
        dropped = index.prune(ctx.clock() - timedelta(days=settings.duplicate_window_days))
        if dropped:
            ctx.log.info("duplicate_index_pruned", dropped=dropped, cases=len(index))

    return Parts(
        routes=[Route("/api/v1/triage/queue", endpoint(review_queue), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}", endpoint(get_case), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}/similar", endpoint(similar), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}/claim", endpoint(claim), methods=["POST"]),
                Route("/api/v1/triage/cases/{case_id}/decision", endpoint(decide), methods=["POST"])],
        on_start=[store.ensure_indexes, load_index, train],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep), (600.0, prune_index)],
        on_stop=[peers.stop],
    )


