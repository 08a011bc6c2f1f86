"""triage: `case.registered` -> decision -> `case.triaged` (and `case.assigned` when no officer is needed);
officers' review queue; `case.returned` puts a case back in the queue; `case.supplemented` (public) and
`case.detail_added` (internal) decide an unclear case again on its text plus the enterprise's 补充说明.

Wiring only: the consumer is in handlers.py, the officers' API in routes.py, model fitting and the duplicate
index's upkeep in jobs.py, the decisions themselves in domain, engine, review and their helpers."""

import functools

from services.triage import handlers, jobs, routes
from services.triage.deps import NAME, Deps
from services.triage.peers import PeerFeed
from services.triage.settings import TriageSettings
from shared.contracts import topics
from shared.runtime import Parts, ServiceContext

__all__ = ["NAME", "build"]


def build(ctx: ServiceContext) -> Parts:
    deps = Deps.build(ctx, TriageSettings())
    # concurrency 1: the duplicate search of a case sees every earlier case, whatever its key
    ctx.on_case_events(handlers.HANDLERS, deps, concurrency=1)
    # other instances' decisions, for this instance's duplicate index
    peers = PeerFeed(ctx.settings.kafka_bootstrap, ctx.settings.topic(topics.CASE_EVENTS),
                     functools.partial(handlers.on_peer_decision, deps=deps), ctx.log)
    return Parts(
        routes=routes.ROUTES.bind(deps, ctx.jwt_secret),
        on_start=[deps.store.ensure_indexes, functools.partial(jobs.load_index, deps, peers),
                  functools.partial(jobs.train, deps)],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, functools.partial(jobs.sweep, deps)),
                  (600.0, functools.partial(jobs.prune_index, deps))],
        on_stop=[peers.stop, functools.partial(jobs.stop_refit, deps)],
    )
