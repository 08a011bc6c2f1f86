"""rating's periodic jobs: unrated resolutions and lost invitations, the figures' gauges, the outboxes."""

import time
from typing import Any

from services.rating import domain, figures
from services.rating.deps import FIGURE_GAUGES, Deps
from services.rating.follow_ups import follow_up

EVALUATION_SOURCES = ("enterprise", "business_office", "third_party")


async def scan(deps: Deps) -> None:
    """Resolutions left unrated past their window get a phone revisit; invitations that failed go out again.
    The store-wide read runs when a resolved case file changed, an invitation is still to be sent, the next
    window ends, or the last read is STORE_READ_MAX_AGE_SECONDS old; not every minute of a burst of new cases."""
    store, now, tick = deps.store, deps.ctx.clock(), time.monotonic()
    changes, (_, _, next_due) = store.cases.watched_changes, deps.scan_read
    if _still_fresh(changes, tick, deps.scan_read) and (next_due is None or now < next_due):
        return
    files = await store.awaiting_rating()
    windows = [f for f in files if not f.get("unrated_flagged") and f.get("rating_due_at")]
    due = [f for f in windows if f["rating_due_at"] <= now][:500]  # the store's times are read with their zone
    uninvited = [f for f in files if f.get("invited") is False][:200]
    later = min((f["rating_due_at"] for f in windows if f["rating_due_at"] > now), default=None)
    deps.scan_read = (changes, tick, now if uninvited else later)
    for doc in due:
        await store.cases.apply(doc["_id"], f"unrated:{doc['_id']}:{now.isoformat()}",
                                lambda current: domain.flag_unrated(current, now))
        await follow_up(deps, doc["_id"])
    for doc in uninvited:
        await follow_up(deps, doc["_id"])


# The store-wide reads of the periodic jobs run at least this often even when this instance changed no resolved
# case file (another instance may have).
STORE_READ_MAX_AGE_SECONDS = 600.0


def _still_fresh(changes: int, tick: float, read: tuple[Any, ...]) -> bool:
    """Whether a store-wide read, (watched changes, monotonic time, ...) as it was taken, still holds: no resolved
    case file changed here since, and it is younger than STORE_READ_MAX_AGE_SECONDS."""
    return bool(changes == read[0] and tick - read[1] < STORE_READ_MAX_AGE_SECONDS)


async def refresh_figures(deps: Deps) -> None:
    """The `qhwy_rating_*` gauges of every unit, region and the county: read again when a resolved case file has
    changed since, or the last read is STORE_READ_MAX_AGE_SECONDS old (the read is store-wide: a burst of new cases,
    which changes no figure, no longer reads every resolved case every 30 s)."""
    changes, tick = deps.store.cases.watched_changes, time.monotonic()
    if _still_fresh(changes, tick, deps.figures_read):
        return
    docs = await deps.store.resolved_cases()
    deps.figures_read = (changes, tick)
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
