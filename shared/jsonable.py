"""Stored values as JSON: datetimes as ISO 8601 text with their offset, however deep."""

from datetime import datetime
from typing import Any


def iso(value: Any) -> Any:
    """A datetime as ISO text (other values unchanged)."""
    return value.isoformat() if isinstance(value, datetime) else value


def plain(value: Any) -> Any:
    """A stored document (dicts, lists, datetimes) for a JSON answer."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return iso(value)
