"""sync against the city platform and hotline simulator (mounted in the platform process), with injected faults:
timeouts, 5xx bursts, the remote side down for a while, refusals, duplicated and out-of-order feeds, records
the remote side lost. Nothing lost, nothing applied twice."""

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from shared.auth import issue_token
from tests.integration.harness import (TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, events_of,
                                       submission)

pytestmark = pytest.mark.integration

FAST = {
    "QHWY_CITY_SIMULATOR": "1",
    "QHWY_SYNC_REQUEST_TIMEOUT_SECONDS": "1",
    "QHWY_SYNC_REQUEST_ATTEMPTS": "2",
    "QHWY_SYNC_BACKOFF_BASE_SECONDS": "0.2",
    "QHWY_SYNC_BACKOFF_CAP_SECONDS": "1.5",
    "QHWY_SYNC_BREAKER_FAILURES": "4",
    "QHWY_SYNC_BREAKER_RESET_SECONDS": "1",
    "QHWY_SYNC_DISPATCH_INTERVAL_SECONDS": "0.2",
    "QHWY_SYNC_POLL_INTERVAL_SECONDS": "0.5",
    "QHWY_SYNC_RECONCILE_INTERVAL_SECONDS": "3600",
}


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return FAST


@pytest.fixture(scope="module")
async def producer(ns: Namespace) -> AsyncIterator[Producer]:
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as p:
        yield p


@pytest.fixture(scope="module")
async def http(platform: PlatformProcess) -> AsyncIterator[httpx.AsyncClient]:
    admin = issue_token(TEST_SECRET, sub="ops", role="admin")
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=30,
                                 headers={"authorization": f"Bearer {admin}"}) as client:
        yield client


async def sim_state(http: httpx.AsyncClient) -> dict[str, Any]:
    return (await http.get("/sim/_sim/state")).json()


async def faults(http: httpx.AsyncClient, side: str, **values: Any) -> None:
    assert (await http.post(f"/sim/_sim/{side}/faults", json=values)).status_code == 200


