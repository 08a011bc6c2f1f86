"""Issue 17 through the real broker and store, with sla's clock frozen on Tuesday 3 March 2026 13:00: a missed
response deadline reminds the unit and counts in the 响应率 (figures API and gauge); two leadership requests sent at
once escalate once; the 超期督办 list holds only escalated or overdue cases; the problem list flags a complex case
resolved without a solution; a follow-up date reminds the unit; a co-department accepts its part; 营商办 urges;
an unclear case with no 补充说明 in 5 working days closes, a supplemented one does not."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

NOW = "2026-03-03T13:00:00+08:00"  # Tuesday


def bearer(**claims: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, **claims)}"}


LEAD = bearer(sub="wang.wu", role="unit_handler", unit="gongdian")
CO = bearer(sub="zhao.liu", role="unit_handler", unit="shuiwugs")
LEADER = bearer(sub="li.si", role="leader")
OFFICER = bearer(sub="yingshang", role="triage_officer")


def ev(case_id: str, type_: str, at: str, data: dict, n: str = "1") -> dict:
    return {"event_id": f"{type_}-{case_id}-{n}", "type": type_, "version": 1, "case_id": case_id,
            "occurred_at": at, "data": data}


def assigned(case_id: str, at: str = "2026-03-02T16:00:00+08:00", complexity: str = "general",
             due: str = "2026-03-05T16:00:00+08:00") -> dict:
    # assigned Monday 16:00 with 1.5 office hours left: the response is due Tuesday 12:00 (最多过一夜)
    return ev(case_id, "case.assigned", at, {"department": "gongdian", "co_departments": ["shuiwugs"],
                                             "region": "majin", "complexity": complexity, "escalation_level": 1,
                                             "due_at": due})


def registered(case_id: str, at: str) -> dict:
    return ev(case_id, "case.registered", at, {
        "submission_id": f"s-{case_id}", "channel": "web", "tracking_no": f"T-{case_id}", "received_at": at,
        "enterprise": {"name": "开化县某公司", "contact_phone": "138****0000"}, "content": "有个问题"})


def unclear(case_id: str, at: str) -> dict:
    return ev(case_id, "case.triaged", at, {"screening": "unclear", "decided_by": "officer", "needs_review": False})


@pytest.fixture(scope="module")
async def sla(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.sla", tmp_path_factory.mktemp("sla-loops"), QHWY_CLOCK_START=NOW,
                           QHWY_CLOCK_SPEED="0", QHWY_SLA_TIMER_INTERVAL_SECONDS="0.3",
                           QHWY_SLA_SCAN_INTERVAL_SECONDS="0.5").start()
    try:
        await proc.wait_healthy()
        yield proc
    finally:
        assert proc.stop() == 0, proc.logs()[-3000:]


@pytest.fixture(scope="module")
async def reader(ns: Namespace, sla: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as r:
        yield r


async def send(ns: Namespace, *events: dict) -> None:
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for event in events:
            await producer.send(ns.topic("qhwy.case-events.v1"), event, key=event["case_id"])


async def until(check, what: str, tries: int = 150) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(what)


def of(reader: TopicReader, case_id: str, type_: str) -> list[dict]:
    return [e for e in reader.values() if e["case_id"] == case_id and e["type"] == type_]


async def test_response_deadline_escalation_lists_and_urges(ns: Namespace, sla: PlatformProcess,
                                                             reader: TopicReader) -> None:
    await send(ns, assigned("l-miss"), assigned("l-met"),
               ev("l-met", "case.accepted", "2026-03-03T09:00:00+08:00", {"department": "gongdian", "by": "w"}),
               assigned("l-esc"), assigned("l-complex", complexity="complex"), assigned("l-follow"))
    async with httpx.AsyncClient(base_url=sla.base_url) as client:
        async def all_in() -> bool:
            items = (await client.get("/api/v1/units/inbox?limit=200", headers=LEAD)).json()["items"]
            return {"l-miss", "l-met", "l-esc", "l-complex", "l-follow"} <= {i["case_id"] for i in items}
        await until(all_in, "the cases never reached the inbox")

        # the unit missed Tuesday 12:00 on l-miss (and the others it had not accepted): reminded, counted
        await reader.wait_for(lambda _: of(reader, "l-miss", "case.reminded"), what="response_missed")
        [missed] = of(reader, "l-miss", "case.reminded")
        assert missed["data"]["kind"] == "response_missed" and missed["data"]["department"] == "gongdian"
        assert missed["data"]["due_at"].startswith("2026-03-03T04:00:00")  # Tuesday 12:00 in Shanghai
        assert [e for e in of(reader, "l-met", "case.reminded") if e["data"]["kind"] == "response_missed"] == []

        # two leadership requests at once (different request ids): one escalation
        url = "/api/v1/units/cases/l-esc/coordination"
        one, two = await asyncio.gather(
            client.post(url, headers={**LEAD, "idempotency-key": "a"}, json={"to": "leadership", "note": "请协调"}),
            client.post(url, headers={**LEAD, "idempotency-key": "b"}, json={"to": "leadership", "note": "请协调"}))
        assert sorted([one.status_code, two.status_code]) == [200, 201], (one.text, two.text)
        assert one.json()["event_id"] == two.json()["event_id"]
        async def folded() -> bool:
            return (await client.get("/api/v1/units/cases/l-esc", headers=LEAD)).json()["escalation_level"] == 2
        await until(folded, "the escalation was never folded")
        stale = await client.post(url, headers=LEAD, json={"to": "leadership", "note": "请协调", "from_level": 1})
        # made at level 1 like the first: the same request again (no new escalation, the same event)
        assert stale.status_code == 200 and stale.json()["repeated"] is True
        assert stale.json()["event_id"] == one.json()["event_id"]
        assert [(e["data"]["from_level"], e["data"]["to_level"]) for e in of(reader, "l-esc", "case.escalated")] \
            == [(1, 2)]

        # 超期督办: only the escalated case (the others are level 1 and within their deadlines)
        flagged = (await client.get("/api/v1/sla/deadlines?flagged=true&limit=200", headers=LEADER)).json()["items"]
        assert [i["case_id"] for i in flagged if i["case_id"].startswith("l-")] == ["l-esc"]
        assert flagged[0]["escalated"] is True

        # a complex case resolved without a solution is on the problem list, flagged; a follow-up date reminds
        for case_id, body in (("l-complex", {"resolution": "已协调供电公司处理"}),
                              ("l-follow", {"resolution": "一期完成", "solution": "二期线路改造",
                                            "follow_up_at": ["2026-03-03"]})):
            assert (await client.post(f"/api/v1/units/cases/{case_id}/accept", headers=LEAD)).status_code == 201
            resolved = await client.post(f"/api/v1/units/cases/{case_id}/resolve", headers=LEAD, json=body)
            assert resolved.status_code == 201, resolved.text
        async def listed() -> bool:
            items = (await client.get("/api/v1/units/problem-list", headers=LEAD)).json()["items"]
            return {i["case_id"]: i["lacks_solution"] for i in items} == {"l-complex": True, "l-follow": False}
        await until(listed, "the problem list never showed both cases")
        await reader.wait_for(lambda _: any(e["data"]["kind"] == "follow_up" for e in of(reader, "l-follow",
                                                                                          "case.reminded")),
                              what="the follow-up reminder")
        [follow] = [e for e in of(reader, "l-follow", "case.reminded") if e["data"]["kind"] == "follow_up"]
        assert follow["data"]["due_at"] == "2026-03-03T08:30:00+08:00"  # the office opening of the date

        # a co-department accepts its part; the lead's acceptance is still owed
        part = await client.post("/api/v1/units/cases/l-miss/accept", headers=CO)
        assert part.status_code == 201, part.text
        assert (await client.post("/api/v1/units/cases/l-miss/accept", headers=CO)).status_code == 409
        # 营商办 presses the unit
        urged = await client.post("/api/v1/units/cases/l-miss/urge", headers=OFFICER, json={"note": "请今日联系企业"})
        assert urged.status_code == 201, urged.text
        assert (await client.post("/api/v1/units/cases/l-miss/urge", headers=CO)).status_code == 403
        await reader.wait_for(
            lambda _: any(e["data"].get("kind") == "urged" for e in of(reader, "l-miss", "case.reminded")),
            what="the urge")
        [progressed] = of(reader, "l-miss", "case.progressed")
        assert progressed["data"]["kind"] == "part_accepted" and progressed["data"]["department"] == "shuiwugs"
        assert of(reader, "l-miss", "case.accepted") == []

        # 响应率: l-met met its deadline; l-miss, l-esc, l-complex and l-follow missed it (accepted at 13:00 or not)
        async def figures_ready() -> bool:
            f = (await client.get("/api/v1/sla/figures", headers=LEADER)).json()
            g = f["units"].get("gongdian", {})
            return g.get("urges") == 1 and g.get("assignments_decided") == 5
        await until(figures_ready, "the figures never counted the urge")
        gongdian = (await client.get("/api/v1/sla/figures", headers=LEAD)).json()["units"]["gongdian"]
        assert gongdian == {"assignments_decided": 5, "responded_on_time": 1, "response_rate": 0.2,
                            "unanswered": 2, "urges": 1}
        assert (await client.get("/api/v1/sla/figures?department=fagai", headers=LEAD)).status_code == 403

        async def gauge() -> bool:  # both from one refresh of the gauges (an earlier one may have either alone)
            text = (await client.get("/metrics")).text
            return 'qhwy_sla_response_rate{department="gongdian"} 0.2' in text \
                and 'qhwy_sla_unanswered_cases{department="gongdian"} 2.0' in text
        await until(gauge, "the response rate and unanswered gauges")
        metrics = (await client.get("/metrics")).text
        assert 'qhwy_sla_unanswered_cases{department="gongdian"} 2.0' in metrics
        assert 'qhwy_sla_urges_total{department="gongdian"} 1.0' in metrics


async def test_unclear_case_without_supplement_closes(ns: Namespace, sla: PlatformProcess,
                                                      reader: TopicReader) -> None:
    # paused Wednesday 25 February 09:30: five working days (26, 27, 28 调休, 2 and 3 March) end before
    # Tuesday 13:00
    await send(ns, registered("l-silent", "2026-02-25T09:00:00+08:00"),
               unclear("l-silent", "2026-02-25T09:30:00+08:00"),
               registered("l-told", "2026-02-25T09:00:00+08:00"), unclear("l-told", "2026-02-25T09:30:00+08:00"),
               ev("l-told", "case.supplemented", "2026-02-26T10:00:00+08:00",
                  {"content": "补充了户号", "by": "enterprise", "round": 1}))
    await reader.wait_for(lambda _: of(reader, "l-silent", "case.closed"), what="the closing")
    await asyncio.sleep(2)  # more sweeps: nothing twice, nothing for the supplemented case
    [closed] = of(reader, "l-silent", "case.closed")
    assert closed["data"]["by"] == "sla" and closed["data"]["reason_code"] == "no_supplement"
    assert "补充说明" in closed["data"]["reason"]
    assert of(reader, "l-told", "case.closed") == []
