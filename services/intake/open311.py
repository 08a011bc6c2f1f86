"""Open311 GeoReport v2, pure: the organisation's problem categories as services, a service request as a
submission, a case as a service request. Enterprise fields travel as the service's extended attributes
(`attribute[enterprise_name]`, ...). Served in JSON and XML under /open311/v2 (open311_routes.py), the discovery
document also at /open311/discovery.{json,xml}.

Specification: http://wiki.open311.org/GeoReport_v2 (XML as its examples: root elements `discovery`, `services`,
`service_definition`, `service_requests`, `errors`; JSON as arrays of the same objects)."""

import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from services.intake.domain import STATUS_NAMES
from shared.masking import mask_text

# Statuses after which nothing more will be done for the enterprise under this request.
CLOSED_STATUSES = frozenset({"resolved", "closed", "screened_out", "duplicate"})

ATTRIBUTES = (
    # code, datatype, required, description (shown to the person filling it in), order
    ("enterprise_name", "string", True, "企业名称"),
    ("uscc", "string", False, "统一社会信用代码"),
    ("contact_name", "string", False, "联系人"),
    ("region", "singlevaluelist", False, "所属乡镇（街道）"),
    ("title", "string", False, "问题标题"),
)


def services(org: Any) -> list[dict[str, Any]]:
    return [{"service_code": c.code, "service_name": c.name, "description": c.name, "metadata": True,
             "type": "realtime", "keywords": "", "group": org.county.name} for c in org.categories]


def service_definition(org: Any, code: str) -> dict[str, Any] | None:
    if code not in {c.code for c in org.categories}:
        return None
    attributes = []
    for order, (name, datatype, required, description) in enumerate(ATTRIBUTES, start=1):
        attribute: dict[str, Any] = {"variable": True, "code": name, "datatype": datatype, "required": required,
                                     "datatype_description": None, "order": order, "description": description}
        if datatype == "singlevaluelist":
            attribute["values"] = [{"key": r.code, "name": r.name} for r in org.regions]
        attributes.append(attribute)
    return {"service_code": code, "attributes": attributes}


def submission_body(form: dict[str, str], *, channel: str, now: datetime) -> dict[str, Any]:
    """A create-request form (application/x-www-form-urlencoded) as a submission body."""
    attribute = {k[len("attribute["):-1]: v for k, v in form.items() if k.startswith("attribute[") and k.endswith("]")}
    person = " ".join(p for p in (form.get("last_name", ""), form.get("first_name", "")) if p).strip() or None
    location = form.get("address_string") or None
    content = form.get("description", "")
    if location:
        content = f"{content}（地点：{location}）" if content else ""
    return {
        "channel": channel,
        "submitted_at": now.isoformat(),
        "enterprise": {"name": attribute.get("enterprise_name", ""), "uscc": attribute.get("uscc") or None,
                       "contact_name": attribute.get("contact_name") or person,
                       "contact_phone": form.get("phone", "")},
        "content": content,
        "title": attribute.get("title") or None,
        "region_hint": attribute.get("region") or None,
        "category": form.get("service_code") or None,
        "reporter": {"kind": "enterprise", "name": attribute.get("contact_name") or person},
    }


# Our field paths -> the Open311 parameter people sent, so a 400 names what they know.
PARAMETER_OF = {
    "enterprise.name": "attribute[enterprise_name]", "enterprise.uscc": "attribute[uscc]",
    "enterprise.contact_name": "attribute[contact_name]", "enterprise.contact_phone": "phone",
    "content": "description", "title": "attribute[title]", "region_hint": "attribute[region]",
    "category": "service_code",
}


