"""The enterprise's full contact, asked of intake (the owner of the private registration record).

Public events carry the contact masked; the SMS invitation, the tracking-page proof (last four phone digits) and
the revisit staff's call need the real number, so rating asks intake's
`GET /api/v1/staff/cases/{case_id}/contact` with a service token (or the revisit staff's own token, so intake's
disclosure log names the person who asked).
"""

import time
from typing import Any

import httpx

from shared.auth import issue_token

SERVICE_TOKEN_TTL_SECONDS = 3600


class ContactUnavailable(RuntimeError):
    """intake could not be asked or refused: the caller retries later or shows the masked contact."""


class ServiceToken:
    """rating's own `service` token, minted from QHWY_JWT_SECRET at start and again before it expires."""

    def __init__(self, secret: str, sub: str = "rating", ttl_seconds: int = SERVICE_TOKEN_TTL_SECONDS):
        self.secret, self.sub, self.ttl = secret, sub, ttl_seconds
        self._token, self._renew_at = "", 0.0
        self()

    def __call__(self) -> str:
        now = time.time()
        if now >= self._renew_at:
            self._token = issue_token(self.secret, sub=self.sub, role="service", ttl_seconds=self.ttl, now=now)
            self._renew_at = now + self.ttl / 2
        return self._token


class ContactLookup:
    def __init__(self, url_template: str, service_token: ServiceToken, timeout_seconds: float = 5.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url_template = url_template
        self.service_token = service_token
        self.client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)

    async def contact(self, case_id: str, bearer: str | None = None) -> dict[str, Any] | None:
        """{"contact_name", "contact_phone", ...} of the case; None if intake has no such case.

        `bearer` is a staff member's own token (a revisit) instead of the service token.
        """
        headers = {"authorization": f"Bearer {bearer or self.service_token()}"}
        try:
            response = await self.client.get(self.url_template.format(case_id=case_id), headers=headers)
        except httpx.HTTPError as exc:
            raise ContactUnavailable(f"contact lookup unreachable: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise ContactUnavailable(f"contact lookup answered {response.status_code}")
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()


def phone_ends_with(phone: str | None, last4: str) -> bool:
    """The tracking page's proof: the last four digits of the contact phone given when submitting."""
    if not phone or len(last4) != 4 or not last4.isdigit():
        return False
    return "".join(ch for ch in phone if ch.isdigit()).endswith(last4)


class ProofThrottle:
    """At most `limit` wrong last-four guesses per tracking number in `window_seconds` (10,000 guesses would find
    any number). In memory: one instance's view, which is enough to make guessing slow."""

    def __init__(self, limit: int = 5, window_seconds: float = 900.0, max_keys: int = 100_000):
        self.limit, self.window, self.max_keys = limit, window_seconds, max_keys
        self.failures: dict[str, list[float]] = {}

    def _recent(self, key: str, now: float) -> list[float]:
        recent = [t for t in self.failures.get(key, []) if now - t < self.window]
        if recent:
            self.failures[key] = recent
        else:
            self.failures.pop(key, None)
        return recent

    def blocked(self, key: str, now: float) -> bool:
        return len(self._recent(key, now)) >= self.limit

    def failed(self, key: str, now: float) -> None:
        if len(self.failures) >= self.max_keys:  # under a flood forget the oldest entries, never grow without bound
            for stale in list(self.failures)[: self.max_keys // 10]:
                del self.failures[stale]
        self.failures.setdefault(key, []).append(now)
