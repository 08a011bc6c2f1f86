"""sla's case-event handlers: each event moves triage's 1-working-day clock, the "123" clock, or both.

Thin: read the record, call the pure rules (domain.py, triage_clock.py), store, keep the timer index and the
gauges' tally up to date. The table HANDLERS names the types sla follows; the rest are ignored (no write).
"""

import time
from typing import Any

from services.sla import domain, triage_clock
from services.sla.deps import Deps
from shared.contracts.envelope import CaseEvent
from shared.messaging import current_partition, partition_of


def record_partition(case_id: str, deps: Deps) -> int:
    """The partition of the record being handled (the runtime passes it); Kafka's default partitioner for the
    case id when there is no record (a replay from the store, a test calling the handler directly)."""
    partition = current_partition()
    return partition if partition is not None else partition_of(case_id, deps.partitions)


async def track_triage(event: CaseEvent, deps: Deps) -> bool:
    """Move triage's clock of the event's case; True when the event was handled before (a duplicate)."""
    store = deps.store
    current = await store.triage.get(event.case_id)
    fired_id = None  # the current round's firing, when it is stored and the record does not know it yet
    if current is not None and not current.get("fired") and current.get("state") != triage_clock.STOPPED:
        candidate = triage_clock.firing_id(event.case_id, current)
        fired_id = candidate if await store.get_firing(candidate) is not None else None

    def decide(doc: dict[str, Any] | None) -> Any:
        same_round = fired_id is not None and doc is not None \
            and triage_clock.firing_id(event.case_id, doc) == fired_id
        view = {**doc, "fired": True} if same_round and doc is not None else doc
        change = triage_clock.track(view, event, deps.policy.calendar, record_partition(event.case_id, deps),
                                    deps.settings.supplement_wait_working_days)
        return triage_clock.absorbing(change, view) if same_round else change

    triaged = await store.triage.apply(event.case_id, event.event_id, decide)
    if fired_id is not None and not triaged.duplicate:
        deps.absorbed.append((time.monotonic(), [fired_id]))
    if event.type == "case.closed" and event.data.get("reason_code") == triage_clock.NO_SUPPLEMENT \
            and current is not None and not triaged.duplicate:  # sla's own closing, now in the record
        deps.absorbed.append((time.monotonic(), [triage_clock.close_firing_id(event.case_id, current)]))
    if "next_fire_at" in triaged.doc:
        deps.triage_index.set(event.case_id, triaged.doc["next_fire_at"], triaged.doc.get("partition"))
    return triaged.duplicate


async def track_clock(event: CaseEvent, deps: Deps) -> str:
    """Move the "123" clock of the event's case, with the firings stored since its last write folded in."""
    store, policy = deps.store, deps.policy
    partition = record_partition(event.case_id, deps)
    async with deps.clock_locks(event.case_id):  # the sweep's firings of this case wait, and it waits for them
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
    if chain:  # folded into the record now: the firing records can go (later, see jobs.compact_firings)
        deps.absorbed.append((time.monotonic(), list(chain)))
    if "next_fire_at" in applied.doc:
        deps.index.set(event.case_id, applied.doc["next_fire_at"], applied.doc.get("partition"))
        deps.tally.set(event.case_id, applied.doc)
    observe(event, applied.doc, climbs, deps)
    return "ok"


def observe(event: CaseEvent, doc: dict[str, Any], climbs: bool, deps: Deps) -> None:
    """The histograms and counters a clock change feeds: time to accept, time to resolve, escalations."""
    policy, metrics = deps.policy, deps.metrics
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


async def on_triage_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Registered, triaged, detail added, supplemented: only triage's clock moves."""
    return "duplicate" if await track_triage(event, deps) else "ok"


async def on_handover(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Assigned, returned, closed: triage's clock stops (or restarts) and the "123" clock moves."""
    await track_triage(event, deps)
    return await track_clock(event, deps)


async def on_clock_event(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Reopened, accepted, progressed, escalated, resolved: the "123" clock moves."""
    return await track_clock(event, deps)


async def on_reminded(event: CaseEvent, data: Any, deps: Deps) -> str:
    """A 催办 counts on the clock record; sla's own reminders and overdue notices do not (no write for them)."""
    return await track_clock(event, deps) if domain.tracks(event) else "ignored"


async def on_other(event: CaseEvent, data: Any, deps: Deps) -> str:
    """Ratings, syncs, ...: nothing of sla's changes."""
    return "ignored"


HANDLERS = {
    "case.registered": on_triage_event,
    "case.triaged": on_triage_event,
    "case.detail_added": on_triage_event,
    "case.supplemented": on_triage_event,
    "case.assigned": on_handover,
    "case.returned": on_handover,
    "case.closed": on_handover,
    "case.reopened": on_clock_event,
    "case.accepted": on_clock_event,
    "case.progressed": on_clock_event,
    "case.escalated": on_clock_event,
    "case.resolved": on_clock_event,
    "case.reminded": on_reminded,
    "*": on_other,
}
