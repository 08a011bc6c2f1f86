"""insight end to end: realistic case events on a fresh topic -> figures, rankings, problem groups, an early
warning on the insight topic, case library, mechanisms, reports (on demand and on schedule); then a rebuild
from offset 0 into a fresh database gives the same facts and the same figures."""

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from pymongo import MongoClient

from services.insight import domain
from shared.auth import issue_token
from tests.integration.harness import REPO, TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
CONTENT = "我们公司申请电力增容三个月没有答复，工业园区经常停电影响生产"


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=f'{role}.1', role=role, unit=unit)}"}


def event(case: str, kind: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{kind}/{at.isoformat()}")), "type": kind,
            "version": 1, "case_id": case, "occurred_at": at.isoformat(), "data": data}


def case_events(case: str, at: datetime, *, department: str = "gongdian", region: str = "majin",
                content: str = CONTENT, liaison: str | None = None, resolve: bool = True, on_time: bool = True,
                satisfied: bool = True, overdue: bool = False, reopen: bool = False,
                duplicate: bool = False) -> list[dict[str, Any]]:
    due = at + timedelta(days=2)
    out = [event(case, "case.registered", at, submission_id=case, channel="hotline", tracking_no=f"QH{case[-6:]}",
                 received_at=at.isoformat(), content=content, liaison_officer=liaison,
                 enterprise={"name": "开化县测试纸业有限公司", "contact_phone": "138****1234", "industry": "造纸"}),
           event(case, "case.triaged", at + timedelta(seconds=5), screening="duplicate" if duplicate else "accepted",
                 department=department, region=region, complexity="normal", decided_by="auto", needs_review=False)]
    if duplicate:
        return out
    out += [event(case, "case.assigned", at + timedelta(seconds=6), department=department, region=region,
                  complexity="normal", escalation_level=0, due_at=due.isoformat()),
            event(case, "case.accepted", at + timedelta(minutes=30), department=department, by=f"{department}.h1")]
    if overdue:
        out += [event(case, "case.overdue", due, due_at=due.isoformat(), escalation_level=0),
                event(case, "case.escalated", due + timedelta(minutes=1), from_level=0, to_level=1, reason="overdue")]
    if resolve:
        done = at + timedelta(hours=3)
        out += [event(case, "case.resolved", done, resolution="已完成线路改造，增容到位", resolved_at=done.isoformat(),
                      on_time=on_time, by=f"{department}.h1"),
                event(case, "case.rated", done + timedelta(minutes=5),
                      level="satisfied" if satisfied else "dissatisfied", satisfied=satisfied)]
    if reopen:
        again = at + timedelta(hours=4)
        out += [event(case, "case.reopened", again, reason="不满意", due_at=(again + timedelta(days=2)).isoformat()),
                event(case, "case.referred", again, to="jiwei", reason="多次不满意")]
    return out


def scenario() -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """This week's cases (a minute ago, so all in the current period) plus earlier weeks' for the warning."""
    events, recent = [], NOW - timedelta(minutes=1)
    cases = {
        "c-power-1": dict(liaison="lo1"), "c-power-2": dict(liaison="lo1"),
        "c-power-3": dict(on_time=False, overdue=True),
        "c-power-4": dict(satisfied=False, reopen=True),
        "c-power-5": dict(resolve=False),
        "c-labour-1": dict(department="renshe", region="huabu",
                           content="企业招工困难，缺少熟练技术工人，希望组织招聘会"),
        "c-dup-1": dict(duplicate=True),
    }
    for i, (case, options) in enumerate(cases.items()):
        events += case_events(case, recent + timedelta(seconds=i), **options)
    # the normal rate of the power theme in majin: one case each of the four weeks before this one
    for week in range(4):
        events += case_events(f"c-base-{week}", NOW - timedelta(days=9 + 7 * week), content=CONTENT + "（往期）")
    expected = {"received": 7, "accepted": 6, "assigned": 6, "resolved": 4, "rated": 5, "dissatisfied": 1,
                "overdue": 1, "reopened": 1, "escalated": 1, "duplicates": 1, "referred": 1,
                "on_time_rate": (0.8, 5), "resolution_rate": (0.6667, 6), "satisfaction_rate": (0.8, 5)}
    return events, expected


