"""A complaint goes through the real broker and store: HTTP and the ingress topic, retries, bad input."""

import asyncio

import httpx
import pytest

from tests.integration.harness import (CHANNEL, HOTLINE_CHANNEL, Namespace, PlatformProcess, Producer, TopicReader,
                                       events_of, staff_headers, submission, types_of)

pytestmark = pytest.mark.integration

FLOW = ["case.registered", "case.triaged", "case.assigned"]
PHONE = "13800001234"


def assert_public_flow(events: list[dict], case_id: str, submission_id: str) -> None:
    registered, triaged, assigned = events
    assert [e["type"] for e in events] == FLOW
    for event in events:
        assert event["version"] == 1 and event["case_id"] == case_id and event["event_id"]
        assert PHONE not in str(event), "a phone number leaked into a public event"
    assert len({e["event_id"] for e in events}) == 3
    data = registered["data"]
    assert data["submission_id"] == submission_id and data["channel"] == "hotline"
    assert data["tracking_no"].startswith("QH") and data["received_at"]
    assert data["enterprise"]["contact_phone"] == "138****1234"
    assert data["enterprise"]["contact_name"] == "张*"
    assert "电力增容" in data["content"]
    t = triaged["data"]
    assert t["screening"] == "accepted" and t["decided_by"] == "auto" and t["needs_review"] is False
    assert t["department"] == "gongdian" and t["region"] == "majin" and t["complexity"] == "simple"
    assert t["duplicate_of"] is None and t["co_departments"] == []
    a = assigned["data"]
    assert a["department"] == "gongdian" and a["complexity"] == "simple" and a["escalation_level"] == 1
    assert a["due_at"] > assigned["occurred_at"][:10]


async def test_http_submission_flows_to_assignment(platform: PlatformProcess, case_events: TopicReader) -> None:
    body = submission("http-1")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        response = await client.post("/api/v1/submissions", json=body, headers=CHANNEL)
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["status"] == "registered" and answer["tracking_no"].startswith("QH")
        case_id = answer["case_id"]

        values = await case_events.wait_for(lambda v: len(events_of(v, case_id)) >= 3, what="the case's 3 events")
        assert_public_flow(events_of(values, case_id), case_id, "test-http-1")
        keys = {r.key.decode() for r in case_events.records if r.key and r.key.decode() == case_id}
        assert keys == {case_id}

        case = (await client.get(f"/api/v1/cases/{case_id}", headers=staff_headers())).json()
        for _ in range(50):  # the view follows the events topic
            if case["status"] == "assigned" and len(case["history"]) == 3:
                break
            await asyncio.sleep(0.1)
            case = (await client.get(f"/api/v1/cases/{case_id}", headers=staff_headers())).json()
        assert case["status"] == "assigned" and case["tracking_no"] == answer["tracking_no"]
        assert case["triage"]["department"] == "gongdian" and case["department"] == "gongdian"
        assert case["due_at"] and case["escalation_level"] == 1
        assert [h["type"] for h in case["history"]] == FLOW
        assert PHONE not in response.text + str(case)

        tracked = (await client.get("/api/v1/cases", params={"tracking_no": answer["tracking_no"],
                                                              "phone_last4": PHONE[-4:]})).json()
        assert tracked["tracking_no"] == answer["tracking_no"] and "case_id" not in tracked
        assert [s["step"] for s in tracked["timeline"] if s["done"]] == ["received", "screened", "assigned"]
        for wrong in ({"tracking_no": answer["tracking_no"], "phone_last4": "0000"},
                      {"tracking_no": "QH0000000000000", "phone_last4": PHONE[-4:]}):
            response = await client.get("/api/v1/cases", params=wrong)
            assert response.status_code == 404 and response.json()["error"] == "查询编号或验证信息不正确"
        response = await client.get("/api/v1/cases", params={"tracking_no": answer["tracking_no"]})
        assert response.status_code == 422 and response.json()["fields"] == ["phone_last4"]


async def test_ingress_topic_submission_flows(ns: Namespace, platform: PlatformProcess,
                                              case_events: TopicReader) -> None:
    body = submission("kafka-1")
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
    values = await case_events.wait_for(
        lambda v: any(e["type"] == "case.assigned" and e["case_id"] in _ids(v, "test-kafka-1") for e in v),
        what="assignment of test-kafka-1")
    case_id = _ids(values, "test-kafka-1").pop()
    assert_public_flow(events_of(values, case_id), case_id, "test-kafka-1")


def _ids(values: list[dict], submission_id: str) -> set[str]:
    return {e["case_id"] for e in values
            if e["type"] == "case.registered" and e["data"]["submission_id"] == submission_id}


async def test_same_submission_three_times_is_one_case(ns: Namespace, platform: PlatformProcess,
                                                       case_events: TopicReader) -> None:
    body = submission("retry-1")
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for _ in range(2):
            await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        answer = (await client.post("/api/v1/submissions", json=body, headers=CHANNEL)).json()
    case_id = answer["case_id"]
    await case_events.wait_for(lambda v: "case.assigned" in types_of(v, case_id), what="assignment")
    # Give any duplicate a chance to show up before counting.
    marker = submission("retry-marker")
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.submissions.v1"), marker, key=marker["submission_id"])
    values = await case_events.wait_for(lambda v: bool(_ids(v, "test-retry-marker")), what="the marker")
    assert _ids(values, "test-retry-1") == {case_id}
    assert types_of(values, case_id) == FLOW


