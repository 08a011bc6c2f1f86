"""Every channel into one stream, through the real broker and store: the hotline's webhook, liaison visits,
named reporters' batches, Open311 (driven by a GeoReport client someone else wrote), one enterprise record
across channels, and the tracking lookup."""

import asyncio
import csv
import io

import httpx
import pytest
from georeport import GeoReport

from shared.auth import issue_token
from tests.integration.harness import CHANNEL, TEST_SECRET, PlatformProcess, TopicReader, valid_uscc

pytestmark = pytest.mark.integration

PHONE = "13800001234"


def token(role: str, unit: str | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(TEST_SECRET, sub=f'test.{role}', role=role, unit=unit)}"}


def registered(values: list[dict], case_id: str) -> dict:
    return next(v["data"] for v in values if v["type"] == "case.registered" and v["case_id"] == case_id)


async def wait_registered(reader: TopicReader, case_ids: list[str]) -> list[dict]:
    return await reader.wait_for(lambda v: all(any(e["type"] == "case.registered" and e["case_id"] == c for e in v)
                                               for c in case_ids), what=f"{len(case_ids)} registrations")


async def test_hotline_ticket_keeps_its_number_and_joins_the_enterprise(platform: PlatformProcess,
                                                                        case_events: TopicReader) -> None:
    uscc = valid_uscc("hotline-enterprise")
    ticket = {"ticket_no": "12345-20260302-000123", "caller_name": "张三", "caller_phone": PHONE,
              "company_name": "开化县热线测试有限公司", "company_uscc": uscc,
              "content": "马金镇工业园区停电频繁，申请电力增容",
              "call_time": "2026-03-02 09:15:00", "category": "水电气等要素保障", "area": "马金镇"}
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        first = await client.post("/api/v1/channels/hotline/tickets", json=ticket)
        again = await client.post("/api/v1/channels/hotline/tickets", json=ticket)
        assert first.status_code == again.status_code == 202, first.text
        assert first.json()["case_id"] == again.json()["case_id"] and again.json()["duplicate"] is True
        case_id = first.json()["case_id"]

        # the same enterprise through the QR page, by credit code, then without it by name + phone
        qr = {"channel": "qrcode", "submitted_at": "2026-03-02T10:00:00+08:00", "content": "用工难，招不到技术工人",
              "enterprise": {"name": "开化县热线测试有限公司", "uscc": uscc, "contact_phone": "13900009999"}}
        by_code = (await client.post("/api/v1/submissions", json=qr, headers=CHANNEL)).json()
        qr2 = {**qr, "content": "融资难", "enterprise": {"name": "开化县热线测试有限公司", "contact_phone": PHONE}}
        by_alias = (await client.post("/api/v1/submissions", json=qr2, headers=CHANNEL)).json()
        assert by_code["enterprise_id"] == by_alias["enterprise_id"] == first.json()["enterprise_id"]

        values = await wait_registered(case_events, [case_id, by_code["case_id"], by_alias["case_id"]])
        data = registered(values, case_id)
        assert data["source_ref"] == ticket["ticket_no"] and data["submission_id"] == f"hotline-{ticket['ticket_no']}"
        assert data["category"] == "utilities" and data["region_hint"] == "majin"
        assert data["enterprise_id"] == first.json()["enterprise_id"]
        assert PHONE not in str(values) and "张三" not in str(data)

        url = f"/api/v1/staff/enterprises/{data['enterprise_id']}"
        assert (await client.get(url)).status_code == 401
        assert (await client.get(url, headers=token("unit_handler", "gongdian"))).status_code == 403
        full = (await client.get(url, headers=token("triage_officer"))).json()
        assert full["uscc"] == uscc and full["channels"] == ["hotline", "qrcode"] and len(full["cases"]) == 3
        assert full["contact_phone"] in (PHONE, "13900009999")
        masked = (await client.get(url, headers=token("leader"))).json()
        assert "****" in masked["contact_phone"]

        bad = await client.post("/api/v1/channels/hotline/tickets",
                                json={**ticket, "ticket_no": "bad ticket", "caller_phone": "12", "company_uscc": "X"})
        assert bad.status_code == 422
        assert set(bad.json()["fields"]) == {"ticket_no", "caller_phone"}
        # a machine channel's code with a wrong check character: the ticket is kept, the code is not trusted
        # as the enterprise's identity
        odd = await client.post("/api/v1/channels/hotline/tickets",
                                json={**ticket, "ticket_no": "HT-ODD-1", "company_uscc": uscc[:-1] + "0"})
        assert odd.status_code == 202, odd.text


