"""Staff endpoints need a valid token whose role and unit allow the request; /metrics and /healthz; sla clocks."""

import asyncio
import time
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest

from services.registry import SERVICES
from shared.auth import issue_token
from tests.integration.harness import CHANNEL, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

STAFF_ENDPOINTS = ["/api/v1/staff/cases", "/api/v1/triage/queue", "/api/v1/sla/deadlines",
                   "/api/v1/rating/awaiting", "/api/v1/sync/links", "/api/v1/insight/library",
                   "/api/v1/units/inbox"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


@pytest.mark.parametrize("path", STAFF_ENDPOINTS)
async def test_staff_endpoints_refuse_missing_forged_and_expired_tokens(platform: PlatformProcess, path: str) -> None:
    forged = issue_token("some-other-secret-of-enough-length!!", sub="x", role="admin")
    expired = issue_token(TEST_SECRET, sub="x", role="admin", ttl_seconds=60, now=time.time() - 3600)
    bad_role = jwt.encode({"iss": "qhwy", "sub": "x", "role": "janitor", "iat": int(time.time()),
                           "exp": int(time.time()) + 60}, TEST_SECRET, algorithm="HS256")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        assert (await client.get(path)).status_code == 401
        assert (await client.get(path, headers={"authorization": "Basic abc"})).status_code == 401
        assert (await client.get(path, headers=bearer(forged))).status_code == 401
        assert (await client.get(path, headers=bearer(expired))).status_code == 401
        assert (await client.get(path, headers=bearer(bad_role))).status_code == 403
        service = issue_token(TEST_SECRET, sub="rating", role="service")  # a service credential opens nothing else
        assert (await client.get(path, headers=bearer(service))).status_code == 403
        ok = await client.get(path, headers=bearer(issue_token(TEST_SECRET, sub="a", role="admin")))
        assert ok.status_code == 200, ok.text
        assert "items" in ok.json()


@pytest.mark.parametrize(("path", "role", "unit", "query", "status"), [
    ("/api/v1/staff/cases", "unit_handler", "fagai", {}, 200),
    ("/api/v1/staff/cases", "unit_handler", "fagai", {"department": "fagai"}, 200),
    ("/api/v1/staff/cases", "unit_handler", "fagai", {"department": "gongdian"}, 403),
    ("/api/v1/sla/deadlines", "unit_handler", "fagai", {"department": "gongdian"}, 403),
    ("/api/v1/triage/queue", "unit_handler", "fagai", {}, 403),
    ("/api/v1/triage/queue", "triage_officer", None, {}, 200),
    ("/api/v1/rating/awaiting", "triage_officer", None, {}, 403),
    ("/api/v1/rating/awaiting", "supervisor", None, {}, 200),
    ("/api/v1/sync/links", "supervisor", None, {}, 403),
])
async def test_role_and_unit_limit_what_staff_see(platform: PlatformProcess, path: str, role: str, unit: str | None,
                                                  query: dict[str, str], status: int) -> None:
    token = issue_token(TEST_SECRET, sub="s", role=role, unit=unit)
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        response = await client.get(path, params=query, headers=bearer(token))
    assert response.status_code == status, response.text
    if status == 403:
        assert response.json()["error"]


async def test_unit_handler_sees_only_own_unit(platform: PlatformProcess, case_events: TopicReader) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        body = {"channel": "qrcode", "submitted_at": "2026-03-02T09:15:00+08:00",
                "enterprise": {"name": "开化县单位可见性测试有限公司", "contact_phone": "13800001234"},
                "content": "企业申请电力增容迟迟没有答复，停电影响生产"}
        case_id = (await client.post("/api/v1/submissions", json=body, headers=CHANNEL)).json()["case_id"]
        await case_events.wait_for(lambda v: any(e["case_id"] == case_id and e["type"] == "case.assigned" for e in v))
        own = bearer(issue_token(TEST_SECRET, sub="h1", role="unit_handler", unit="gongdian"))
        other = bearer(issue_token(TEST_SECRET, sub="h2", role="unit_handler", unit="fagai"))
        for _ in range(50):
            items = (await client.get("/api/v1/staff/cases", headers=own)).json()["items"]
            if any(i["case_id"] == case_id for i in items):
                break
            await asyncio.sleep(0.1)
        assert all(i["department"] == "gongdian" for i in items) and any(i["case_id"] == case_id for i in items)
        items = (await client.get("/api/v1/staff/cases", headers=other)).json()["items"]
        assert all(i["case_id"] != case_id for i in items)


async def test_metrics_and_health(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        health = await client.get("/healthz")
        assert health.status_code == 200
        assert set(health.json()["services"]) == set(SERVICES)
        assert all(s["consuming"] for s in health.json()["services"].values())
        metrics = (await client.get("/metrics")).text
    for name in ("qhwy_messages_processed_total", "qhwy_handler_duration_seconds", "qhwy_consumer_ready",
                 "qhwy_cases_open", "faststream_received_messages_total"):
        assert name in metrics, name


async def test_sla_announces_an_overdue_case_once(ns: Namespace, platform: PlatformProcess,
                                                  case_events: TopicReader) -> None:
    """An assignment whose deadline has passed gets exactly one `case.overdue` from the sla scan."""
    due = datetime.now(UTC) - timedelta(minutes=5)
    # assigned minutes ago: its response deadline (一般不过夜) is still ahead, so no escalation comes first
    assigned = {"event_id": "overdue-test-assigned", "type": "case.assigned", "version": 1, "case_id": "case-overdue-1",
                "occurred_at": (due - timedelta(minutes=5)).isoformat(),
                "data": {"department": "fagai", "co_departments": [], "region": None, "complexity": "simple",
                         "escalation_level": 1, "due_at": due.isoformat()}}
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.case-events.v1"), assigned, key="case-overdue-1")
        await producer.send(ns.topic("qhwy.case-events.v1"), assigned, key="case-overdue-1")  # a redelivery
    values = await case_events.wait_for(
        lambda v: any(e["type"] == "case.overdue" and e["case_id"] == "case-overdue-1" for e in v),
        what="case.overdue")
    await asyncio.sleep(3)  # three more scans
    overdue = [e for e in case_events.values() if e["type"] == "case.overdue" and e["case_id"] == "case-overdue-1"]
    assert len({e["event_id"] for e in overdue}) == 1
    assert overdue[0]["data"]["escalation_level"] == 1
    assert (datetime.fromisoformat(overdue[0]["data"]["due_at"])
            == due.replace(microsecond=due.microsecond // 1000 * 1000))
    assert values
