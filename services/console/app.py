"""console: the staff's pages under /console/ (one page + a little vanilla JavaScript, no build step) and the
few JSON endpoints only the console has: sign-in against the staff directory, who-am-I, case search and the
case timeline (from its own read model of the case events), and the organisation file's check with an audit
trail. Everything else the pages show or do goes to the owning service's API with the signed-in token.

This module is the wiring only: routes.py (HTTP), handlers.py (the case events), jobs.py (at start, on a timer)."""

import functools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import Gauge

from services.console import handlers, jobs, routes
from services.console.deps import CalendarWatch, Deps
from services.console.domain import SignInLimiter
from services.console.search_index import SearchIndex
from services.console.settings import ConsoleSettings
from services.console.store import ConsoleStore
from shared.runtime import Parts, ServiceContext
from shared.staff import default_directory
from shared.workdays import CalendarSettings

NAME = "console"
HERE = Path(__file__).parent

Job = Callable[[], Awaitable[None]]


def _job(work: Callable[[Deps], Awaitable[None]], deps: Deps) -> Job:
    """A job of jobs.py bound to the deps, keeping its name (the periodic runner logs it when it fails)."""
    return functools.update_wrapper(functools.partial(work, deps), work)


def _calendar_watch(ctx: ServiceContext) -> CalendarWatch:
    return CalendarWatch(
        settings=CalendarSettings(),
        next_year_missing=Gauge("qhwy_calendar_next_year_missing",
                                "1 from 1 November while next year's holiday schedule is missing (apply it from the "
                                "console's 工作日历 page), else 0", ["year"], registry=ctx.registry),
        next_year_days_left=Gauge("qhwy_calendar_next_year_days_left", "Days until 1 January of next year",
                                  registry=ctx.registry))


def build(ctx: ServiceContext) -> Parts:
    settings = ConsoleSettings()
    deps = Deps(
        ctx=ctx, settings=settings, store=ConsoleStore(ctx.db, ctx.clock), directory=default_directory(),
        index=SearchIndex(),
        attempts=SignInLimiter(limit=settings.login_attempts, window_seconds=settings.login_window_seconds),
        calendar=_calendar_watch(ctx),
        templates=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])),
        version=str(int(time.time())))
    ctx.on_case_events(handlers.HANDLERS, deps)
    calendar_status = _job(jobs.calendar_status, deps)
    return Parts(
        routes=[*routes.pages(deps, ctx.jwt_secret), *routes.ROUTES.bind(deps, ctx.jwt_secret)],
        on_start=[deps.store.ensure_indexes, _job(jobs.start_loading, deps), calendar_status],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, _job(jobs.sweep_outbox, deps)),
                  (settings.calendar_check_seconds, calendar_status),
                  *([(settings.search_refresh_seconds, _job(jobs.refresh_index, deps))]
                    if settings.search_refresh_seconds else [])],
    )
