"""services.sync.breaker and services.sync.signing: pure, with the clock as a parameter."""

import pytest

from services.sync.breaker import CircuitBreaker
from services.sync.signing import MAX_SKEW_SECONDS, sign_headers, verify

SECRETS = {"county": "s3cret"}


def test_breaker_opens_after_consecutive_failures_only():
    breaker = CircuitBreaker("city", failures=3, reset_seconds=10)
    breaker.failure(0)
    breaker.failure(0)
    breaker.success()  # the streak is broken
    breaker.failure(1)
    breaker.failure(1)
    assert breaker.state(1) == "closed" and breaker.allow(1)
    breaker.failure(2)
    assert breaker.state(2) == "open" and not breaker.allow(2)
    assert breaker.times_opened == 1


def test_half_open_lets_one_probe_through_and_its_success_closes():
    breaker = CircuitBreaker("city", failures=1, reset_seconds=10)
    breaker.failure(0)
    assert not breaker.allow(9.9)
    assert breaker.state(10) == "half_open"
    assert breaker.allow(10)
    assert not breaker.allow(10)  # one probe at a time
    breaker.success()
    assert breaker.state(10) == "closed" and breaker.allow(10) and breaker.allow(10)


def test_a_failed_probe_reopens_for_a_full_period():
    breaker = CircuitBreaker("city", failures=1, reset_seconds=10)
    breaker.failure(0)
    assert breaker.allow(12)
    breaker.failure(12)
    assert breaker.state(21) == "open" and breaker.state(22) == "half_open"
    assert breaker.times_opened == 2


def test_a_released_probe_frees_the_slot():
    breaker = CircuitBreaker("city", failures=1, reset_seconds=1)
    breaker.failure(0)
    assert breaker.allow(1)
    breaker.release()
    assert breaker.allow(1)


def headers(now=1_000_000.0, path="/v1/escalations", body=b'{"a":1}', secret="s3cret"):
    return {k.lower(): v for k, v in sign_headers("county", secret, "POST", path, body, now, nonce="n1").items()}


def test_a_signed_request_verifies():
    assert verify(SECRETS, headers(), "POST", "/v1/escalations", b'{"a":1}', 1_000_000.0) is None
    assert verify(SECRETS, headers(), "post", "/v1/escalations", b'{"a":1}', 1_000_000.0) is None


@pytest.mark.parametrize("change, reason", [
    ({"body": b'{"a":2}'}, "bad signature"),
    ({"path": "/v1/case-updates"}, "bad signature"),
    ({"method": "PUT"}, "bad signature"),
    ({"now": 1_000_000.0 + MAX_SKEW_SECONDS + 1}, "timestamp missing or outside the allowed skew"),
    ({"secret": "other"}, "bad signature"),
])
def test_tampering_is_refused(change, reason):
    signed = headers(secret=change.get("secret", "s3cret"))
    got = verify(SECRETS, signed, change.get("method", "POST"), change.get("path", "/v1/escalations"),
                 change.get("body", b'{"a":1}'), change.get("now", 1_000_000.0))
    assert got == reason


def test_unknown_key_and_missing_headers():
    signed = headers()
    assert verify({"other": "x"}, signed, "POST", "/v1/escalations", b'{"a":1}', 1_000_000.0) == "unknown app key"
    del signed["x-nonce"]
    assert verify(SECRETS, signed, "POST", "/v1/escalations", b'{"a":1}', 1_000_000.0) == "nonce missing"
