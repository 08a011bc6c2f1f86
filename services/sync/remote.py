"""A signed JSON client for a remote side (the city platform, the hotline), with the platform's delivery rules:
quick retries with exponential backoff and jitter (tenacity) behind a circuit breaker, and a clear verdict for
the caller: an answer, `RemoteUnavailable` (try again later) or `RemoteRejected` (it will never be accepted)."""

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_random_exponential

from services.sync.breaker import BreakerOpen, CircuitBreaker
from services.sync.city_api import Receipt
from services.sync.signing import sign_headers

# Statuses that say "not now" rather than "never": timeouts, throttling, the server's own trouble, and a signature
# refused (a clock or key problem on our side: parking every message for it would be wrong).
TRANSIENT_STATUSES = frozenset({401, 408, 425, 429}) | frozenset(range(500, 600))


class RemoteUnavailable(RuntimeError):
    """No usable answer (timeout, connection refused, 5xx, throttled, breaker open): try again later."""


class RemoteRejected(RuntimeError):
    """The remote side refused the request itself (4xx): sending it again unchanged cannot help."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status, self.body = status, body


class RemoteClient:
    def __init__(self, *, name: str, base_url: str, app_key: str, app_secret: str, timeout: float, attempts: int,
                 breaker: CircuitBreaker, transport: httpx.AsyncBaseTransport | None = None,
                 clock: Callable[[], float] = time.time, retry_wait_max: float = 1.0):
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.app_key, self.app_secret = app_key, app_secret
        self.attempts = attempts
        self.breaker = breaker
        self.clock = clock
        self.retry_wait_max = retry_wait_max
        self.http = httpx.AsyncClient(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def request(self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None) -> Any:
        """One logical call; a few quick attempts while the breaker lets them through."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_worth_retrying),
            stop=stop_after_attempt(max(1, self.attempts)),
            wait=wait_random_exponential(multiplier=0.05, max=self.retry_wait_max),
            reraise=True,
        ):
            with attempt:
                return await self._once(method, path, body, idempotency_key)
        raise AssertionError("unreachable")

    async def _once(self, method: str, path: str, body: Any, idempotency_key: str | None) -> Any:
        if not self.breaker.allow(self.clock()):
            raise BreakerOpenUnavailable(f"{self.name}: circuit open")
        raw = b"" if body is None else json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
        headers = sign_headers(self.app_key, self.app_secret, method, path, raw, self.clock())
        headers["content-type"] = "application/json"
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        try:
            response = await self.http.request(method, self.base_url + path, content=raw, headers=headers)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            self.breaker.failure(self.clock())
            raise RemoteUnavailable(f"{self.name}: {type(exc).__name__}") from exc
        except BaseException:
            self.breaker.release()
            raise
        if response.status_code in TRANSIENT_STATUSES:
            self.breaker.failure(self.clock())
            raise RemoteUnavailable(f"{self.name}: HTTP {response.status_code}")
        self.breaker.success()  # the remote side answered: it is up, whatever it thinks of this request
        if response.status_code >= 400:
            raise RemoteRejected(response.status_code, response.text)
        return response.json() if response.content else None

    async def send(self, delivery: dict[str, Any]) -> Receipt:
        """Deliver one recorded message; its id is the idempotency key the remote side honours."""
        answer = await self.request(delivery["method"], delivery["path"], delivery["body"],
                                    idempotency_key=delivery["id"])
        return Receipt.model_validate(answer)

    async def receipts(self, keys: list[str]) -> set[str]:
        """Which of these idempotency keys the remote side holds (reconciliation)."""
        found: set[str] = set()
        for start in range(0, len(keys), 200):
            answer = await self.request("POST", "/v1/receipts/query", {"keys": keys[start:start + 200]})
            found.update(answer["found"])
        return found


class BreakerOpenUnavailable(RemoteUnavailable, BreakerOpen):
    """Not attempted: the breaker is open. No point retrying within this call."""


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, RemoteUnavailable) and not isinstance(exc, BreakerOpen)
