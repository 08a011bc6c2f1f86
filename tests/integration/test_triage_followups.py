"""Triage through the real broker and store: a follow-up through another channel is a duplicate of the open case
and urges it (case.urged); after 销号 (case.closed) the same problem is a new case with recurrence_of; an
officer's correction changes the next similar decision at once (no restart)."""

import asyncio
import uuid
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import CHANNEL, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, events_of

pytestmark = pytest.mark.integration

OFFICER = {"authorization": f"Bearer {issue_token(TEST_SECRET, sub='li.officer', role='triage_officer')}"}


def body(content: str, name: str, phone: str, channel: str = "qrcode", uscc: str | None = None) -> dict[str, Any]:
    return {"channel": channel, "submitted_at": "2026-03-02T09:15:00+08:00", "content": content,
            "enterprise": {"name": name, "uscc": uscc, "contact_phone": phone}}


async def submit(client: httpx.AsyncClient, payload: dict[str, Any]) -> str:
    response = await client.post("/api/v1/submissions", json=payload, headers=CHANNEL)
    assert response.status_code == 202, response.text
    return str(response.json()["case_id"])


async def triaged(reader: TopicReader, case_id: str, count: int = 1) -> list[dict[str, Any]]:
    values = await reader.wait_for(
        lambda v: len([e for e in events_of(v, case_id) if e["type"] == "case.triaged"]) >= count,
        what=f"{count} case.triaged of {case_id}")
    return [e["data"] for e in events_of(values, case_id) if e["type"] == "case.triaged"]


async def urges(reader: TopicReader, case_id: str, count: int) -> list[dict[str, Any]]:
    values = await reader.wait_for(
        lambda v: len([e for e in events_of(v, case_id) if e["type"] == "case.urged"]) >= count,
        what=f"{count} case.urged of {case_id}")
    return [e["data"] for e in events_of(values, case_id) if e["type"] == "case.urged"]


async def test_follow_up_through_another_channel_urges_the_open_case(platform: PlatformProcess,
                                                                     case_events: TopicReader) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        first = await submit(client, body("我们厂的食品生产许可证下个月到期，续证材料交上去一个月了没有消息",
                                          "开化县跟进测试食品有限公司", "13800005678"))
        original = (await triaged(case_events, first))[0]
        assert original["screening"] == "accepted" and original["department"] == "shichang"
        assert original["recurrence_of"] is None

        # the same owner calls the hotline: another channel, the name written differently, no credit code
        call = await submit(client, body("来电人反映：上次扫码反映的食品生产许可证续证的事，到现在还没有动静。",
                                         "开化跟进测试食品公司", "13800005678", channel="hotline"))
        decision = (await triaged(case_events, call))[0]
        assert decision["screening"] == "duplicate" and decision["duplicate_of"] == first
        urged = await urges(case_events, first, 1)
        assert urged[0]["channel"] == "hotline" and urged[0]["urge_count"] == 1
        assert urged[0]["submission_id"] and urged[0]["follow_up_case_id"] == call
        assert "case.urged" not in [e["type"] for e in events_of(case_events.values(), call)]

        # a liaison officer's note about it later: the second urge on the same open case
        visit = await submit(client, body("助企联络员走访了解到：企业的食品生产许可延续仍未办结，企业很着急。",
                                          "开化县跟进测试食品有限公司", "13800005678", channel="liaison"))
        assert (await triaged(case_events, visit))[0]["duplicate_of"] == first
        assert [u["urge_count"] for u in await urges(case_events, first, 2)] == [1, 2]

        # another problem of the same enterprise is its own case
        other = await submit(client, body("厂区门口的道路坑坑洼洼，大货车进出很困难，希望修一下",
                                          "开化县跟进测试食品有限公司", "13800005678"))
        assert (await triaged(case_events, other))[0]["screening"] == "accepted"


async def test_problem_returning_after_closure_is_a_new_case_linked_to_the_old(
        platform: PlatformProcess, case_events: TopicReader, ns: Namespace) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        first = await submit(client, body("华埠镇我们厂的取水许可证到期了，延续手续一直办不下来",
                                          "开化县复发测试化工有限公司", "13900002468"))
        assert (await triaged(case_events, first))[0]["department"] == "shuili"
        closed = {"event_id": str(uuid.uuid4()), "type": "case.closed", "version": 1, "case_id": first,
                  "occurred_at": "2026-03-04T10:00:00+08:00", "data": {"closed_at": "2026-03-04T10:00:00+08:00"}}
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            await producer.send(ns.topic("qhwy.case-events.v1"), closed, key=first)
        for _ in range(200):
            if (await client.get(f"/api/v1/triage/cases/{first}", headers=OFFICER)).json().get("closed"):
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("triage never saw the case closed")

        again = await submit(client, body("上次反映的取水证延续问题销号了，"
                                          "可现在取水许可还是没批下来，又被要求停止取水",
                                          "开化复发测试化工", "13900002468", channel="hotline"))
        decision = (await triaged(case_events, again))[0]
        assert decision["screening"] == "accepted" and decision["duplicate_of"] is None
        assert decision["recurrence_of"] == first and decision["department"] == "shuili"
        assert "case.urged" not in [e["type"] for e in events_of(case_events.values(), first)]


async def test_officer_correction_changes_the_next_similar_decision(platform: PlatformProcess,
                                                                   case_events: TopicReader) -> None:
    text = "{place}我们厂想把旧厂房屋顶改成光伏车棚，不知道要先找哪里办手续，材料清单也没有"
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        first = await submit(client, body(text.format(place="马金镇"), "开化县学习测试新材料有限公司",
                                          "13700001111"))
        auto = (await triaged(case_events, first))[0]
        corrected = "jingxin" if auto["department"] != "jingxin" else "fagai"
        url = f"/api/v1/triage/cases/{first}"
        assert (await client.post(f"{url}/claim", headers=OFFICER)).status_code == 200
        decided = await client.post(f"{url}/decision", json={"action": "reroute", "department": corrected,
                                                             "reason": "屋顶光伏先由该单位统筹"}, headers=OFFICER)
        assert decided.status_code == 200, decided.text

        # another enterprise elsewhere, worded alike, moments later: the officer's answer, without a restart
        second = await submit(client, body(text.format(place="华埠镇") + "，麻烦告知", "开化县另一家学习测试有限公司",
                                           "13700002222"))
        decision = (await triaged(case_events, second))[0]
        assert decision["screening"] == "accepted" and decision["department"] == corrected
        assert first in decision["reason"]
