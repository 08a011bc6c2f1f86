"""rating through the real broker and store: the enterprise rates by its link, a dissatisfied case is referred,
supervised and reopened, revisits are recorded, a unit appeals, the figures count it all.

The rating service runs alone; the test publishes the upstream case events (as sla and intake would) on the
case-events topic and reads what rating publishes there.
"""

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.rating import links
from shared.auth import issue_token
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.track_links import issue_track_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration
TOPIC = "qhwy.case-events.v1"


@pytest.fixture(scope="module")
async def rating(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.rating", tmp_path_factory.mktemp("logs"),
                           QHWY_RATING_SCAN_INTERVAL_SECONDS="0.5", QHWY_RATING_FIGURES_INTERVAL_SECONDS="0.5",
                           QHWY_RATING_PHONE_REVISIT_PERCENT="0", QHWY_RATING_RESEND_INTERVAL_SECONDS="3600",
                           QHWY_RATING_PUBLIC_BASE_URL="https://qhwy.example.gov.cn").start()
    try:
        await proc.wait_healthy()
        yield proc
    finally:
        assert proc.stop() == 0, f"rating did not stop cleanly; see {proc.log_path}"


@pytest.fixture(scope="module")
async def events(ns: Namespace, rating: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic(TOPIC)) as reader:
        yield reader


@pytest.fixture(scope="module")
async def producer(ns: Namespace) -> AsyncIterator[Producer]:
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as p:
        yield p


def bearer(role: str, unit: str | None = None, sub: str = "staff.1") -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=sub, role=role, unit=unit)}"}


