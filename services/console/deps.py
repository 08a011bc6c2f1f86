"""What the console's routes, consumer and jobs share: one `Deps`, made by app.build() (its own module so that
routes, handlers and jobs import it without importing the wiring)."""

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment
from prometheus_client import Gauge

from services.console.domain import SignInLimiter
from services.console.names import Names
from services.console.search_index import SearchIndex
from services.console.settings import ConsoleSettings
from services.console.store import ConsoleStore
from shared.runtime import ServiceContext
from shared.staff import StaffDirectory
from shared.workdays import CalendarSettings


@dataclass
class CalendarWatch:
    """Next year's holiday schedule: the gauges Prometheus alerts on and the last status (the header's banner)."""

    settings: CalendarSettings
    next_year_missing: Gauge
    next_year_days_left: Gauge
    status: dict[str, Any] = field(default_factory=dict)  # empty until first refreshed

    @property
    def file(self) -> Path:
        """The calendar file the 工作日历 page applies years to and every service rereads."""
        return self.settings.calendar_path


@dataclass
class Deps:
    ctx: ServiceContext
    settings: ConsoleSettings
    store: ConsoleStore
    directory: StaffDirectory
    index: SearchIndex
    attempts: SignInLimiter
    calendar: CalendarWatch
    templates: Environment
    version: str  # cache-busts the static files on each start
    loading: list[asyncio.Task[None]] = field(default_factory=list)  # the search rows read in the background

    @property
    def tz(self) -> ZoneInfo:
        return self.ctx.settings.tz

    def names(self) -> Names:
        """Codes and login ids in words, from the organisation file and the staff directory as they are now."""
        return Names.of(self.ctx.org, ((u.id, u.name) for u in self.directory.users() if u.name), self.tz)

    def person(self, user_id: str | None) -> str:
        return self.names().person(user_id)
