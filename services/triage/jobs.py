"""triage's work beside the consumer: fitting the text models (at start, and again after officers' decisions),
the in-memory duplicate index (loaded at start, pruned to the window), and the outbox sweep."""

import asyncio
from datetime import timedelta
from typing import Any

from services.triage import classifier, review
from services.triage.deps import Deps
from services.triage.domain import Triage
from services.triage.peers import PeerFeed


async def train(deps: Deps) -> None:
    """Fit the text models (corpus train split + rule words + officers' stored decisions) before consuming;
    officers' decisions are also remembered for cases worded like them (at once, before any refit)."""
    ctx, knowledge = deps.ctx, deps.knowledge
    records = await deps.store.all_examples()
    for record in records:
        deps.memory.add(review.correction_of_record(record))
    extra = [review.example_of_record(r) for r in records]
    models = await asyncio.to_thread(classifier.train, knowledge.gazetteer, knowledge.words(), extra,
                                     knowledge.segmenter)
    deps.current = Triage(ctx.org, knowledge.gazetteer, knowledge.rules, models, ctx.settings.triage_review_threshold,
                          knowledge.cues, knowledge.catalogue, knowledge.segmenter, deps.memory, knowledge.unit_names)
    ctx.log.info("triage_models_trained", examples=models.trained_on, officer_examples=len(extra))


async def refit_later(deps: Deps) -> None:
    """One background refit for a burst of officers' decisions; decisions apply at once meanwhile (memory)."""
    await asyncio.sleep(deps.settings.refit_delay_seconds)
    deps.refit = None
    try:
        await train(deps)
    except Exception as exc:  # noqa: BLE001 - the old models keep serving; the next decision tries again
        deps.ctx.log.warning("triage_refit_failed", error=str(exc))


def learn(deps: Deps, case_id: str, text: str, decision: dict[str, Any]) -> None:
    """An officer's decision: remembered now, and a refit scheduled unless one is pending."""
    deps.memory.add(review.correction_of(case_id, text, decision))
    if deps.refit is None:
        deps.refit = asyncio.create_task(refit_later(deps))


async def stop_refit(deps: Deps) -> None:
    task, deps.refit = deps.refit, None
    if task is not None:
        task.cancel()


async def load_index(deps: Deps, peers: PeerFeed) -> None:
    """Load the duplicate index from the store, with the peer feed positioned first: decisions made while the
    store is read are applied after it."""
    await peers.start()
    deps.index.load(await deps.store.index_documents())
    peers.ready.set()
    deps.ctx.log.info("duplicate_index_loaded", cases=len(deps.index))


async def prune_index(deps: Deps) -> None:
    dropped = deps.index.prune(deps.ctx.clock() - timedelta(days=deps.settings.duplicate_window_days))
    if dropped:
        deps.ctx.log.info("duplicate_index_pruned", dropped=dropped, cases=len(deps.index))


async def sweep(deps: Deps) -> None:
    await deps.ctx.sweep_outbox(deps.store.cases)