async def test_liaison_visit_makes_one_case_per_problem(platform: PlatformProcess, case_events: TopicReader) -> None:
    officer = {"name": "李联络", "phone": "13900001111", "units": ["jingxin"],
               "enterprises": ["开化县走访测试有限公司"]}
    visit = {"officer_id": "li.lianluo", "visited_at": "2026-03-02T10:00:00+08:00",
             "enterprise": {"name": "开化县走访测试有限公司", "contact_name": "王五", "contact_phone": PHONE},
             "problems": [{"content": "厂房消防验收迟迟没有结果"}, {"content": "电力增容", "category": "utilities"}]}
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        assert (await client.post("/api/v1/liaison/visits", json=visit,
                                  headers=token("admin"))).status_code == 422  # officer not registered yet
        assert (await client.put("/api/v1/liaison/officers/li.lianluo", json=officer,
                                 headers=token("leader"))).status_code == 403
        response = await client.put("/api/v1/liaison/officers/li.lianluo", json=officer, headers=token("admin"))
        assert response.status_code == 200, response.text
        assert (await client.post("/api/v1/liaison/visits", json=visit,
                                  headers=token("unit_handler", "fagai"))).status_code == 403
        first = await client.post("/api/v1/liaison/visits", json=visit, headers=token("unit_handler", "jingxin"))
        assert first.status_code == 202, first.text
        again = await client.post("/api/v1/liaison/visits", json=visit, headers=token("admin"))
        cases = [c["case_id"] for c in first.json()["cases"]]
        assert len(set(cases)) == 2 and [c["case_id"] for c in again.json()["cases"]] == cases
        visit_id = first.json()["visit_id"]
        values = await wait_registered(case_events, cases)
        for case_id in cases:
            data = registered(values, case_id)
            assert data["visit_id"] == visit_id and data["reporter_kind"] == "liaison_officer"
            assert data["channel"] == "liaison"
        stored = (await client.get(f"/api/v1/liaison/visits/{visit_id}", headers=token("leader"))).json()
        assert stored["case_ids"] == cases and stored["officer_id"] == "li.lianluo"
        listed = (await client.get("/api/v1/liaison/officers", headers=token("unit_handler", "jingxin"))).json()
        assert [o["officer_id"] for o in listed["items"]] == ["li.lianluo"]
        assert listed["items"][0]["phone"] == "139****1111"


async def test_batch_reports_each_row_and_accepts_nothing_twice(platform: PlatformProcess,
                                                                case_events: TopicReader) -> None:
    out = io.StringIO()
    csv.writer(out).writerows([
        ["企业名称", "统一社会信用代码", "联系人", "联系电话", "问题描述", "所属乡镇", "反映人"],
        ["开化县批量甲公司", "", "张三", PHONE, "厂房验收慢，影响投产", "华埠镇", ""],
        ["开化县批量乙公司", "", "李四", "12", "用工难", "", ""],
        ["开化县批量丙公司", "", "", "13800005678", "融资难，银行贷款审批慢", "", "陈委员"],
    ])
    raw = out.getvalue().encode("utf-8-sig")
    url = "/api/v1/channels/cppcc/batches"
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        assert (await client.post(url, content=raw)).status_code == 401
        assert (await client.post(url, content=raw, headers=token("leader"))).status_code == 403
        headers = {**token("triage_officer"), "content-type": "text/csv"}
        first = await client.post(url, content=raw, headers=headers, params={"reporter": "政协秘书处"})
        assert first.status_code == 200, first.text
        report = first.json()
        assert (report["accepted"], report["duplicate"], report["rejected"]) == (2, 0, 1)
        rows = {r["row"]: r for r in report["rows"]}
        assert rows[3]["status"] == "rejected" and rows[3]["errors"][0]["field"] == "enterprise.contact_phone"
        second = (await client.post(url, content=raw, headers=headers, params={"reporter": "政协秘书处"})).json()
        assert (second["accepted"], second["duplicate"], second["rejected"]) == (0, 2, 1)
        assert ({r["row"]: r.get("case_id") for r in second["rows"]}
                == {r["row"]: r.get("case_id") for r in report["rows"]})
        one = await client.post("/api/v1/channels/cppcc/submissions", json={
            "submitted_at": "2026-03-02T10:00:00+08:00", "content": "融资难，银行贷款审批慢",
            "enterprise": {"name": "开化县批量丙公司", "contact_phone": "13800005678"}, "reporter": {"name": "陈委员"}})
        assert one.status_code == 202 and one.json()["case_id"] == rows[4]["case_id"]  # the same problem again
        assert (await client.post("/api/v1/channels/qrcode/submissions", json={})).status_code == 404
        case_ids = [rows[2]["case_id"], rows[4]["case_id"]]
        values = await wait_registered(case_events, case_ids)
        assert sum(1 for v in values if v["type"] == "case.registered" and v["case_id"] in case_ids) == 2
        assert registered(values, rows[2]["case_id"])["region_hint"] == "huabu"


