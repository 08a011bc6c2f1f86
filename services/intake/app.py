"""intake: every channel into one stream.

The ingress topic and POST /api/v1/submissions, plus each channel's own way in (the hotline's webhook, liaison
visits, named reporters one by one or in a batch, Open311) -> one case per submission id -> `case.registered`;
the case-events topic -> the case view behind GET /api/v1/cases/{case_id}; the enterprise's own pages under /e/.

Wiring only: the consumers and the sweep are in handlers.py, registration in registration.py, the JSON API in
routes.py, Open311 in open311_routes.py, the pages in pages.py, the proofs in tracking.py.
"""

import functools

from services.intake import handlers, open311_routes, pages, routes
from services.intake.deps import NAME, Deps
from services.intake.settings import IntakeSettings
from services.intake.sms import SimulatedSms
from services.intake.store import IntakeStore
from services.intake.tracking import EnterpriseAccess
from shared.contracts import topics
from shared.runtime import Parts, ServiceContext

__all__ = ["NAME", "build"]


def check_settings(ctx: ServiceContext, own: IntakeSettings) -> None:
    """Development defaults are refused in production; channels the organisation does not know are logged."""
    if own.hotline_token is None:
        ctx.development_default("QHWY_INTAKE_HOTLINE_TOKEN is unset: the hotline webhook would accept anyone")
    for code in (own.qrcode_channel, own.liaison_channel, own.open311_channel, ctx.settings.hotline_channel,
                 *own.reporter_channels):
        if code not in ctx.org.channel_codes:
            ctx.log.warning("channel_not_in_organisation", channel=code)


def build(ctx: ServiceContext) -> Parts:
    own = IntakeSettings()
    store = IntakeStore(ctx.db, ctx.clock, ctx.settings.tz)
    deps = Deps(ctx=ctx, settings=own, store=store, proofs=EnterpriseAccess(ctx, store, own))
    check_settings(ctx, own)
    ctx.consume(topics.SUBMISSIONS, topics.SUBMISSIONS_DLQ, functools.partial(handlers.decode_submission, org=ctx.org),
                functools.partial(handlers.on_submission, deps=deps))
    ctx.on_case_events(handlers.HANDLERS, deps)

    async def sweep() -> None:  # a closure, so that a failure is logged under the job's name
        await handlers.sweep(deps)

    # /dev/sms: the SMS simulator's inbox, in development only
    dev = ctx.settings.env == "development" and isinstance(deps.proofs.sms, SimulatedSms)
    return Parts(
        routes=[
            *routes.CASE_ROUTES.bind(deps, ctx.jwt_secret),
            *(routes.DEV_ROUTES.bind(deps, ctx.jwt_secret) if dev else []),
            *routes.ROUTES.bind(deps, ctx.jwt_secret),
            *open311_routes.routes(deps),
            *pages.routes(deps),
        ],
        on_start=[store.ensure_indexes],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )
