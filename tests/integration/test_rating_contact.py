"""The enterprise's real phone reaches rating only through intake, for the roles that need it, and the enterprise
rates from its tracking page: the whole platform through the real broker and store.

A resolution (published on the case-events topic as sla would) -> rating invites the enterprise -> the SMS
adapter asks intake for the full phone with rating's `service` token -> the (test's) SMS gateway gets it.
"""

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from tests.integration.harness import (CHANNEL, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader,
                                       events_of, free_port, submission)
from tests.integration.test_rating_flow import eventually

pytestmark = pytest.mark.integration
TOPIC = "qhwy.case-events.v1"
PHONE = "13912345678"


class Gateway:
    """The county's SMS gateway, as far as rating can tell: it records what it is asked to send."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        received = self.sent

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                received.append(json.loads(self.rfile.read(int(self.headers["content-length"]))))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def gateway() -> Iterator[Gateway]:
    g = Gateway()
    yield g
    g.close()


@pytest.fixture(scope="module")
def platform_env(gateway: Gateway) -> dict[str, str]:
    return {"QHWY_RATING_NOTIFIER": "sms_http", "QHWY_RATING_SMS_URL": gateway.url,
            "QHWY_RATING_SCAN_INTERVAL_SECONDS": "0.5"}


@pytest.fixture(scope="module")
async def events(ns: Namespace, platform: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic(TOPIC)) as reader:
        yield reader


def bearer(role: str, unit: str | None = None, sub: str = "staff.1") -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=sub, role=role, unit=unit)}"}


async def resolved_case(ns: Namespace, platform: PlatformProcess, events: TopicReader, n: str) -> tuple[str, str]:
    """A case submitted through intake and resolved (published as sla would); its case id and tracking number."""
    body = submission(n, enterprise={"name": f"开化县回访测试{n}有限公司", "contact_name": "李四",
                                     "contact_phone": PHONE})
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        receipt = (await client.post("/api/v1/submissions", json=body, headers=CHANNEL)).json()
    case_id = receipt["case_id"]
    await events.wait_for(lambda vs: any(v["type"] == "case.registered" for v in events_of(vs, case_id)),
                          what="case.registered")
    now = datetime.now(UTC)
    event = CaseEvent.new(cause=str(uuid.uuid4()), type="case.resolved", case_id=case_id, occurred_at=now,
                          data=ce.Resolved(resolution="已完成增容", resolved_at=now, on_time=True, by="wang.wu"))
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic(TOPIC), event.to_json(), key=case_id)
    return case_id, receipt["tracking_no"]


async def test_the_invitation_reaches_the_real_phone_through_intake(
        ns: Namespace, platform: PlatformProcess, events: TopicReader, gateway: Gateway) -> None:
    case_id, tracking = await resolved_case(ns, platform, events, f"contact-{uuid.uuid4().hex[:6]}")

    async def sent() -> Any:
        return next((m for m in gateway.sent if m["case_id"] == case_id), None)

    message = await eventually(sent, "the SMS gateway to be asked")
    assert message["phone"] == PHONE and message["tracking_no"] == tracking and "/e/rate/" in message["link"]
    logs = platform.logs()
    disclosures = [json.loads(line) for line in logs.splitlines()
                   if '"contact_disclosed"' in line and case_id in line]
    assert disclosures and disclosures[0]["by"] == "rating" and disclosures[0]["role"] == "service"
    assert PHONE not in logs  # logged: who and which case, never the number


async def test_only_the_roles_that_call_back_get_the_full_contact(
        ns: Namespace, platform: PlatformProcess, events: TopicReader) -> None:
    case_id, _ = await resolved_case(ns, platform, events, f"roles-{uuid.uuid4().hex[:6]}")
    url = f"/api/v1/staff/cases/{case_id}/contact"
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers={"authorization": "Bearer forged"})).status_code == 401
        for role, unit in (("unit_handler", "gongdian"), ("supervisor", None)):
            assert (await client.get(url, headers=bearer(role, unit))).status_code == 403, role
        for role in ("service", "leader", "admin", "triage_officer"):
            answer = await client.get(url, headers=bearer(role, sub=f"{role}.1"))
            assert answer.status_code == 200, role
            assert answer.json()["contact_phone"] == PHONE and answer.json()["contact_name"] == "李四"
        assert (await client.get("/api/v1/staff/cases/no-such-case/contact",
                                 headers=bearer("leader"))).status_code == 404

        # revisit staff open their phone task and see the number to call; intake logs the leader as who asked
        task = f"{case_id}:1:phone"

        async def opened() -> Any:
            answer = await client.get(f"/api/v1/rating/revisits/{task}", headers=bearer("leader", sub="zhao.liu"))
            return answer.json() if answer.status_code == 200 else None

        view = await eventually(opened, "the phone revisit task")
        assert view["contact"]["phone"] == PHONE and view["contact"]["name"] == "李四"
        assert (await client.get(f"/api/v1/rating/revisits/{task}",
                                 headers=bearer("unit_handler", "gongdian"))).status_code == 403
    assert any('"contact_disclosed"' in line and '"zhao.liu"' in line and case_id in line
               for line in platform.logs().splitlines())


async def test_the_enterprise_rates_once_from_its_tracking_page(
        ns: Namespace, platform: PlatformProcess, events: TopicReader) -> None:
    case_id, tracking = await resolved_case(ns, platform, events, f"track-{uuid.uuid4().hex[:6]}")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        async def awaiting() -> Any:
            answer = await client.get("/api/v1/rating/status",
                                      params={"tracking_no": tracking, "phone_last4": PHONE[-4:]})
            return answer.status_code == 200 and answer.json()["awaiting"]

        await eventually(awaiting, "the case to await a rating")
        rating = {"tracking_no": tracking, "phone_last4": PHONE[-4:], "level": "satisfied", "comment": "很及时"}
        wrong = await client.post("/api/v1/rating/tracked-ratings", json={**rating, "phone_last4": "0000"})
        assert wrong.status_code == 404 and "不正确" in wrong.json()["error"]
        guesses = [(await client.post("/api/v1/rating/tracked-ratings",
                                      json={**rating, "tracking_no": "QH000", "phone_last4": f"{n:04d}"})).status_code
                   for n in range(6)]
        assert guesses == [404] * 5 + [429]  # guessing the four digits is slowed down (one budget with intake)
        bad = await client.post("/api/v1/rating/tracked-ratings", json={**rating, "phone_last4": "56a8",
                                                                        "level": ""})
        assert bad.status_code == 422 and set(bad.json()["fields"]) == {"phone_last4", "level"}
        given = await client.post("/api/v1/rating/tracked-ratings", json={**rating, "tracking_no": tracking.lower()})
        assert given.status_code == 201, given.text
        assert given.json()["round"] == 1 and given.json()["satisfied"] is True
        again = await client.post("/api/v1/rating/tracked-ratings", json={**rating, "level": "dissatisfied"})
        assert again.status_code == 409 and "已评价" in again.json()["error"]
        unproven = await client.get("/api/v1/rating/status", params={"tracking_no": tracking})
        assert unproven.status_code == 404 and "case_id" not in unproven.text  # no proof: nothing (section 3)
        status = (await client.get("/api/v1/rating/status",
                                   params={"tracking_no": tracking, "phone_last4": PHONE[-4:]})).json()
        assert status["awaiting"] is False and status["rating"]["level"] == "satisfied"
        wrong = await client.get("/api/v1/rating/status", params={"tracking_no": tracking, "phone_last4": "0000"})
        assert wrong.status_code == 404
    values = await events.wait_for(lambda vs: any(v["type"] == "case.rated" for v in events_of(vs, case_id)),
                                   what="case.rated")
    [rated] = [v for v in events_of(values, case_id) if v["type"] == "case.rated"]
    assert rated["data"]["level"] == "satisfied" and rated["data"]["round"] == 1