@pytest.fixture(scope="module")
async def insight(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.insight", tmp_path_factory.mktemp("insight-logs"),
                           QHWY_INSIGHT_GROUP_INTERVAL_SECONDS="3600", QHWY_INSIGHT_REPORT_CHECK_INTERVAL_SECONDS="1",
                           QHWY_INSIGHT_GROUP_SIMILARITY="0.3").start()
    try:
        await proc.wait_healthy()
        yield proc
    finally:
        assert proc.stop() == 0, f"insight did not stop cleanly; see {proc.log_path}"


@pytest.fixture(scope="module")
async def published(ns: Namespace, insight: PlatformProcess) -> dict[str, Any]:
    events, expected = scenario()
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for value in events + events[:3]:  # the first three delivered twice: nothing counts twice
            await producer.send(ns.topic("qhwy.case-events.v1"), value, key=value["case_id"])
        await producer.send(ns.topic("qhwy.case-events.v1"), b"{not json", key="c-bad")
    period = domain.period_of("week", NOW, ZoneInfo("Asia/Shanghai"))
    async with httpx.AsyncClient(base_url=insight.base_url) as client:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            body = (await client.get("/api/v1/insight/figures", params={"period": period},
                                     headers=bearer("leader"))).json()
            trend = (await client.get("/api/v1/insight/trend", params={"period": period, "periods": 7},
                                      headers=bearer("leader"))).json()
            # every case is on its own partition's timeline: wait until all of them are folded in
            if all(_matches(body["overall"].get(name), want) for name, want in expected.items()) and \
                    sum(i["figures"]["received"]["value"] for i in trend["items"]) >= 11:
                break
            await asyncio.sleep(0.3)
    return {"events": events, "expected": expected, "period": period, "figures": body}


def _matches(figure: dict[str, Any] | None, want: Any) -> bool:
    if figure is None:
        return False
    if isinstance(want, tuple):
        return (figure["value"], figure["n"]) == want
    return figure["value"] == want


async def test_figures_per_unit_and_period(insight: PlatformProcess, published: dict[str, Any]) -> None:
    overall, expected = published["figures"]["overall"], published["expected"]
    for name, want in expected.items():
        if isinstance(want, tuple):
            assert (overall[name]["value"], overall[name]["n"]) == want, name
        else:
            assert overall[name]["value"] == want, name
            assert overall[name]["n"] == 7, name
    assert overall["response_hours"]["value"] == 0.5 and overall["response_hours"]["n"] == 6
    groups = published["figures"]["groups"]
    assert groups["gongdian"]["received"]["value"] == 6 and groups["renshe"]["received"]["value"] == 1
    async with httpx.AsyncClient(base_url=insight.base_url) as client:
        by_liaison = (await client.get("/api/v1/insight/figures", headers=bearer("leader"),
                                       params={"period": published["period"], "dimension": "liaison"})).json()
        assert by_liaison["groups"]["lo1"]["resolved"]["value"] == 2
        trend = (await client.get("/api/v1/insight/trend", headers=bearer("supervisor"),
                                  params={"period": published["period"], "periods": 3})).json()
        assert [i["period"] for i in trend["items"]][-1] == published["period"]
        assert trend["items"][-1]["figures"]["received"]["value"] == 7


