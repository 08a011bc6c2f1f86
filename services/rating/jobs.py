"""rating's periodic jobs: unrated resolutions and lost invitations, the figures' gauges, the outboxes."""

import time
from typing import Any

from services.rating import domain, figures
from services.rating.deps import FIGURE_GAUGES, Deps
from services.rating.follow_ups import follow_up

EVALUATION_SOURCES = ("enterprise", "business_office", "third_party")


async def scan(deps: Deps) -> None:
    """Resolutions left unrated past their window get a phone revisit; invitations that failed go out again."""
    store, now = deps.store, deps.ctx.clock()
    for doc in await store.unrated_due(now):
        await store.cases.apply(doc["_id"], f"unrated:{doc['_id']}:{now.isoformat()}",
                                lambda current: domain.flag_unrated(current, now))
        await follow_up(deps, doc["_id"])
    cursor = store.cases.collection.find({"state": "awaiting_rating", "invited": False}, {"_id": 1}).limit(200)
    for doc in await cursor.to_list():
        await follow_up(deps, doc["_id"])


# The figures are read again at least this often even when this instance changed no resolved case file (another
# instance may have).
FIGURES_MAX_AGE_SECONDS = 600.0


async def refresh_figures(deps: Deps) -> None:
    """The `qhwy_rating_*` gauges of every unit, region and the county: read again when a resolved case file has
    changed since, or the last read is FIGURES_MAX_AGE_SECONDS old (the read is store-wide: a burst of new cases,
    which changes no figure, no longer reads every resolved case every 30 s)."""
    changes, now = deps.store.cases.watched_changes, time.monotonic()
    if changes == deps.figures_read[0] and now - deps.figures_read[1] < FIGURES_MAX_AGE_SECONDS:
        return
    docs = await deps.store.resolved_cases()
    deps.figures_read = (changes, now)
    for scope in ("unit", "region", "county"):
        for group in figures.figures(docs, scope, deps.ctx.settings.tz, weights=deps.weights)["groups"]:
            set_gauges(deps, scope, group)


def set_gauges(deps: Deps, scope: str, group: dict[str, Any]) -> None:
    """One group's figures on the gauges; a figure without a value (nothing to count) leaves its gauge as it is."""
    for name, (key, _) in FIGURE_GAUGES.items():
        if group[key] is not None:
            deps.metrics.figures[name].labels(scope, group["key"]).set(group[key])
    evaluation = group["evaluation"]
    for source in EVALUATION_SOURCES:
        if evaluation[source]["value"] is not None:
            deps.metrics.evaluation.labels(scope, group["key"], source).set(evaluation[source]["value"])
    if evaluation["combined"] is not None:
        deps.metrics.evaluation.labels(scope, group["key"], "combined").set(evaluation["combined"])


async def sweep_outboxes(deps: Deps) -> None:
    """Publish what a write stored but the process did not live to publish."""
    for docs in deps.store.all:
        await deps.ctx.sweep_outbox(docs)
