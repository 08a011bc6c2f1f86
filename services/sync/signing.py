"""Request signing shared by the clients and the simulator (docs/city-api.openapi.yaml, "Signing").

signature = hex(HMAC-SHA256(secret, METHOD \n PATH?QUERY \n TIMESTAMP \n NONCE \n hex(SHA256(body))))
sent as X-App-Key, X-Timestamp (Unix seconds), X-Nonce, X-Signature. The receiver refuses a timestamp more than
MAX_SKEW_SECONDS away from its clock, so a captured request cannot be replayed later.
"""

import hashlib
import hmac
import uuid

MAX_SKEW_SECONDS = 300


def canonical(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    digest = hashlib.sha256(body).hexdigest()
    return "\n".join((method.upper(), path, timestamp, nonce, digest)).encode()


def signature(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    return hmac.new(secret.encode(), canonical(method, path, timestamp, nonce, body), hashlib.sha256).hexdigest()


def sign_headers(app_key: str, secret: str, method: str, path: str, body: bytes, now: float,
                 nonce: str | None = None) -> dict[str, str]:
    timestamp = str(int(now))
    nonce = nonce or uuid.uuid4().hex
    return {"X-App-Key": app_key, "X-Timestamp": timestamp, "X-Nonce": nonce,
            "X-Signature": signature(secret, method, path, timestamp, nonce, body)}


def verify(secrets: dict[str, str], headers: dict[str, str], method: str, path: str, body: bytes,
           now: float) -> str | None:
    """None when the request is signed by a known key within the allowed skew; otherwise why not."""
    key = headers.get("x-app-key")
    if not key or key not in secrets:
        return "unknown app key"
    timestamp, nonce, given = headers.get("x-timestamp", ""), headers.get("x-nonce", ""), headers.get("x-signature", "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > MAX_SKEW_SECONDS:
        return "timestamp missing or outside the allowed skew"
    if not nonce:
        return "nonce missing"
    expected = signature(secrets[key], method, path, timestamp, nonce, body)
    if not hmac.compare_digest(expected, given):
        return "bad signature"
    return None
