"""Hostile text (tests/hostile.py) through insight end to end: case events on the real broker whose enterprise
names and complaint text are hostile, folded into the store, grouped (group labels are complaint text), and
the monthly report generated and fetched as PDF and HTML. One `<` used to fail every report covering the
case with 500; now each text comes back literally, and a file named in an <img> tag is never embedded."""

import asyncio
import shutil
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.insight import domain
from shared.auth import issue_token
from tests import hostile
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)
PERIOD = domain.period_of("month", NOW, ZoneInfo("Asia/Shanghai"))


def bearer(role: str) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=f'{role}.1', role=role)}"}


def event(case: str, kind: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{case}/{kind}")), "type": kind, "version": 1,
            "case_id": case, "occurred_at": at.isoformat(), "data": data}


def case_events(case: str, at: datetime, enterprise: str, content: str, dissatisfied: bool) -> list[dict[str, Any]]:
    """Overdue and still open, or resolved late and rated 不满意: either way on the report's lists."""
    due = at + timedelta(seconds=10)
    out = [event(case, "case.registered", at, submission_id=case, channel="hotline", tracking_no=f"QH{case[-8:]}",
                 received_at=at.isoformat(), content=content,
                 enterprise={"name": enterprise, "contact_phone": "138****1234"}),
           event(case, "case.triaged", at + timedelta(seconds=1), screening="accepted", department="gongdian",
                 region="majin", complexity="normal", decided_by="auto", needs_review=False),
           event(case, "case.assigned", at + timedelta(seconds=2), department="gongdian", region="majin",
                 complexity="normal", escalation_level=0, due_at=due.isoformat()),
           event(case, "case.accepted", at + timedelta(seconds=3), department="gongdian", by="gongdian.h1")]
    if dissatisfied:
        done = at + timedelta(seconds=40)
        out += [event(case, "case.resolved", done, resolution="已答复", resolved_at=done.isoformat(), on_time=False,
                      by="gongdian.h1"),
                event(case, "case.rated", done + timedelta(seconds=1), level="dissatisfied", satisfied=False)]
    return out


@pytest.fixture(scope="module")
def canary() -> Any:
    from PIL import Image

    folder = tempfile.mkdtemp(prefix="q", dir="/tmp")  # short, so that the whole tag fits in a table cell
    path = Path(folder) / "c.png"
    Image.new("RGB", (8, 8), "red").save(path)
    yield path
    shutil.rmtree(folder)


@pytest.fixture(scope="module")
async def insight(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.insight", tmp_path_factory.mktemp("insight-logs"),
                           QHWY_INSIGHT_GROUP_INTERVAL_SECONDS="3600",
                           QHWY_INSIGHT_REPORT_CHECK_INTERVAL_SECONDS="3600",
                           QHWY_INSIGHT_GROUP_SIMILARITY="0.3").start()
    try:
        await proc.wait_healthy(150)
        yield proc
    finally:
        assert proc.stop() == 0, f"insight did not stop cleanly; see {proc.log_path}"


@pytest.fixture(scope="module")
async def report(ns: Namespace, insight: PlatformProcess, canary: Path) -> dict[str, Any]:
    texts = list(hostile.HOSTILE.values()) + [hostile.image_tag(str(canary))]
    big = hostile.megabyte(size=900_000)  # what a Kafka message can carry (1 MB with its envelope)
    at = NOW - timedelta(minutes=3)
    events = []
    for i, text in enumerate(texts):
        # the complaint: the hostile text, then words shared by all (so that they form a problem group whose
        # label, the central complaint's first 60 characters, is hostile too)
        events += case_events(f"c-hostile-{i:04d}", at + timedelta(seconds=i), enterprise=text,
                              content=text + "电力增容申请三个月没有答复", dissatisfied=i % 2 == 1)
    events += case_events("c-hostile-big1", at, enterprise=big[:200], content=big, dissatisfied=False)
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for value in events:
            await producer.send(ns.topic("qhwy.case-events.v1"), value, key=value["case_id"])
    async with httpx.AsyncClient(base_url=insight.base_url, timeout=300) as client:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            figures = (await client.get("/api/v1/insight/figures", params={"period": PERIOD},
                                        headers=bearer("leader"))).json()
            if figures["overall"]["received"]["value"] >= len(texts) + 1 and \
                    figures["overall"]["dissatisfied"]["value"] >= len(texts) // 2:
                break
            await asyncio.sleep(0.5)
        refreshed = await client.post("/api/v1/insight/groups/refresh", headers=bearer("admin"))
        assert refreshed.status_code == 200, refreshed.text
        made = await client.post("/api/v1/insight/reports", json={"period": PERIOD}, headers=bearer("leader"))
        pdf = await client.get(f"/api/v1/insight/reports/{PERIOD}.pdf", headers=bearer("leader"))
        html = await client.get(f"/api/v1/insight/reports/{PERIOD}.html", headers=bearer("supervisor"))
        groups = (await client.get("/api/v1/insight/groups", headers=bearer("leader"))).json()["items"]
    return {"texts": texts, "big": big, "made": made, "pdf": pdf, "html": html, "groups": groups}


async def test_the_report_is_made_and_the_pdf_shows_each_text_literally(report: dict[str, Any]) -> None:
    assert report["made"].status_code == 200, report["made"].text  # today: 500
    assert report["made"].json()["cases"] == len(report["texts"]) + 1
    pdf = report["pdf"]
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    shown = hostile.squeeze(hostile.pdf_text(pdf.content))
    for text in report["texts"]:  # each one an enterprise's name in the lists of overdue and dissatisfied cases
        assert hostile.squeeze(text) in shown, text
    assert hostile.squeeze(report["big"][:39] + "…") in shown  # the 900 KB complaint, cut to its cell
    assert any(hostile.squeeze(g["label"][:39]) in shown for g in report["groups"] if "<" in g["label"])
    assert b"/URI" not in pdf.content  # <a href> made no link


async def test_no_file_named_in_the_text_is_embedded(report: dict[str, Any], canary: Path) -> None:
    charts = report["html"].text.count('src="data:image/png;base64,')
    assert charts >= 2
    assert hostile.pdf_images(report["pdf"].content) == charts  # the charts only; today the canary too


async def test_the_html_report_shows_each_text_escaped(report: dict[str, Any]) -> None:
    html = report["html"]
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for text in report["texts"]:
        assert hostile.html_escaped(text) in html.text, text
    for raw in ("<script>alert", "<img src=x", "<font", '<a href="http://evil', '<img src="/'):
        assert raw not in html.text
    assert hostile.html_escaped(report["big"][:99] + "…") in html.text  # a name is at most 200: cut at 100
    assert hostile.html_escaped(report["big"][:199]) not in html.text


async def test_the_html_report_may_run_nothing(report: dict[str, Any]) -> None:
    """Defence in depth: even text that escaped its escaping could neither run script nor load anything."""
    policy = report["html"].headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "img-src data:" in policy
    assert report["html"].headers["x-content-type-options"] == "nosniff"
    assert report["pdf"].headers["x-content-type-options"] == "nosniff"
