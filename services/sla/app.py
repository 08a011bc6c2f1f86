"""sla: case events -> each case's clock; a timer sweep -> reminders, overdue, escalation; the units' handling API.

Thin handlers: decode, call the pure rules (domain.py, handling.py), store, publish.
"""

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from weakref import WeakValueDictionary

from aiokafka.partitioner import murmur2
from starlette.requests import Request
from starlette.routing import Route

from services.sla import domain, handling, triage_clock
from services.sla.metrics import sla_metrics
from services.sla.settings import SlaSettings
from services.sla.store import SlaStore
from services.sla.tally import FIELDS as TALLY_FIELDS, Tally
from services.sla.timer_index import TimerIndex
from shared.auth import require_role
from shared.contracts.envelope import CaseEvent, derived_id
from shared.http import HttpError, endpoint, int_query, json_response, read_json, staff_of
from shared.runtime import Parts, ServiceContext
from shared.workdays import default_calendar

NAME = "sla"


def policy_for(ctx: ServiceContext, settings: SlaSettings) -> domain.Policy:
    """The clocks' policy from the organisation file (ladder, its windows) and sla's settings."""
    windows: dict[int, float] = {}
    for level in ctx.org.escalation_levels:
        hours = getattr(level, "response_working_hours", None)  # optional in the organisation file
        if hours is None:
            hours = settings.escalation_window_hours.get(level.level)
        if hours is not None:
            windows[level.level] = float(hours) * 3600
    return domain.Policy(
        calendar=default_calendar(), top_level=ctx.org.top_escalation_level, windows=windows,
        reminder_fractions=settings.reminder_fractions,
        end_of_day_lead=timedelta(minutes=settings.end_of_day_reminder_minutes),
        level_codes={level.level: level.code for level in ctx.org.escalation_levels},
        response_late_seconds=settings.response_late_hours * 3600,
        response_grace_seconds=settings.response_grace_hours * 3600)


FIGURE_DEFINITIONS = {
    "assignments_decided": "交办后响应结果已确定的次数：已签收（或已办结），或已过响应时限；在响应时限内退回的不计",
    "responded_on_time": "在响应时限（一般不过夜、最多过一夜）内签收的次数",
    "response_rate": "响应率 = 按时签收次数 / 响应结果已确定的交办次数",
    "unanswered": "在办且已过响应时限仍未签收的案件数",
    "urges": "营商办或领导催办次数",
}


def partition_of(case_id: str, partitions: int) -> int:
    """The partition Kafka's default partitioner puts this key on (murmur2, as the Java client and aiokafka)."""
    return (murmur2(case_id.encode()) & 0x7FFFFFFF) % partitions


def lock_registry() -> Callable[[str], asyncio.Lock]:
    """An asyncio lock per key, forgotten when nobody holds or waits for it."""
    locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    def lock_of(key: str) -> asyncio.Lock:
        lock = locks.get(key)
        if lock is None:
            lock = locks[key] = asyncio.Lock()
        return lock

    return lock_of


