"""services.rating.contacts: the service token, the lookup of a case's full contact at intake."""

import httpx
import jwt
import pytest

from services.rating.contacts import ContactLookup, ContactUnavailable, ServiceToken
from shared.auth import verify_token

SECRET = "x" * 32


def test_the_service_token_is_a_service_role_token_for_rating_and_is_reused():
    token = ServiceToken(SECRET)
    first = token()
    staff = verify_token(SECRET, f"Bearer {first}")
    assert staff.role == "service" and staff.sub == "rating" and staff.unit is None
    assert token() == first  # not minted on every call


def test_the_service_token_is_minted_again_before_it_expires(monkeypatch):
    token = ServiceToken(SECRET, ttl_seconds=100)
    first = jwt.decode(token(), SECRET, algorithms=["HS256"], options={"verify_signature": False})
    import services.rating.contacts as contacts
    real = contacts.time.time
    monkeypatch.setattr(contacts.time, "time", lambda: real() + 60)  # past half its life
    second = jwt.decode(token(), SECRET, algorithms=["HS256"], options={"verify_signature": False})
    assert second["exp"] > first["exp"]


async def test_the_lookup_uses_the_service_token_or_the_staff_members_own():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.path, request.headers["authorization"]))
        return httpx.Response(200, json={"contact_phone": "13800001234", "contact_name": "张三"})

    token = ServiceToken(SECRET)
    lookup = ContactLookup("http://intake.test/api/v1/staff/cases/{case_id}/contact", token,
                           transport=httpx.MockTransport(handler))
    assert (await lookup.contact("c-1"))["contact_phone"] == "13800001234"
    await lookup.contact("c-2", bearer="leader-token")
    assert seen == [("/api/v1/staff/cases/c-1/contact", f"Bearer {token()}"),
                    ("/api/v1/staff/cases/c-2/contact", "Bearer leader-token")]
    await lookup.close()


async def test_an_unknown_case_is_none_and_a_refusal_or_outage_is_unavailable():
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/gone"):
            return httpx.Response(404)
        if request.url.path.endswith("/down"):
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(403)

    lookup = ContactLookup("http://intake.test/{case_id}", ServiceToken(SECRET), transport=httpx.MockTransport(handler))
    assert await lookup.contact("gone") is None
    for case_id in ("down", "forbidden"):
        with pytest.raises(ContactUnavailable):
            await lookup.contact(case_id)
