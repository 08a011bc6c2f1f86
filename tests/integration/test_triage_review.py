"""Triage through the real broker and store: duplicates, the review queue, officers' decisions, returns, detail."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import CHANNEL, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, events_of

pytestmark = pytest.mark.integration

OFFICER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='li.officer', role='triage_officer')}"}
OTHER_OFFICER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='wang.officer', role='triage_officer')}"}
LEADER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='zhao.leader', role='leader')}"}
HANDLER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='h', role='unit_handler', unit='gongdian')}"}


def body(content: str, name: str, uscc: str | None = None, channel: str = "qrcode") -> dict[str, Any]:
    return {"channel": channel, "submitted_at": "2026-03-02T09:15:00+08:00", "content": content,
            "enterprise": {"name": name, "uscc": uscc, "contact_phone": "13800001234"}}


async def submit(client: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    response = await client.post("/api/v1/submissions", json=payload, headers=CHANNEL)
    assert response.status_code == 202, response.text
    return str(response.json()["case_id"])


async def triaged(reader: TopicReader, case_id: str, count: int = 1) -> list[dict[str, Any]]:
    values = await reader.wait_for(
        lambda v: len([e for e in events_of(v, case_id) if e["type"] == "case.triaged"]) >= count,
        what=f"{count} case.triaged of {case_id}")
    return [e for e in events_of(values, case_id) if e["type"] == "case.triaged"]


async def test_rewording_by_the_same_enterprise_is_a_duplicate(platform: PlatformProcess,
                                                              case_events: TopicReader) -> None:
    uscc = None  # the enterprise is known by its name
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        first = await submit(client, body("我们在马金镇的新生产线需要电力增容，报装申请提交两个月还没有答复",
                                          "开化县重复测试纸业有限公司", uscc))
        assert (await triaged(case_events, first))[0]["data"]["screening"] == "accepted"
        second = await submit(client, body("新生产线的增容报装两个月没人回复，设备装好了不能用",
                                           "开化县重复测试纸业有限公司", uscc, channel="hotline"))
        decision = (await triaged(case_events, second))[0]["data"]
        assert decision["screening"] == "duplicate" and decision["duplicate_of"] == first
        similar = await client.get(f"/api/v1/triage/cases/{second}/similar", headers=OFFICER)
        assert similar.status_code == 200, similar.text
        items = similar.json()["items"]
        assert items[0]["case_id"] == first and items[0]["same_enterprise"] and items[0]["similarity"] > 0
        assert items[0]["tracking_no"] and similar.json()["duplicate_of"] == first
        assert (await client.get(f"/api/v1/triage/cases/{second}/similar", headers=HANDLER)).status_code == 403
        assert (await client.get("/api/v1/triage/cases/nope/similar", headers=OFFICER)).status_code == 404
        other = await submit(client, body("我们在马金镇的厂区招工特别难，普工缺口五十多人，希望帮忙组织招聘",
                                          "开化县重复测试纸业有限公司", uscc))
        assert (await triaged(case_events, other))[0]["data"]["screening"] == "accepted"


async def test_officer_claims_and_reroutes_a_doubtful_case(platform: PlatformProcess,
                                                           case_events: TopicReader) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        case_id = await submit(client, body("华埠镇的厂区需要电力增容，马金镇的仓库也要增容，报装一直没有答复",
                                            "开化县复核测试有限公司"))
        auto = (await triaged(case_events, case_id))[0]["data"]
        assert auto["needs_review"] is True and auto["decided_by"] == "auto"
        assert "case.assigned" not in [e["type"] for e in events_of(case_events.values(), case_id)]

        assert (await client.get("/api/v1/triage/queue", headers=HANDLER)).status_code == 403
        assert (await client.get("/api/v1/triage/queue")).status_code == 401
        for sort in ("newest", "oldest", "confidence"):
            queue = (await client.get("/api/v1/triage/queue", params={"sort": sort}, headers=LEADER)).json()
            assert any(i["case_id"] == case_id for i in queue["items"]), sort
        assert (await client.get("/api/v1/triage/queue", params={"sort": "x"}, headers=OFFICER)).status_code == 422

        url = f"/api/v1/triage/cases/{case_id}"
        reroute = {"action": "reroute", "department": "jingxin", "region": "huabu", "reason": "两地厂区用电统筹"}
        assert (await client.post(f"{url}/decision", json=reroute, headers=OFFICER)).status_code == 409  # unclaimed
        assert (await client.post(f"{url}/claim", headers=LEADER)).status_code == 403
        assert (await client.post(f"{url}/claim", headers=OFFICER)).status_code == 200
        assert (await client.post(f"{url}/claim", headers=OTHER_OFFICER)).status_code == 409
        bad = await client.post(f"{url}/decision", json={"action": "reroute", "department": "nowhere", "reason": "x"},
                                headers=OFFICER)
        assert bad.status_code == 422 and "department" in bad.text
        decided = await client.post(f"{url}/decision", json=reroute, headers=OFFICER)
        assert decided.status_code == 200, decided.text
        assert decided.json()["events"] == ["case.triaged", "case.assigned"]

        values = await case_events.wait_for(
            lambda v: "case.assigned" in [e["type"] for e in events_of(v, case_id)], what="assignment")
        officer = [e for e in events_of(values, case_id) if e["type"] == "case.triaged"][-1]["data"]
        assert officer["decided_by"] == "officer" and officer["department"] == "jingxin"
        assigned = [e for e in events_of(values, case_id) if e["type"] == "case.assigned"][0]["data"]
        assert assigned["department"] == "jingxin" and assigned["region"] == "huabu"

        record = (await client.get(url, headers=LEADER)).json()
        last = record["history"][-1]
        assert last["by"] == "li.officer" and last["action"] == "reroute" and last["reason"] == "两地厂区用电统筹"
        assert last["changes"]["department"] == {"before": "gongdian", "after": "jingxin"} and last["at"]
        queue = (await client.get("/api/v1/triage/queue", headers=OFFICER)).json()
        assert all(i["case_id"] != case_id for i in queue["items"])


async def test_returned_case_goes_back_to_the_queue(platform: PlatformProcess, case_events: TopicReader,
                                                    ns: Namespace) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        case_id = await submit(client, body("我们公司需要电力增容，马金镇工业园区停电频繁，影响生产",
                                            "开化县退回测试纸业有限公司"))
        await case_events.wait_for(lambda v: "case.assigned" in [e["type"] for e in events_of(v, case_id)])
        returned = {"event_id": str(uuid.uuid4()), "type": "case.returned", "version": 1, "case_id": case_id,
                    "occurred_at": "2026-03-02T10:00:00+08:00",
                    "data": {"department": "gongdian", "by": "wang.wu", "reason": "属于有序用电，非供电公司职责"}}
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            await producer.send(ns.topic("qhwy.case-events.v1"), returned, key=case_id)
        for _ in range(100):
            queue = (await client.get("/api/v1/triage/queue", headers=OFFICER)).json()
            item = next((i for i in queue["items"] if i["case_id"] == case_id), None)
            if item:
                break
            await asyncio.sleep(0.1)
        assert item and item["returned"]["department"] == "gongdian" and item["returned"]["reason"]
        url = f"/api/v1/triage/cases/{case_id}"
        assert (await client.post(f"{url}/claim", headers=OFFICER)).status_code == 200
        decided = await client.post(f"{url}/decision", json={"action": "reroute", "department": "jingxin",
                                                             "reason": "有序用电由经信局负责"}, headers=OFFICER)
        assert decided.status_code == 200, decided.text
        history = (await client.get(url, headers=OFFICER)).json()["history"]
        assert [h["action"] for h in history][-2:] == ["returned", "reroute"]


async def test_detail_added_decides_again(platform: PlatformProcess, case_events: TopicReader,
                                          ns: Namespace) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        case_id = await submit(client, body("电费", "开化县补充测试有限公司"))
        assert (await triaged(case_events, case_id))[0]["data"]["screening"] == "unclear"
        added = {"event_id": str(uuid.uuid4()), "type": "case.detail_added", "version": 1, "case_id": case_id,
                 "occurred_at": "2026-03-02T11:00:00+08:00",
                 "data": {"detail": "马金镇工业园区的厂区这个月电费比平时高出一倍，怀疑电表计量有问题",
                          "by": "enterprise"}}
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            await producer.send(ns.topic("qhwy.case-events.v1"), added, key=case_id)
            await producer.send(ns.topic("qhwy.case-events.v1"), added, key=case_id)  # redelivered: no change
        again = (await triaged(case_events, case_id, 2))[-1]["data"]
        assert again["screening"] == "accepted" and again["department"] == "gongdian" and again["region"] == "majin"
        values = await case_events.wait_for(
            lambda v: "case.assigned" in [e["type"] for e in events_of(v, case_id)], what="assignment")
        assert len([e for e in events_of(values, case_id) if e["type"] == "case.triaged"]) == 2


async def test_decision_with_co_departments_is_stored(platform: PlatformProcess, case_events: TopicReader) -> None:
    """Issue 17: a decision that sets co_departments was a list of lists in the audit record, which FerretDB
    refuses ("nested arrays are not supported"): 500. Now 200, and the record holds before/after."""
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        case_id = await submit(client, body("马金镇工业园区我们厂新车间要接电，报装材料交了两个月没有消息",
                                            "开化县协办测试机械有限公司"))
        auto = (await triaged(case_events, case_id))[0]["data"]
        url = f"/api/v1/triage/cases/{case_id}"
        assert (await client.post(f"{url}/claim", headers=OFFICER)).status_code == 200
        decision = {"action": "reroute", "department": "gongdian", "co_departments": ["jingxin", "shuiwugs"],
                    "complexity": "general", "reason": "接电涉及有序用电和供水配套"}
        decided = await client.post(f"{url}/decision", json=decision, headers=OFFICER)
        assert decided.status_code == 200, decided.text
        assert decided.json()["decision"]["co_departments"] == ["jingxin", "shuiwugs"]
        last = (await client.get(url, headers=OFFICER)).json()["history"][-1]
        assert last["changes"]["co_departments"] == {"before": auto["co_departments"],
                                                     "after": ["jingxin", "shuiwugs"]}
        values = await case_events.wait_for(
            lambda v: "case.assigned" in [e["type"] for e in events_of(v, case_id)], what="assignment")
        assigned = [e for e in events_of(values, case_id) if e["type"] == "case.assigned"][-1]["data"]
        assert assigned["co_departments"] == ["jingxin", "shuiwugs"] and assigned["complexity"] == "general"
