"""Open311 GeoReport v2, pure: the organisation's problem categories as services, a service request as a
submission, a case as a service request. Enterprise fields travel as the service's extended attributes
(`attribute[enterprise_name]`, ...). Served as JSON under /open311/v2 (see app.py)."""

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
