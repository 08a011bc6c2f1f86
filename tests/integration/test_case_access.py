"""The public surface facing the internet (issue 14, CONTRACT.md sections 1, 3 and 4), through the real broker
and store: who reads a case, the guessing budget and the stronger proofs, submission ids, production mode."""

import asyncio
import io
import json
import os
import subprocess
import sys
import time
import uuid
import zipfile
from typing import Any

import httpx
import pytest

from tests.integration.harness import (CHANNEL, REPO, TEST_SECRET, Namespace, PlatformProcess, Producer,
                                       TopicReader, staff_headers, submission, types_of)

pytestmark = pytest.mark.integration

PHONE = "13957001234"
INTERNAL_NOTE = "内部备注：领导批示暂缓，先不答复企业"
PER_NUMBER, PER_ADDRESS = 5, 8  # the platform below: wrong proofs per tracking number / per address and window


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    return {"QHWY_INTAKE_PROOF_LIMIT_PER_TRACKING_NO": str(PER_NUMBER),
            "QHWY_INTAKE_PROOF_LIMIT_PER_ADDRESS": str(PER_ADDRESS),
            "QHWY_INTAKE_PROOF_WINDOW_SECONDS": "3600"}


def web_body(content: str = "我们公司申请电力增容三个月没有答复，马金镇工业园区经常停电") -> dict[str, Any]:
    return {"channel": "qrcode", "submitted_at": "2026-03-02T09:15:00+08:00",
            "enterprise": {"name": f"开化县访问测试{uuid.uuid4().hex[:6]}有限公司", "contact_name": "欧阳娜娜",
                           "contact_phone": PHONE},
            "content": content}


def address(name: str) -> dict[str, str]:
    """A caller at another address: the test talks to the platform over loopback, which is a trusted front."""
    return {"x-real-ip": name}


