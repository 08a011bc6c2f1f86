"""A circuit breaker per remote side: after `failures` consecutive failures it opens and refuses calls for
`reset_seconds`, then lets one probe through (half-open); the probe's success closes it, its failure reopens it.

Pure state with the clock passed in, so it is tested without waiting.
"""

from dataclasses import dataclass
from typing import Literal

State = Literal["closed", "open", "half_open"]


class BreakerOpen(RuntimeError):
    """The remote side is considered down; the call was not attempted."""


@dataclass
class CircuitBreaker:
    name: str
    failures: int = 5
    reset_seconds: float = 15.0
    consecutive_failures: int = 0
    opened_at: float | None = None
    probing: bool = False
    times_opened: int = 0

    def state(self, now: float) -> State:
        if self.opened_at is None:
            return "closed"
        if now - self.opened_at >= self.reset_seconds:
            return "half_open"
        return "open"

    def allow(self, now: float) -> bool:
        """May a call go out now? In half-open state only one probe at a time."""
        state = self.state(now)
        if state == "closed":
            return True
        if state == "half_open" and not self.probing:
            self.probing = True
            return True
        return False

    def success(self) -> None:
        self.consecutive_failures = 0
        self.opened_at = None
        self.probing = False

    def failure(self, now: float) -> None:
        self.consecutive_failures += 1
        if self.probing or (self.opened_at is None and self.consecutive_failures >= self.failures):
            self.times_opened += 1
            self.opened_at = now
        self.probing = False

    def release(self) -> None:
        """A call allowed as the probe ended without an answer either way (e.g. cancelled)."""
        self.probing = False

    def snapshot(self, now: float) -> dict[str, object]:
        return {"state": self.state(now), "consecutive_failures": self.consecutive_failures,
                "times_opened": self.times_opened}
