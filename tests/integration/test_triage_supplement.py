"""Triage through the real broker and store (issue 17, item 2): an unclear case waits in the officers'
"awaiting detail" queue with the time it was asked; the enterprise's 补充说明 arrives as the public
`case.supplemented` event on the case-events topic, and triage decides again on the original text plus the
supplement: a new `case.triaged`, accepted with a department, and `case.assigned` as usual."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import CHANNEL, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, events_of

pytestmark = pytest.mark.integration

OFFICER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='li.officer', role='triage_officer')}"}
HANDLER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='h', role='unit_handler', unit='shichang')}"}


async def typed(reader: TopicReader, case_id: str, kind: str, count: int = 1) -> list[dict[str, Any]]:
    values = await reader.wait_for(
        lambda v: len([e for e in events_of(v, case_id) if e["type"] == kind]) >= count,
        what=f"{count} {kind} of {case_id}")
    return [e["data"] for e in events_of(values, case_id) if e["type"] == kind]


async def awaiting(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/v1/triage/queue", params={"view": "awaiting_detail"}, headers=OFFICER)
    assert response.status_code == 200, response.text
    return response.json()


def supplemented(case_id: str, content: str, round_: int = 1) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": "case.supplemented", "version": 1, "case_id": case_id,
            "occurred_at": "2026-03-03T10:00:00+08:00",
            "data": {"content": content, "by": "enterprise", "round": round_}}


async def test_unclear_case_supplemented_on_the_topic_is_decided_again(
        platform: PlatformProcess, case_events: TopicReader, ns: Namespace) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        response = await client.post("/api/v1/submissions", headers=CHANNEL, json={
            "channel": "qrcode", "submitted_at": "2026-03-02T09:15:00+08:00",
            "content": "你好，我们公司有点问题想反映一下",
            "enterprise": {"name": "开化县补充测试酒业有限公司", "contact_phone": "13800004321"}})
        assert response.status_code == 202, response.text
        case_id = response.json()["case_id"]
        first = (await typed(case_events, case_id, "case.triaged"))[0]
        assert first["screening"] == "unclear" and first["department"] is None

        # the officers see it among the cases waiting for the enterprise's detail, with the time it was asked
        queue = await awaiting(client)
        mine = [item for item in queue["items"] if item["case_id"] == case_id]
        assert queue["view"] == "awaiting_detail" and len(mine) == 1
        assert mine[0]["awaiting_detail"] and mine[0]["detail_asked_at"] and mine[0]["supplement_rounds"] == 0
        assert (await client.get("/api/v1/triage/queue", params={"view": "awaiting_detail"},
                                 headers=HANDLER)).status_code == 403
        assert (await client.get("/api/v1/triage/queue", params={"view": "nope"}, headers=OFFICER)).status_code == 422

        detail = "我们厂在马金镇，食品生产许可证下个月到期，延续材料交上去一个月了一直没有消息"
        event = supplemented(case_id, detail)
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            await producer.send(ns.topic("qhwy.case-events.v1"), event, key=case_id)
            await producer.send(ns.topic("qhwy.case-events.v1"), event, key=case_id)  # redelivered: no effect

        second = (await typed(case_events, case_id, "case.triaged", 2))[1]
        assert second["screening"] == "accepted" and second["department"] == "shichang"
        assert second["region"] == "majin" and second["decided_by"] == "auto" and not second["needs_review"]
        assigned = (await typed(case_events, case_id, "case.assigned"))[0]
        assert assigned["department"] == "shichang" and assigned["due_at"]

        # off the awaiting queue; the case shows the supplement in its text and history
        for _ in range(50):
            if not [i for i in (await awaiting(client))["items"] if i["case_id"] == case_id]:
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the supplemented case stayed in the awaiting-detail queue")
        case = (await client.get(f"/api/v1/triage/cases/{case_id}", headers=OFFICER)).json()
        assert detail in case["content"] and case["supplement_rounds"] == 1
        assert [h["action"] for h in case["history"]] == ["supplemented"]
        assert case["history"][0]["changes"]["department"] == {"before": None, "after": "shichang"}
        await asyncio.sleep(1.0)  # the redelivered event made no third decision
        assert len(await typed(case_events, case_id, "case.triaged")) == 2