async def until(check: Any, what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := await check():
            return result
        await asyncio.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
async def assigned(platform: PlatformProcess, case_events: TopicReader) -> dict[str, Any]:
    """An anonymous web submission, assigned to the power supply unit, which then notes something internal."""
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        receipt = await client.post("/api/v1/submissions", json=web_body(),
                                    headers={"idempotency-key": uuid.uuid4().hex})
        assert receipt.status_code == 202, receipt.text
        answer = receipt.json()
        case_id = answer["case_id"]
        await case_events.wait_for(lambda v: "case.assigned" in types_of(v, case_id), timeout=90, what="assigned")
        unit = staff_headers("unit_handler", "wang.wu", "gongdian")

        async def noted() -> bool:
            accepted = await client.post(f"/api/v1/units/cases/{case_id}/accept", headers=unit,
                                         json={"request_id": f"acc-{case_id}"})
            return accepted.status_code in (200, 201, 202, 409)

        await until(noted, "the unit to accept")
        note = await client.post(f"/api/v1/units/cases/{case_id}/progress", headers=unit,
                                 json={"note": INTERNAL_NOTE, "request_id": f"note-{case_id}"})
        assert note.status_code in (200, 201, 202), note.text
        await case_events.wait_for(lambda v: "case.progressed" in types_of(v, case_id), what="the note")
    return answer


async def test_a_case_is_404_to_anyone_but_staff_within_scope(platform: PlatformProcess,
                                                              assigned: dict[str, Any]) -> None:
    case_id = assigned["case_id"]
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        anonymous = await client.get(f"/api/v1/cases/{case_id}")
        unknown = await client.get(f"/api/v1/cases/{uuid.uuid4()}")
        assert anonymous.status_code == unknown.status_code == 404
        assert anonymous.json() == unknown.json() == {"error": "未找到该问题件"}  # nothing tells them apart
        other_unit = await client.get(f"/api/v1/cases/{case_id}", headers=staff_headers("unit_handler", "c", "fagai"))
        assert other_unit.status_code == 404
        # a hotline case id is computable from the ticket number: computing it opens nothing
        from shared.contracts.envelope import derived_id
        computed = await client.get(f"/api/v1/cases/{derived_id('submission', 'hotline-12345-0001')}")
        assert computed.status_code == 404

        async def noted_view() -> Any:
            view = await client.get(f"/api/v1/cases/{case_id}", headers=staff_headers())
            return view.json() if INTERNAL_NOTE in view.text else None

        leader_view = await until(noted_view, "the note in the staff view")
        assert leader_view["status"] == "in_progress" and leader_view["department"] == "gongdian"
        own_unit = await client.get(f"/api/v1/cases/{case_id}", headers=staff_headers("unit_handler", "w", "gongdian"))
        assert own_unit.status_code == 200 and INTERNAL_NOTE in own_unit.text

        enterprise = await client.get("/api/v1/cases", params={"tracking_no": assigned["tracking_no"],
                                                               "phone_last4": PHONE[-4:]})
        assert enterprise.status_code == 200, enterprise.text
        view = enterprise.json()
        assert view["unit_name"] == "国网开化县供电公司" and view["status_name"] == "办理中"
        assert [s["step"] for s in view["timeline"] if s["done"]] == ["received", "screened", "assigned", "accepted"]
        for private in ("内部备注", "领导批示", "wang.wu", case_id, PHONE, "欧阳"):
            assert private not in enterprise.text, private
        assert "history" not in view and "triage" not in view


async def test_wrong_proofs_are_limited_per_number_and_address_and_codes_still_open_the_case(
        platform: PlatformProcess, assigned: dict[str, Any]) -> None:
    tracking = assigned["tracking_no"]
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        # a signed receipt link opens the case without other proof
        by_link = await client.get("/api/v1/cases", params={"token": assigned["track_token"]})
        assert by_link.status_code == 200 and by_link.json()["tracking_no"] == tracking
        forged = await client.get("/api/v1/cases", params={"token": assigned["track_token"][:-3] + "abc"})
        assert forged.status_code == 404

        answers = [await client.get("/api/v1/cases", params={"tracking_no": tracking, "phone_last4": f"{n:04d}"},
                                    headers=address(f"198.51.100.{n}")) for n in range(PER_NUMBER + 1)]
        assert [a.status_code for a in answers] == [404] * PER_NUMBER + [429]
        limited = answers[-1]
        assert 0 < int(limited.headers["retry-after"]) <= 3600
        assert "验证失败次数过多" in limited.json()["error"]
        # across all callers, and the right digits too, until the window has passed
        right = await client.get("/api/v1/cases", params={"tracking_no": tracking, "phone_last4": PHONE[-4:]},
                                 headers=address("203.0.113.77"))
        assert right.status_code == 429
        # rating's routes share the budget
        rated = await client.post("/api/v1/rating/tracked-ratings", headers=address("203.0.113.78"),
                                  json={"tracking_no": tracking, "phone_last4": PHONE[-4:], "level": "dissatisfied"})
        assert rated.status_code == 429 and rated.headers.get("retry-after")

        # the real enterprise asks for a one-time code: it reaches the contact phone (the local SMS simulator)
        sent = await client.post("/api/v1/cases/codes", json={"tracking_no": tracking})
        nowhere = await client.post("/api/v1/cases/codes", json={"tracking_no": "QH2099010100001"})
        assert sent.status_code == nowhere.status_code == 200 and sent.json() == nowhere.json()
        again = await client.post("/api/v1/cases/codes", json={"tracking_no": tracking})
        assert again.status_code == 429  # one code a minute per number
        inbox = (await client.get("/dev/sms")).json()["messages"]
        [message] = [m for m in inbox if m["tracking_no"] == tracking]
        assert message["to"] == "139****1234" and "验证码" in message["text"]
        code = next(word for word in message["text"].replace("，", " ").replace("为", " ").split() if word.isdigit())
        wrong_code = "000000" if code != "000000" else "111111"
        wrong = await client.get("/api/v1/cases", params={"tracking_no": tracking, "code": wrong_code})
        assert wrong.status_code == 404
        opened = await client.get("/api/v1/cases", params={"tracking_no": tracking, "code": code})
        assert opened.status_code == 200, opened.text
        assert opened.json()["proof_token"]
        reused = await client.get("/api/v1/cases", params={"tracking_no": tracking, "code": code})
        assert reused.status_code == 404  # one time

        # per address: many numbers from one address
        for n in range(PER_ADDRESS):
            answer = await client.get("/api/v1/cases", params={"tracking_no": f"QH20990101{n:05d}",
                                                               "phone_last4": "1234"}, headers=address("192.0.2.9"))
            assert answer.status_code == 404
        blocked = await client.get("/api/v1/cases", params={"tracking_no": "QH2099010199999", "phone_last4": "1234"},
                                   headers=address("192.0.2.9"))
        assert blocked.status_code == 429


async def test_rating_status_and_open311_reveal_nothing_without_proof(platform: PlatformProcess,
                                                                     assigned: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        status = await client.get("/api/v1/rating/status", params={"tracking_no": assigned["tracking_no"]})
        assert status.status_code == 404 and assigned["case_id"] not in status.text
        listed = await client.get("/open311/v2/requests.json", params={"page_size": 200})
        assert listed.status_code == 200
        ours = [r for r in listed.json() if r["service_request_id"] == assigned["tracking_no"]]
        assert ours and ours[0]["description"] is None
        assert "电力增容" not in listed.text and PHONE not in listed.text and assigned["case_id"] not in listed.text


async def test_staff_reads_of_contact_data_are_audited(platform: PlatformProcess, assigned: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        contact = await client.get(f"/api/v1/staff/cases/{assigned['case_id']}/contact",
                                   headers=staff_headers("triage_officer", "zhou.yanpan"))
        assert contact.status_code == 200 and contact.json()["contact_phone"] == PHONE
        trail = await client.get("/api/v1/staff/audit/personal-data", params={"case_id": assigned["case_id"]},
                                 headers=staff_headers("supervisor", "qian.jiwei"))
        assert trail.status_code == 200
        [read] = [r for r in trail.json()["items"] if r["by"] == "zhou.yanpan"]
        assert read["what"] == "case_contact" and read["role"] == "triage_officer" and read["at"]
        refused = await client.get("/api/v1/staff/audit/personal-data", headers=staff_headers("leader"))
        assert refused.status_code == 403


async def test_submission_ids_belong_to_channels_and_keys_make_retries_safe(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        squat = await client.post("/api/v1/submissions", json={**web_body(), "submission_id": "hotline-20260302-0009"})
        assert squat.status_code == 422 and squat.json()["fields"] == ["submission_id"]
        wrong_prefix = await client.post("/api/v1/submissions", headers=CHANNEL,
                                         json={**web_body(), "submission_id": "hotline-20260302-0009"})
        assert wrong_prefix.status_code == 422 and "test-" in wrong_prefix.json()["error"]
        bad_key = await client.post("/api/v1/submissions", headers={"x-channel-key": "guess"}, json=web_body())
        assert bad_key.status_code == 401

        body, key = web_body(), {"idempotency-key": f"page-{uuid.uuid4()}"}
        first = await client.post("/api/v1/submissions", json=body, headers=key)
        retry = await client.post("/api/v1/submissions", json=body, headers=key)
        assert first.status_code == retry.status_code == 202
        assert first.json()["case_id"] == retry.json()["case_id"] and retry.json()["duplicate"] is True
        other = await client.post("/api/v1/submissions", json=web_body("另一件事：道路塌陷"), headers=key)
        assert other.status_code == 422 and other.json()["fields"] == ["Idempotency-Key"]
        no_key = [await client.post("/api/v1/submissions", json=body) for _ in range(2)]
        assert no_key[0].json()["case_id"] != no_key[1].json()["case_id"]
        too_long = await client.post("/api/v1/submissions", json=body, headers={"idempotency-key": "k" * 129})
        assert too_long.status_code == 422


async def test_a_reused_id_with_other_content_is_dead_lettered_and_the_first_case_stands(
        ns: Namespace, platform: PlatformProcess, case_events: TopicReader) -> None:
    first = submission(f"reuse-{uuid.uuid4().hex[:6]}")
    squatter = {**first, "content": "我是另一个人，冒用这个编号反映别的事情"}
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.submissions.dlq.v1")) as dlq:
        async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
            await producer.send(ns.topic("qhwy.submissions.v1"), first, key=first["submission_id"])
            await producer.send(ns.topic("qhwy.submissions.v1"), squatter, key=first["submission_id"])
        [letter] = (await dlq.wait_for(lambda v: any(d.get("key") == first["submission_id"] for d in v),
                                       timeout=60, what="the dead letter"))[-1:]
        assert "reused with different content" in letter["reason"]
        assert "13800001234" not in json.dumps(letter, ensure_ascii=False)  # dead letters are masked too
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        http = await client.post("/api/v1/submissions", headers=CHANNEL, json=squatter)
        assert http.status_code == 409 and "另一份内容" in http.json()["error"]
    values = case_events.values()
    registered = [e for e in values if e["type"] == "case.registered"
                  and e["data"]["submission_id"] == first["submission_id"]]
    assert len(registered) == 1 and registered[0]["data"]["content"] == first["content"]


async def test_bad_files_and_oversized_bodies_are_refused_without_reading_them(platform: PlatformProcess) -> None:
    officer = staff_headers("triage_officer", "zhou.yanpan")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as broken:  # a zip that claims to be a workbook
        broken.writestr("[Content_Types].xml", "<Types><Override PartName='/xl/workbook.xml'/>")
        broken.writestr("xl/workbook.xml", "<workbook><sheets><sheet r:id='x'")
    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        answer = await client.post("/api/v1/channels/chamber/batches?format=xlsx", content=buffer.getvalue(),
                                   headers={**officer, "content-type": "application/vnd.openxmlformats-officedocument"
                                                                       ".spreadsheetml.sheet"})
        assert answer.status_code == 422 and "Excel" in answer.json()["error"]
    # a body declared at 50 MB: the answer comes before a byte of it is sent
    host, port = platform.base_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(b"POST /api/v1/submissions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                 b"content-length: 50000000\r\n\r\n")
    await writer.drain()
    head = b""
    while "上限".encode() not in head:  # the status line and the body may come in separate reads
        more = await asyncio.wait_for(reader.read(4096), timeout=10)
        if not more:
            break
        head += more
    writer.close()
    assert head.startswith(b"HTTP/1.1 413"), head[:200]
    assert "上限" in head.decode("utf-8", "replace")


def start_refused(module: str, ns: Namespace, **env: str) -> tuple[int, str]:
    environment = {**ns.env(QHWY_ENV="production", QHWY_LOG_FORMAT="json", **env)}
    for name in ("QHWY_STAFF_FILE", "QHWY_INTAKE_HOTLINE_TOKEN"):
        if env.get(name) is None:
            environment.pop(name, None)
    done = subprocess.run([sys.executable, "-m", module], env=environment, cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def test_production_mode_refuses_every_development_default(ns: Namespace, tmp_path: Any) -> None:
    code, out = start_refused("services.intake", ns, QHWY_JWT_SECRET="qhwy-development-secret-change-me")
    assert code == 78
    [line] = [json.loads(line) for line in out.splitlines() if "refusing_to_start_in_production" in line]
    problems = " | ".join(line["problems"])
    assert "QHWY_JWT_SECRET" in problems and "QHWY_STAFF_FILE" in problems
    assert "QHWY_INTAKE_HOTLINE_TOKEN" in problems
    assert "QHWY_STAFF_TOKENS_FROM_DIRECTORY=false" in problems  # the test harness's own development shortcut
    # the packaged demo directory copied to another path is still the demo
    demo = tmp_path / "staff.yaml"
    demo.write_text((REPO / "shared/data/staff.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    code, out = start_refused("services.rating", ns, QHWY_STAFF_FILE=str(demo))
    assert code == 78 and "demo users" in out and "HOTLINE" not in out  # rating has no webhook
    assert TEST_SECRET not in out


def test_production_mode_starts_without_development_defaults(ns: Namespace, tmp_path: Any) -> None:
    from shared.staff import hash_password

    staff = tmp_path / "staff.yaml"
    staff.write_text("users:\n"
                     f"  - {{id: a.admin, name: 管理员, role: admin, password: '{hash_password('s3cret-x')}'}}\n",
                     encoding="utf-8")
    env = ns.env(QHWY_ENV="production", QHWY_STAFF_FILE=str(staff), QHWY_INTAKE_HOTLINE_TOKEN="hotline-token-x",
                 QHWY_HTTP_PORT=str(_free_port()), QHWY_STAFF_TOKENS_FROM_DIRECTORY="true")
    proc = subprocess.Popen([sys.executable, "-m", "services.intake"], env=env, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(6)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
    finally:
        proc.terminate()
        proc.wait(30)


def _free_port() -> int:
    from tests.integration.harness import free_port

    return free_port()


assert os  # used by helpers above through ns.env


async def test_the_enterprise_supplements_an_unclear_case(ns: Namespace, platform: PlatformProcess,
                                                          case_events: TopicReader) -> None:
    """补充说明 (issue 17, item 2): a case screened unclear takes the enterprise's detail -> case.supplemented."""
    from shared.contracts.envelope import CaseEvent

    async with httpx.AsyncClient(base_url=platform.base_url, timeout=60) as client:
        receipt = (await client.post("/api/v1/submissions", json=web_body("你好，有个事情想反映一下，请尽快联系我们"),
                                     headers={"idempotency-key": uuid.uuid4().hex})).json()
        case_id, token = receipt["case_id"], receipt["track_token"]
        await case_events.wait_for(lambda v: "case.triaged" in types_of(v, case_id), what="the first decision")
        early = await client.post("/api/v1/cases/supplements", json={"token": token, "content": "地点在马金镇"})
        if early.status_code == 202:  # triage itself found it unclear
            pass
        else:  # an officer finds it unclear (the event triage publishes for an officer's decision)
            assert early.status_code == 409, early.text
            unclear = CaseEvent.model_validate({
                "event_id": str(uuid.uuid4()), "type": "case.triaged", "version": 1, "case_id": case_id,
                "occurred_at": "2026-12-07T09:00:00+08:00",
                "data": {"screening": "unclear", "duplicate_of": None, "department": None, "co_departments": [],
                         "region": None, "complexity": None, "decided_by": "officer", "needs_review": False}})
            async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
                await producer.send(ns.topic("qhwy.case-events.v1"), unclear.to_json(), key=case_id)

            async def waits_for_detail() -> bool:
                view = await client.get("/api/v1/cases", params={"token": token})
                return view.json().get("awaiting_detail") is True

            await until(waits_for_detail, "the case to wait for detail")
            added = await client.post("/api/v1/cases/supplements",
                                      json={"token": token, "content": "停电在马金镇工业园区二期，电话13957001234"})
            assert added.status_code == 202, added.text
        values = await case_events.wait_for(lambda v: "case.supplemented" in types_of(v, case_id), what="supplement")
        [event] = [e for e in values if e["case_id"] == case_id and e["type"] == "case.supplemented"]
        assert event["data"]["round"] == 1 and event["data"]["by"] == "enterprise"
        assert PHONE not in json.dumps(event, ensure_ascii=False)
        wrong = await client.post("/api/v1/cases/supplements", json={"tracking_no": receipt["tracking_no"],
                                                                     "phone_last4": "0000", "content": "x"})
        assert wrong.status_code == 404
        nothing = await client.post("/api/v1/cases/supplements", json={"token": token, "content": " "})
        assert nothing.status_code == 422 and nothing.json()["fields"] == ["content"]
