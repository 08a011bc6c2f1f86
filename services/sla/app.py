"""sla: case events -> each case's clock; a timer sweep -> reminders, overdue, escalation; the units' handling API.

Wiring only: the consumer handlers are in handlers.py, the HTTP routes in routes.py, the periodic jobs in jobs.py
and outbox.py; they share one Deps (deps.py).
"""

from collections.abc import Awaitable, Callable

from services.sla import handlers, jobs, outbox, routes
from services.sla.deps import NAME, Deps, policy_for
from services.sla.metrics import sla_metrics
from services.sla.settings import SlaSettings
from services.sla.store import SlaStore
from shared.runtime import Parts, ServiceContext

__all__ = ["NAME", "build"]


def build(ctx: ServiceContext) -> Parts:
    settings = SlaSettings()
    deps = Deps(ctx=ctx, settings=settings, policy=policy_for(ctx, settings), store=SlaStore(ctx.db, ctx.clock),
                metrics=sla_metrics(ctx.registry), listed_complexity=max(ctx.org.complexity, key=lambda c: c.days).code)
    deps.consumer = ctx.on_case_events(handlers.HANDLERS, deps)
    return Parts(
        routes=routes.ROUTES.bind(deps, ctx.jwt_secret),
        on_start=[deps.store.ensure_indexes],
        periodic=[(settings.timer_interval_seconds, _job(jobs.sweep_timers, deps)),
                  (ctx.settings.sla_scan_interval_seconds, _job(jobs.refresh_gauges, deps)),
                  (ctx.settings.outbox_sweep_interval_seconds, _job(outbox.sweep_outbox, deps)),
                  (settings.compaction_interval_seconds, _job(jobs.compact_firings, deps))],
    )


def _job(job: Callable[[Deps], Awaitable[None]], deps: Deps) -> Callable[[], Awaitable[None]]:
    """A periodic job bound to the dependencies, under its own name (a failure is logged with it)."""

    async def run() -> None:
        await job(deps)

    run.__qualname__ = job.__qualname__
    return run
