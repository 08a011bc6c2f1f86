"""Bad input (issue 10): oversized bodies, wrong encodings, injection strings, wrong types on the topics.

Rejected with a reason (HTTP 413/422 naming the problem) or dead-lettered with a reason; never a 5xx, never a
crashed consumer; text is stored as plain text, never interpreted, and escaped where a page shows it.
(test_submission_flow.py already covers bad JSON, a missing phone, an unknown channel and non-UTF-8 bytes on
the ingress topic; this file adds the rest.)
"""

import asyncio
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.rating import links
from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, Namespace, PlatformProcess, Producer, TopicReader, submission

pytestmark = pytest.mark.integration

SCRIPT = "<script>alert('qhwy')</script>"
SQL = "x'); DROP TABLE cases; -- \" OR 1=1"
OPERATOR = {"$gt": ""}


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=f'{role}.bad', role=role, unit=unit)}"}


def web_body(**overrides: Any) -> dict[str, Any]:
    body = {k: v for k, v in submission(uuid.uuid4().hex[:8]).items() if k != "submission_id"}
    body.update(overrides)
    return body


def readable(reader: TopicReader) -> list[dict[str, Any]]:
    out = []
    for record in list(reader.records):
        try:
            value = json.loads(record.value)
        except ValueError:
            continue
        if isinstance(value, dict) and isinstance(value.get("data"), dict) and "type" in value:
            out.append(value)
    return out


