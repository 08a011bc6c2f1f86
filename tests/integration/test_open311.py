"""Open311 GeoReport v2 over HTTP, intake alone on the real broker and store, with API keys configured: the
discovery document, every method in .json and .xml (read by the PyPI client `georeport`, whose XML mode parses
with xmltodict), the specification's element names, api_key on every POST whatever its content type, public
fields only, errors in Chinese."""

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest
from georeport import GeoReport

from tests.integration.harness import Namespace, PlatformProcess
from tests.unit.test_open311 import SPEC_XML, shape

pytestmark = pytest.mark.integration

KEY = "county-issued-key-1"
PHONE = "13800004321"
FORM = {"jurisdiction_id": "kaihua", "service_code": "utilities", "description": "华埠镇园区道路破损，货车进出困难",
        "phone": PHONE, "first_name": "四", "last_name": "李",
        "attribute[enterprise_name]": "开化县Open311格式有限公司",
        "attribute[region]": "huabu"}


def chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.fixture(scope="module")
async def platform(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services.intake", tmp_path_factory.mktemp("logs"),
                           QHWY_INTAKE_OPEN311_API_KEYS=json.dumps([KEY, "another-key"])).start()
    try:
        await proc.wait_healthy(120)
        yield proc
    finally:
        assert proc.stop() == 0, f"intake did not stop cleanly; see {proc.log_path}"


async def test_discovery_in_both_formats(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=platform.base_url) as http:
        for path in ("/open311/discovery", "/open311/v2/discovery"):
            as_json = await http.get(f"{path}.json")
            assert as_json.status_code == 200 and as_json.headers["content-type"].startswith("application/json")
            endpoint = as_json.json()["endpoints"][0]
            assert endpoint["url"] == f"{platform.base_url}/open311/v2"
            assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
            assert endpoint["formats"] == ["text/xml", "application/json"]
            assert chinese(as_json.json()["key_service"])
            as_xml = await http.get(f"{path}.xml")
            assert as_xml.status_code == 200 and as_xml.headers["content-type"].startswith("text/xml")
            assert shape(as_xml.content) == shape(SPEC_XML["discovery"])
        unknown = await http.get("/open311/v2/discovery.yaml")
        assert unknown.status_code == 404 and chinese(unknown.json()[0]["description"])


async def test_every_method_in_xml_through_a_georeport_client(platform: PlatformProcess) -> None:
    root = f"{platform.base_url}/open311/v2"
    xml = GeoReport(root, jurisdiction="kaihua", output_format="xml")
    services = await asyncio.to_thread(xml.get_service_list)
    assert "utilities" in [s["service_code"] for s in services]
    assert set(services[0]) == {"service_code", "service_name", "description", "metadata", "type", "keywords", "group"}
    definition = await asyncio.to_thread(xml.get_service_definition, "utilities")
    attributes = definition["attributes"]["attribute"]
    assert attributes[0]["code"] == "enterprise_name" and attributes[0]["required"] == "true"
    region = next(a for a in attributes if a["code"] == "region")
    assert "huabu" in [v["key"] for v in region["values"]["value"]]
    async with httpx.AsyncClient(base_url=root) as http:
        raw = {p: (await http.get(p)).content for p in ("/services.xml", "/services/utilities.xml")}
        assert shape(raw["/services.xml"]) == shape(SPEC_XML["services"])
        assert shape(raw["/services/utilities.xml"]) == shape(SPEC_XML["service_definition"])
        created = await http.post("/requests.xml", data={**FORM, "api_key": KEY})
        assert created.status_code == 201 and created.headers["content-type"].startswith("text/xml"), created.text
        assert shape(created.content) == shape(SPEC_XML["created"])
        request_id = created.text.split("<service_request_id>")[1].split("<")[0]
        assert request_id.startswith("QH")
        one_xml = (await http.get(f"/requests/{request_id}.xml")).content
        assert shape(one_xml) == shape(SPEC_XML["service_requests"])
    one = await asyncio.to_thread(xml.get_service_request, request_id)
    assert one["service_request_id"] == request_id and one["status"] == "open" and one["service_code"] == "utilities"
    assert one["description"] is None  # the case text only when the county allows it (QHWY_INTAKE_OPEN311_PUBLIC_TEXT)
    assert PHONE not in one_xml.decode() and "李" not in one_xml.decode()
    listed = await asyncio.to_thread(xml.get_service_requests, service_request_id=request_id)
    assert listed["service_request_id"] == request_id  # one <request>: xmltodict gives the element itself
    recent = await asyncio.to_thread(xml.get_service_requests, status="open", service_code="utilities")
    recent = recent if isinstance(recent, list) else [recent]
    assert request_id in [r["service_request_id"] for r in recent]
    as_json = GeoReport(root, jurisdiction="kaihua")
    assert (await asyncio.to_thread(as_json.get_service_request, request_id))["service_request_id"] == request_id


