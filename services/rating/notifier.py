"""How a rating link reaches the enterprise: an SMS gateway in production, the log in development."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from services.rating.contacts import ContactLookup, ContactUnavailable
from services.rating.settings import RatingSettings
from shared.masking import mask_text


@dataclass(frozen=True)
class Invitation:
    case_id: str
    tracking_no: str | None
    enterprise: str | None
    contact_phone: str | None  # as the public events carry it: masked
    link: str
    round: int
    rectification: bool
    expires_at: datetime

    def text(self) -> str:
        what = "整改情况" if self.rectification else "办理结果"
        return (f"【企呼我应】您反映的问题（查询编号{self.tracking_no or self.case_id}）已办结，"
                f"请对{what}进行评价：{self.link}（{self.expires_at:%Y-%m-%d}前有效）")


class NotifierError(RuntimeError):
    pass


class Notifier(Protocol):
    async def send(self, invitation: Invitation) -> None: ...


class LogNotifier:
    """Development: the message goes to the log, the phone masked (public events carry it masked already)."""

    def __init__(self, log: Any):
        self.log = log

    async def send(self, invitation: Invitation) -> None:
        self.log.info("rating_invitation", case_id=invitation.case_id, round=invitation.round,
                      to=mask_text(invitation.contact_phone or ""), link=invitation.link, text=invitation.text())


class HttpSmsNotifier:
    """Production: POST the message to the county's SMS gateway (JSON; bearer token if configured).

    Public events carry the contact phone masked; the full number comes from intake through `contacts` (a case
    intake does not know, e.g. one from another platform, goes to the gateway without a phone, with the case and
    tracking number for the gateway to address it itself).
    """

    def __init__(self, settings: RatingSettings, contacts: ContactLookup | None = None,
                 transport: httpx.AsyncBaseTransport | None = None):
        if not settings.sms_url:
            raise ValueError("QHWY_RATING_SMS_URL is required with QHWY_RATING_NOTIFIER=sms_http")
        self.settings = settings
        self.contacts = contacts
        self.client = httpx.AsyncClient(timeout=settings.sms_timeout_seconds, transport=transport)

    async def _phone(self, invitation: Invitation) -> str | None:
        if self.contacts is None:
            return None
        try:
            contact = await self.contacts.contact(invitation.case_id)
        except ContactUnavailable as exc:
            raise NotifierError(str(exc)) from exc
        return (contact or {}).get("contact_phone")

    async def send(self, invitation: Invitation) -> None:
        headers = {}
        if self.settings.sms_token:
            headers["authorization"] = f"Bearer {self.settings.sms_token.get_secret_value()}"
        body = {"phone": await self._phone(invitation), "case_id": invitation.case_id,
                "tracking_no": invitation.tracking_no, "text": invitation.text(), "link": invitation.link}
        try:
            response = await self.client.post(self.settings.sms_url, json=body, headers=headers)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise NotifierError(f"sms gateway unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise NotifierError(f"sms gateway answered {response.status_code}")

    async def close(self) -> None:
        await self.client.aclose()


def make_notifier(settings: RatingSettings, log: Any, contacts: ContactLookup | None = None) -> Notifier:
    if settings.notifier == "sms_http":
        return HttpSmsNotifier(settings, contacts)
    return LogNotifier(log)
