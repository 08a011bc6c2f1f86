"""The enterprise's full contact, asked of intake (the owner of the private registration record).

Public events carry the contact masked; the SMS invitation and the revisit staff's call need the real number, so
rating asks intake's `GET /api/v1/staff/cases/{case_id}/contact` with a service token (or the revisit staff's own
token, so intake's disclosure log names the person who asked). An enterprise's proof (tracking number with the
last four phone digits or a one-time code, or its signed link) is checked by intake too
(`POST /api/v1/internal/proofs`), so that one guessing budget covers every route that takes a proof.
"""

import time
from typing import Any

import httpx

from shared.auth import issue_token
from shared.refusal import Refusal

SERVICE_TOKEN_TTL_SECONDS = 3600


class ContactUnavailable(RuntimeError):
    """intake could not be asked or refused: the caller retries later or shows the masked contact."""


class ProofRefused(Refusal):
    """intake refused the enterprise's proof: passed on to the enterprise as it is (with intake's Retry-After)."""

    def __init__(self, status: int, message: str, retry_after: str | None):
        super().__init__(status, message, headers={"retry-after": retry_after} if retry_after else None)
        self.retry_after = retry_after


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

    async def prove(self, url: str, proof: dict[str, Any]) -> dict[str, Any]:
        """intake's answer to an enterprise's proof: {"case_id", "tracking_no", "proof_token"}; intake's refusal
        (404 wrong proof, 422, 429 with Retry-After) is raised as ProofRefused to pass on to the caller."""
        headers = {"authorization": f"Bearer {self.service_token()}"}
        try:
            response = await self.client.post(url, json=proof, headers=headers)
        except httpx.HTTPError as exc:
            raise ContactUnavailable(f"proof check unreachable: {exc}") from exc
        if response.status_code in (404, 422, 429):
            body = response.json()
            raise ProofRefused(response.status_code, body.get("error") or "查询编号或验证信息不正确",
                               response.headers.get("retry-after"))
        if response.status_code != 200:
            raise ContactUnavailable(f"proof check answered {response.status_code}")
        return response.json()

    async def close(self) -> None:
        await self.client.aclose()
