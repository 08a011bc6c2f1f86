"""The case-event envelope (CONTRACT.md section 2) and its deterministic ids."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

# Namespace for ids derived from other ids, so that redoing the same work yields the same ids
# (and every consumer's event-id idempotency absorbs the repeat).
QHWY_NAMESPACE = uuid.UUID("6f1c2d0e-2f43-4a57-9a37-3d0c3f8b9a10")


def derived_id(*parts: str) -> str:
    return str(uuid.uuid5(QHWY_NAMESPACE, "/".join(parts)))


class CaseEvent(BaseModel):
    """One fact about one case. Key on the topic: case_id, so a case's events stay in order."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event_id: str = Field(min_length=1, max_length=64)
    type: str = Field(min_length=1, max_length=64)
    version: int = Field(default=1, ge=1)
    case_id: str = Field(min_length=1, max_length=64)
    occurred_at: AwareDatetime
    data: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def new(cls, *, cause: str, type: str, case_id: str, occurred_at: datetime, data: BaseModel) -> "CaseEvent":
        """An event caused by `cause` (an upstream event id or submission id); its id is derived from both."""
        return cls(
            event_id=derived_id(cause, type),
            type=type,
            version=1,
            case_id=case_id,
            occurred_at=occurred_at,
            data=data.model_dump(mode="json"),
        )

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
