"""Publishing what sla stored: the outboxes of its collections and its timer firings, at least once.

A firing whose publishing failed is remembered by id; the outboxes' sweep is the shared one
(`ServiceContext.sweep_outbox`: the store-wide query at start, then the records this process left unpublished).
"""

from typing import Any

from services.sla.deps import Deps
from shared.contracts.envelope import CaseEvent


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
    """Publish firings and events stored but never published (ids make a repeat harmless)."""
    log = deps.ctx.log
    for firing_id, record in list(deps.unpublished_firings.items()):
        log.warning("firing_republished", case_id=record.get("case_id"), firing=firing_id)
        await publish_firing(deps, record)
    for docs in deps.outboxes.values():
        await deps.ctx.sweep_outbox(docs)
