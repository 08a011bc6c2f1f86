"""The record written to a dead-letter topic when a message cannot be accepted.

A dead letter is kept for people to look at and replay, and is read by more people than the store it was
meant for: the personal data in it (phones, e-mail addresses, ID and card numbers, contact and reporter names)
is masked when the record is built, in the payload, the reason, the field errors and the key alike.
"""

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel, field_validator

from shared.masking import mask_payload, mask_payload_base64, mask_text


class DeadLetter(BaseModel):
    service: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    reason: str
    errors: list[dict[str, Any]] = []
    payload: str | None = None  # the original value (masked), when it is UTF-8 text
    payload_base64: str | None = None  # otherwise the original bytes (ASCII digit runs masked)
    failed_at: datetime

    @field_validator("key", "reason")
    @classmethod
    def _masked_text(cls, value: str | None) -> str | None:
        return mask_text(value) if value else value

    @field_validator("errors")
    @classmethod
    def _masked_errors(cls, errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{k: _masked_error_part(v) for k, v in error.items()} for error in errors]

    @field_validator("payload")
    @classmethod
    def _masked_payload(cls, value: str | None) -> str | None:
        return mask_payload(value) if value else value

    @field_validator("payload_base64")
    @classmethod
    def _masked_bytes(cls, value: str | None) -> str | None:
        return mask_payload_base64(value) if value else value

    @staticmethod
    def payload_fields(raw: bytes) -> dict[str, str]:
        try:
            return {"payload": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"payload_base64": base64.b64encode(raw).decode()}


def _masked_error_part(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_masked_error_part(v) for v in value]
    return value  # the input itself is never kept in an error (shared.messaging keeps type, loc and msg)
