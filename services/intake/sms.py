"""How a one-time code reaches the enterprise's contact phone: the county's SMS gateway in production; in
development the log and a local simulator (GET /dev/sms shows what would have been sent)."""

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import httpx

from shared.masking import mask_phone


@dataclass(frozen=True)
class Sms:
    phone: str
    text: str
    sent_at: datetime
    purpose: str
    reference: str  # the tracking number


class SmsSender(Protocol):
    async def send(self, sms: Sms) -> None: ...


class SimulatedSms:
    """Development: keeps the last messages for the simulator page and logs them with the phone masked."""

    def __init__(self, log: Any, keep: int = 50) -> None:
        self.log = log
        self.sent: deque[Sms] = deque(maxlen=keep)

    async def send(self, sms: Sms) -> None:
        self.sent.append(sms)
        self.log.info("sms_simulated", purpose=sms.purpose, tracking_no=sms.reference, to=mask_phone(sms.phone))

    def inbox(self) -> list[dict[str, Any]]:
        return [{"to": mask_phone(s.phone), "text": s.text, "sent_at": s.sent_at.isoformat(), "purpose": s.purpose,
                 "tracking_no": s.reference} for s in reversed(self.sent)]


class GatewaySms:
    def __init__(self, url: str, token: str | None, log: Any, timeout_seconds: float = 5.0) -> None:
        self.url, self.token, self.log = url, token, log
        self.client = httpx.AsyncClient(timeout=timeout_seconds)

    async def send(self, sms: Sms) -> None:
        headers = {"authorization": f"Bearer {self.token}"} if self.token else {}
        response = await self.client.post(self.url, json={"phone": sms.phone, "text": sms.text}, headers=headers)
        response.raise_for_status()
        self.log.info("sms_sent", purpose=sms.purpose, tracking_no=sms.reference, to=mask_phone(sms.phone))
