"""Liaison officers' names, asked of intake (`GET /api/v1/liaison/officers`), the owner of the officer registry.

Events carry an officer's id only (a name is personal data); people read names. insight asks with the caller's
own staff token when there is one (so intake's rules for that caller apply), else with a `service` token of its
own (sub `insight`, minted from QHWY_JWT_SECRET) for scheduled reports. When intake cannot be asked, the id is
shown: a ranking never fails for want of a name.
"""

import time
from typing import Any

import httpx

from shared.auth import issue_token

PAGE = 500


class OfficerNames:
    def __init__(self, url: str, secret: str, timeout_seconds: float = 5.0, ttl_seconds: float = 60.0,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.url, self.secret, self.ttl = url, secret, ttl_seconds
        self.client = httpx.AsyncClient(timeout=timeout_seconds, transport=transport)
        self._names: dict[str, str] = {}
        self._fetched_at = float("-inf")

    def _token(self) -> str:
        # a service token: insight is not a person of the staff directory (intake lets services read the list)
        return issue_token(self.secret, sub="insight", role="service", ttl_seconds=600)

    async def names(self, bearer: str | None = None, log: Any = None) -> dict[str, str]:
        """officer id -> name; the last good answer for `ttl_seconds`; {} (ids shown) when intake cannot answer."""
        if time.monotonic() - self._fetched_at < self.ttl:
            return self._names
        names: dict[str, str] = {}
        headers = {"authorization": f"Bearer {bearer or self._token()}"}
        try:
            offset = 0
            while True:
                response = await self.client.get(self.url, params={"limit": PAGE, "offset": offset}, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"officer lookup answered {response.status_code}")
                items = response.json().get("items", [])
                names.update({str(i["officer_id"]): str(i.get("name") or i["officer_id"]) for i in items})
                if len(items) < PAGE:
                    break
                offset += PAGE
        except (httpx.HTTPError, RuntimeError, ValueError, KeyError) as exc:
            if log is not None:
                log.warning("officer_names_unavailable", error=str(exc))
            return self._names
        self._names, self._fetched_at = names, time.monotonic()
        return names

    async def close(self) -> None:
        await self.client.aclose()