async def until(check: Any, timeout: float = 40, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = await check()
        if result:
            return result
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def case_event(type_: str, case_id: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "type": type_, "version": 1, "case_id": case_id,
            "occurred_at": datetime.now(UTC).isoformat(), "data": data}


async def register(ns: Namespace, producer: Producer, reader: TopicReader, n: str, **overrides: Any) -> dict[str, Any]:
    body = submission(n, **overrides)
    await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
    values = await reader.wait_for(lambda vs: any(v["type"] == "case.registered"
                                                  and v["data"]["submission_id"] == body["submission_id"] for v in vs),
                                   what=f"registration of {n}")
    return next(v for v in values
                if v["type"] == "case.registered" and v["data"]["submission_id"] == body["submission_id"])


async def escalate_and_resolve(ns: Namespace, producer: Producer, case_id: str) -> None:
    topic = ns.topic("qhwy.case-events.v1")
    await producer.send(topic, case_event("case.escalated", case_id, {"from_level": 3, "to_level": 4,
                                                                        "reason": "县级无法协调解决"}), key=case_id)
    await producer.send(topic, case_event("case.resolved", case_id, {
        "resolution": "已协调解决", "resolved_at": datetime.now(UTC).isoformat(), "on_time": True, "by": "wang.wu"}),
        key=case_id)


def synced(values: list[dict[str, Any]], case_id: str, direction: str = "outbound") -> list[dict[str, Any]]:
    unique = {v["event_id"]: v for v in events_of(values, case_id) if v["type"] == "case.synced"
              and v["data"]["direction"] == direction}
    return list(unique.values())


def records_by_case(state: dict[str, Any], side: str, path_part: str) -> Counter[str]:
    return Counter(r["path"] for r in state[side]["received"].values() if path_part in r["path"])


async def test_escalations_and_updates_reach_the_city_once_through_timeouts_and_5xx_bursts(
        ns: Namespace, producer: Producer, case_events: TopicReader, http: httpx.AsyncClient) -> None:
    cases = [(await register(ns, producer, case_events, f"esc-{i}", channel="qrcode"))["case_id"] for i in range(4)]
    await faults(http, "city", errors=3, timeouts=2, timeout_delay=2.0)
    for case_id in cases:
        await escalate_and_resolve(ns, producer, case_id)

    async def all_confirmed() -> bool:
        values = case_events.values()
        return all(len(synced(values, c)) >= 2 for c in cases)

    await until(all_confirmed, what="escalation and result of every case confirmed by the city")
    state = await sim_state(http)
    assert set(state["city"]["escalations"]) >= set(cases)
    assert state["city"]["repeats"] >= 1  # a timed-out request was sent again ...
    # ... and still every delivery is one record at the city: one escalation per case, one result update
    escalations = Counter(r["case"] for r in state["city"]["received"].values() if r["path"].endswith("/escalations"))
    assert all(escalations[c] == 1 for c in cases)
    updates = Counter(r["case"] for r in state["city"]["received"].values() if r["path"].endswith("/case-updates"))
    assert all(updates[c] >= 1 for c in cases)
    links = (await http.get("/api/v1/sync/links", params={"target": "city", "limit": 200})).json()["items"]
    ours = [link for link in links if link["case_id"] in cases]
    assert len(ours) == len(cases)
    assert all({d["state"] for d in link["deliveries"]} == {"delivered"} for link in ours)
    assert all(len(synced(case_events.values(), link["case_id"])) == len(link["deliveries"]) for link in ours)


async def test_city_down_for_a_while_then_the_backlog_drains(
        ns: Namespace, producer: Producer, case_events: TopicReader, http: httpx.AsyncClient) -> None:
    cases = [(await register(ns, producer, case_events, f"down-{i}", channel="qrcode"))["case_id"] for i in range(3)]
    await faults(http, "city", down=True)
    for case_id in cases:
        await escalate_and_resolve(ns, producer, case_id)

    async def breaker_opened() -> bool:
        status = (await http.get("/api/v1/sync/status")).json()
        return status["remote_sides"]["city"]["breaker"]["times_opened"] >= 1

    await until(breaker_opened, what="the city's breaker to open")
    await asyncio.sleep(2)
    assert all(not synced(case_events.values(), c) for c in cases)
    await faults(http, "city", down=False)

    async def drained() -> bool:
        return all(len(synced(case_events.values(), c)) >= 2 for c in cases)

    await until(drained, what="the backlog to drain after the city came back")
    state = await sim_state(http)
    assert all(state["city"]["escalations"].get(c) for c in cases)


async def test_hotline_gets_the_result_and_the_rating_with_its_ticket(
        ns: Namespace, producer: Producer, case_events: TopicReader, http: httpx.AsyncClient) -> None:
    registered = await register(ns, producer, case_events, "hl-1", channel="hotline", source_ref="12345-20260302-77")
    case_id = registered["case_id"]
    ticket = registered["data"].get("source_ref") or registered["data"]["submission_id"]
    await faults(http, "hotline", errors=2)
    topic = ns.topic("qhwy.case-events.v1")
    await producer.send(topic, case_event("case.resolved", case_id, {
        "resolution": "已增容", "resolved_at": datetime.now(UTC).isoformat(), "on_time": True, "by": "wang.wu"}),
        key=case_id)
    rated = case_event("case.rated", case_id, {"level": "satisfied", "satisfied": True, "comment": "满意"})
    await producer.send(topic, rated, key=case_id)
    await producer.send(topic, rated, key=case_id)  # a duplicate delivery of the same event

    async def both() -> bool:
        return len(synced(case_events.values(), case_id)) == 2

    await until(both, what="result and rating confirmed by the hotline")
    state = await sim_state(http)
    paths = records_by_case(state, "hotline", f"/tickets/{ticket}/results")
    assert sum(paths.values()) == 2  # one result, one rating: the duplicate event made nothing new
    assert {s["data"]["target"] for s in synced(case_events.values(), case_id)} == {"hotline"}


async def test_city_assignments_and_messages_arrive_once_despite_duplicated_out_of_order_feeds(
        ns: Namespace, producer: Producer, case_events: TopicReader, http: httpx.AsyncClient) -> None:
    escalated = (await register(ns, producer, case_events, "msg-1", channel="qrcode"))["case_id"]
    await faults(http, "city", duplicate_feed=True, out_of_order=True)
    city_ids = []
    for n in range(3):
        created = await http.post("/sim/city/_sim/assignments", json={
            "enterprise": {"name": f"开化县市派{n}有限公司", "contact_phone": "13800005678"},
            "content": f"市级平台交办：企业用地指标问题（{n}）"})
        city_ids.append(created.json()["city_case_id"])
    texts = ["市级平台已受理", "请县里补充材料", "已协调省级部门解决"]
    for n, text in enumerate(texts):
        await http.post("/sim/city/_sim/messages", json={
            "county_case_id": escalated, "kind": "decision" if n == 2 else "reply",
            "decision": "resolve" if n == 2 else None, "text": text})

    async def arrived() -> bool:
        values = case_events.values()
        registered = {v["data"]["submission_id"] for v in values if v["type"] == "case.registered"}
        notes = [v for v in events_of(values, escalated) if v["type"] in ("case.progressed", "case.resolved")]
        return (all(f"city-{c}" in registered for c in city_ids) and len({v["event_id"] for v in notes}) == 3
                and len(synced(values, escalated, "inbound")) >= 3)

    await until(arrived, timeout=60, what="city assignments registered and city messages applied")
    values = case_events.values()
    for city_id in city_ids:
        registrations = {v["case_id"] for v in values if v["type"] == "case.registered"
                         and v["data"]["submission_id"] == f"city-{city_id}"}
        assert len(registrations) == 1
        (reg,) = [v for v in values
                  if v["type"] == "case.registered" and v["data"]["submission_id"] == f"city-{city_id}"][:1]
        assert reg["data"]["channel"] == "city_platform"
    notes = {v["event_id"]: v for v in events_of(values, escalated)
             if v["type"] in ("case.progressed", "case.resolved")}
    assert sorted(v["type"] for v in notes.values()) == ["case.progressed", "case.progressed", "case.resolved"]
    assert len(synced(values, escalated, "inbound")) == 3
    links = (await http.get("/api/v1/sync/links", params={"target": "city", "limit": 200})).json()["items"]
    assert any(link["city_case_id"] == city_ids[0] for link in links)
    await faults(http, "city", duplicate_feed=False, out_of_order=False)


async def test_reconciliation_resends_what_the_city_lost_and_parked_deliveries_replay(
        ns: Namespace, producer: Producer, case_events: TopicReader, http: httpx.AsyncClient) -> None:
    lost = (await register(ns, producer, case_events, "rec-1", channel="qrcode"))["case_id"]
    await escalate_and_resolve(ns, producer, lost)
    await until(lambda: _async(len(synced(case_events.values(), lost)) >= 2), what="first delivery")
    links = (await http.get("/api/v1/sync/links", params={"target": "city", "limit": 200})).json()["items"]
    keys = [d["delivery_id"] for link in links if link["case_id"] == lost for d in link["deliveries"]]
    forgotten = (await http.post("/sim/_sim/city/forget", json={"keys": keys})).json()["forgotten"]
    assert sorted(forgotten) == sorted(keys)
    report = (await http.post("/api/v1/sync/reconcile")).json()
    assert report["city"]["resent"] == len(keys) >= 2

    async def back() -> bool:
        return set(keys) <= set((await sim_state(http))["city"]["received"])

    await until(back, what="the lost records resent")

    refused = (await register(ns, producer, case_events, "park-1", channel="qrcode"))["case_id"]
    await faults(http, "city", reject=1)
    await escalate_and_resolve(ns, producer, refused)

    async def parked() -> list[dict[str, Any]]:
        items = (await http.get("/api/v1/sync/parked")).json()["items"]
        return [p for p in items if p["case_id"] == refused]

    (record,) = await until(parked, what="the refused escalation parked")
    assert record["status"] == 422 and record["kind"] == "escalation"

    async def update_waiting() -> list[dict[str, Any]]:
        links = (await http.get("/api/v1/sync/links", params={"target": "city", "limit": 200})).json()["items"]
        return [d for link in links if link["case_id"] == refused for d in link["deliveries"]
                if d["kind"] != "escalation"]

    # The update behind the refused escalation is recorded and waits: sent now, the city would refuse it too.
    (update,) = await until(update_waiting, what="the update recorded behind the parked escalation")
    await asyncio.sleep(1.5)  # several dispatcher passes (0.2 s in these tests)
    (update,) = await update_waiting()
    assert update["state"] == "pending" and update["attempts"] == 0
    unit = issue_token(TEST_SECRET, sub="x", role="unit_handler", unit="gongdian")
    forbidden = await http.post(f"/api/v1/sync/parked/{record['delivery_id']}/replay",
                                headers={"authorization": f"Bearer {unit}"})
    assert forbidden.status_code == 403
    assert (await http.post(f"/api/v1/sync/parked/{record['delivery_id']}/replay",
                            headers={"authorization": ""})).status_code == 401
    replay = await http.post(f"/api/v1/sync/parked/{record['delivery_id']}/replay")
    assert replay.status_code == 200, replay.text
    assert (await http.post(f"/api/v1/sync/parked/{record['delivery_id']}/replay")).status_code == 409

    async def delivered_after_replay() -> bool:
        return len(synced(case_events.values(), refused)) >= 2

    await until(delivered_after_replay, timeout=120,  # a loaded machine: the breaker's reset and the retry backoff
                what="the replayed escalation and the update behind it delivered")


async def test_asyncapi_document_is_served(http: httpx.AsyncClient) -> None:
    doc = (await http.get("/api/v1/sync/asyncapi.json", headers={"authorization": ""})).json()
    assert doc["asyncapi"].startswith("3.")
    assert "qhwy.case-events.v1" in doc["channels"]
    assert "ResolvedEvent" in doc["components"]["schemas"]


async def _async(value: Any) -> Any:
    return value


async def test_daily_figures_are_counted_from_case_events_and_reported_to_the_city_once(
        http: httpx.AsyncClient, producer: Producer, ns: Namespace) -> None:
    # Events of a day long over (so the timer's report of yesterday does not race this test).
    day = datetime(2026, 1, 10, 4, 0, tzinfo=UTC)  # noon in the county
    period = "2026-01-10"
    topic = ns.topic("qhwy.case-events.v1")
    for i in range(3):
        case_id = f"fig-{uuid.uuid4().hex[:8]}"
        events = [case_event("case.registered", case_id, {
            "submission_id": f"fig-sub-{case_id}", "channel": "qrcode", "tracking_no": f"QF{i:08d}",
            "received_at": day.isoformat(), "content": "用工", "enterprise": {"name": "某公司",
                                                                          "contact_phone": "138****0000"}})]
        if i < 2:
            events.append(case_event("case.resolved", case_id, {"resolution": "已办结", "resolved_at": day.isoformat(),
                                                                "on_time": i == 0, "by": "u1"}))
        if i == 0:
            events.append(case_event("case.rated", case_id, {"level": "satisfied", "satisfied": True,
                                                             "method": "sms"}))
        for event in events:
            event["occurred_at"] = day.isoformat()
            await producer.send(topic, event, key=case_id)
            await producer.send(topic, event, key=case_id)  # a redelivery counts once
    expected = {"received": 3, "resolved": 2, "resolved_on_time": 1, "rated": 1, "satisfied": 1}

    async def counted() -> bool:
        return (await http.get(f"/api/v1/sync/figures/{period}")).json()["figures"] == expected

    await until(counted, what="the figures counted from the events")
    await faults(http, "city", errors=2)  # a 5xx burst on the way
    first = (await http.post(f"/api/v1/sync/figures/{period}/report")).json()
    again = (await http.post(f"/api/v1/sync/figures/{period}/report")).json()
    assert first["figures"] == again["figures"] == expected and first["delivery_id"] == again["delivery_id"]

    async def reported() -> Any:
        return (await sim_state(http))["city"]["figures"].get(period)

    report = await until(reported, what="the report at the city")
    assert {k: report[k] for k in expected} == expected
    assert (await sim_state(http))["city"]["received"][first["delivery_id"]]["count"] >= 1
    assert (await http.get(f"/api/v1/sync/figures/{period}", headers={"authorization": ""})).status_code == 401
    assert (await http.get("/api/v1/sync/figures/2999-01-01")).status_code == 422