class Case:
    """One case's upstream events, published the way intake, triage and sla publish them."""

    def __init__(self, ns: Namespace, producer: Producer, tracking_no: str):
        self.ns, self.producer, self.tracking_no = ns, producer, tracking_no
        self.case_id = str(uuid.uuid4())

    async def publish(self, type_: str, data: Any, at: datetime, cause: str | None = None) -> CaseEvent:
        event = CaseEvent.new(cause=cause or str(uuid.uuid4()), type=type_, case_id=self.case_id, occurred_at=at,
                              data=data)
        await self.producer.send(self.ns.topic(TOPIC), event.to_json(), key=self.case_id)
        return event

    async def handled(self, resolved_at: datetime) -> CaseEvent:
        received = resolved_at - timedelta(days=1)
        await self.publish("case.registered", ce.Registered(
            submission_id=f"s-{self.case_id}", channel="qrcode", tracking_no=self.tracking_no, received_at=received,
            enterprise=ce.PublicEnterprise(name="开化县评价测试纸业有限公司", contact_phone="138****1234",
                                           contact_name="张*"), content="申请电力增容"), received)
        await self.publish("case.assigned", ce.Assigned(
            department="gongdian", region="majin", complexity="simple", escalation_level=1,
            due_at=received + timedelta(days=1)), received)
        await self.publish("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), received)
        return await self.resolve(resolved_at)

    async def resolve(self, at: datetime, cause: str | None = None) -> CaseEvent:
        return await self.publish("case.resolved", ce.Resolved(resolution="已完成增容", resolved_at=at, on_time=True,
                                                               by="wang.wu"), at, cause)


async def eventually(check: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def of_case(values: list[dict[str, Any]], case_id: str, type_: str) -> list[dict[str, Any]]:
    return [v for v in values if v["case_id"] == case_id and v["type"] == type_]


async def status(client: httpx.AsyncClient, case: "Case") -> dict[str, Any] | None:
    """The tracking page's view, with the signed link intake gives the enterprise (rating runs alone here)."""
    token = issue_track_token(TEST_SECRET, case_id=case.case_id, tracking_no=case.tracking_no,
                              now=datetime.now(UTC), ttl_seconds=600)
    response = await client.get("/api/v1/rating/status", params={"token": token})
    return response.json() if response.status_code == 200 else None


async def test_dissatisfied_rating_to_supervision_rectification_and_appeal(
        rating: PlatformProcess, events: TopicReader, producer: Producer, ns: Namespace) -> None:
    case = Case(ns, producer, f"QH{uuid.uuid4().hex[:12]}")
    now = datetime.now(UTC)
    await case.handled(now)
    async with httpx.AsyncClient(base_url=rating.base_url) as client:
        current = await eventually(lambda: _round(client, case, 1), "the case to await its rating")
        assert current["awaiting"] is True and current["round"] == 1 and len(current["levels"]) == 5
        # the development notifier logged the invitation, phone masked, link on the public origin
        await eventually(lambda: asyncio.sleep(0, "rating_invitation" in rating.logs()), "the invitation")
        invitation = next(line for line in rating.logs().splitlines() if "rating_invitation" in line)
        assert "138****1234" in invitation and "https://qhwy.example.gov.cn/e/rate/" in invitation

        token, _ = links.issue(TEST_SECRET, case_id=case.case_id, round=1, now=datetime.now(UTC),
                               valid=timedelta(days=1))
        page = await client.get(f"/e/rate/{token}")
        assert page.status_code == 200 and "非常不满意" in page.text and case.tracking_no in page.text
        bad = await client.post("/api/v1/rating/ratings", json={"token": token, "level": "meh"})
        assert bad.status_code == 422 and bad.json()["fields"] == ["level"]
        done = await client.post(f"/e/rate/{token}",
                                 content="level=dissatisfied&comment=%E8%BF%98%E6%98%AF%E5%81%9C%E7%94%B5",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert done.status_code == 200 and "不满意" in done.text

        # the link is spent; forged and expired links are refused too, in Chinese, and logged
        replay = await client.post("/api/v1/rating/ratings", json={"token": token, "level": "very_satisfied"})
        assert replay.status_code == 409 and "已评价" in replay.json()["error"]
        forged, _ = links.issue("not-the-secret-of-this-platform!!!!", case_id=case.case_id, round=1,
                                now=datetime.now(UTC), valid=timedelta(days=1))
        forged_rating = await client.post("/api/v1/rating/ratings", json={"token": forged, "level": "satisfied"})
        assert forged_rating.status_code == 403
        expired, _ = links.issue(TEST_SECRET, case_id=case.case_id, round=1, now=datetime.now(UTC) - timedelta(days=2),
                                 valid=timedelta(days=1))
        gone = await client.post("/api/v1/rating/ratings", json={"token": expired, "level": "satisfied"})
        assert gone.status_code == 410 and "过期" in gone.json()["error"]
        staff_token = issue_token(TEST_SECRET, sub="x", role="admin")
        assert (await client.get(f"/e/rate/{staff_token}")).status_code == 403
        assert {"forged", "expired", "replayed"} <= {r for r in ("forged", "expired", "replayed")
                                                    if f'"reason": "{r}"' in rating.logs()}

        # the unit sees it at once; the oversight unit gets the case file; the case is reopened with a deadline
        values = await events.wait_for(lambda v: of_case(v, case.case_id, "case.reopened"), what="the reopening")
        [rated] = of_case(values, case.case_id, "case.rated")
        assert rated["data"]["level"] == "dissatisfied" and rated["data"]["satisfied"] is False
        assert rated["data"]["comment"] == "还是停电" and rated["data"]["round"] == 1
        [referred] = of_case(values, case.case_id, "case.referred")
        assert referred["data"]["to"] == "jiwei"
        assert referred["data"]["case_file"]["people"] == ["wang.wu"]
        assert referred["data"]["case_file"]["rounds"][0]["rating"]["level"] == "dissatisfied"
        inbox = (await client.get("/api/v1/rating/inbox", headers=bearer("unit_handler", "gongdian"))).json()["items"]
        assert any(i["case_id"] == case.case_id and i["level"] == "dissatisfied" for i in inbox)
        other = await client.get("/api/v1/rating/inbox", headers=bearer("unit_handler", "fagai"))
        assert all(i["case_id"] != case.case_id for i in other.json()["items"])
        assert (await client.get("/api/v1/rating/inbox", params={"department": "gongdian"},
                                 headers=bearer("unit_handler", "fagai"))).status_code == 403

        # supervision: list, open, findings, press, close, each an audited event; only supervisors act
        supervisor = bearer("supervisor", sub="jw.1")

        async def listed() -> Any:
            items = (await client.get("/api/v1/rating/supervisions", headers=supervisor)).json()["items"]
            return [i for i in items if i["case_id"] == case.case_id]
        [listed_one] = await eventually(listed, "the supervision")
        path = f"/api/v1/rating/supervisions/{case.case_id}/1"
        opened = (await client.get(path, headers=supervisor)).json()
        assert opened["state"] == "open" and opened["case_file"]["rounds"][0]["rating"]["level"] == "dissatisfied"
        assert (await client.post(f"{path}/press", json={"note": "督促"},
                                  headers=bearer("unit_handler", "gongdian"))).status_code == 403
        found = await client.post(f"{path}/findings", json={"note": "倒查：承办人推诿", "findings": ["shirking"]},
                                  headers=supervisor)
        assert found.status_code == 200 and found.json()["findings"] == ["shirking"]
        unknown = await client.post(f"{path}/findings", json={"note": "x", "findings": ["nonsense"]},
                                    headers=supervisor)
        assert unknown.status_code == 422
        assert (await client.post(f"{path}/press", json={"note": "限期整改"}, headers=supervisor)).status_code == 200
        closed = await client.post(f"{path}/close", json={"note": "已整改"}, headers=supervisor)
        assert closed.status_code == 200 and closed.json()["state"] == "closed"
        values = await events.wait_for(lambda v: len(of_case(v, case.case_id, "case.supervised")) == 3,
                                       what="three supervision events")
        assert [e["data"]["action"] for e in of_case(values, case.case_id, "case.supervised")] == \
            ["finding", "pressed", "closed"]

        # the onsite revisit of the dissatisfied case
        leader = bearer("leader", sub="revisit.1")
        tasks = (await client.get("/api/v1/rating/revisits", params={"case_id": case.case_id}, headers=leader)).json()
        assert [t["method"] for t in tasks["items"]] == ["onsite"]
        unit_asks = await client.get("/api/v1/rating/revisits", headers=bearer("unit_handler", "gongdian"))
        assert unit_asks.status_code == 403
        recorded = await client.post(f"/api/v1/rating/revisits/{tasks['items'][0]['task_id']}/record",
                                     json={"said": "企业表示仍有停电", "solved": False}, headers=leader)
        assert recorded.status_code == 200 and recorded.json()["state"] == "done"
        again = await client.post(f"/api/v1/rating/revisits/{tasks['items'][0]['task_id']}/record",
                                  json={"said": "x", "solved": True}, headers=leader)
        assert again.status_code == 409

        # rectified and resolved again: the enterprise rates the rectification through the JSON API
        await case.resolve(datetime.now(UTC))
        current = await eventually(lambda: _round(client, case, 2), "the second resolution")
        assert current["rectification"] is True and current["awaiting"] is True
        second, _ = links.issue(TEST_SECRET, case_id=case.case_id, round=2, now=datetime.now(UTC),
                                valid=timedelta(days=1))
        stale = await client.post("/api/v1/rating/ratings", json={"token": token, "level": "satisfied"})
        assert stale.status_code == 410
        ok = await client.post("/api/v1/rating/ratings", json={"token": second, "level": "satisfied"})
        assert ok.status_code == 201 and ok.json()["round"] == 2
        values = await events.wait_for(lambda v: len(of_case(v, case.case_id, "case.rated")) == 2,
                                       what="the second rating")
        assert of_case(values, case.case_id, "case.rated")[1]["data"]["rectification"] is True

        # the unit appeals the first rating; a reviewer excludes it; it stays on record, out of the rate
        appeal = await client.post("/api/v1/rating/appeals", headers=bearer("unit_handler", "gongdian", "wang.wu"),
                                   json={"case_id": case.case_id, "round": 1, "reason": "停电系台风所致",
                                         "evidence": ["气象局台风预警"]})
        assert appeal.status_code == 201, appeal.text
        assert (await client.post("/api/v1/rating/appeals", headers=bearer("unit_handler", "fagai"),
                                  json={"case_id": case.case_id, "round": 2, "reason": "x"})).status_code == 403
        review_path = f"/api/v1/rating/appeals/{case.case_id}/1/review"
        assert (await client.post(review_path, json={"decision": "excluded", "reason": "r"},
                                  headers=bearer("unit_handler", "gongdian"))).status_code == 403
        reviewed = await client.post(review_path, json={"decision": "excluded", "reason": "证据充分"},
                                     headers=bearer("leader", sub="li.si"))
        assert reviewed.status_code == 200 and reviewed.json()["state"] == "excluded"
        await events.wait_for(lambda v: of_case(v, case.case_id, "case.rating_reviewed"), what="the review")

        async def figures_of_gongdian() -> Any:
            body = (await client.get("/api/v1/rating/figures", params={"by": "unit"},
                                     headers=bearer("unit_handler", "gongdian"))).json()
            return body if body["total"]["excluded"] == 1 else None
        body = await eventually(figures_of_gongdian, "the excluded rating in the figures")
        total = body["total"]
        # the excluded rating counts nowhere: one rating left, satisfied
        assert (total["resolved"], total["rated"], total["satisfied"], total["dissatisfied"]) == (2, 1, 1, 0)
        assert total["satisfaction_rate"] == 1.0 and total["rectified_share"] == 1.0 and total["referred"] == 1

        # the excluded rating had started the supervision and the reopening: the supervision says so
        async def exclusion_noted() -> Any:
            supervision = (await client.get(path, headers=supervisor)).json()
            return supervision if supervision.get("rating_excluded") else None
        supervision = await eventually(exclusion_noted, "the exclusion recorded on the supervision")
        assert supervision["rating_excluded"]["case_reopened"] is True
        assert supervision["rating_excluded"]["by"] == "li.si" and supervision["state"] == "closed"
        assert supervision["actions"][-1]["action"] == "rating_excluded"
        file = (await client.get(f"/api/v1/rating/cases/{case.case_id}", headers=leader)).json()
        assert file["rounds"][0]["rating"]["excluded"] is True and file["rounds"][0]["findings"] == ["shirking"]
        assert file["rounds"][0]["revisits"][0]["method"] == "onsite"
        metrics = (await client.get("/metrics")).text
        assert 'qhwy_rating_satisfaction_ratio{code="gongdian",scope="unit"}' in metrics
        assert 'qhwy_rating_links_refused_total{reason="replayed"}' in metrics


async def _round(client: httpx.AsyncClient, case: "Case", number: int) -> dict[str, Any] | None:
    current = await status(client, case)
    return current if current and current["round"] == number else None


async def test_unrated_case_gets_a_phone_revisit_that_reopens_it(
        rating: PlatformProcess, events: TopicReader, producer: Producer, ns: Namespace) -> None:
    case = Case(ns, producer, f"QH{uuid.uuid4().hex[:12]}")
    resolved = await case.handled(datetime.now(UTC) - timedelta(days=10))  # the rating window has long passed
    await producer.send(ns.topic(TOPIC), resolved.to_json(), key=case.case_id)  # a redelivery changes nothing
    leader = bearer("triage_officer", sub="revisit.2")  # 营商办 staff do the revisits (issue 17 item 12)
    async with httpx.AsyncClient(base_url=rating.base_url) as client:
        async def phone_task() -> Any:
            items = (await client.get("/api/v1/rating/revisits", params={"case_id": case.case_id},
                                      headers=leader)).json()["items"]
            return items
        [task] = await eventually(phone_task, "the phone revisit of the unrated case")
        assert task["method"] == "phone" and task["reason"] == "unrated" and task["round"] == 1
        assert (await status(client, case))["round"] == 1
        invitations = rating.logs().count("rating_invitation")
        resend = await client.post("/api/v1/rating/resend", json={"tracking_no": case.tracking_no})
        unknown = await client.post("/api/v1/rating/resend", json={"tracking_no": "QH-none"})
        # the same answer either way (tracking numbers are sequential); the invitation just went out, so none now
        assert resend.status_code == unknown.status_code == 202 and resend.json() == unknown.json()
        await asyncio.sleep(0.5)
        assert rating.logs().count("rating_invitation") == invitations
        recorded = await client.post(f"/api/v1/rating/revisits/{task['task_id']}/record", headers=leader,
                                     json={"said": "企业说问题没有解决，电话13800001234", "solved": False,
                                           "visited_at": datetime.now(UTC).isoformat()})
        assert recorded.status_code == 200, recorded.text
        assert recorded.json()["record"]["said"] == "企业说问题没有解决，电话138****1234"
    values = await events.wait_for(lambda v: of_case(v, case.case_id, "case.reopened"), what="the reopening")
    [revisited] = of_case(values, case.case_id, "case.revisited")
    assert revisited["data"]["solved"] is False and revisited["data"]["method"] == "phone"
    [referred] = of_case(values, case.case_id, "case.referred")
    assert referred["data"]["reason"] == "回访发现问题未解决"
    [reopened] = of_case(values, case.case_id, "case.reopened")
    assert datetime.fromisoformat(reopened["data"]["due_at"]) > datetime.now(UTC) + timedelta(days=4)
