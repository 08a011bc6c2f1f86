"""sla's own settings (QHWY_SLA_*), beside the platform's shared ones."""

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class SlaSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_SLA_", frozen=True, extra="ignore")

    # How often the timer sweep looks for reminders, deadlines and escalations that fell due (the gauges are
    # recomputed every QHWY_SLA_SCAN_INTERVAL_SECONDS).
    timer_interval_seconds: float = Field(default=1.0, gt=0)
    # How many due cases one sweep handles at most (the next sweep takes the rest, earliest first).
    timer_batch: int = Field(default=500, ge=1)
    # How many due cases a sweep fires at once. FerretDB's SQLite backend takes one writer at a time and answers
    # "database is locked" when many wait, so a few suffice; MongoDB can take more.
    sweep_concurrency: int = Field(default=4, ge=1)
    # Reminders at these fractions of the working time between assignment and deadline.
    reminder_fractions: tuple[float, ...] = (0.5, 0.8)
    # "一般不过夜": a reminder this many minutes before the office day of the assignment closes.
    end_of_day_reminder_minutes: float = Field(default=30, ge=0)
    # Working hours each escalation level has to act before the case climbs to the next one, by level number
    # (level 1 has the "123" deadline itself). The organisation file's `response_working_hours` on a level wins.
    escalation_window_hours: dict[int, float] = {2: 7.0, 3: 7.0}
    # "Due soon" means: due within this many working hours.
    due_soon_working_hours: float = Field(default=4.0, gt=0)
    # Firing records folded into their clock records are deleted this long after (a partition handover must be
    # over by then), in batches of at most `compaction_batch` ids, every `compaction_interval_seconds`.
    firing_retention_seconds: float = Field(default=600, ge=0)
    compaction_batch: int = Field(default=1000, ge=1)
    compaction_interval_seconds: float = Field(default=30, gt=0)
    # The response deadline (签收, "一般不过夜、最多过一夜"): the close of the office day of the assignment, or the
    # end of the next working morning when less than this many office hours are left that day.
    response_late_hours: float = Field(default=2.0, ge=0)
    # Working hours after a missed response deadline (case.reminded kind "response_missed") before a case still not
    # accepted climbs from its unit to level 2.
    response_grace_hours: float = Field(default=2.0, ge=0)
    # An unclear case waits this many working days for the enterprise's 补充说明 (case.supplemented), then closes.
    supplement_wait_working_days: int = Field(default=5, ge=1, le=60)
