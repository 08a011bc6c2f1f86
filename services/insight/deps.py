"""What insight's handlers, routes and jobs share: one instance per process, made by app.build()."""

import asyncio
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from services.insight.officers import OfficerNames
from services.insight.settings import InsightSettings
from services.insight.store import InsightStore
from shared.runtime import ServiceContext

NAME = "insight"


@dataclass(frozen=True, repr=False)  # repr=False: a failing periodic job logs its name, not every dependency
class Deps:
    ctx: ServiceContext
    settings: InsightSettings
    store: InsightStore
    officers: OfficerNames
    weights: dict[str, float]  # the organisation's evaluation weights (enterprise, business office, third party)
    chart_lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # pyplot keeps global state: one report at a time

    @property
    def tz(self) -> ZoneInfo:
        return self.ctx.settings.tz
