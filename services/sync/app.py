"""sync: the county platform's bridge to the city platform and the 12345 hotline.

case events -> link documents with their deliveries (one write) -> dispatcher -> remote sides -> `case.synced`;
the city's feeds -> ingress submissions and case events; periodic reconciliation; operator API for parked
deliveries; the AsyncAPI document of the public topics; the simulator at /sim when QHWY_CITY_SIMULATOR=1.

Wiring only: the consumer handler is in handlers.py, the HTTP routes in routes.py, the periodic jobs in jobs.py
(and the dispatcher's passes, delivery.py); they share one Deps (deps.py).
"""

from collections.abc import Awaitable, Callable

from starlette.routing import BaseRoute, Mount

from services.sync import handlers, jobs, routes
from services.sync.deps import NAME, SIMULATOR_MOUNT, Deps, make_deps
from services.sync.settings import DEV_APP_SECRET, SyncSettings
from shared.runtime import Parts, ServiceContext

__all__ = ["NAME", "build"]


def build(ctx: ServiceContext, settings: SyncSettings | None = None) -> Parts:
    settings = settings or SyncSettings()
    for side, secret in (("CITY", settings.city_app_secret), ("HOTLINE", settings.hotline_app_secret)):
        if secret.get_secret_value() == DEV_APP_SECRET:
            ctx.development_default(f"QHWY_{side}_APP_SECRET is the development signing secret")
    deps = make_deps(ctx, settings)
    deps.dispatcher.consumer = ctx.on_case_events(handlers.HANDLERS, deps)
    served: list[BaseRoute] = [*routes.ROUTES.bind(deps, ctx.jwt_secret), *_simulator(ctx, settings),
                               *routes.FIGURE_ROUTES.bind(deps, ctx.jwt_secret)]
    dispatcher = deps.dispatcher
    return Parts(
        routes=served,
        on_start=[deps.store.ensure_indexes, dispatcher.rescan],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, _job(jobs.sweep_outbox, deps)),
                  (settings.sync_dispatch_interval_seconds, dispatcher.run_once),
                  (settings.sync_due_rescan_seconds, dispatcher.rescan),
                  (settings.sync_poll_interval_seconds, _job(jobs.poll, deps)),
                  (settings.sync_reconcile_interval_seconds, _job(jobs.reconcile, deps))]
                 + ([(settings.sync_figures_check_seconds, _job(jobs.report_figures, deps))]
                    if settings.sync_city_figures else []),
    )


def _simulator(ctx: ServiceContext, settings: SyncSettings) -> list[BaseRoute]:
    """The city and hotline simulator at /sim, when QHWY_CITY_SIMULATOR=1 (development and tests)."""
    if not settings.city_simulator:
        return []
    from services.sync.simulator.app import build_simulator

    simulator = build_simulator({settings.city_app_key: settings.city_app_secret.get_secret_value(),
                                 settings.hotline_app_key: settings.hotline_app_secret.get_secret_value()})
    ctx.log.info("city_simulator_mounted", path=SIMULATOR_MOUNT)
    return [Mount(SIMULATOR_MOUNT, app=simulator.asgi())]


def _job(job: Callable[[Deps], Awaitable[None]], deps: Deps) -> Callable[[], Awaitable[None]]:
    """A periodic job bound to the dependencies, under its own name (a failure is logged with it)."""

    async def run() -> None:
        await job(deps)

    run.__qualname__ = job.__qualname__
    return run
