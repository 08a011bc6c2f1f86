"""sync's periodic jobs besides the dispatcher's passes: the outbox sweep, the city's feeds, reconciliation and
the county's daily figures for the city."""

from typing import Any

from services.sync import domain
from services.sync.deps import Deps
from services.sync.remote import RemoteUnavailable


async def sweep_outbox(deps: Deps) -> None:
    """Publish `case.synced` events stored but never published (the process died between the two)."""
    await deps.ctx.sweep_outbox(deps.store.links)


async def poll(deps: Deps) -> None:
    """Read the city's feeds (assignments, replies and decisions) when a city is configured."""
    if deps.inbound is not None:
        try:
            await deps.inbound.poll()
        except RemoteUnavailable as exc:  # the city is down: its feeds are read again on the next tick
            deps.ctx.log.info("city_feed_unavailable", error=str(exc))


async def reconcile(deps: Deps) -> None:
    """Compare with the remote sides and repair gaps; postponed while one is unavailable."""
    try:
        await deps.reconciler.run()
    except RemoteUnavailable as exc:
        deps.ctx.log.warning("reconciliation_postponed", error=str(exc))


async def record_figures(deps: Deps, period: str) -> dict[str, Any]:
    """Record the report of one period (once) as a delivery; the dispatcher sends it like every other."""
    store, ctx = deps.store, deps.ctx
    key = domain.FIGURES_KEY_PREFIX + period
    doc = await store.links.get(key)
    if doc is None:
        counts = await store.figures(period)
        doc = (await store.links.apply(key, key, lambda d: domain.figures_report(period, counts, ctx.clock())
                                       if d is None else None)).doc
        ctx.log.info("figures_recorded", period=period, **counts)
    (delivery,) = doc["deliveries"].values()
    return {"period": period, "figures": {k: delivery["body"][k] for k in domain.FIGURE_NAMES},
            "delivery_id": delivery["id"], "state": delivery["state"]}


async def report_figures(deps: Deps) -> None:
    """The city asks for the county's daily figures: once a day is over, report it."""
    await record_figures(deps, domain.last_complete_period(deps.ctx.clock(), deps.ctx.settings.tz))