async def test_open311_client_submits_and_follows(platform: PlatformProcess, case_events: TopicReader) -> None:
    root = f"{platform.base_url}/open311/v2"
    client311 = GeoReport(root, jurisdiction="kaihua")
    services = await asyncio.to_thread(client311.get_service_list)
    assert "utilities" in [s["service_code"] for s in services]
    definition = await asyncio.to_thread(client311.get_service_definition, "utilities")
    assert definition["attributes"][0]["code"] == "enterprise_name"
    form = {"jurisdiction_id": "kaihua", "service_code": "utilities",
            "description": "马金镇工业园区经常停电，申请电力增容",
            "phone": PHONE, "first_name": "三", "last_name": "张", "address_string": "马金镇工业园区",
            "attribute[enterprise_name]": "开化县Open311测试有限公司", "attribute[region]": "majin"}
    async with httpx.AsyncClient(base_url=root) as http:
        created = await http.post("/requests.json", data=form)
        assert created.status_code == 201, created.text
        request_id = created.json()[0]["service_request_id"]
        assert request_id.startswith("QH")
        bad = await http.post("/requests.json", data={**form, "phone": "x", "attribute[enterprise_name]": ""})
        assert bad.status_code == 400
        assert {e["description"].split(":")[0] for e in bad.json()} == {"phone", "attribute[enterprise_name]"}
        assert (await http.get("/services/nope.json")).status_code == 404
        assert (await http.get("/services.json", params={"jurisdiction_id": "elsewhere"})).status_code == 404
    values = await case_events.wait_for(lambda v: any(e["type"] == "case.registered" and e["data"]["tracking_no"]
                                                      == request_id for e in v), what="the request's registration")
    case_id = next(e["case_id"] for e in values if e["type"] == "case.registered"
                   and e["data"]["tracking_no"] == request_id)
    await case_events.wait_for(lambda v: any(e["type"] == "case.assigned" and e["case_id"] == case_id for e in v),
                               what="the request's assignment")
    for _ in range(100):  # the request follows the case view
        one = await asyncio.to_thread(client311.get_service_request, request_id)
        if one.get("agency_responsible"):
            break
        await asyncio.sleep(0.1)
    assert one["service_request_id"] == request_id and one["status"] == "open"
    assert one["agency_responsible"] == "国网开化县供电公司" and one["expected_datetime"], one
    assert PHONE not in str(one)
    listed = await asyncio.to_thread(client311.get_service_requests, service_request_id=request_id)
    assert [r["service_request_id"] for r in listed] == [request_id]
    async with httpx.AsyncClient(base_url=root) as http:
        since = {"start_date": "2026-01-01T00:00:00Z"}  # the other channels' cases were submitted in March
        page1 = (await http.get("/requests.json", params={"page_size": 1, "page": 1, **since})).json()
        page2 = (await http.get("/requests.json", params={"page_size": 1, "page": 2, **since})).json()
        assert len(page1) == len(page2) == 1 and page1[0]["service_request_id"] != page2[0]["service_request_id"]
        # without dates: the most recent 90 days (the specification's default)
        recent = (await http.get("/requests.json")).json()
        assert request_id in [r["service_request_id"] for r in recent]
        closed = (await http.get("/requests.json", params={"status": "closed"})).json()
        assert request_id not in [r["service_request_id"] for r in closed]
        assert (await http.get("/requests.json", params={"status": "weird"})).status_code == 400


async def test_poster_qr_code(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as client:
        response = await client.get("/e/qrcode.png")
        assert response.status_code == 200 and response.headers["content-type"] == "image/png"
        assert response.content.startswith(b"\x89PNG") and response.headers["x-qr-url"].endswith("/e/submit")
        page = await client.get(response.headers["x-qr-url"].replace(platform.base_url, ""))
        assert page.status_code == 200 and "反映问题" in page.text
