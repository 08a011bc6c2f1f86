"""One platform (intake, rating and insight on one namespace of the real broker and store): the same case events give
the same figures in rating's API and insight's board (issue 17 item 5); a rating excluded on appeal counts nowhere;
营商办's evaluation and a third-party survey (xlsx, a Chinese report per row, nothing imported twice) show per source
and combined in both (item 7); liaison officers are ranked with the names intake keeps (item 6)."""

import asyncio
import io
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from openpyxl import Workbook

from services.rating import links
from shared.auth import issue_token
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration
TOPIC = "qhwy.case-events.v1"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def bearer(role: str, unit: str | None = None, sub: str = "staff.1") -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=sub, role=role, unit=unit)}"}


@pytest.fixture(scope="module")
async def platform(ns: Namespace,
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[dict[str, PlatformProcess]]:
    logs = tmp_path_factory.mktemp("logs")
    intake = PlatformProcess(ns, "services.intake", logs).start()
    rating = PlatformProcess(ns, "services.rating", logs, QHWY_RATING_FIGURES_INTERVAL_SECONDS="0.5",
                             QHWY_RATING_PHONE_REVISIT_PERCENT="0").start()
    insight = PlatformProcess(ns, "services.insight", logs,
                              QHWY_INSIGHT_OFFICERS_URL=f"{intake.base_url}/api/v1/liaison/officers").start()
    procs = {"intake": intake, "rating": rating, "insight": insight}
    try:
        for proc in procs.values():
            await proc.wait_healthy()
        yield procs
    finally:
        for proc in procs.values():
            assert proc.stop() == 0, f"{proc.module} did not stop cleanly; see {proc.log_path}"


async def eventually(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.3)


class Case:
    def __init__(self, ns: Namespace, producer: Producer, **registered: Any):
        self.ns, self.producer, self.registered = ns, producer, registered
        self.case_id, self.tracking_no = str(uuid.uuid4()), f"QH{uuid.uuid4().hex[:12].upper()}"

    async def publish(self, type_: str, data: Any, at: datetime) -> None:
        event = CaseEvent.new(cause=str(uuid.uuid4()), type=type_, case_id=self.case_id, occurred_at=at, data=data)
        await self.producer.send(self.ns.topic(TOPIC), event.to_json(), key=self.case_id)

    async def handled(self, at: datetime) -> None:
        await self.publish("case.registered", ce.Registered(
            submission_id=f"s-{self.case_id}", channel="liaison", tracking_no=self.tracking_no, received_at=at,
            enterprise=ce.PublicEnterprise(name="开化县口径测试纸业有限公司", contact_phone="138****1234"),
            content="申请电力增容", **self.registered), at)
        await self.publish("case.assigned", ce.Assigned(department="gongdian", region="majin", complexity="simple",
                                                        escalation_level=1, due_at=at + timedelta(days=1)), at)
        await self.publish("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), at)
        await self.resolve(at + timedelta(minutes=5))

    async def resolve(self, at: datetime) -> None:
        await self.publish("case.resolved", ce.Resolved(resolution="已完成增容", resolved_at=at, on_time=True,
                                                        by="wang.wu"), at)


async def rate(client: httpx.AsyncClient, case: Case, number: int, level: str) -> None:
    token, _ = links.issue(TEST_SECRET, case_id=case.case_id, round=number, now=datetime.now(UTC),
                           valid=timedelta(days=1))

    async def rated() -> bool:
        answer = await client.post("/api/v1/rating/ratings", json={"token": token, "level": level})
        return answer.status_code == 201
    await eventually(rated, f"round {number} of {case.tracking_no} rated")


def survey(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    book.active.append(["查询编号", "承办单位", "评分", "评价", "意见"])
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def test_rating_and_insight_agree(platform: dict[str, PlatformProcess], ns: Namespace) -> None:
    intake, rating, insight = platform["intake"], platform["rating"], platform["insight"]
    async with (Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer,
                TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic(TOPIC)) as events,
                httpx.AsyncClient(base_url=rating.base_url) as r, httpx.AsyncClient(base_url=insight.base_url) as i,
                httpx.AsyncClient(base_url=intake.base_url) as k):
        officer = await k.put("/api/v1/liaison/officers/lo-7", headers=bearer("triage_officer"),
                              json={"name": "周联络", "phone": "13900001111", "units": ["yingshang"]})
        assert officer.status_code == 200, officer.text
        now = datetime.now(UTC).replace(microsecond=0)
        a = Case(ns, producer, liaison_officer="lo-7", visit_id="visit-1")  # rated 不满意, rectified, 满意
        b = Case(ns, producer, liaison_officer="lo-7", visit_id="visit-1")  # rated 不满意, excluded on appeal
        c = Case(ns, producer)  # never rated
        for case in (a, b, c):
            await case.handled(now)
        await rate(r, a, 1, "dissatisfied")
        await rate(r, b, 1, "very_dissatisfied")
        await events.wait_for(lambda v: sum(1 for e in v if e["type"] == "case.reopened") >= 2, what="reopenings")
        await a.resolve(now + timedelta(minutes=30))
        await rate(r, a, 2, "satisfied")
        appeal = await r.post("/api/v1/rating/appeals", headers=bearer("unit_handler", "gongdian", "wang.wu"),
                              json={"case_id": b.case_id, "round": 1, "reason": "停电系台风所致"})
        assert appeal.status_code == 201, appeal.text
        review = await r.post(f"/api/v1/rating/appeals/{b.case_id}/1/review", headers=bearer("leader", sub="li.si"),
                              json={"decision": "excluded", "reason": "证据充分"})
        assert review.status_code == 200, review.text

        # 营商办's own evaluation: triage officers and admins only, once per round
        body = {"case_id": a.case_id, "level": "satisfied", "comment": "整改到位"}
        assert (await r.post("/api/v1/rating/evaluations", json=body,
                             headers=bearer("unit_handler", "gongdian"))).status_code == 403
        office = await r.post("/api/v1/rating/evaluations", json=body, headers=bearer("triage_officer", sub="yw.1"))
        assert office.status_code == 201 and office.json()["round"] == 2, office.text
        again = await r.post("/api/v1/rating/evaluations", json=body, headers=bearer("triage_officer", sub="yw.1"))
        assert again.status_code == 409 and "已有营商办评价" in again.json()["error"]

        # a third-party survey: a report per row, in Chinese; the same file again imports nothing
        raw = survey([[a.tracking_no, "国网开化县供电公司", 90, None, "满意"],
                      [b.tracking_no, None, None, "不满意", None],
                      ["QHNOSUCH", None, 90, None, None],
                      [c.tracking_no, "县发改局", 90, None, None],
                      [a.tracking_no, None, 40, None, "同一问题第二行"]])
        survey_staff = {**bearer("triage_officer", sub="yw.2"), "content-type": XLSX}
        first = await r.post("/api/v1/rating/surveys", content=raw, headers=survey_staff)
        assert first.status_code == 200, first.text
        report = first.json()
        assert (report["imported"], report["duplicate"], report["error"]) == (2, 1, 2)
        assert [row["status"] for row in report["rows"]] == ["imported", "imported", "error", "error", "duplicate"]
        assert "未找到" in report["rows"][2]["message"] and "不符" in report["rows"][3]["message"]
        second = (await r.post("/api/v1/rating/surveys", content=raw, headers=survey_staff)).json()
        assert (second["imported"], second["duplicate"]) == (0, 3)
        bad = await r.post("/api/v1/rating/surveys", content=b"not xlsx", headers=survey_staff)
        assert bad.status_code == 422 and "Excel" in bad.json()["error"]

        period = now.astimezone(insight_tz()).strftime("%Y-%m")
        leader = bearer("leader", sub="li.si")

        async def both() -> Any:
            rated = (await r.get("/api/v1/rating/figures", params={"by": "unit"}, headers=leader)).json()
            board = (await i.get("/api/v1/insight/figures", params={"period": period, "dimension": "unit"},
                                 headers=leader)).json()
            unit_r = next((g for g in rated["groups"] if g["key"] == "gongdian"), None)
            unit_i = board["groups"].get("gongdian")
            ready = (unit_r and unit_i and unit_i["excluded"]["value"] == 1 and unit_r["excluded"] == 1
                     and unit_i["evaluation"]["third_party"]["n"] == 2 and unit_r["evaluation"]["third_party"]["n"] == 2
                     and unit_i["rated"]["value"] == 2 and unit_i["evaluation"]["business_office"]["n"] == 1)
            return (unit_r, unit_i) if ready else None
        unit_r, unit_i = await eventually(both, "both services to see every event")
        # a's two ratings (不满意, then 满意) count; b's excluded rating counts nowhere: 1 of 2
        assert unit_r["satisfaction_rate"] == unit_i["satisfaction_rate"]["value"] == 0.5
        assert unit_r["dissatisfied"] == unit_i["dissatisfied"]["value"] == 1
        assert unit_r["rated"] == unit_i["rated"]["value"] == 2
        # resolutions: a (2), b, c = 4; unrated: c only, b's excluded round left out: 1 of 3
        assert unit_r["unrated_rate"] == unit_i["unrated_rate"]["value"] == 0.3333
        assert unit_r["on_time_rate"] == unit_i["on_time_rate"]["value"] == 1.0
        assert unit_r["evaluation"] == unit_i["evaluation"]
        evaluation = unit_i["evaluation"]
        assert evaluation["business_office"]["value"] == 1.0 and evaluation["third_party"]["value"] == 0.5
        assert evaluation["weights"] == {"enterprise": 0.6, "business_office": 0.2, "third_party": 0.2}
        # 0.6 * 0.5 + 0.2 * 1.0 + 0.2 * 0.5 = 0.6
        assert evaluation["combined"] == 0.6
        rankings = (await i.get("/api/v1/insight/rankings", params={"period": period}, headers=leader)).json()
        [low] = [board for board in rankings["negative"] if board["rule"] == "low_satisfaction"]
        [entry] = [e for e in low["entries"] if e["key"] == "gongdian"]
        assert entry["value"] == 0.5 and entry["case_ids"] == [a.case_id]  # b's excluded rating is behind nothing

        # 助企联络员晾晒 with the name intake keeps
        ranked = await i.get("/api/v1/insight/liaison", params={"period": period}, headers=leader)
        assert ranked.status_code == 200, ranked.text
        [lo7] = [e for e in ranked.json()["items"] if e["officer_id"] == "lo-7"]
        assert (lo7["name"], lo7["visits"], lo7["found"], lo7["satisfaction"]["value"]) == ("周联络", 1, 2, 0.5)
        assert (await i.get("/api/v1/insight/liaison", params={"period": period},
                            headers=bearer("unit_handler", "gongdian"))).status_code == 403


def insight_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
