"""Open311 GeoReport v2 documents (services/intake/open311.py) against the specification's own examples
(http://wiki.open311.org/GeoReport_v2): the same root elements, item elements and field names, in XML and JSON."""

import json
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from services.intake import open311
from shared.org import load_organisation

# The specification's example documents (values shortened; element names and nesting as published).
SPEC_XML = {
    "discovery": """<?xml version="1.0" encoding="utf-8"?>
<discovery>
  <changeset>2011-04-05T17:48:34Z</changeset>
  <contact>You can email or call for assistance api@mycity.gov +1 (555) 555-5555</contact>
  <key_service>You can request a key here: http://api.mycity.gov/api_key/request</key_service>
  <endpoints>
    <endpoint>
      <specification>http://wiki.open311.org/GeoReport_v2</specification>
      <url>http://open311.mycity.gov/v2</url>
      <changeset>2011-04-20T17:48:34Z</changeset>
      <type>production</type>
      <formats><format>text/xml</format><format>application/json</format></formats>
    </endpoint>
  </endpoints>
</discovery>""",
    "services": """<?xml version="1.0" encoding="utf-8"?>
<services>
  <service>
    <service_code>001</service_code>
    <service_name>Cans left out 24x7</service_name>
    <description>Garbage or recycling cans that have been left out for more than 24 hours.</description>
    <metadata>true</metadata>
    <type>realtime</type>
    <keywords>lorem, ipsum, dolor</keywords>
    <group>sanitation</group>
  </service>
</services>""",
    "service_definition": """<?xml version="1.0" encoding="utf-8"?>
<service_definition>
  <service_code>DMV66</service_code>
  <attributes>
    <attribute>
      <variable>true</variable>
      <code>WHISHETN</code>
      <datatype>singlevaluelist</datatype>
      <required>true</required>
      <datatype_description></datatype_description>
      <order>1</order>
      <description>What is the ticket/tag/DL number?</description>
      <values>
        <value><key>123</key><name>Ford</name></value>
        <value><key>124</key><name>Chrysler</name></value>
      </values>
    </attribute>
  </attributes>
</service_definition>""",
    "created": """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>293944</service_request_id>
    <service_notice>The City will inspect and require the responsible party to correct within 24 hours.</service_notice>
    <account_id/>
  </request>
</service_requests>""",
    "service_requests": """<?xml version="1.0" encoding="utf-8"?>
<service_requests>
  <request>
    <service_request_id>638344</service_request_id>
    <status>closed</status>
    <status_notes>Duplicate request.</status_notes>
    <service_name>Sidewalk and Curb Issues</service_name>
    <service_code>006</service_code>
    <description></description>
    <agency_responsible></agency_responsible>
    <service_notice></service_notice>
    <requested_datetime>2010-04-14T06:37:38-08:00</requested_datetime>
    <updated_datetime>2010-04-14T15:37:38-08:00</updated_datetime>
    <expected_datetime>2010-04-15T06:37:38-08:00</expected_datetime>
    <address>8TH AVE and JUDAH ST</address>
    <address_id>545483</address_id>
    <zipcode>94122</zipcode>
    <lat>37.762221815</lat>
    <long>-122.4651145</long>
    <media_url>http://city.gov.s3.amazonaws.com/requests/media/638344.jpg</media_url>
  </request>
</service_requests>""",
    "errors": """<?xml version="1.0" encoding="utf-8"?>
<errors>
  <error>
    <code>403</code>
    <description>Invalid api_key received -- can't proceed with create_request.</description>
  </error>
</errors>""",
}


def shape(xml: bytes | str) -> set[str]:
    """Every element path of a document (root/item/field...), the values left out."""
    root = ET.fromstring(xml.encode() if isinstance(xml, str) else xml)
    paths: set[str] = set()

    def walk(element: ET.Element, prefix: str) -> None:
        path = f"{prefix}/{element.tag}" if prefix else element.tag
        paths.add(path)
        for child in element:
            walk(child, path)

    walk(root, "")
    return paths