async def test_api_key_is_required_whatever_the_content_type(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=f"{platform.base_url}/open311/v2") as http:
        refused = [
            await http.post("/requests.json", data=FORM),
            await http.post("/requests.json", data={**FORM, "api_key": "wrong"}),
            await http.post("/requests.json", json=FORM),
            await http.post("/requests.json", json={**FORM, "api_key": ["not", "a", "string"]}),
            await http.post("/requests.json", content=b"[1, 2]", headers={"content-type": "application/json"}),
            await http.post("/requests.json", files={"service_code": (None, "utilities")}),
            await http.post("/requests.json", content=b"\xff\xfe", headers={"content-type": "text/plain"}),
            await http.post("/requests.json"),
        ]
        for response in refused:
            assert response.status_code == 403, response.text
            assert response.json()[0]["code"] == 403 and chinese(response.json()[0]["description"])
        as_xml = await http.post("/requests.xml", data=FORM)
        assert as_xml.status_code == 403 and shape(as_xml.content) == shape(SPEC_XML["errors"])
        assert "api_key" in as_xml.text and chinese(as_xml.text)
        # the key as a query parameter or in a JSON object works as well as in the form
        by_query = await http.post("/requests.json", params={"api_key": "another-key"}, data=FORM)
        by_json = await http.post("/requests.json", json={**FORM, "api_key": KEY})
        assert by_query.status_code == 201 and by_json.status_code == 201, (by_query.text, by_json.text)
        assert by_query.json()[0]["service_request_id"] != by_json.json()[0]["service_request_id"]
        # with a valid key, a body that is not a form is a 400, not a crash
        odd = await http.post("/requests.json", params={"api_key": KEY}, content=b"[1]",
                              headers={"content-type": "application/json"})
        assert odd.status_code == 400 and chinese(odd.json()[0]["description"])


async def test_errors_in_both_formats_and_in_chinese(platform: PlatformProcess) -> None:
    async with httpx.AsyncClient(base_url=f"{platform.base_url}/open311/v2") as http:
        for fmt in ("json", "xml"):
            answers = {
                404: [await http.get(f"/services/nope.{fmt}"), await http.get(f"/requests/QH0000.{fmt}"),
                      await http.get(f"/services.{fmt}", params={"jurisdiction_id": "elsewhere"})],
                400: [await http.get(f"/requests.{fmt}", params={"status": "weird"}),
                      await http.get(f"/requests.{fmt}", params={"start_date": "yesterday"}),
                      await http.get(f"/requests.{fmt}", params={"start_date": "2026-01-01T00:00:00Z",
                                                                  "end_date": "2026-06-01T00:00:00Z"}),
                      await http.post(f"/requests.{fmt}", data={**FORM, "api_key": KEY, "service_code": ""}),
                      await http.post(f"/requests.{fmt}", data={**FORM, "api_key": KEY, "phone": "x"})],
            }
            for status, responses in answers.items():
                for response in responses:
                    assert response.status_code == status, response.text
                    if fmt == "xml":
                        assert shape(response.content) == shape(SPEC_XML["errors"]), response.text
                        assert chinese(response.text)
                    else:
                        assert all(e["code"] == status and chinese(e["description"]) for e in response.json())
        bad = await http.post("/requests.json", data={**FORM, "api_key": KEY, "phone": "x",
                                                      "attribute[enterprise_name]": ""})
        assert {e["description"].split(":")[0] for e in bad.json()} == {"phone", "attribute[enterprise_name]"}
