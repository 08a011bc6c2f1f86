"""Stored values as JSON: datetimes as ISO 8601 text with their offset, however deep."""

from datetime import datetime, tzinfo
from typing import Any


def iso(value: Any, tz: tzinfo | None = None) -> Any:
    """A datetime as ISO text, in `tz` when given (the county's zone: people read +08:00); other values unchanged."""
    if not isinstance(value, datetime):
        return value
    return (value.astimezone(tz) if tz is not None else value).isoformat()


def plain(value: Any, tz: tzinfo | None = None) -> Any:
    """A stored document (dicts, lists, datetimes) for a JSON answer."""
    if isinstance(value, dict):
        return {k: plain(v, tz) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, tz) for v in value]
    return iso(value, tz)