@pytest.fixture(scope="module")
def org():  # type: ignore[no-untyped-def]
    return load_organisation(None)


def test_discovery_and_services_have_the_specifications_shape(org) -> None:  # type: ignore[no-untyped-def]
    document = open311.discovery("http://127.0.0.1:8000/open311/v2", org.county.name, keys_required=True)
    assert shape(open311.to_xml("discovery", document)) == shape(SPEC_XML["discovery"])
    assert document["endpoints"][0]["formats"] == ["text/xml", "application/json"]
    assert "api_key" in document["key_service"] and "平台" in document["contact"]
    services = open311.services(org)
    assert shape(open311.to_xml("services", services)) == shape(SPEC_XML["services"])
    xml = ET.fromstring(open311.to_xml("services", services))
    assert [e.findtext("service_code") for e in xml] == [c.code for c in org.categories]
    assert xml.find("service/metadata").text == "true"  # type: ignore[union-attr]


def test_service_definition_has_the_specifications_shape(org) -> None:  # type: ignore[no-untyped-def]
    definition = open311.service_definition(org, org.categories[0].code)
    assert definition is not None
    assert shape(open311.to_xml("service_definition", definition)) == shape(SPEC_XML["service_definition"])
    region = ET.fromstring(open311.to_xml("service_definition", definition)).find(
        "attributes/attribute[code='region']")
    assert region is not None
    assert [v.findtext("key") for v in region.iterfind("values/value")] == [r.code for r in org.regions]
    assert open311.service_definition(org, "nope") is None


def test_requests_and_errors_have_the_specifications_shape(org) -> None:  # type: ignore[no-untyped-def]
    doc = {"_id": "c1", "tracking_no": "QH2026030200001", "status": "resolved", "category": org.categories[0].code,
           "department": org.departments[0].code, "content": "我公司电话13800001234，申请电力增容",
           "received_at": datetime(2026, 3, 2, 1, 15, tzinfo=UTC), "due_at": datetime(2026, 3, 5, 9, 0, tzinfo=UTC),
           "history": [{"occurred_at": "2026-03-03T10:00:00+08:00"}]}
    tz = ZoneInfo("Asia/Shanghai")
    hidden = open311.service_request(doc, org, tz)
    assert shape(open311.to_xml("service_requests", [hidden])) == shape(SPEC_XML["service_requests"])
    assert hidden["status"] == "closed" and hidden["description"] is None
    assert hidden["requested_datetime"] == "2026-03-02T09:15:00+08:00"
    assert hidden["agency_responsible"] == org.departments[0].name
    shown = open311.service_request(doc, org, tz, public_text=True)
    assert shown["description"] and "13800001234" not in shown["description"]  # the text masked when shown
    created = [{"service_request_id": "QH2026030200001", "service_notice": "已受理", "account_id": None}]
    assert shape(open311.to_xml("service_requests", created)) == shape(SPEC_XML["created"])
    error = open311.error(403, open311.ERRORS["api_key"])
    assert shape(open311.to_xml("errors", error)) == shape(SPEC_XML["errors"])
    assert json.loads(json.dumps(error)) == [{"code": 403, "description": open311.ERRORS["api_key"]}]


def test_xml_is_utf8_with_the_declaration_and_empty_elements_for_nothing() -> None:
    xml = open311.to_xml("errors", open311.error(404, "未找到该服务请求（service_request_id）"))
    assert xml.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<errors>')
    assert "未找到".encode() in xml
    empty = open311.to_xml("service_requests", [{"service_request_id": "x", "account_id": None}])
    assert ET.fromstring(empty).find("request/account_id").text is None  # type: ignore[union-attr]


def test_every_error_description_is_chinese() -> None:
    for key, text in open311.ERRORS.items():
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text), key
