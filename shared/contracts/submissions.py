"""Ingress messages (CONTRACT.md section 1): what a channel reports."""

import re
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")


class Enterprise(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(default=None, max_length=32)
    contact_name: str | None = Field(default=None, max_length=50)
    contact_phone: str = Field(min_length=5, max_length=20)

    @field_validator("contact_phone")
    @classmethod
    def _phone_shape(cls, value: str) -> str:
        if not PHONE_PATTERN.match(value):
            raise ValueError("not a phone number")
        return value


class Reporter(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    kind: str = Field(default="enterprise", max_length=32)
    name: str | None = Field(default=None, max_length=50)


class SubmissionBody(BaseModel):
    """A submission without its id: what the HTTP API accepts (it assigns an id when none is given)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    submission_id: str | None = Field(default=None, min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")
    channel: str = Field(min_length=1, max_length=32)
    submitted_at: AwareDatetime
    enterprise: Enterprise
    content: str = Field(min_length=1, max_length=5000)
    title: str | None = Field(default=None, max_length=200)
    region_hint: str | None = Field(default=None, max_length=100)
    reporter: Reporter | None = None

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str, info: ValidationInfo) -> str:
        # The organisation file is passed as validation context; channels are its codes, never hard-coded.
        org = (info.context or {}).get("org")
        if org is not None and value not in org.channel_codes:
            raise ValueError(f"unknown channel {value!r}")
        return value


class Submission(SubmissionBody):
    """An ingress message: the id is required (a retry with the same id yields the same case)."""

    submission_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:\-]+$")


def parse_submission(raw: bytes | str | dict[str, Any], org: Any) -> Submission:
    """Validate an ingress payload; raises pydantic.ValidationError naming each bad field."""
    context = {"org": org}
    if isinstance(raw, dict):
        return Submission.model_validate(raw, context=context)
    return Submission.model_validate_json(raw, context=context)


