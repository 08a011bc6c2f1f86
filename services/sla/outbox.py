"""Publishing what sla stored: the outboxes of its collections and its timer firings, at least once.

What failed to publish is remembered by key, so the periodic sweep reads those records only; the store-wide query
for stale outboxes (a full scan on FerretDB) runs once, after start, for what a predecessor left.
"""

from datetime import timedelta
from typing import Any

from services.sla.deps import Deps
from shared.contracts.envelope import CaseEvent


async def emit(deps: Deps, name: str, key: str, events: list[CaseEvent]) -> None:
    """Publish the events a write to collection `name` put in its outbox (remembered if that fails)."""
    try:
        await deps.ctx.emit(deps.outboxes[name], key, events)
    except Exception:
        deps.unpublished[name].add(key)
        raise


async def publish_firing(deps: Deps, record: dict[str, Any]) -> None:
    """Publish a firing's events and record that they were (remembered for the sweep if that fails)."""
    if not record.get("events"):
        return
    try:
        await deps.ctx.publish([CaseEvent.model_validate(e) for e in record["events"]])
        await deps.store.mark_published(record["_id"])
    except Exception:
        deps.unpublished_firings[record["_id"]] = record
        raise
    deps.unpublished_firings.pop(record["_id"], None)


async def sweep_outbox(deps: Deps) -> None:
    """Publish events stored but never published: after start, all of them; later, those whose publishing
    failed in this process (ids make a repeat harmless)."""
    log = deps.ctx.log
    for firing_id, record in list(deps.unpublished_firings.items()):
        log.warning("firing_republished", case_id=record.get("case_id"), firing=firing_id)
        await publish_firing(deps, record)
    if not deps.outbox_scanned:
        for name, docs in deps.outboxes.items():
            for key, events in await docs.stale_outboxes(timedelta(0), limit=1_000_000):
                log.warning("outbox_repaired", collection=name, case_id=key, events=len(events))
                await emit(deps, name, key, events)
        deps.outbox_scanned = True
        return
    for name, docs in deps.outboxes.items():
        for key in sorted(deps.unpublished[name]):
            doc = await docs.get(key)
            events = [CaseEvent.model_validate(e) for e in (doc or {}).get("outbox", {}).values()]
            if events:
                log.warning("outbox_repaired", collection=name, case_id=key, events=len(events))
                await emit(deps, name, key, events)
            deps.unpublished[name].discard(key)