async def test_malformed_ingress_goes_to_dead_letter_and_stream_goes_on(
        ns: Namespace, platform: PlatformProcess, case_events: TopicReader) -> None:
    bad_payloads = {
        "not-json": b"{this is not json",
        "missing-phone": submission("dlq-1", enterprise={"name": "某公司"}),
        "bad-channel": submission("dlq-2", channel="carrier-pigeon"),
        "not-utf8": b"\xff\xfe\x00garbage",
    }
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.submissions.dlq.v1")) as dlq:
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            for key, payload in bad_payloads.items():
                await producer.send(ns.topic("qhwy.submissions.v1"), payload, key=key)
            good = submission("after-poison")
            await producer.send(ns.topic("qhwy.submissions.v1"), good, key=good["submission_id"])
        letters = await dlq.wait_for(lambda v: len(v) >= 4, what="4 dead letters")
        by_key = {letter["key"]: letter for letter in letters}
        assert set(by_key) == set(bad_payloads)
        assert "enterprise.contact_phone" in by_key["missing-phone"]["reason"]
        assert "channel" in by_key["bad-channel"]["reason"]
        assert by_key["not-json"]["payload"] == "{this is not json"
        assert by_key["not-utf8"]["payload_base64"]
        for letter in letters:
            assert letter["service"] == "intake" and letter["offset"] is not None and letter["reason"]
    await case_events.wait_for(lambda v: any(e["type"] == "case.assigned" and e["case_id"] in
                                             _ids(v, "test-after-poison") for e in v), what="the good message")


async def test_http_rejects_bad_input_naming_each_field(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        bad = submission("http-bad", channel="nowhere", content="", submitted_at="yesterday")
        del bad["enterprise"]["contact_phone"]
        response = await client.post("/api/v1/submissions", json=bad, headers=CHANNEL)
        assert response.status_code == 422
        fields = set(response.json()["fields"])
        assert fields == {"channel", "content", "submitted_at", "enterprise.contact_phone"}
        assert all(d["message"] for d in response.json()["detail"])

        response = await client.post("/api/v1/submissions", content=b"{broken")
        assert response.status_code == 422 and response.json()["detail"][0]["field"] == "body"

        response = await client.get("/api/v1/cases/does-not-exist")
        assert response.status_code == 404 and response.json()["error"]


async def test_unknown_and_newer_events_are_skipped(ns: Namespace, platform: PlatformProcess,
                                                    case_events: TopicReader) -> None:
    """A consumer that sees an unknown type or a higher version skips it without failing."""
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        odd = {"event_id": "x-1", "type": "case.teleported", "version": 1, "case_id": "c-odd",
               "occurred_at": "2026-03-02T09:15:02+08:00", "data": {}}
        newer = {**odd, "event_id": "x-2", "type": "case.assigned", "version": 9, "data": {"shape": "unknown"}}
        await producer.send(ns.topic("qhwy.case-events.v1"), odd, key="c-odd")
        await producer.send(ns.topic("qhwy.case-events.v1"), newer, key="c-odd")
        good = submission("after-odd")
        await producer.send(ns.topic("qhwy.submissions.v1"), good, key=good["submission_id"])
    await case_events.wait_for(lambda v: any(e["type"] == "case.assigned" and e["case_id"] in
                                             _ids(v, "test-after-odd") for e in v), what="the next case")
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        metrics = (await client.get("/metrics")).text
    assert 'outcome="skipped"' in metrics
    assert 'qhwy_dead_letters_total{service="triage"' not in metrics


CONTRACT_EXAMPLE = {  # CONTRACT.md section 1, verbatim
    "submission_id": "hotline-20260302-0001",
    "channel": "hotline",
    "submitted_at": "2026-03-02T09:15:00+08:00",
    "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXX",
                   "contact_name": "张三", "contact_phone": "13800000000"},
    "content": "问题描述……",
    "title": None,
    "region_hint": None,
    "reporter": {"kind": "enterprise", "name": "张三"},
}


async def test_the_contract_example_is_accepted_on_the_topic_and_over_http(
        ns: Namespace, platform: PlatformProcess, case_events: TopicReader) -> None:
    """Outside systems copy the contract's example: its placeholder credit code must not cost a case."""
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        await producer.send(ns.topic("qhwy.submissions.v1"), CONTRACT_EXAMPLE, key=CONTRACT_EXAMPLE["submission_id"])
    values = await case_events.wait_for(lambda v: bool(_ids(v, "hotline-20260302-0001")), what="the example")
    (case_id,) = _ids(values, "hotline-20260302-0001")
    registered = next(e for e in values if e["case_id"] == case_id and e["type"] == "case.registered")
    assert registered["data"]["enterprise"]["contact_phone"] == "138****0000"
    assert "13800000000" not in str(registered)
    http_example = {**CONTRACT_EXAMPLE, "submission_id": "hotline-20260302-0002"}
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        response = await client.post("/api/v1/submissions", json=http_example, headers=HOTLINE_CHANNEL)
    assert response.status_code == 202, response.text
    await case_events.wait_for(lambda v: "case.triaged" in types_of(v, response.json()["case_id"]),
                               what="the HTTP example triaged")
