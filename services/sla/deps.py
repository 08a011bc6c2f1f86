"""What sla's handlers, routes and jobs share: one instance per process, made by app.build()."""

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta, tzinfo
from typing import Any

from services.sla import domain
from services.sla.metrics import SlaMetrics
from services.sla.settings import SlaSettings
from services.sla.store import SlaStore
from services.sla.tally import Tally
from services.sla.timer_index import TimerIndex
from shared.jsonable import iso
from shared.locks import KeyedLocks
from shared.messaging import Consumer
from shared.runtime import ServiceContext
from shared.store import CaseDocuments
from shared.workdays import default_calendar

NAME = "sla"
OUTBOX_NAMES = ("deadlines", "handling", "triage_clocks")  # sla's collections with an outbox


def policy_for(ctx: ServiceContext, settings: SlaSettings) -> domain.Policy:
    """The clocks' policy from the organisation file (ladder, its windows) and sla's settings."""
    windows: dict[int, float] = {}
    for level in ctx.org.escalation_levels:
        hours = getattr(level, "response_working_hours", None)  # optional in the organisation file
        if hours is None:
            hours = settings.escalation_window_hours.get(level.level)
        if hours is not None:
            windows[level.level] = float(hours) * 3600
    return domain.Policy(
        calendar=default_calendar(), top_level=ctx.org.top_escalation_level, windows=windows,
        reminder_fractions=settings.reminder_fractions,
        end_of_day_lead=timedelta(minutes=settings.end_of_day_reminder_minutes),
        level_codes={level.level: level.code for level in ctx.org.escalation_levels},
        response_late_seconds=settings.response_late_hours * 3600,
        response_grace_seconds=settings.response_grace_hours * 3600)


@dataclass(repr=False)  # repr=False: a failing periodic job logs its name, not every dependency
class Deps:
    ctx: ServiceContext
    settings: SlaSettings
    policy: domain.Policy
    store: SlaStore
    metrics: SlaMetrics
    # the complexity whose resolution must state the agreed solution (问题清单): the one with the longest time limit
    listed_complexity: str
    index: TimerIndex = field(default_factory=TimerIndex)  # the "123" clocks' next firings
    triage_index: TimerIndex = field(default_factory=TimerIndex)  # the triage clocks' next firings
    tally: Tally = field(default_factory=Tally)  # the gauges' counts, kept as records change (no store scan)
    clock_locks: KeyedLocks = field(default_factory=KeyedLocks)  # one firing or clock change per case at a time
    case_locks: KeyedLocks = field(default_factory=KeyedLocks)  # one unit action per case at a time
    # Firings stored but not yet on the topic (a failed publish, or found unpublished at start), by firing id.
    unpublished_firings: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Firing ids folded into their clock records, with when: deleted in batches once old enough (compact_firings).
    absorbed: list[tuple[float, list[str]]] = field(default_factory=list)
    loading: asyncio.Task[None] | None = None  # the timer index being read for newly owned partitions
    consumer: Consumer | None = None  # the case-events consumer: its partitions are the clocks this instance fires

    @property
    def partitions(self) -> int:
        return self.ctx.settings.topic_partitions

    @property
    def tz(self) -> tzinfo:
        return self.ctx.settings.tz

    @property
    def outboxes(self) -> dict[str, CaseDocuments]:
        """sla's collections with an outbox, by name (OUTBOX_NAMES' order)."""
        return {"deadlines": self.store.deadlines, "handling": self.store.handling, "triage_clocks": self.store.triage}

    def iso(self, value: Any) -> Any:
        return iso(value, self.tz)