def assert_refusal(answer: httpx.Response, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = status if isinstance(status, tuple) else (status,)
    assert answer.status_code in statuses, (answer.status_code, answer.text[:300])
    body = answer.json()
    if isinstance(body, list):  # Open311's own error form: [{"code", "description"}]
        body = {"error": body[0]["description"]}
    assert any("\u4e00" <= ch <= "\u9fff" for ch in body["error"]), body  # a reason people can read
    return body


async def test_oversized_bodies_are_refused_with_413(platform: PlatformProcess) -> None:
    huge = json.dumps(web_body(content="问" * 700_000), ensure_ascii=False).encode()  # ~2 MB
    assert len(huge) > 1_000_000
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        assert_refusal(await client.post("/api/v1/submissions", content=huge,
                                         headers={"content-type": "application/json"}), 413)
        assert_refusal(await client.post("/api/v1/units/cases/no-case/progress", content=huge,
                                         headers=bearer("unit_handler", "gongdian")), (404, 413))
        assert_refusal(await client.post("/api/v1/rating/tracked-ratings", content=huge), 413)
        assert_refusal(await client.post("/open311/v2/requests.json", content=huge,
                                         headers={"content-type": "application/json"}), (400, 413, 422))
        # within the byte limit but over a field's limit: 422 naming the field
        long = await client.post("/api/v1/submissions", json=web_body(content="长" * 5001))
        assert assert_refusal(long, 422)["fields"] == ["content"]
        # the rating form (urlencoded) is a page: it answers a page, never a 5xx
        form = await client.post("/e/rate/not-a-token", content=b"level=" + b"a" * 2_000_000,
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert form.status_code < 500


async def test_wrong_encodings_are_refused_naming_utf8(platform: PlatformProcess) -> None:
    gbk = json.dumps(web_body(), ensure_ascii=False).encode("gbk")
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        surrogate = "{\"content\": \"\ud800\"}".encode("utf-8", "surrogatepass")  # not UTF-8
        for raw in (gbk, b"\xff\xfe{\x00}\x00", b"\xc3\x28", surrogate):
            body = assert_refusal(await client.post("/api/v1/submissions", content=raw,
                                                    headers={"content-type": "application/json; charset=gbk"}), 422)
            assert "UTF-8" in body["error"] or body["detail"][0]["field"] == "body", body
        # valid UTF-8 and valid JSON, but a lone surrogate escape: not text that can be stored
        lone = json.dumps(web_body(content="停电\ud800问题"), ensure_ascii=True)  # "\\ud800" escape
        assert_refusal(await client.post("/api/v1/submissions", content=lone.encode()), 422)
        for raw in (b"", b"null", b"[]", b"\"text\"", b"42", b"{\"a\":" * 5000):
            answer = await client.post("/api/v1/submissions", content=raw)
            assert_refusal(answer, 422)


async def test_operator_objects_and_wrong_types_where_text_is_expected(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        body = web_body(content=OPERATOR, channel=["qrcode"])
        body["enterprise"] = {**body["enterprise"], "name": OPERATOR, "contact_phone": {"$ne": None}}
        refused = assert_refusal(await client.post("/api/v1/submissions", json=body), 422)
        assert {"content", "channel", "enterprise.name", "enterprise.contact_phone"} <= set(refused["fields"])
        assert all("应为文本" in d["message"] for d in refused["detail"] if d["field"] == "content")
        # a query operator in a query string is a literal string, never a filter that matches everything
        tracked = await client.get("/api/v1/cases", params={"tracking_no": json.dumps(OPERATOR),
                                                           "phone_last4": "1234"})
        assert_refusal(tracked, 404)
        rated = await client.post("/api/v1/rating/tracked-ratings",
                                  json={"tracking_no": {"$ne": None}, "phone_last4": "1234", "level": "satisfied"})
        assert "tracking_no" in assert_refusal(rated, 422)["fields"]
        status = await client.get("/api/v1/rating/status", params={"tracking_no": "[$ne]"})
        assert status.status_code in (404, 422), status.text
        # regular-expression metacharacters in a search are text, not a pattern that breaks the search
        for q in ("((((", ".*", "[", "\\", SQL):
            found = await client.get("/api/v1/insight/library", params={"q": q}, headers=bearer("leader"))
            assert found.status_code == 200, (q, found.text)
        staff = await client.get("/api/v1/staff/cases", params={"department": json.dumps(OPERATOR),
                                                                "status": "[$ne]"}, headers=bearer("leader"))
        assert staff.status_code == 200 and staff.json()["items"] == []


async def test_injection_strings_are_stored_as_text_and_escaped_in_pages(
        platform: PlatformProcess, case_events: TopicReader) -> None:
    """A complaint and a resolution full of markup and SQL come back byte for byte in the events, and the
    enterprise's rating page shows them escaped."""
    content = f"停电影响生产，电力增容 {SCRIPT} {SQL} {'🏭企' * 1000}"
    resolution = f"已增容 {SCRIPT} {SQL}"
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        receipt = await client.post("/api/v1/submissions", json=web_body(content=content, title=SCRIPT))
        assert receipt.status_code == 202, receipt.text
        case_id = receipt.json()["case_id"]
        values = await case_events.wait_for(lambda v: any(e["case_id"] == case_id and e["type"] == "case.assigned"
                                                          for e in v), timeout=90, what="the case assigned")
        registered = next(e for e in values if e["case_id"] == case_id and e["type"] == "case.registered")
        assert registered["data"]["content"] == content and registered["data"]["title"] == SCRIPT
        view = (await client.get(f"/api/v1/cases/{case_id}", headers=bearer("leader"))).json()
        assert view["case_id"] == case_id

        unit = bearer("unit_handler", "gongdian")
        deadline = time.monotonic() + 60
        while (await client.get(f"/api/v1/units/cases/{case_id}", headers=unit)).status_code != 200:
            assert time.monotonic() < deadline, "sla never showed the case to its unit"
            await asyncio.sleep(0.3)
        for action, body in (("accept", {}), ("resolve", {"resolution": resolution})):
            done = await client.post(f"/api/v1/units/cases/{case_id}/{action}", json=body, headers=unit)
            assert done.status_code in (200, 201), done.text
        await case_events.wait_for(lambda v: any(e["case_id"] == case_id and e["type"] == "case.resolved"
                                                 and e["data"]["resolution"] == resolution for e in v), timeout=60)
        token, _ = links.issue(TEST_SECRET, case_id=case_id, round=1, now=datetime.now(UTC),
                               valid=timedelta(days=1))
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            page = await client.get(f"/e/rate/{token}")
            if page.status_code == 200 and "办理结果" in page.text:
                break
            await asyncio.sleep(0.3)
        assert page.status_code == 200, page.text[:500]
        assert SCRIPT not in page.text and "&lt;script&gt;" in page.text
        assert "DROP TABLE cases" in page.text  # shown as the text it is


async def test_garbage_on_the_topics_is_dead_lettered_and_consumers_go_on(
        ns: Namespace, platform: PlatformProcess, case_events: TopicReader) -> None:
    bootstrap = ns.infra["QHWY_KAFKA_BOOTSTRAP"]
    run = uuid.uuid4().hex[:6]
    ingress = {
        f"empty-{run}": b"",
        f"array-{run}": b"[1, 2, 3]",
        f"number-{run}": b"42",
        f"types-{run}": submission(f"types-{run}", content=OPERATOR, submitted_at=12,
                                   enterprise={"name": ["x"], "contact_phone": 13800001234}),
        f"huge-{run}": submission(f"huge-{run}", content="大" * 300_000),
        f"gbk-{run}": json.dumps(submission(f"gbk-{run}"), ensure_ascii=False).encode("gbk"),
        f"deep-{run}": b"[" * 100_000 + b"]" * 100_000,
    }
    envelope = {"event_id": f"bad-{run}", "type": "case.assigned", "version": 1, "case_id": f"c-{run}",
                "occurred_at": "2026-03-02T09:15:02+08:00"}
    events = {
        f"garbage-{run}": b"\x00\x01garbage",
        f"no-envelope-{run}": b"{\"hello\": \"world\"}",
        f"bad-data-{run}": {**envelope, "data": {"department": OPERATOR, "escalation_level": "high"}},
        f"bad-time-{run}": {**envelope, "event_id": f"bad2-{run}", "occurred_at": "yesterday", "data": {}},
        f"wrong-type-{run}": {**envelope, "event_id": 7, "data": []},
    }
    async with TopicReader(bootstrap, ns.topic("qhwy.submissions.dlq.v1")) as ingress_dlq, \
            TopicReader(bootstrap, ns.topic("qhwy.case-events.dlq.v1")) as events_dlq:
        async with Producer(bootstrap) as producer:
            for key, value in ingress.items():
                await producer.send(ns.topic("qhwy.submissions.v1"), value, key=key)
            for key, value in events.items():
                await producer.send(ns.topic("qhwy.case-events.v1"), value, key=key)
            good = submission(f"after-garbage-{run}")
            await producer.send(ns.topic("qhwy.submissions.v1"), good, key=good["submission_id"])

        def keys(values: list[dict[str, Any]]) -> set[str]:
            return {v.get("key") for v in values}

        letters = await ingress_dlq.wait_for(lambda v: set(ingress) <= keys(v), timeout=90, what="ingress letters")
        for letter in (v for v in letters if v.get("key") in ingress):
            assert letter["reason"] and letter["service"] == "intake", letter
        by_key = {v["key"]: v for v in letters}
        assert "content" in by_key[f"types-{run}"]["reason"]
        assert "content" in by_key[f"huge-{run}"]["reason"]
        assert by_key[f"gbk-{run}"]["payload_base64"]  # the original bytes kept for a person to look at

        letters = await events_dlq.wait_for(lambda v: set(events) <= keys(v), timeout=90, what="event letters")
        for letter in (v for v in letters if v.get("key") in events):
            assert letter["reason"] and letter["service"], letter
        assert any("department" in str(v["errors"]) or "department" in v["reason"]
                   for v in letters if v["key"] == f"bad-data-{run}")

    # every service still consumes: the next submission goes all the way through triage to sla's assignment
    def assigned(values: list[dict[str, Any]]) -> bool:
        ids = {e["case_id"] for e in values if e["type"] == "case.registered"
               and e["data"]["submission_id"] == good["submission_id"]}
        return any(e["type"] == "case.assigned" and e["case_id"] in ids for e in values)

    deadline = time.monotonic() + 90  # the garbage is on the public topic too: read only what parses
    while not assigned(readable(case_events)):
        assert time.monotonic() < deadline, "the good submission after the garbage never got assigned"
        await asyncio.sleep(0.3)
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=30) as client:
        assert (await client.get("/healthz")).status_code == 200
