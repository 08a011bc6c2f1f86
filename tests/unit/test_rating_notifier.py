"""services.rating.notifier: the SMS gateway adapter (over an in-memory HTTP transport) and the log notifier."""

import json
from datetime import UTC, datetime

import httpx
import pytest

from services.rating.contacts import ContactLookup, ServiceToken
from services.rating.notifier import HttpSmsNotifier, Invitation, LogNotifier, NotifierError
from services.rating.settings import RatingSettings

INVITATION = Invitation(case_id="case-1", tracking_no="QH2026030200001", enterprise="某公司",
                        contact_phone="138****1234", link="https://qhwy.example/e/rate/t", round=2,
                        rectification=True, expires_at=datetime(2026, 3, 17, tzinfo=UTC))


def test_the_message_names_the_case_the_link_and_what_to_rate():
    text = INVITATION.text()
    assert "QH2026030200001" in text and "https://qhwy.example/e/rate/t" in text and "整改情况" in text
    assert "2026-03-17" in text


async def test_the_gateway_gets_the_full_phone_from_the_contact_lookup():
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/contacts/case-1":
            return httpx.Response(200, json={"contact_phone": "13800001234"})
        return httpx.Response(202, json={"ok": True})

    settings = RatingSettings(notifier="sms_http", sms_url="http://sms.test/send", sms_token="gw-token")
    token = ServiceToken("s" * 32)
    contacts = ContactLookup("http://intake.test/contacts/{case_id}", token, transport=httpx.MockTransport(handler))
    notifier = HttpSmsNotifier(settings, contacts, transport=httpx.MockTransport(handler))
    await notifier.send(INVITATION)
    lookup, sms = seen
    assert lookup.headers["authorization"] == f"Bearer {token()}"
    assert sms.headers["authorization"] == "Bearer gw-token"
    body = json.loads(sms.content)
    assert body["phone"] == "13800001234" and body["tracking_no"] == "QH2026030200001" and body["text"]
    await notifier.close()


async def test_a_case_intake_does_not_know_goes_to_the_gateway_without_a_phone():
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "intake.test":
            return httpx.Response(404, json={"error": "未找到该问题件"})
        sent.append(json.loads(request.content))
        return httpx.Response(202)

    contacts = ContactLookup("http://intake.test/c/{case_id}", ServiceToken("s" * 32),
                             transport=httpx.MockTransport(handler))
    notifier = HttpSmsNotifier(RatingSettings(notifier="sms_http", sms_url="http://sms.test/send"), contacts,
                               transport=httpx.MockTransport(handler))
    await notifier.send(INVITATION)
    assert sent[0]["phone"] is None and sent[0]["case_id"] == "case-1"


@pytest.mark.parametrize("status", [401, 403, 500])
async def test_a_refused_contact_lookup_is_an_error_and_nothing_is_sent(status):
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.host == "intake.test":
            return httpx.Response(status)
        sent.append(request)
        return httpx.Response(202)

    contacts = ContactLookup("http://intake.test/c/{case_id}", ServiceToken("s" * 32),
                             transport=httpx.MockTransport(handler))
    notifier = HttpSmsNotifier(RatingSettings(notifier="sms_http", sms_url="http://sms.test/send"), contacts,
                               transport=httpx.MockTransport(handler))
    with pytest.raises(NotifierError):
        await notifier.send(INVITATION)
    assert sent == []


@pytest.mark.parametrize("status", [400, 500, 503])
async def test_a_refusing_gateway_is_an_error(status):
    settings = RatingSettings(notifier="sms_http", sms_url="http://sms.test/send")
    notifier = HttpSmsNotifier(settings, transport=httpx.MockTransport(lambda r: httpx.Response(status)))
    with pytest.raises(NotifierError):
        await notifier.send(INVITATION)


async def test_an_unreachable_gateway_is_an_error():
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    notifier = HttpSmsNotifier(RatingSettings(notifier="sms_http", sms_url="http://sms.test/send"),
                               transport=httpx.MockTransport(handler))
    with pytest.raises(NotifierError):
        await notifier.send(INVITATION)


def test_the_gateway_url_is_required():
    with pytest.raises(ValueError):
        HttpSmsNotifier(RatingSettings(notifier="sms_http"))


async def test_the_log_notifier_masks_the_phone():
    records = []

    class Log:
        def info(self, event, **fields):
            records.append((event, fields))

    await LogNotifier(Log()).send(Invitation(**{**INVITATION.__dict__, "contact_phone": "13800001234"}))
    [(event, fields)] = records
    assert event == "rating_invitation" and fields["to"] == "138****1234" and fields["link"] == INVITATION.link
