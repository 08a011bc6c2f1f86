"""The JSON bodies rating's routes accept (unknown fields refused, text stripped)."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RatingBody(_Body):
    token: str = Field(min_length=1, max_length=4000)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class TrackedRatingBody(_Body):
    """The tracking page's rating: a proof of the enterprise (the tracking number with the last four phone
    digits or a one-time code, or the token the tracking page got for its proof) opens the case."""
    tracking_no: str | None = Field(default=None, min_length=1, max_length=64)
    phone_last4: str | None = Field(default=None, pattern=r"^\d{4}$")
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    token: str | None = Field(default=None, min_length=1, max_length=2048)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class ResendBody(_Body):
    tracking_no: str = Field(min_length=1, max_length=64)


class RevisitBody(_Body):
    said: str = Field(min_length=1, max_length=2000)  # what the enterprise said
    solved: bool  # whether the problem is really solved
    visited_at: AwareDatetime | None = None  # when the call or visit took place; default: now
    note: str | None = Field(default=None, max_length=2000)


class SupervisionBody(_Body):
    note: str = Field(min_length=1, max_length=2000)
    findings: list[str] = Field(default_factory=list, max_length=20)


class AppealBody(_Body):
    case_id: str = Field(min_length=1, max_length=64)
    round: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class EvaluationBody(_Body):
    """营商办's own evaluation of a resolution round (the current one when `round` is left out)."""
    case_id: str = Field(min_length=1, max_length=64)
    round: int | None = Field(default=None, ge=1)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class ReviewBody(_Body):
    decision: Literal["upheld", "excluded"]
    reason: str = Field(min_length=1, max_length=2000)
