"""insight: case events -> per-case facts; figures, 晾晒 rankings, reports, problem groups, warnings, case library.

Wiring only: the consumer is in handlers.py, the HTTP API in routes.py, the periodic work in jobs.py, the pure
cores in domain, similarity, library and report.
"""

import functools

from services.insight import handlers, jobs, routes
from services.insight.deps import NAME, Deps
from services.insight.officers import OfficerNames
from services.insight.settings import InsightSettings
from services.insight.store import InsightStore
from shared.runtime import Parts, ServiceContext

__all__ = ["NAME", "build"]


def build(ctx: ServiceContext) -> Parts:
    cfg = InsightSettings()
    officers_url = cfg.officers_url or f"http://127.0.0.1:{ctx.settings.http_port}/api/v1/liaison/officers"
    deps = Deps(ctx=ctx, settings=cfg, store=InsightStore(ctx.db, ctx.clock),
                officers=OfficerNames(officers_url, ctx.jwt_secret, cfg.officers_timeout_seconds),
                weights=ctx.org.evaluation_weights.as_dict())
    ctx.on_case_events(handlers.HANDLERS, deps)
    return Parts(
        routes=routes.ROUTES.bind(deps, ctx.jwt_secret),
        on_start=[deps.store.ensure_indexes],
        periodic=[(cfg.group_interval_seconds, functools.partial(jobs.regroup, deps)),
                  (cfg.report_check_interval_seconds, functools.partial(jobs.scheduled_reports, deps))],
    )
