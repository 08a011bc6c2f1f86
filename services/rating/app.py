"""rating: 好差评 by the enterprise, revisits, supervision of unhappy cases, appeals, and the figures.

Case events -> the case file (`case_files`), revisit tasks, supervisions; the enterprise's signed one-time link
(or its tracking page) -> `case.rated`; revisit staff -> `case.revisited`; a dissatisfied rating or an unsolved
revisit -> `case.referred` + `case.reopened`; supervisors -> `case.supervised`; appeals -> `case.rating_appealed`,
`case.rating_reviewed`.

This module wires the service together: the consumer's handlers are in handlers.py, the routes in routes.py, the
periodic jobs in jobs.py, what they share in deps.py.
"""

import functools
from collections.abc import Awaitable, Callable

from services.rating import domain, handlers, jobs, routes
from services.rating.contacts import ContactLookup, ServiceToken
from services.rating.deps import Deps, RatingMetrics
from services.rating.notifier import make_notifier
from services.rating.settings import RatingSettings
from services.rating.store import RatingStore
from shared.runtime import Parts, ServiceContext

NAME = "rating"


def oversight_of(ctx: ServiceContext, settings: RatingSettings) -> tuple[str, str]:
    """The oversight unit that receives referrals: configured, or the first in the organisation file."""
    if not ctx.org.oversight:
        raise ValueError("the organisation file names no oversight unit to refer dissatisfied cases to")
    code = settings.oversight_unit or ctx.org.oversight[0].code
    unit = next((o for o in ctx.org.oversight if o.code == code), None)
    if unit is None:
        raise ValueError(f"QHWY_RATING_OVERSIGHT_UNIT={code!r} is not an oversight unit of the organisation file")
    return unit.code, unit.name


def policy_of(ctx: ServiceContext, settings: RatingSettings) -> domain.Policy:
    oversight_code, oversight_name = oversight_of(ctx, settings)
    return domain.Policy(
        satisfied_levels=frozenset(level.code for level in ctx.org.rating_levels if level.satisfied),
        level_names={level.code: level.name for level in ctx.org.rating_levels},
        oversight_unit=oversight_code, oversight_name=oversight_name, tz=ctx.settings.tz,
        unrated_window_working_days=settings.unrated_window_working_days,
        rectification_working_days=settings.rectification_working_days,
        phone_revisit_percent=settings.phone_revisit_percent)


def deps_of(ctx: ServiceContext, settings: RatingSettings) -> Deps:
    policy = policy_of(ctx, settings)  # first: a missing oversight unit stops the start before anything is made
    origin = f"http://127.0.0.1:{ctx.settings.http_port}"  # the all-in-one process, unless configured
    contacts = ContactLookup(settings.contact_lookup_url or f"{origin}/api/v1/staff/cases/{{case_id}}/contact",
                             ServiceToken(ctx.jwt_secret), settings.contact_lookup_timeout_seconds)
    return Deps(
        ctx=ctx, settings=settings, policy=policy, store=RatingStore(ctx.db, ctx.clock),
        link_secret=settings.link_secret.get_secret_value() if settings.link_secret else ctx.jwt_secret,
        contacts=contacts, proof_url=settings.proof_url or f"{origin}/api/v1/internal/proofs",
        notifier=make_notifier(settings, ctx.log, contacts), metrics=RatingMetrics.register(ctx.registry),
        weights=ctx.org.evaluation_weights.as_dict())


def job(run: Callable[[Deps], Awaitable[None]], deps: Deps) -> Callable[[], Awaitable[None]]:
    """A periodic job bound to the service's deps, keeping its name for the log of a failed run."""
    return functools.update_wrapper(functools.partial(run, deps), run)


def build(ctx: ServiceContext) -> Parts:
    settings = RatingSettings()
    deps = deps_of(ctx, settings)
    ctx.on_case_events(handlers.HANDLERS, deps)
    return Parts(
        routes=routes.PAGES.bind(deps, ctx.jwt_secret) + routes.ROUTES.bind(deps, ctx.jwt_secret),
        on_start=[deps.store.ensure_indexes, job(jobs.refresh_figures, deps)],
        periodic=[(settings.scan_interval_seconds, job(jobs.scan, deps)),
                  (settings.figures_interval_seconds, job(jobs.refresh_figures, deps)),
                  (ctx.settings.outbox_sweep_interval_seconds, job(jobs.sweep_outboxes, deps))],
        # the HTTP clients to intake and the SMS gateway, closed on the way out
        on_stop=[deps.contacts.close] + ([deps.notifier.close] if hasattr(deps.notifier, "close") else []),
    )
