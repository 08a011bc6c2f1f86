"""sla's periodic jobs: the timer sweep (reminders, overdue, escalation, triage's clock), the compaction of
absorbed firings and the gauges.

A timer fires once: its firing is one insert keyed by case and timer; the clock record learns it at its next
write. Only the owner of a case's partition fires it (the consumer's partitions), so instances never race.
"""

import asyncio
import time
from datetime import datetime
from typing import Any

from prometheus_client import Gauge

from services.sla import domain, triage_clock
from services.sla.deps import NAME, Deps
from services.sla.outbox import publish_firing
from services.sla.tally import FIELDS as TALLY_FIELDS, Rows
from shared.messaging import partition_of


async def fire_one(deps: Deps, case_id: str, now: datetime) -> None:
    """Fire what is due on one clock: one insert of a firing record, then publish its events."""
    store, policy, index = deps.store, deps.policy, deps.index
    async with deps.clock_locks(case_id):
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
        deps.tally.set(case_id, doc)
    if fresh or not await store.is_published(record["_id"]):
        await publish_firing(deps, record)
    if fresh:
        for lag in record.get("last_lags", ()):
            deps.metrics.timers_fired.labels(lag["kind"]).inc()
            deps.metrics.timer_lag.labels(lag["kind"]).observe(max(lag["seconds"], 0.0))


async def fire_triage(deps: Deps, case_id: str, now: datetime) -> None:
    """Fire triage's clock of one case when due: one insert, as for the "123" clocks."""
    store, triage_index = deps.store, deps.triage_index
    doc = await store.triage.get(case_id)
    if doc is None or doc.get("next_fire_at") is None or doc["next_fire_at"] > now:
        if doc is not None:
            triage_index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
        return
    change = triage_clock.fire(doc, case_id=case_id, now=now)
    if change is None:
        triage_index.set(case_id, doc.get("next_fire_at"), doc.get("partition"))
        return
    # the clock record learns it at its next write
    record = triage_clock.firing_record(case_id, doc, change, now=now)
    fresh = await store.insert_firing(record)
    if not fresh:  # fired already (before a restart, or by another instance)
        record = await store.get_firing(record["_id"]) or record
    triage_index.set(case_id, None, None)
    if fresh or not await store.is_published(record["_id"]):
        await publish_firing(deps, record)
    if fresh:
        deps.metrics.timers_fired.labels(triage_clock.KIND).inc()
        deps.metrics.timer_lag.labels(triage_clock.KIND).observe(max(record.get("lag_seconds") or 0.0, 0.0))


async def compact_firings(deps: Deps) -> None:
    """Delete firing records their clock records absorbed a while ago, in batches (a delete scans the
    collection on FerretDB: one statement per batch, not one per record). The delay covers a partition
    handover, when the previous owner may still be firing from what it read before."""
    cutoff = time.monotonic() - deps.settings.firing_retention_seconds
    batch: list[str] = []
    while deps.absorbed and deps.absorbed[0][0] <= cutoff and len(batch) < deps.settings.compaction_batch:
        batch += deps.absorbed.pop(0)[1]
    await deps.store.delete_firings(batch)


async def load_index(deps: Deps, owned: frozenset[int]) -> None:
    """Read the timers and tallies of the records from the store, with the firings stored since each record's
    last write folded in (an instance gained partitions: another one kept them until now)."""
    store = deps.store
    # The firings before the records, so the records can stream past: a firing stored in between is adopted by
    # the sweep (its insert finds it stored), as after any restart.
    firings = {f["_id"]: f for f in await store.all_firings()}
    published = await store.published_ids()
    by_case: dict[str, list[str]] = {}
    for firing_id, firing in firings.items():
        if firing.get("kind") != triage_clock.KIND:  # triage firings go when their clock record learns them
            by_case.setdefault(firing["case_id"], []).append(firing_id)
    stale: list[str] = []
    known: set[str] = set()
    try:
        async for doc in store.index_records(TALLY_FIELDS):
            known.add(doc["_id"])
            if doc["_id"] in by_case:  # fold in what fired since the record's last write
                stored_fired, epoch = set(doc.get("fired", ())), doc.get("epoch")
                stale += [f for f in by_case[doc["_id"]]
                          if firings[f].get("epoch") != epoch or f.split("|", 1)[1] in stored_fired]
                doc, _ = domain.with_firings(doc["_id"], doc, deps.policy, firings.get)
            deps.index.set(doc["_id"], doc.get("next_fire_at"), doc.get("partition"))
            deps.tally.set(doc["_id"], doc)
    except Exception:  # what was set is right; the next sweep reads everything again
        deps.ctx.log.exception("timer_index_load_failed", partitions=sorted(owned))
        return
    stale += [f for case_id, ids in by_case.items() if case_id not in known for f in ids]
    if stale:
        deps.absorbed.insert(0, (0.0, stale))
    for firing_id, firing in firings.items():  # stored by a predecessor that stopped before publishing
        if firing_id not in published and firing.get("events") and firing.get("partition") in owned:
            deps.unpublished_firings[firing_id] = firing
    for doc in await store.triage_timers():
        deps.triage_index.set(doc["_id"], doc.get("next_fire_at"), doc.get("partition"))
    deps.index.loaded_partitions = owned
    deps.ctx.log.info("timer_index_loaded", timers=len(deps.index), records=len(deps.tally), partitions=sorted(owned))


async def sweep_timers(deps: Deps) -> None:
    """Fire what fell due, on the partitions this instance owns (one owner per case: no double firing)."""
    started = time.perf_counter()
    assert deps.consumer is not None, "build() registers the consumer before the jobs run"
    owned = deps.consumer.partitions
    index, triage_index = deps.index, deps.triage_index
    # a partition handed to another instance is forgotten: if it comes back, its records are read afresh
    index.loaded_partitions &= owned
    if owned - index.loaded_partitions and (deps.loading is None or deps.loading.done()):
        # new partitions: their timers were kept by another instance until now; read them from the store
        deps.loading = asyncio.create_task(load_index(deps, owned))
    now = deps.ctx.clock()
    due = index.take_due(now, owned, deps.settings.timer_batch)
    triage_due = triage_index.take_due(now, owned, deps.settings.timer_batch)
    gate = asyncio.Semaphore(deps.settings.sweep_concurrency)

    async def one(case_id: str, at: datetime) -> None:
        async with gate:
            try:
                await fire_one(deps, case_id, now)
            except Exception:
                index.set(case_id, at, partition_of(case_id, deps.partitions))  # try again next sweep
                raise

    async def one_triage(case_id: str, at: datetime) -> None:
        async with gate:
            try:
                await fire_triage(deps, case_id, now)
            except Exception:
                triage_index.set(case_id, at, partition_of(case_id, deps.partitions))
                raise

    results = await asyncio.gather(*(one(case_id, at) for case_id, at in due),
                                   *(one_triage(case_id, at) for case_id, at in triage_due),
                                   return_exceptions=True)
    failures = [r for r in results if isinstance(r, Exception)]
    deps.metrics.sweep_duration.observe(time.perf_counter() - started)
    deps.metrics.last_sweep.set(time.time())
    if failures:
        raise failures[0]


async def refresh_gauges(deps: Deps) -> None:
    """The gauges from the tally of the records this instance holds (no store scan)."""
    now = deps.ctx.clock()
    policy = deps.policy
    due_soon_until = policy.calendar.add_working_seconds(now, deps.settings.due_soon_working_hours * 3600)
    owned = deps.index.loaded_partitions  # the partitions whose records this instance holds and keeps up to date
    counts = deps.tally.counts(now, due_soon_until, owned)
    # computed first, then swapped in without an await between: a scrape never sees a half-filled family
    overdue_by_department = _set_clock_gauges(deps, counts)
    _set_outcome_gauges(deps, counts)
    open_by_department: dict[str, int] = {}
    for row in counts["open"]:
        open_by_department[row.get("department") or ""] = open_by_department.get(row.get("department") or "", 0) \
            + row["n"]
    for code in (d.code for d in deps.ctx.org.departments):  # the platform-wide gauges every dashboard shows
        deps.ctx.metrics.cases_open.labels(NAME, code).set(open_by_department.get(code, 0))
        deps.ctx.metrics.cases_overdue.labels(NAME, code).set(overdue_by_department.get(code, 0))
    deps.metrics.calendar_year_missing.clear()  # a year applied from the console leaves missing_years
    for year in sorted(policy.calendar.missing_years):
        deps.metrics.calendar_year_missing.labels(str(year)).set(1)


def _set_clock_gauges(deps: Deps, counts: Rows) -> dict[str, int]:
    """Open, overdue and due-soon cases; returns the overdue ones by department."""
    metrics = deps.metrics
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
    return overdue_by_department


def _set_share(count: Gauge, ratio: Gauge, rows: list[dict[str, Any]], flag: str) -> None:
    """Counts per department and `flag` (true/false), and per department the share where `flag` holds."""
    count.clear()
    ratio.clear()
    by_department: dict[str, dict[bool, int]] = {}
    for row in rows:
        department = row.get("department") or ""
        count.labels(department, str(bool(row[flag])).lower()).set(row["n"])
        by_department.setdefault(department, {})[bool(row[flag])] = row["n"]
    for department, by in by_department.items():
        ratio.labels(department).set(by.get(True, 0) / max(1, sum(by.values())))


def _set_outcome_gauges(deps: Deps, counts: Rows) -> None:
    """Resolutions (on time or not), the problem list, responses (签收 in time or not) and unanswered cases."""
    metrics = deps.metrics
    _set_share(metrics.resolved_cases, metrics.on_time_ratio, counts["resolved"], "on_time")
    metrics.problem_list_cases.clear()
    for row in counts["problem_list"]:
        metrics.problem_list_cases.labels(row.get("department") or "").set(row["n"])
    _set_share(metrics.responses, metrics.response_rate, counts["responses"], "met")
    metrics.unanswered_cases.clear()
    for row in counts["unanswered"]:
        metrics.unanswered_cases.labels(row.get("department") or "").set(row["n"])
