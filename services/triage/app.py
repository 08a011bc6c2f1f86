"""triage: `case.registered` -> decision -> `case.triaged` (and `case.assigned` when no officer is needed);
officers' review queue; `case.returned` puts a case back in the queue; `case.supplemented` (public) and
`case.detail_added` (internal) decide an unclear case again on its text plus the enterprise's 补充说明."""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from starlette.requests import Request
from starlette.routing import Route


from services.triage import classifier, duplicates, engine, review
from services.triage.catalogue import load_catalogue
from services.triage.dup_index import ACCEPTED, DuplicateIndex
from services.triage.learning import OfficerMemory
from services.triage.peers import PeerFeed
from services.triage.domain import (DUPLICATE, UNCLEAR, Case, DutyRules, Proposal, Triage, events_for,
                                    load_complexity_cues, load_lexicon, urged_event)
from services.triage.segment import Segmenter
from services.triage.units import load_unit_names
from services.triage.gazetteer import load_gazetteer
from services.triage.settings import TriageSettings
from services.triage.store import QUEUE_SORTS, QUEUE_VIEWS, TriageStore
from shared.auth import require_role
from shared.contracts import topics
from shared.contracts.case_events import DetailAdded, Registered, Returned, Supplemented
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
    catalogue = load_catalogue(ctx.org, settings.matters)
    unit_names = load_unit_names(ctx.org, settings.unit_names)
    segmenter = Segmenter.build(ctx.org, {**catalogue.words(), **{k: list(v) for k, v in rules.words.items()}})
    vocabulary = duplicates.Vocabulary.build(c["content"] for c in classifier.load_corpus("train"))
    memory = OfficerMemory(vocabulary)
    state: dict[str, Any] = {}
    decisions = Counter("qhwy_triage_decisions_total", "Triage decisions", ["decided_by", "screening", "review"],
                        registry=ctx.registry)
    index = DuplicateIndex()
    indexed = Gauge("qhwy_triage_duplicate_index_cases", "Cases held in memory as possible originals of a repeat",
                    registry=ctx.registry)
    indexed.set_function(lambda: len(index))
    seconds = Histogram("qhwy_triage_decide_seconds", "Time to decide on one case (model and duplicate lookup)",
                        registry=ctx.registry, buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0))

    async def train() -> None:
        """Fit the text models (corpus train split + rule words + officers' stored decisions) before consuming;
        officers' decisions are also remembered for cases worded like them (at once, before any refit)."""
        records = await store.all_examples()
        for record in records:
            memory.add(review.correction_of_record(record))
        extra = [review.example_of_record(r) for r in records]
        words = {**catalogue.words(), **{k: list(v) for k, v in rules.words.items()}}
        models = await asyncio.to_thread(classifier.train, gazetteer, words, extra, segmenter)
        state["triage"] = Triage(ctx.org, gazetteer, rules, models, ctx.settings.triage_review_threshold, cues,
                                 catalogue, segmenter, memory, unit_names)
        ctx.log.info("triage_models_trained", examples=models.trained_on, officer_examples=len(extra))

    async def refit_later() -> None:
        """One background refit for a burst of officers' decisions; decisions apply at once meanwhile (memory)."""
        await asyncio.sleep(settings.refit_delay_seconds)
        state.pop("refit", None)
        try:
            await train()
        except Exception as exc:  # noqa: BLE001 - the old models keep serving; the next decision tries again
            ctx.log.warning("triage_refit_failed", error=str(exc))

    def learn(case_id: str, text: str, decision: dict[str, Any]) -> None:
        memory.add(review.correction_of(case_id, text, decision))
        if "refit" not in state:
            state["refit"] = asyncio.create_task(refit_later())

    def triage() -> Triage:
        return state["triage"]

    def assess(case_id: str, case: Case, who: engine.Who) -> engine.Assessment:
        """The automatic proposal, linked to an earlier case of the same problem if there is one."""
        started = asyncio.get_running_loop().time()
        found = engine.assess(triage(), vocabulary, index, case_id, case, who, ctx.clock(),
                              settings.duplicate_window_days, settings.duplicate_candidates,
                              settings.cross_enterprise_duplicates)
        seconds.observe(asyncio.get_running_loop().time() - started)
        return found

    def proposal_fields(proposal: Proposal, events: list[CaseEvent]) -> dict[str, Any]:
        return {"proposal": {**events[0].data, "escalation_level": proposal.escalation_level,
                             "matters": [{"matter": m, "unit": u} for m, u in proposal.matters]},
                "decision": events[0].data, "screening": proposal.screening, "department": proposal.department,
                "co_departments": list(proposal.co_departments), "matters": [m for m, _ in proposal.matters],
                "region": proposal.region, "needs_review": proposal.needs_review, "decided_by": "auto",
                "min_confidence": min(proposal.confidence.values(), default=0.0),
                **review.awaiting_fields(proposal.screening, ctx.clock())}

    async def urge(original: str, follow_up: str, registered: Registered) -> None:
        """The enterprise followed up on its open case: `case.urged` on that case (once per follow-up)."""
        def apply(doc: dict[str, Any] | None) -> Change | None:
            if doc is None or doc.get("closed"):
                return None
            count = int(doc.get("urge_count") or 0) + 1
            event = urged_event(original, cause=f"urge:{follow_up}", now=ctx.clock(), count=count,
                                submission_id=registered.submission_id, channel=registered.channel,
                                follow_up=follow_up)
            return Change(set={"urge_count": count}, events=[event],
                          push={"urges": {"case_id": follow_up, "submission_id": registered.submission_id,
                                          "channel": registered.channel, "at": ctx.clock()}})

        applied = await store.cases.apply(original, f"urge:{follow_up}", apply)
        await ctx.emit(store.cases, original, applied.events)

    async def on_registered(event: CaseEvent, registered: Registered) -> str:
        case = Case(registered.content, registered.enterprise.name, registered.title, registered.region_hint)
        e = registered.enterprise
        found = assess(event.case_id, case, engine.Who(e.name, e.uscc, e.contact_phone, registered.enterprise_id))
        proposal = found.proposal

        def apply(doc: dict[str, Any] | None) -> Change | None:
            if doc is not None and doc.get("decision"):
                return None  # already decided (a re-registration of the same case)
            events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                                org=ctx.org, tz=ctx.settings.tz)
            return Change(set={"text": case.text, "content": registered.content, "title": registered.title,
                               "enterprise_name": registered.enterprise.name, "enterprise_key": found.enterprise,
                               "identity": list(found.identity), "follow_up_of": found.follow_up_of,
                               "region_hint": registered.region_hint, "channel": registered.channel,
                               "tracking_no": registered.tracking_no, "registered_at": event.occurred_at,
                               "dup_keys": found.keys, "closed": False, **proposal_fields(proposal, events)},
                          events=events)

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        index.sync(applied.doc)
        await ctx.emit(store.cases, event.case_id, applied.events)
        original = applied.doc.get("follow_up_of")
        if original and applied.doc.get("screening") == DUPLICATE:
            await urge(original, event.case_id, registered)  # also on a redelivery: the urge is idempotent
        if not applied.duplicate and applied.events:
            decisions.labels("auto", proposal.screening, str(proposal.needs_review).lower()).inc()
        return "duplicate" if applied.duplicate else "ok"

    async def supplement(event: CaseEvent, detail: str, by: str | None, round_: int | None) -> str:
        """The enterprise's 补充说明 on a case screened unclear: decide again on the original text plus the detail
        (a new `case.triaged`; an accepted decision also assigns it). Other cases only record nothing."""
        doc = await store.cases.get(event.case_id)
        if doc is None or doc.get("screening") != UNCLEAR:
            return "skipped"  # only a case waiting for detail is decided again
        rounds = int(doc.get("supplement_rounds") or 0) + 1
        original = Case(doc.get("content") or "", doc.get("enterprise_name") or "", doc.get("title"),
                        doc.get("region_hint"))
        started = asyncio.get_running_loop().time()
        case, found = engine.assess_supplemented(triage(), vocabulary, index, event.case_id, original, detail,
                                                 engine.Who(doc.get("enterprise_name") or ""), ctx.clock(),
                                                 settings.duplicate_window_days, settings.duplicate_candidates,
                                                 settings.cross_enterprise_duplicates)
        seconds.observe(asyncio.get_running_loop().time() - started)
        content, proposal = case.content, found.proposal
        keys = [doc.get("enterprise_key") or found.keys[0], *found.keys[1:],
                *(f"id:{k}" for k in doc.get("identity") or ())]

        def apply(current: dict[str, Any] | None) -> Change | None:
            if current is None or current.get("screening") != UNCLEAR:
                return None
            events = events_for(proposal, cause=event.event_id, case_id=event.case_id, now=ctx.clock(),
                                org=ctx.org, tz=ctx.settings.tz)
            return Change(set={"text": case.text, "content": content, "dup_keys": list(dict.fromkeys(keys)),
                               "supplement_rounds": max(rounds, round_ or 0), "supplemented_at": event.occurred_at,
                               **proposal_fields(proposal, events)}, events=events,
                          push={"history": {"id": event.event_id, "at": ctx.clock(), "by": by or "enterprise",
                                            "action": "supplemented", "reason": detail, "round": round_ or rounds,
                                            "changes": review.changes(current.get("decision") or {}, proposal)}})

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        index.sync(applied.doc)
        await ctx.emit(store.cases, event.case_id, applied.events)
        if not applied.duplicate and applied.events:
            decisions.labels("auto", proposal.screening, str(proposal.needs_review).lower()).inc()
        return "duplicate" if applied.duplicate else "ok"

    async def on_detail_added(event: CaseEvent, added: DetailAdded) -> str:
        return await supplement(event, added.detail, added.by, None)

    async def on_supplemented(event: CaseEvent, supplemented: Supplemented) -> str:
        return await supplement(event, supplemented.content, supplemented.by, supplemented.round)

    async def on_returned(event: CaseEvent, returned: Returned) -> str:
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

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        return "duplicate" if applied.duplicate else "ok"

    async def on_closed(event: CaseEvent, closed: Any) -> str:
        def apply(doc: dict[str, Any] | None) -> Change | None:
            return None if doc is None else Change(set={"closed": True, "closed_at": closed.closed_at})

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
        if event.type == "case.supplemented":
            return await on_supplemented(event, data)
        if event.type == "case.closed":
            return await on_closed(event, data)
        return "skipped"

    ctx.consume_case_events(on_case_event, concurrency=1)  # the duplicate search sees every earlier case

    # ------------------------------------------------------------------ officers

    def summary(doc: dict[str, Any]) -> dict[str, Any]:
        return {"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"), "registered_at": iso(doc.get("registered_at")),
                "channel": doc.get("channel"), "enterprise": doc.get("enterprise_name"), "content": doc.get("content"),
                "proposal": doc.get("proposal"), "min_confidence": doc.get("min_confidence"),
                "returned": {**doc["returned"], "at": iso(doc["returned"].get("at"))}
                if doc.get("returned_open") and doc.get("returned") else None,
                "claimed_by": doc.get("claimed_by"), "claimed_until": iso(doc.get("claimed_until")),
                "awaiting_detail": bool(doc.get("awaiting_detail")), "detail_asked_at": iso(doc.get("detail_asked_at")),
                "supplement_rounds": int(doc.get("supplement_rounds") or 0)}

    async def review_queue(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *READERS)
        sort = request.query_params.get("sort", "oldest")
        if sort not in QUEUE_SORTS:
            raise HttpError(422, "参数 sort 应为 newest、oldest 或 confidence", detail=[{"field": "sort", "msg": "bad sort"}])
        view = request.query_params.get("view", "review")
        if view not in QUEUE_VIEWS:
            raise HttpError(422, "参数 view 应为 review（待人工研判）或 awaiting_detail（待企业补充说明）",
                            detail=[{"field": "view", "msg": "bad view"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.review_queue(sort, limit, skip, view)
        return {"items": [summary(d) for d in docs], "total": await store.queue_length(view), "sort": sort,
                "view": view, "limit": limit, "offset": skip}

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
                "needs_review": doc.get("needs_review"), "history": history, "closed": bool(doc.get("closed")),
                "urge_count": int(doc.get("urge_count") or 0)}

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
            learn(doc["_id"], doc.get("text") or "", decision)
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
        if data.get("decided_by") == "officer":  # another instance's officer decision: learn it here too
            doc = await store.cases.get(case_id)
            if doc is not None:
                memory.add(review.correction_of(case_id, doc.get("text") or "", data))
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

    async def stop_refit() -> None:
        task = state.pop("refit", None)
        if task is not None:
            task.cancel()

    return Parts(
        routes=[Route("/api/v1/triage/queue", endpoint(review_queue), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}", endpoint(get_case), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}/similar", endpoint(similar), methods=["GET"]),
                Route("/api/v1/triage/cases/{case_id}/claim", endpoint(claim), methods=["POST"]),
                Route("/api/v1/triage/cases/{case_id}/decision", endpoint(decide), methods=["POST"])],
        on_start=[store.ensure_indexes, load_index, train],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep), (600.0, prune_index)],
        on_stop=[peers.stop, stop_refit],
    )


