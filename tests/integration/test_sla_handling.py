"""The units' handling API through the real broker and store: inbox, accept, progress, coordination, resolve,
close, send back; each action one case event, in order, once per request id; unit scope and bad input."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration


def bearer(**claims: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, **claims)}"}


LEAD = bearer(sub="wang.wu", role="unit_handler", unit="gongdian")
CO = bearer(sub="zhao.liu", role="unit_handler", unit="shuiwugs")
OTHER = bearer(sub="qian.qi", role="unit_handler", unit="fagai")
LEADER = bearer(sub="li.si", role="leader")
OFFICER = bearer(sub="t", role="triage_officer")


@pytest.fixture(scope="module")
async def sla(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.sla", tmp_path_factory.mktemp("sla-logs")).start()
    try:
        await proc.wait_healthy()
        yield proc
    finally:
        assert proc.stop() == 0, proc.logs()[-3000:]


@pytest.fixture(scope="module")
async def reader(ns: Namespace, sla: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as r:
        yield r


async def assign(ns: Namespace, case_id: str, client: httpx.AsyncClient) -> None:
    now = datetime.now(UTC)
    event = {"event_id": f"assigned-{case_id}", "type": "case.assigned", "version": 1, "case_id": case_id,
             "occurred_at": now.isoformat(),
             "data": {"department": "gongdian", "co_departments": ["shuiwugs"], "region": "majin",
                      "complexity": "general", "escalation_level": 1, "due_at": (now + timedelta(days=2)).isoformat()}}
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.case-events.v1"), event, key=case_id)
    for _ in range(150):
        items = (await client.get("/api/v1/units/inbox", headers=LEAD)).json()["items"]
        if any(i["case_id"] == case_id for i in items):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{case_id} never reached the inbox")


async def test_a_case_handled_from_inbox_to_closing(ns: Namespace, sla: PlatformProcess, reader: TopicReader) -> None:
    case_id = "handled-1"
    async with httpx.AsyncClient(base_url=sla.base_url) as client:
        await assign(ns, case_id, client)
        co_inbox = (await client.get("/api/v1/units/inbox", headers=CO)).json()["items"]
        assert [i["status"] for i in co_inbox if i["case_id"] == case_id] == ["assigned"]
        other_inbox = (await client.get("/api/v1/units/inbox", headers=OTHER)).json()["items"]
        assert all(i["case_id"] != case_id for i in other_inbox)

        url = f"/api/v1/units/cases/{case_id}"
        first = await client.post(f"{url}/accept", headers={**LEAD, "idempotency-key": "k-accept"})
        again = await client.post(f"{url}/accept", headers={**LEAD, "idempotency-key": "k-accept"})  # a retry
        assert first.status_code == 201, first.text
        assert again.status_code == 200 and again.json()["repeated"] is True
        assert again.json()["event_id"] == first.json()["event_id"]
        assert (await client.post(f"{url}/accept", headers=LEAD)).status_code == 409  # a new request: already
        assert (await client.post(f"{url}/progress", headers=CO, json={"note": "供水管网已核查"})).status_code == 201
        coordination = await client.post(f"{url}/coordination", headers=CO, json={"to": "lead", "note": "请牵头会商"})
        assert coordination.status_code == 201
        assert (await client.post(f"{url}/resolve", headers=CO, json={"resolution": "x" * 5})).status_code == 403
        assert (await client.post(f"{url}/resolve", headers=OTHER, json={"resolution": "x" * 5})).status_code == 403
        bad = await client.post(f"{url}/resolve", headers=LEAD, json={"follow_up_at": ["someday"]})
        assert bad.status_code == 422 and set(bad.json()["fields"]) == {"resolution", "follow_up_at.0"}
        resolved = await client.post(f"{url}/resolve", headers=LEAD, json={
            "resolution": "已完成增容改造", "solution": "二期线路改造纳入问题清单", "follow_up_at": ["2026-04-01"],
            "request_id": "r-resolve"})
        assert resolved.status_code == 201, resolved.text
        assert (await client.post(f"{url}/close", headers=LEADER, json={"note": "跟进完毕"})).status_code == 201

        detail = (await client.get(url, headers=CO)).json()
        assert [a["action"] for a in detail["actions"]] == ["accept", "progress", "coordination", "resolve", "close"]
        assert detail["status"] == "closed"
        assert (await client.get(url, headers=OTHER)).status_code == 403
        assert (await client.get(url, headers=OFFICER)).status_code == 403
        assert (await client.get(url)).status_code == 401
        assert (await client.get("/api/v1/units/cases/nope", headers=LEADER)).status_code == 404

    values = await reader.wait_for(
        lambda v: any(e["case_id"] == case_id and e["type"] == "case.closed" for e in v), what="case.closed")
    mine = [e for e in values if e["case_id"] == case_id and e["type"] != "case.assigned"]
    assert [e["type"] for e in mine] == ["case.accepted", "case.progressed", "case.progressed", "case.resolved",
                                         "case.closed"]
    assert len({e["event_id"] for e in mine}) == len(mine)
    assert mine[0]["data"] == {"department": "gongdian", "by": "wang.wu"}
    assert mine[1]["data"]["department"] == "shuiwugs" and mine[1]["data"]["kind"] == "part"
    assert mine[2]["data"]["kind"] == "coordination_request"
    assert mine[3]["data"]["on_time"] is True and mine[3]["data"]["problem_list"] is True
    assert mine[3]["data"]["follow_up_at"] == ["2026-04-01"]
    assert mine[4]["data"]["by"] == "li.si"


async def test_send_back_and_leadership_coordination(ns: Namespace, sla: PlatformProcess, reader: TopicReader) -> None:
    async with httpx.AsyncClient(base_url=sla.base_url) as client:
        await assign(ns, "returned-1", client)
        await assign(ns, "escalated-1", client)
        up = await client.post("/api/v1/units/cases/escalated-1/coordination", headers=LEAD,
                               json={"to": "leadership", "note": "涉及用地指标，需分管领导协调"})
        assert up.status_code == 201, up.text
        back = await client.post("/api/v1/units/cases/returned-1/return", headers=LEAD, json={"reason": "属供水问题"})
        assert back.status_code == 201
        assert (await client.post("/api/v1/units/cases/returned-1/accept", headers=LEAD)).status_code == 409
        assert (await client.post("/api/v1/units/cases/returned-1/accept")).status_code == 401
        assert (await client.post("/api/v1/units/cases/returned-1/fly", headers=LEAD)).status_code == 404
        values = await reader.wait_for(
            lambda v: {("returned-1", "case.returned"), ("escalated-1", "case.escalated")}
            <= {(e["case_id"], e["type"]) for e in v}, what="returned and escalated")
        escalated = next(e for e in values if e["case_id"] == "escalated-1" and e["type"] == "case.escalated")
        assert (escalated["data"]["from_level"], escalated["data"]["to_level"]) == (1, 2)
        returned = next(e for e in values if e["case_id"] == "returned-1" and e["type"] == "case.returned")
        assert returned["data"] == {"department": "gongdian", "by": "wang.wu", "reason": "属供水问题"}
        for _ in range(100):  # the consumer folds them back: the escalation level, the returned case leaves the inbox
            detail = (await client.get("/api/v1/units/cases/escalated-1", headers=LEAD)).json()
            inbox = (await client.get("/api/v1/units/inbox", headers=LEAD)).json()["items"]
            if detail["escalation_level"] == 2 and all(i["case_id"] != "returned-1" for i in inbox):
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the consumer did not fold the actions back")
        for _ in range(100):  # the gauges are refreshed by a periodic job: wait for one that saw the cases
            metrics = (await client.get("/metrics")).text
            if "qhwy_sla_open_cases{" in metrics:
                break
            await asyncio.sleep(0.2)
        assert 'qhwy_sla_escalations_total{level="leader_in_charge"}' in metrics
        assert "qhwy_sla_open_cases{" in metrics
