"""The platform's clock, injectable: real time, or a frozen, shifted or accelerated one.

Every service reads "now" through `ServiceContext.clock`. Settings (environment):

- `QHWY_CLOCK_START`: an ISO instant the clock starts at (default: the real now);
- `QHWY_CLOCK_SPEED`: how many clock seconds pass per real second (default 1; 0 freezes the clock at its start).

So `QHWY_CLOCK_SPEED=60 make run` runs a demonstration an hour a minute, and a process-level test starts a
service just before a deadline (or restarts it days later) to see what the clocks do.
"""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from pydantic import AwareDatetime, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ClockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_CLOCK_", frozen=True, extra="ignore")

    start: AwareDatetime | None = None
    speed: float = Field(default=1.0, ge=0)


class Clock:
    """now = start + (real elapsed since creation) x speed; plus whatever `advance` added (tests)."""

    def __init__(self, start: datetime | None = None, speed: float = 1.0,
                 monotonic: Callable[[], float] = time.monotonic):
        if start is not None and start.tzinfo is None:
            raise ValueError("the clock's start must carry a time zone")
        if speed < 0:
            raise ValueError("speed must be >= 0")
        self._monotonic = monotonic
        self._real_start = monotonic()
        self._start = (start or datetime.now(UTC)).astimezone(UTC)
        self.speed = speed
        self._offset = timedelta(0)
        self.is_real = start is None and speed == 1.0

    def __call__(self) -> datetime:
        if self.is_real:
            return datetime.now(UTC) + self._offset
        elapsed = (self._monotonic() - self._real_start) * self.speed
        return self._start + timedelta(seconds=elapsed) + self._offset

    def advance(self, delta: timedelta) -> None:
        """Move the clock (tests); the clock never goes back by itself."""
        self._offset += delta

    @classmethod
    def frozen(cls, at: datetime) -> "Clock":
        return cls(start=at, speed=0.0)

    @classmethod
    def from_settings(cls, settings: ClockSettings | None = None) -> "Clock":
        settings = settings or ClockSettings()
        if settings.start is None and settings.speed == 1.0:
            return cls()
        return cls(start=settings.start, speed=settings.speed)

    def describe(self) -> dict[str, object]:
        return {"real": self.is_real, "start": self._start.isoformat(), "speed": self.speed}
