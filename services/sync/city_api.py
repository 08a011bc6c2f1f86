"""The messages of the city platform's API (docs/city-api.openapi.yaml) and of the hotline's result callback,
as pydantic models shared by the clients, the pure rules and the simulator."""

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class CityEnterprise(_Message):
    name: str
    uscc: str | None = None
    contact_name: str | None = None
    contact_phone: str


class Assignment(_Message):
    """A case the city platform assigns (交办) to the county."""

    city_case_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")
    seq: int = Field(ge=1)
    assigned_at: AwareDatetime
    enterprise: CityEnterprise
    content: str = Field(min_length=1, max_length=5000)
    title: str | None = None
    region_hint: str | None = None


class CityMessage(_Message):
    """The city's reply to, or decision on, a case the county escalated (or one it assigned)."""

    message_id: str = Field(min_length=1, max_length=64)
    seq: int = Field(ge=1)  # position in the county's feed
    county_case_id: str = Field(min_length=1, max_length=64)
    case_seq: int = Field(ge=1)  # position among this case's messages
    kind: Literal["reply", "decision"]
    decision: Literal["accept", "resolve", "return"] | None = None
    author: str = Field(min_length=1, max_length=64)
    text: str = Field(min_length=1, max_length=5000)
    occurred_at: AwareDatetime


class Receipt(_Message):
    """What the remote side answers to an accepted request (and to a repeat with the same idempotency key)."""

    remote_id: str
    received_at: datetime | None = None
    duplicate: bool = False
