"""The record written to a dead-letter topic when a message cannot be accepted."""

import base64
from datetime import datetime
from typing import Any

from pydantic import BaseModel


class DeadLetter(BaseModel):
    service: str
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None
    reason: str
    errors: list[dict[str, Any]] = []
    payload: str | None = None  # the original value, when it is UTF-8 text
    payload_base64: str | None = None  # otherwise the original bytes
    failed_at: datetime

    @staticmethod
    def payload_fields(raw: bytes) -> dict[str, str]:
        try:
            return {"payload": raw.decode("utf-8")}
        except UnicodeDecodeError:
            return {"payload_base64": base64.b64encode(raw).decode()}
