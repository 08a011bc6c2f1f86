"""Events of the insight service on `qhwy.insight-events.v1` (key = the warning's theme key), version 1.

`insight.warning` (苗头性问题预警): a problem theme rises in a region or an industry faster than its normal rate.
The event id is derived from the theme, the scope and the window, so a repeated detection is the same event.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class InsightEvent(BaseModel):
    """The envelope of an insight event (like a case event, but about a theme rather than one case)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=1)
    key: str = Field(min_length=1, max_length=200)
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()


class Warning(BaseModel):
    """Data of `insight.warning`."""

    model_config = ConfigDict(extra="allow", frozen=True)

    theme: str  # the problem group id the cases belong to
    label: str  # a short description of the theme, for people
    scope: Literal["region", "industry"]
    scope_code: str  # the region code, or the industry as registered
    window_start: datetime
    window_end: datetime
    count: int  # cases of the theme in the scope within the window
    baseline: float  # its normal count per window, from the preceding windows
    ratio: float  # count / max(baseline, floor)
    case_ids: list[str] = []


DATA_MODELS: dict[str, tuple[int, type[BaseModel]]] = {
    "insight.warning": (1, Warning),
}