async def test_staff_tokens_limit_what_is_seen(insight: PlatformProcess, published: dict[str, Any]) -> None:
    period = {"period": published["period"]}
    async with httpx.AsyncClient(base_url=insight.base_url) as client:
        assert (await client.get("/api/v1/insight/figures", params=period)).status_code == 401
        own = await client.get("/api/v1/insight/figures", params=period, headers=bearer("unit_handler", "renshe"))
        assert own.status_code == 200 and own.json()["overall"]["received"]["value"] == 1
        assert set(own.json()["groups"]) == {"renshe"}
        other = await client.get("/api/v1/insight/figures", params={**period, "unit": "gongdian"},
                                 headers=bearer("unit_handler", "renshe"))
        assert other.status_code == 403
        assert (await client.get("/api/v1/insight/rankings", params=period,
                                 headers=bearer("unit_handler", "renshe"))).status_code == 403
        assert (await client.get("/api/v1/insight/reports", headers=bearer("triage_officer"))).status_code == 403
        bad = await client.get("/api/v1/insight/figures", params={"period": "2026-13"}, headers=bearer("leader"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "period"


async def test_rankings_name_units_and_cases(insight: PlatformProcess, published: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=insight.base_url) as client:
        body = (await client.get("/api/v1/insight/rankings", params={"period": published["period"]},
                                 headers=bearer("leader"))).json()
    negative = {b["rule"]: b for b in body["negative"]}
    low = negative["low_satisfaction"]["entries"]
    assert [e["key"] for e in low] == ["gongdian"] and low[0]["case_ids"] == ["c-power-4"]
    assert negative["low_on_time"]["entries"][0]["case_ids"] == ["c-power-3"]
    most = {b["rule"]: b for b in body["positive"]}["most_solved"]["entries"]
    assert most[0]["key"] == "gongdian.h1" and most[0]["value"] == 3


async def test_problem_groups_warning_library_and_mechanisms(ns: Namespace, insight: PlatformProcess,
                                                             published: dict[str, Any]) -> None:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.insight-events.v1")) as reader, \
            httpx.AsyncClient(base_url=insight.base_url, timeout=60) as client:
        refreshed = (await client.post("/api/v1/insight/groups/refresh", headers=bearer("admin"))).json()
        assert refreshed["groups"] >= 1
        groups = (await client.get("/api/v1/insight/groups", headers=bearer("triage_officer"))).json()["items"]
        power = groups[0]
        # five this week, the duplicate report of the same problem, four in the weeks before
        assert power["size"] == 10 and power["units"] == {"gongdian": 10}
        detail = (await client.get(f"/api/v1/insight/groups/{power['_id']}", headers=bearer("leader"))).json()
        assert "c-power-1" in detail["case_ids"] and detail["cases"]
        values = await reader.wait_for(lambda v: any(e["type"] == "insight.warning" for e in v), what="a warning")
        warning = next(e for e in values if e["type"] == "insight.warning")
        assert warning["data"]["scope"] in ("region", "industry") and warning["data"]["theme"] == power["_id"]
        assert warning["data"]["count"] == 6 and "c-power-5" in warning["data"]["case_ids"]
        listed = (await client.get("/api/v1/insight/warnings", params={"period": published["period"]},
                                   headers=bearer("leader"))).json()["items"]
        assert {w["_id"] for w in listed} >= {warning["event_id"]}

        entry = {"case_id": "c-power-1", "title": "电力增容快速办结",
                 "summary": "供电公司上门勘察，三小时内完成线路改造与增容。"}
        assert (await client.post("/api/v1/insight/library", json=entry,
                                  headers=bearer("unit_handler", "renshe"))).status_code == 403
        marked = await client.post("/api/v1/insight/library", json=entry, headers=bearer("unit_handler", "gongdian"))
        assert marked.status_code == 200, marked.text
        open_case = await client.post("/api/v1/insight/library", json={**entry, "case_id": "c-power-5"},
                                      headers=bearer("leader"))
        assert open_case.status_code == 409
        invalid = await client.post("/api/v1/insight/library", json={"case_id": "c-power-1"}, headers=bearer("leader"))
        assert invalid.status_code == 422 and set(invalid.json()["fields"]) == {"title", "summary"}
        found = (await client.get("/api/v1/insight/library", params={"q": "厂里电力增容申请没人答复"},
                                  headers=bearer("triage_officer"))).json()["items"]
        assert found and found[0]["_id"] == "c-power-1" and found[0]["score"] > 0

        mechanism = {"title": "电力增容限时办结制度", "description": "供电公司对增容申请实行五个工作日限时答复。",
                     "unit": "gongdian", "group_ids": [power["_id"]], "status": "adopted"}
        assert (await client.post("/api/v1/insight/mechanisms", json=mechanism,
                                  headers=bearer("unit_handler", "gongdian"))).status_code == 403
        unknown = await client.post("/api/v1/insight/mechanisms", json={**mechanism, "group_ids": ["g-nope"]},
                                    headers=bearer("leader"))
        assert unknown.status_code == 422
        created = (await client.post("/api/v1/insight/mechanisms", json=mechanism, headers=bearer("leader"))).json()
        updated = await client.put(f"/api/v1/insight/mechanisms/{created['_id']}", headers=bearer("admin"),
                                   json={**mechanism, "status": "retired"})
        assert updated.status_code == 200 and updated.json()["created_at"] == created["created_at"]
        linked = (await client.get("/api/v1/insight/mechanisms", params={"group": power["_id"]},
                                   headers=bearer("unit_handler", "renshe"))).json()["items"]
        assert [m["status"] for m in linked] == ["retired"]


async def test_reports_on_demand_and_on_schedule(insight: PlatformProcess, published: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=insight.base_url, timeout=120) as client:
        made = await client.post("/api/v1/insight/reports", json={"period": published["period"]},
                                 headers=bearer("leader"))
        assert made.status_code == 200, made.text
        assert made.json()["cases"] == 7
        pdf = await client.get(f"/api/v1/insight/reports/{published['period']}.pdf", headers=bearer("leader"))
        assert pdf.headers["content-type"] == "application/pdf" and pdf.content.startswith(b"%PDF")
        html = await client.get(f"/api/v1/insight/reports/{published['period']}.html", headers=bearer("supervisor"))
        assert "服务企业报告" in html.text and "按期办结率" in html.text
        assert (await client.get("/api/v1/insight/reports/2020-01.pdf", headers=bearer("leader"))).status_code == 404
        assert (await client.post("/api/v1/insight/reports", json={"period": "x"},
                                  headers=bearer("leader"))).status_code == 422
        tz = ZoneInfo("Asia/Shanghai")
        scheduled = {domain.last_complete_period("week", datetime.now(UTC), tz),
                     domain.last_complete_period("month", datetime.now(UTC), tz)}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            listed = (await client.get("/api/v1/insight/reports", headers=bearer("admin"))).json()["items"]
            if scheduled <= {r["_id"] for r in listed}:
                break
            await asyncio.sleep(0.5)
        assert scheduled <= {r["_id"] for r in listed}


async def test_rebuild_from_offset_zero_gives_the_same_numbers(ns: Namespace, insight: PlatformProcess,
                                                                published: dict[str, Any]) -> None:
    fresh = f"{ns.name}rebuilt"
    env = ns.env(QHWY_DB_PREFIX=fresh)
    done = subprocess.run([sys.executable, "-m", "services.insight", "rebuild"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    mongo = MongoClient(ns.infra["QHWY_MONGO_URL"], tz_aware=True, directConnection=True)
    try:
        live = {d["_id"]: d for d in mongo[f"{ns.name}_insight"]["facts"].find({})}
        rebuilt = {d["_id"]: d for d in mongo[f"{fresh}_insight"]["facts"].find({})}
    finally:
        mongo.close()
    assert set(live) == set(rebuilt) and len(live) == 11  # the undecodable message made no case
    for case_id, doc in live.items():
        again = rebuilt[case_id]
        assert {k: doc.get(k) for k in domain.FACT_FIELDS} == {k: again.get(k) for k in domain.FACT_FIELDS}, case_id
        assert sorted(doc["processed"]) == sorted(again["processed"])
    for dimension in ("unit", "region", "liaison", "handler"):
        assert domain.figures_by(live.values(), dimension) == domain.figures_by(rebuilt.values(), dimension)
    assert domain.figures(live.values()) == domain.figures(rebuilt.values())
    MongoClient(ns.infra["QHWY_MONGO_URL"], directConnection=True).drop_database(f"{fresh}_insight")