def build(ctx: ServiceContext) -> Parts:
    settings = SlaSettings()
    policy = policy_for(ctx, settings)
    store = SlaStore(ctx.db, ctx.clock)
    metrics = sla_metrics(ctx.registry)
    tz = ctx.settings.tz
    departments = [d.code for d in ctx.org.departments]
    partitions = ctx.settings.topic_partitions
    index = TimerIndex()
    triage_index = TimerIndex()  # the triage clocks' next firings
    tally = Tally()  # the gauges' counts, kept as records change (no store scan per refresh)

    # ------------------------------------------------------------------ outboxes

    # Keys whose events were stored but whose publishing failed, by collection. The periodic outbox sweep reads
    # only these (by `_id`); the store-wide query for stale outboxes (a full scan on FerretDB) runs once, at start,
    # for what a stopped or crashed predecessor left.
    outboxes = {"deadlines": store.deadlines, "handling": store.handling, "triage_clocks": store.triage}
    unpublished: dict[str, set[str]] = {name: set() for name in outboxes}
    outbox_scanned: list[bool] = []

    async def emit(name: str, key: str, events: list[CaseEvent]) -> None:
        try:
            await ctx.emit(outboxes[name], key, events)
        except Exception:
            unpublished[name].add(key)
            raise

    # ------------------------------------------------------------------ case events -> clocks

    # triage's clock follows these; the last two also move the "123" clock
    triage_events = ("case.registered", "case.triaged", "case.detail_added", "case.supplemented", "case.assigned",
                     "case.returned", "case.closed")
    # the complexity whose resolution must state the agreed solution (问题清单): the one with the longest time limit
    listed_complexity = max(ctx.org.complexity, key=lambda c: c.days).code

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        if event.type in triage_events:
            current = await store.triage.get(event.case_id)
            fired_id = None  # the current round's firing, when it is stored and the record does not know it yet
            if current is not None and not current.get("fired") and current.get("state") != triage_clock.STOPPED:
                candidate = triage_clock.firing_id(event.case_id, current)
                fired_id = candidate if await store.get_firing(candidate) is not None else None

            def decide_triage(doc: dict[str, Any] | None) -> Any:
                same_round = fired_id is not None and doc is not None \
                    and triage_clock.firing_id(event.case_id, doc) == fired_id
                view = {**doc, "fired": True} if same_round and doc is not None else doc
                change = triage_clock.track(view, event, policy.calendar, partition_of(event.case_id, partitions),
                                            settings.supplement_wait_working_days)
                return triage_clock.absorbing(change, view) if same_round else change

            triaged = await store.triage.apply(event.case_id, event.event_id, decide_triage)
            if fired_id is not None and not triaged.duplicate:
                absorbed.append((time.monotonic(), [fired_id]))
            if event.type == "case.closed" and event.data.get("reason_code") == triage_clock.NO_SUPPLEMENT \
                    and current is not None and not triaged.duplicate:  # sla's own closing, now in the record
                absorbed.append((time.monotonic(), [triage_clock.close_firing_id(event.case_id, current)]))
            if "next_fire_at" in triaged.doc:
                triage_index.set(event.case_id, triaged.doc["next_fire_at"], triaged.doc.get("partition"))
            if event.type not in ("case.assigned", "case.returned", "case.closed"):
                return "duplicate" if triaged.duplicate else "ok"
        if not domain.tracks(event):
            return "ignored"  # no write: sla's own reminders and overdue notices, ratings, syncs, ...
        partition = partition_of(event.case_id, partitions)
        async with clock_lock(event.case_id):  # the sweep's firings of this case wait, and it waits for them
            current = await store.deadlines.get(event.case_id)
            if current is not None and event.event_id in current.get("processed", ()):
                return "duplicate"
            merged, firings = await store.effective(event.case_id, current, policy)
            climbs = event.type == "case.escalated" and (merged or {}).get("escalation_level", 1) \
                < event.data.get("to_level", 0)
            if event.type == "case.escalated" and event.data.get("by") == "sla" \
                    and domain.track(merged, event, policy, partition) is None:
                return "ok"  # sla's own escalation, already in its firing record: no update of the big collection
            chain = {f["_id"]: f for f in firings}

            def decide(doc: dict[str, Any] | None) -> Any:
                folded, used = domain.with_firings(event.case_id, doc, policy, chain.get)
                return domain.absorbing(folded, used, domain.track(folded, event, policy, partition))

            applied = await store.deadlines.apply(event.case_id, event.event_id, decide)
        if applied.duplicate:
            return "duplicate"
        if chain:  # folded into the record now: the firing records can go (later, see compact_firings)
            absorbed.append((time.monotonic(), list(chain)))
        if "next_fire_at" in applied.doc:
            index.set(event.case_id, applied.doc["next_fire_at"], applied.doc.get("partition"))
            tally.set(event.case_id, applied.doc)
        observe(event, applied.doc, climbs)
        return "ok"

    def observe(event: CaseEvent, doc: dict[str, Any], climbs: bool) -> None:
        complexity = doc.get("complexity") or "unknown"
        if event.type == "case.accepted" and doc.get("accepted_at") == event.occurred_at:
            metrics.time_to_accept.labels(complexity).observe(
                domain.working_seconds(policy, doc.get("started_at"), event.occurred_at) or 0.0)
        elif event.type == "case.resolved" and doc.get("state") == "resolved" and doc.get("resolved_at"):
            metrics.time_to_resolve.labels(complexity).observe(
                domain.working_seconds(policy, doc.get("started_at"), doc["resolved_at"]) or 0.0)
        elif event.type == "case.escalated" and climbs:  # a repeated escalation to a level reached is no new one
            level = event.data.get("to_level")
            metrics.escalations.labels(policy.level_codes.get(level, str(level))).inc()

    consumer = ctx.consume_case_events(on_case_event)

    # ------------------------------------------------------------------ timers

    clock_lock = lock_registry()  # one firing or clock change per case at a time

    # Firings stored but not yet on the topic (a failed publish, or found unpublished at start), by firing id.
    unpublished_firings: dict[str, dict[str, Any]] = {}
    # Firing ids folded into their clock records, with when: deleted in batches once old enough (compact_firings).
    absorbed: list[tuple[float, list[str]]] = []

    async def publish_firing(record: dict[str, Any]) -> None:
        if not record.get("events"):
            return
        try:
            await ctx.publish([CaseEvent.model_validate(e) for e in record["events"]])
            await store.mark_published(record["_id"])
        except Exception:
            unpublished_firings[record["_id"]] = record
            raise
        unpublished_firings.pop(record["_id"], None)

    async def fire_one(case_id: str, now: datetime) -> None:
        """Fire what is due on one clock: one insert of a firing record, then publish its events."""
        async with clock_lock(case_id):
            stored = await store.deadlines.get(case_id)
            doc, _ = await store.effective(case_id, stored, policy)
            change = domain.fire(doc, case_id=case_id, now=now, policy=policy) if doc is not None else None
            if doc is None or change is None:
                if doc is not None:  # the index was stale (another instance or an event moved the timer)
                    index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
                return
            record = domain.firing_record(case_id, doc, change, now=now, partition=doc.get("partition"))
            fresh = await store.insert_firing(record)
            if not fresh:  # fired already (another instance, or before a restart): adopt that firing
                record = await store.get_firing(record["_id"]) or record
            doc = domain.merge_firing(doc, record, policy)
            index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
            tally.set(case_id, doc)
        if fresh or not await store.is_published(record["_id"]):
            await publish_firing(record)
        if fresh:
            for lag in record.get("last_lags", ()):
                metrics.timers_fired.labels(lag["kind"]).inc()
                metrics.timer_lag.labels(lag["kind"]).observe(max(lag["seconds"], 0.0))

    async def compact_firings() -> None:
        """Delete firing records their clock records absorbed a while ago, in batches (a delete scans the
        collection on FerretDB: one statement per batch, not one per record). The delay covers a partition
        handover, when the previous owner may still be firing from what it read before."""
        cutoff = time.monotonic() - settings.firing_retention_seconds
        batch: list[str] = []
        while absorbed and absorbed[0][0] <= cutoff and len(batch) < settings.compaction_batch:
            batch += absorbed.pop(0)[1]
        await store.delete_firings(batch)

    async def fire_triage(case_id: str, now: datetime) -> None:
        doc = await store.triage.get(case_id)
        if doc is None or doc.get("next_fire_at") is None or doc["next_fire_at"] > now:
            if doc is not None:
                triage_index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
            return
        change = triage_clock.fire(doc, case_id=case_id, now=now)
        if change is None:
            triage_index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
            return
        # one insert, as for the "123" clocks; the clock record learns it at its next write
        record = triage_clock.firing_record(case_id, doc, change, now=now)
        fresh = await store.insert_firing(record)
        if not fresh:  # fired already (before a restart, or by another instance)
            record = await store.get_firing(record["_id"]) or record
        triage_index.set(case_id, None, None)
        if fresh or not await store.is_published(record["_id"]):
            await publish_firing(record)
        if fresh:
            metrics.timers_fired.labels(triage_clock.KIND).inc()
            metrics.timer_lag.labels(triage_clock.KIND).observe(max(record.get("lag_seconds") or 0.0, 0.0))

    loading: list[asyncio.Task[None]] = []

    async def load_index(owned: frozenset[int]) -> None:
        try:
            records = await store.index_records(TALLY_FIELDS)
        except Exception:
            ctx.log.exception("timer_index_load_failed", partitions=sorted(owned))  # the next sweep tries again
            return
        firings = {f["_id"]: f for f in await store.all_firings()}
        published = await store.published_ids()
        by_case: dict[str, list[str]] = {}
        for firing_id, firing in firings.items():
            if firing.get("kind") != triage_clock.KIND:  # triage firings go when their clock record learns them
                by_case.setdefault(firing["case_id"], []).append(firing_id)
        stale: list[str] = []
        for doc in records:
            if doc["_id"] in by_case:  # fold in what fired since the record's last write
                stored_fired, epoch = set(doc.get("fired", ())), doc.get("epoch")
                stale += [f for f in by_case[doc["_id"]]
                          if firings[f].get("epoch") != epoch or f.split("|", 1)[1] in stored_fired]
                doc, _ = domain.with_firings(doc["_id"], doc, policy, firings.get)
            index.set(doc["_id"], doc.get("next_fire_at"), doc.get("partition"))
            tally.set(doc["_id"], doc)
        known = {doc["_id"] for doc in records}
        stale += [f for case_id, ids in by_case.items() if case_id not in known for f in ids]
        if stale:
            absorbed.insert(0, (0.0, stale))
        for firing_id, firing in firings.items():  # stored by a predecessor that stopped before publishing
            if firing_id not in published and firing.get("events") and firing.get("partition") in owned:
                unpublished_firings[firing_id] = firing
        for doc in await store.triage_timers():
            triage_index.set(doc["_id"], doc.get("next_fire_at"), doc.get("partition"))
        index.loaded_partitions = owned
        ctx.log.info("timer_index_loaded", timers=len(index), records=len(tally), partitions=sorted(owned))

    async def sweep_timers() -> None:
        """Fire what fell due, on the partitions this instance owns (one owner per case: no double firing)."""
        started = time.perf_counter()
        owned = consumer.partitions
        # a partition handed to another instance is forgotten: if it comes back, its records are read afresh
        index.loaded_partitions &= owned
        if owned - index.loaded_partitions and not (loading and not loading[-1].done()):
            # new partitions: their timers were kept by another instance until now; read them from the store
            loading.append(asyncio.create_task(load_index(owned)))
        now = ctx.clock()
        due = index.take_due(now, owned, settings.timer_batch)
        triage_due = triage_index.take_due(now, owned, settings.timer_batch)
        gate = asyncio.Semaphore(settings.sweep_concurrency)

        async def one(case_id: str, at: datetime) -> None:
            async with gate:
                try:
                    await fire_one(case_id, now)
                except Exception:
                    index.set(case_id, at, partition_of(case_id, partitions))  # try again next sweep
                    raise

        async def one_triage(case_id: str, at: datetime) -> None:
            async with gate:
                try:
                    await fire_triage(case_id, now)
                except Exception:
                    triage_index.set(case_id, at, partition_of(case_id, partitions))
                    raise

        results = await asyncio.gather(*(one(case_id, at) for case_id, at in due),
                                       *(one_triage(case_id, at) for case_id, at in triage_due),
                                       return_exceptions=True)
        failures = [r for r in results if isinstance(r, Exception)]
        metrics.sweep_duration.observe(time.perf_counter() - started)
        metrics.last_sweep.set(time.time())
        if failures:
            raise failures[0]

    async def refresh_gauges() -> None:
        now = ctx.clock()
        due_soon_until = policy.calendar.add_working_seconds(now, settings.due_soon_working_hours * 3600)
        owned = index.loaded_partitions  # the partitions whose records this instance holds and keeps up to date
        counts = tally.counts(now, due_soon_until, owned)
        # computed first, then swapped in without an await between: a scrape never sees a half-filled family
        metrics.open_cases.clear()
        for row in counts["open"]:
            metrics.open_cases.labels(row.get("state"), row.get("department") or "", row.get("region") or "",
                                      row.get("complexity") or "").set(row["n"])
        metrics.overdue_cases.clear()
        overdue_by_department: dict[str, int] = {}
        for row in counts["overdue"]:
            department = row.get("department") or ""
            metrics.overdue_cases.labels(department, str(row.get("escalation_level"))).set(row["n"])
            overdue_by_department[department] = overdue_by_department.get(department, 0) + row["n"]
        metrics.due_soon_cases.clear()
        for row in counts["due_soon"]:
            metrics.due_soon_cases.labels(row.get("department") or "").set(row["n"])
        metrics.resolved_cases.clear()
        metrics.on_time_ratio.clear()
        resolved: dict[str, dict[bool, int]] = {}
        for row in counts["resolved"]:
            department = row.get("department") or ""
            metrics.resolved_cases.labels(department, str(bool(row["on_time"])).lower()).set(row["n"])
            resolved.setdefault(department, {})[bool(row["on_time"])] = row["n"]
        for department, by in resolved.items():
            metrics.on_time_ratio.labels(department).set(by.get(True, 0) / max(1, sum(by.values())))
        metrics.problem_list_cases.clear()
        for row in counts["problem_list"]:
            metrics.problem_list_cases.labels(row.get("department") or "").set(row["n"])
        metrics.responses.clear()
        metrics.response_rate.clear()
        answered: dict[str, dict[bool, int]] = {}
        for row in counts["responses"]:
            department = row.get("department") or ""
            metrics.responses.labels(department, str(bool(row["met"])).lower()).set(row["n"])
            answered.setdefault(department, {})[bool(row["met"])] = row["n"]
        for department, by in answered.items():
            metrics.response_rate.labels(department).set(by.get(True, 0) / max(1, sum(by.values())))
        metrics.unanswered_cases.clear()
        for row in counts["unanswered"]:
            metrics.unanswered_cases.labels(row.get("department") or "").set(row["n"])
        open_by_department: dict[str, int] = {}
        for row in counts["open"]:
            open_by_department[row.get("department") or ""] = open_by_department.get(row.get("department") or "", 0) \
                + row["n"]
        for code in departments:  # the platform-wide gauges every service dashboard already shows
            ctx.metrics.cases_open.labels(NAME, code).set(open_by_department.get(code, 0))
            ctx.metrics.cases_overdue.labels(NAME, code).set(overdue_by_department.get(code, 0))
        metrics.calendar_year_missing.clear()  # a year applied from the console leaves missing_years
        for year in sorted(policy.calendar.missing_years):
            metrics.calendar_year_missing.labels(str(year)).set(1)

    async def sweep_outbox() -> None:
        """Publish events stored but never published: after start, all of them; later, those whose publishing
        failed in this process (ids make a repeat harmless)."""
        for firing_id, record in list(unpublished_firings.items()):
            ctx.log.warning("firing_republished", case_id=record.get("case_id"), firing=firing_id)
            await publish_firing(record)
        if not outbox_scanned:
            for name, docs in outboxes.items():
                for key, events in await docs.stale_outboxes(timedelta(0), limit=1_000_000):
                    ctx.log.warning("outbox_repaired", collection=name, case_id=key, events=len(events))
                    await emit(name, key, events)
            outbox_scanned.append(True)
            return
        for name, docs in outboxes.items():
            for key in sorted(unpublished[name]):
                doc = await docs.get(key)
                events = [CaseEvent.model_validate(e) for e in (doc or {}).get("outbox", {}).values()]
                if events:
                    ctx.log.warning("outbox_repaired", collection=name, case_id=key, events=len(events))
                    await emit(name, key, events)
                unpublished[name].discard(key)

    # ------------------------------------------------------------------ reading

    def iso(value: Any) -> str | None:
        return value.astimezone(tz).isoformat() if isinstance(value, datetime) else value

    async def effective_all(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Listed clock records with their unabsorbed firings folded in (escalation level, next timer)."""
        return [(await store.effective(d["_id"], d, policy))[0] for d in docs]

    def case_view(doc: dict[str, Any], handling_doc: dict[str, Any] | None = None) -> dict[str, Any]:
        now = ctx.clock()
        due_at = doc.get("due_at")
        status = handling.status_of(handling_doc, doc)
        return {
            "case_id": doc["_id"], "status": status, "department": doc.get("department"),
            "co_departments": doc.get("co_departments", []), "region": doc.get("region"),
            "complexity": doc.get("complexity"), "escalation_level": doc.get("escalation_level"),
            "assigned_at": iso(doc.get("started_at")), "due_at": iso(due_at), "accepted_at": iso(doc.get("accepted_at")),
            "resolved_at": iso(doc.get("resolved_at")), "on_time": doc.get("on_time"),
            "overdue": status in domain.OPEN_STATES and due_at is not None and due_at <= now,
            "working_seconds_left": (policy.calendar.working_seconds_between(now, due_at)
                                     if status in domain.OPEN_STATES and due_at is not None else None),
            "next_timer": doc.get("next_timer"), "next_fire_at": iso(doc.get("next_fire_at")),
            "problem_list": doc.get("problem_list", False), "solution": doc.get("solution"),
            "follow_up_at": doc.get("follow_up_at", []), "closed_at": iso(doc.get("closed_at")),
            "response_due_at": iso(doc.get("response_due_at")),
            "responded": domain.response_outcome(doc, now),
            "parts_accepted": {unit: iso(at) for unit, at in (doc.get("parts_accepted") or {}).items()},
            "urges": doc.get("urges", 0),
            "lacks_solution": lacks_solution(doc),
        }

    def lacks_solution(doc: dict[str, Any]) -> bool:
        """A resolved complex case whose resolution named no agreed solution: listed on the problem list, flagged."""
        return doc.get("state") in ("resolved", "closed") and doc.get("complexity") == listed_complexity \
            and not doc.get("solution")

    async def open_deadlines(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的办理时限")
            department = staff.unit
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        flagged = request.query_params.get("flagged", "").lower() in ("1", "true", "yes")
        now = ctx.clock()
        extra: dict[str, Any] = {"department": department} if department else {}
        if flagged:  # 超期督办: escalated above the unit (level 1 is the unit itself) or past the deadline
            extra["$or"] = [{"escalation_level": {"$gte": 2}}, {"due_at": {"$lte": now}}]
        docs = await effective_all(await store.list_cases(unit=None, states=list(domain.OPEN_STATES), limit=limit,
                                                          skip=skip, extra=extra or None))
        if flagged:  # unabsorbed firings are folded in above; the store's due_at test ran at `now` already
            docs = [d for d in docs if d.get("escalation_level", 1) >= 2 or d["due_at"] <= now]
        return {"items": [{"case_id": d["_id"], "department": d.get("department"), "complexity": d.get("complexity"),
                           "due_at": iso(d["due_at"]), "escalation_level": d.get("escalation_level"),
                           "escalated": d.get("escalation_level", 1) >= 2,
                           "status": d.get("state"), "next_timer": d.get("next_timer"),
                           "overdue": d["due_at"] <= now, "response_due_at": iso(d.get("response_due_at")),
                           "unanswered": domain.unanswered(d, now)} for d in docs],
                "limit": limit, "offset": skip, "flagged": flagged}

    def unit_scope(request: Request) -> str | None:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *handling.READING_ROLES)
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的案件")
            return staff.unit
        return department

    async def inbox(request: Request) -> Any:
        """My unit's cases (lead or co-department): open ones by default, earliest deadline first."""
        unit = unit_scope(request)
        which = request.query_params.get("state", "open")
        states = {"open": list(domain.OPEN_STATES), "resolved": ["resolved"], "closed": ["closed"],
                  "returned": ["returned"], "all": list(domain.STATES)}.get(which)
        if states is None:
            raise HttpError(422, "参数 state 应为 open、resolved、closed、returned 或 all",
                            detail=[{"field": "state", "msg": "unknown state"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await effective_all(await store.list_cases(unit=unit, states=states, limit=limit, skip=skip))
        return {"items": [case_view(d) for d in docs], "limit": limit, "offset": skip}

    async def figures(request: Request) -> Any:
        """sla's figures per unit: 响应率 (response rate), assignments past their response deadline unanswered,
        催办 received (docs/services/sla.md has the definitions)."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "unit_handler", "triage_officer", "leader", "admin", "supervisor")
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的数据")
            department = staff.unit
        now = ctx.clock()
        units: dict[str, dict[str, Any]] = {}

        def unit(code: str | None) -> dict[str, Any]:
            return units.setdefault(code or "", {"assignments_decided": 0, "responded_on_time": 0,
                                                 "response_rate": None, "unanswered": 0, "urges": 0})

        for doc in await store.figure_records(department):
            for code, met in domain.response_outcomes(doc, now):
                row = unit(code)
                row["assignments_decided"] += 1
                row["responded_on_time"] += int(met)
            if domain.unanswered(doc, now):
                unit(doc.get("department"))["unanswered"] += 1
            if doc.get("urges"):
                unit(doc.get("department"))["urges"] += doc["urges"]
        if department:
            units = {department: unit(department)}
        for row in units.values():
            if row["assignments_decided"]:
                row["response_rate"] = round(row["responded_on_time"] / row["assignments_decided"], 4)
        total = {k: sum(r[k] for r in units.values())
                 for k in ("assignments_decided", "responded_on_time", "unanswered", "urges")}
        total["response_rate"] = round(total["responded_on_time"] / total["assignments_decided"], 4) \
            if total["assignments_decided"] else None
        return {"as_of": iso(now), "department": department, "units": units, "overall": total,
                "definitions": FIGURE_DEFINITIONS}

    async def problem_list(request: Request) -> Any:
        """Resolved cases with an agreed solution, followed up until closed (问题清单), and resolved complex cases
        without one (listed, flagged `lacks_solution`: the policy wants them on the list with their solution)."""
        unit = unit_scope(request)
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        listed = {"$or": [{"problem_list": True}, {"complexity": listed_complexity}]}
        if unit:  # list_cases puts the unit into "$or" too: both must hold
            listed = {"$and": [listed]}
        docs = await effective_all(await store.list_cases(unit=unit, states=["resolved"], limit=limit, skip=skip,
                                                          extra=listed))
        return {"items": [case_view(d) for d in docs], "limit": limit, "offset": skip}

    async def case_detail(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        case_id = request.path_params["case_id"]
        require_role(staff, *handling.READING_ROLES)
        doc, _ = await store.effective(case_id, await store.deadlines.get(case_id), policy)
        if doc is None:
            raise HttpError(404, "案件不存在或尚未交办")
        if not handling.can_read(staff, doc):
            raise HttpError(403, "只能查看本单位承办或协办的案件")
        handling_doc = await store.handling.get(case_id)
        actions = [{**a, "at": iso(a.get("at"))} for a in (handling_doc or {}).get("actions", [])]
        return {**case_view(doc, handling_doc), "actions": actions}

    # ------------------------------------------------------------------ acting

    case_lock = lock_registry()  # one unit action per case at a time

    async def act(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        case_id, action = request.path_params["case_id"], request.path_params["action"]
        body_model = handling.BODIES.get(action)
        if body_model is None:
            raise HttpError(404, "未知的办理操作")
        raw = await request.body()
        body = body_model.model_validate(await read_json(request) if raw.strip() else {})
        request_id = body.request_id or request.headers.get("idempotency-key") or uuid.uuid4().hex
        if len(request_id) > 64:
            raise HttpError(422, "Idempotency-Key 过长", detail=[{"field": "Idempotency-Key", "msg": "too long"}])
        # one case's actions are stored and published one after another, so they reach the topic in order
        async with case_lock(case_id):
            deadline, _ = await store.effective(case_id, await store.deadlines.get(case_id), policy)
            # a leadership coordination request's cause is the level it was made at: a second request at the same
            # level (sent while the first is being applied) is the first one again, one escalation, one event id
            cause = handling.cause_for(action, body, case_id=case_id, request_id=request_id, deadline=deadline)
            now = ctx.clock()
            try:
                applied = await store.handling.apply(case_id, cause, lambda doc: handling.act(
                    action, body, handling=doc, deadline=deadline, staff=staff, case_id=case_id, cause=cause,
                    now=now, top_level=policy.top_level))
            except handling.Refused as refused:
                raise HttpError(refused.status, refused.message)
            await emit("handling", case_id, applied.events)
        if action == "urge" and not applied.duplicate and deadline is not None:
            metrics.urges.labels(deadline.get("department") or "").inc()
        entry = next((a for a in reversed(applied.doc.get("actions", [])) if a.get("cause") == cause), None)
        event_id = applied.events[0].event_id if applied.events else (entry or {}).get("event_id")
        if event_id is None:  # a repeat whose record we cannot see (should not happen): derive it
            event_id = derived_id(cause, (entry or {}).get("type", ""))
        return json_response({"case_id": case_id, "action": action, "event_id": event_id,
                              "status": applied.doc.get("status"), "repeated": applied.duplicate},
                             200 if applied.duplicate else 201)

    return Parts(
        routes=[
            Route("/api/v1/sla/deadlines", endpoint(open_deadlines), methods=["GET"]),
            Route("/api/v1/sla/figures", endpoint(figures), methods=["GET"]),
            Route("/api/v1/units/inbox", endpoint(inbox), methods=["GET"]),
            Route("/api/v1/units/problem-list", endpoint(problem_list), methods=["GET"]),
            Route("/api/v1/units/cases/{case_id}", endpoint(case_detail), methods=["GET"]),
            Route("/api/v1/units/cases/{case_id}/{action}", endpoint(act), methods=["POST"]),
        ],
        on_start=[store.ensure_indexes],
        periodic=[(settings.timer_interval_seconds, sweep_timers),
                  (ctx.settings.sla_scan_interval_seconds, refresh_gauges),
                  (ctx.settings.outbox_sweep_interval_seconds, sweep_outbox),
                  (settings.compaction_interval_seconds, compact_firings)],
    )
