"""Ingress messages (CONTRACT.md section 1): what a channel reports, validated at the edge.

Checks that need the organisation file (channel and region codes) run when it is passed as validation
context (`{"org": ...}`); the rest always run.
"""

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

if TYPE_CHECKING:
    from shared.org import Region

PHONE_PATTERN = re.compile(r"^\+?[0-9][0-9 \-]{4,19}$")
_MOBILE_DIGITS = re.compile(r"^(?:86)?1\d{10}$")
_VALID_MOBILE = re.compile(r"^(?:86)?1[3-9]\d{9}$")

# 统一社会信用代码 (GB 32100-2015): 18 characters from this alphabet (no I, O, S, V, Z); the last is a check
# character over the first 17 with these weights (3^i mod 31).
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
_USCC_SHAPE = re.compile(rf"^[{USCC_ALPHABET}]{{18}}$")


CHECK_MISMATCH = "check character does not match"


def uscc_check_character(first17: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * w for ch, w in zip(first17, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def uscc_problem(code: str) -> str | None:
    """None for a well-formed code with the right check character, otherwise what is wrong with it."""
    if len(code) != 18:
        return "must be 18 characters"
    if not _USCC_SHAPE.match(code):
        return "contains characters a credit code cannot have"
    if uscc_check_character(code[:17]) != code[17]:
        return CHECK_MISMATCH
    return None


def phone_problem(value: str) -> str | None:
    if not PHONE_PATTERN.match(value):
        return "not a phone number"
    digits = re.sub(r"\D", "", value)
    if _MOBILE_DIGITS.match(digits) and not _VALID_MOBILE.match(digits):
        return "not a mobile number"
    return None


def _checked_phone(value: str) -> str:
    problem = phone_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A phone number as every model here takes it: its shape checked, the reason named when it is refused.
PhoneNumber = Annotated[str, Field(min_length=5, max_length=20), AfterValidator(_checked_phone)]


class Enterprise(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = Field(default=None, max_length=32)
    contact_name: str | None = Field(default=None, max_length=50)
    contact_phone: PhoneNumber

    @field_validator("uscc")
    @classmethod
    def _uscc_valid(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None or value == "":
            return None  # an empty form field means "not given"
        value = value.upper()
        problem = uscc_problem(value)
        # A code of the right shape whose check character does not match is kept, but not trusted as the
        # enterprise's identity (`uscc_verified`): machine channels (and CONTRACT.md's own example) send such
        # codes, and a submission must not be lost for it. A person typing into the page is told instead
        # (validation context `strict`: what a person typed, on the page or in a batch file).
        if problem and (problem != CHECK_MISMATCH or (info.context or {}).get("strict")):
            raise ValueError(f"invalid unified social credit code: {problem}")
        return value

    @property
    def uscc_verified(self) -> bool:
        return self.uscc is not None and uscc_problem(self.uscc) is None


class Reporter(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    kind: str = Field(default="enterprise", max_length=32)
    name: str | None = Field(default=None, max_length=50)
    id: str | None = Field(default=None, max_length=64)  # the reporter in its channel's registry (an officer id)


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
    # Optional additions (a public type only gains optional fields):
    # the id of the item in its channel's own system (hotline ticket, city platform case) so replies can go back,
    source_ref: str | None = Field(default=None, max_length=128)
    # the problem category the reporter chose (a code of the organisation file),
    category: str | None = Field(default=None, max_length=64)
    # the liaison visit it was recorded in.
    visit_id: str | None = Field(default=None, max_length=128)

    @field_validator("channel")
    @classmethod
    def _known_channel(cls, value: str, info: ValidationInfo) -> str:
        # The organisation file is passed as validation context; channels are its codes, never hard-coded.
        org = (info.context or {}).get("org")
        if org is not None and value not in org.channel_codes:
            raise ValueError(f"unknown channel {value!r}")
        return value

    @field_validator("region_hint")
    @classmethod
    def _known_region(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A region code or name of the organisation file (normalised to the code). An unknown code is an error;
        other free text from a machine channel (its own place description) is kept for triage to read, not lost;
        typed by a person (context `strict`), it is refused so that they can correct it."""
        org = (info.context or {}).get("org")
        if not value:
            return None
        if org is None or not hasattr(org, "regions"):
            return value
        regions: Iterable[Region] = org.regions
        for region in regions:
            if value in (region.code, region.name):
                return region.code
        if re.fullmatch(r"[A-Za-z0-9_\-]+", value) or (info.context or {}).get("strict"):
            raise ValueError(f"unknown region {value!r}")
        return value

    @field_validator("category")
    @classmethod
    def _known_category(cls, value: str | None, info: ValidationInfo) -> str | None:
        org = (info.context or {}).get("org")
        if not value:
            return None
        if org is not None and hasattr(org, "categories") and value not in {c.code for c in org.categories}:
            raise ValueError(f"unknown category {value!r}")
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