def service_request(doc: dict[str, Any], org: Any, tz: ZoneInfo, *, public_text: bool = False) -> dict[str, Any]:
    """A case as a GeoReport service request: public fields only (service, status, dates, agency). Never contact
    data; the case text (masked) only when the county allows it (QHWY_INTAKE_OPEN311_PUBLIC_TEXT)."""
    status = doc.get("status", "registered")
    department = doc.get("department")
    names = {d.code: d.name for d in org.departments}
    history = doc.get("history") or []
    updated = history[-1]["occurred_at"] if history else _iso(doc.get("received_at"), tz)
    return {
        "service_request_id": doc.get("tracking_no"),
        "status": "closed" if status in CLOSED_STATUSES else "open",
        "status_notes": STATUS_NAMES.get(status, status),
        "service_name": next((c.name for c in org.categories if c.code == doc.get("category")), None),
        "service_code": doc.get("category"),
        "description": mask_text(doc["content"]) if public_text and doc.get("content") else None,
        "agency_responsible": names.get(department) if department else None,
        "service_notice": None,
        "requested_datetime": _iso(doc.get("received_at"), tz),
        "updated_datetime": updated,
        "expected_datetime": _iso(doc.get("due_at"), tz),
        "address": None, "address_id": None, "zipcode": None, "lat": None, "long": None, "media_url": None,
    }


def _iso(value: Any, tz: ZoneInfo) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(tz).isoformat(timespec="seconds")
    return value


def error(code: int, description: str) -> list[dict[str, Any]]:
    return [{"code": code, "description": description}]


SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_DAYS = 90  # a request listing covers the most recent 90 days by default and never a longer span
CHANGESET = "2026-03-01T00:00:00+08:00"  # when this endpoint's behaviour last changed (discovery's changeset)
FORMATS = {"json": "application/json; charset=utf-8", "xml": "text/xml; charset=utf-8"}
# Chinese error descriptions for people; the parameter named stays as sent
ERRORS = {
    "jurisdiction": "未找到该辖区（jurisdiction_id），本平台只服务{county}",
    "service_code": "未找到该服务类别（service_code）",
    "service_code_missing": "service_code: 缺少必填字段（问题类别）",
    "request": "未找到该服务请求（service_request_id）",
    "api_key": "api_key 缺失或无效，无法提交服务请求",
    "dates": "start_date / end_date 应为 W3C 时间格式，例如 2026-03-01T00:00:00+08:00",
    "range": "start_date 与 end_date 之间最多相隔90天",
    "status": "status 只能是 open 或 closed（可用逗号分隔）",
    "page": "page 与 page_size 应为正整数",
    "format": "不支持该格式，请使用 .json 或 .xml",
    "body": "请求内容应为表单（application/x-www-form-urlencoded）",
    "too_large": "请求内容过大",
}


def discovery(url: str, county: str, *, keys_required: bool) -> dict[str, Any]:
    """The discovery document: where the GeoReport v2 endpoint is, in which formats, and who to ask."""
    return {
        "changeset": CHANGESET,
        "contact": f"{county}企呼我应平台管理员",
        "key_service": ("提交服务请求需要 api_key，请向平台管理员申请" if keys_required
                        else "提交服务请求不需要 api_key"),
        "endpoints": [{"specification": SPECIFICATION, "url": url, "changeset": CHANGESET, "type": "production",
                       "formats": ["text/xml", "application/json"]}],
    }


# Containers whose items are elements of the singular name (the specification's XML examples)
_ITEM = {"attributes": "attribute", "values": "value", "endpoints": "endpoint", "formats": "format"}
# The root element and the element of each item, by document
ROOTS = {"discovery": ("discovery", None), "services": ("services", "service"),
         "service_definition": ("service_definition", None), "service_requests": ("service_requests", "request"),
         "errors": ("errors", "error")}


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in value.items():
            _fill(ET.SubElement(element, key), child)
    elif isinstance(value, list):
        item = _ITEM.get(element.tag, "item")
        for child in value:
            _fill(ET.SubElement(element, item), child)
    else:
        element.text = _text(value)


def to_xml(kind: str, body: Any) -> bytes:
    """One of the documents (ROOTS) as the specification's XML: a list under its root, one element per item."""
    root_tag, item_tag = ROOTS[kind]
    root = ET.Element(root_tag)
    if item_tag is None:
        _fill(root, body)
    else:
        for item in body:
            _fill(ET.SubElement(root, item_tag), item)
    ET.indent(root)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"
