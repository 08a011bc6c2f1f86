"""One refusal type for the whole platform: a domain core or a route raises `Refusal(status, message)` and the
HTTP layer (shared/http.py `endpoint`) answers it once, as `{"error": message, ...}` with that status.

Pure (no HTTP import), so domain cores can refuse with the status a person should see."""

from typing import Any


class Refusal(Exception):
    """Not done, and why, in Chinese for the person who asked. `extra` goes into the JSON body beside `error`."""

    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra, self.headers = status, message, extra, headers or {}


def unprocessable(message: str, field: str | None = None) -> Refusal:
    """422 naming the field at fault (`detail` in the shape of the validation errors)."""
    if not field:
        return Refusal(422, message)
    return Refusal(422, message, detail=[{"field": field, "message": message}])
