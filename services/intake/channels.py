"""Each channel's own shape, mapped to the one normalized submission (pure; the clock and ids are parameters).

- hotline: the 12345-8 hotline's work order, as its system pushes it by webhook;
- liaison: one visit of a liaison officer to one enterprise, with one or more problems;
- reporter channels (forum, deputy, cppcc, chamber, industry_chain): a named reporter on behalf of an
  enterprise, one by one or as a CSV / Excel batch collected at an event.
"""

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from services.intake.enterprises import normalise_name, phone_digits
from shared.contracts.submissions import PhoneNumber, Submission
from shared.refusal import Refusal

# ---------------------------------------------------------------- hotline


class HotlineTicket(BaseModel):
    """A 12345-8 work order (工单) as the hotline system sends it. Times are local, often without an offset."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    ticket_no: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:\-]+$")  # 工单编号
    caller_name: str | None = Field(default=None, max_length=50)  # 来电人
    caller_phone: str = Field(min_length=5, max_length=20)  # 来电号码
    company_name: str = Field(min_length=1, max_length=200)  # 企业名称
    company_uscc: str | None = Field(default=None, max_length=32)  # 统一社会信用代码
    content: str = Field(min_length=1, max_length=5000)  # 诉求内容
    call_time: str = Field(min_length=10, max_length=40)  # 来电时间, "2026-03-02 09:15:00"
    category: str | None = Field(default=None, max_length=100)  # 诉求分类 (the hotline's own, free text)
    title: str | None = Field(default=None, max_length=200)  # 工单标题
    area: str | None = Field(default=None, max_length=100)  # 所属区域


def local_time(value: str, tz: ZoneInfo) -> datetime:
    """ISO time with or without an offset; without one it is the county's local time."""
    parsed = datetime.fromisoformat(value.strip().replace("/", "-"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def match_category(text: str | None, org: Any) -> str | None:
    """An organisation category whose code or name the free text names (the hotline's categories differ)."""
    if not text:
        return None
    for category in org.categories:
        if text == category.code or category.name in text:
            return category.code
    return None


def match_region(text: str | None, org: Any) -> str | None:
    if not text:
        return None
    for region in org.regions:
        if text in (region.code, region.name) or region.name.split("(")[0] in text:
            return region.code
    return None


def hotline_submission(ticket: HotlineTicket, *, channel: str, org: Any, tz: ZoneInfo) -> dict[str, Any]:
    """The normalized submission of a ticket. The ticket number is the source id (replies go back under it)."""
    try:
        called_at = local_time(ticket.call_time, tz)
    except ValueError:
        raise Refusal(422, "来电时间格式不正确", detail=[{"field": "call_time", "msg": "not a time"}],
                      fields=["call_time"])
    return {
        "submission_id": f"{channel}-{ticket.ticket_no}",
        "channel": channel,
        "submitted_at": called_at.isoformat(),
        "enterprise": {"name": ticket.company_name, "uscc": ticket.company_uscc,
                       "contact_name": ticket.caller_name, "contact_phone": ticket.caller_phone},
        "content": ticket.content,
        "title": ticket.title,
        "region_hint": match_region(ticket.area, org),
        "reporter": {"kind": "enterprise", "name": ticket.caller_name},
        "source_ref": ticket.ticket_no,
        "category": match_category(ticket.category, org),
    }


# ---------------------------------------------------------------- liaison officers and visits


class Officer(BaseModel):
    """A liaison officer (助企联络员): who they are, the units they come from, the enterprises they serve."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    officer_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    name: str = Field(min_length=1, max_length=50)
    phone: PhoneNumber
    units: list[str] = Field(default_factory=list, max_length=20)
    enterprises: list[str] = Field(default_factory=list, max_length=500)  # names or credit codes

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: list[str], info: Any) -> list[str]:
        org = (info.context or {}).get("org")
        if org is not None:
            unknown = [u for u in value if u not in org.department_codes and u not in org.region_codes]
            if unknown:
                raise ValueError(f"unknown units {unknown}")
        return value


class VisitProblem(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    content: str = Field(min_length=1, max_length=5000)
    title: str | None = Field(default=None, max_length=200)
    category: str | None = Field(default=None, max_length=64)
    region_hint: str | None = Field(default=None, max_length=100)


class VisitEnterprise(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)
    uscc: str | None = None
    contact_name: str | None = None
    contact_phone: str = Field(min_length=5, max_length=20)


class Visit(BaseModel):
    """One visit of one officer to one enterprise; each problem raised becomes its own case."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    visit_id: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._\-]+$")
    officer_id: str = Field(min_length=1, max_length=64)
    visited_at: datetime
    enterprise: VisitEnterprise
    problems: list[VisitProblem] = Field(min_length=1, max_length=20)
    notes: str | None = Field(default=None, max_length=2000)


def visit_id_of(visit: Visit) -> str:
    """The id the officer's app gave, else one derived from who visited whom when (a resend is the same visit)."""
    if visit.visit_id:
        return visit.visit_id
    basis = f"{visit.officer_id}|{normalise_name(visit.enterprise.name)}|{visit.visited_at.isoformat()}"
    return "v" + hashlib.sha256(basis.encode()).hexdigest()[:20]


def visit_submissions(visit: Visit, officer: dict[str, Any], *, channel: str) -> list[dict[str, Any]]:
    visit_id = visit_id_of(visit)
    return [{
        "submission_id": f"{channel}-{visit_id}-{n}",
        "channel": channel,
        "submitted_at": visit.visited_at.isoformat(),
        "enterprise": visit.enterprise.model_dump(),
        "content": problem.content,
        "title": problem.title,
        "region_hint": problem.region_hint,
        "category": problem.category,
        "reporter": {"kind": "liaison_officer", "name": officer["name"], "id": officer["_id"]},
        "visit_id": visit_id,
    } for n, problem in enumerate(visit.problems, start=1)]


# ---------------------------------------------------------------- named reporters, one by one or in a batch


def reporter_submission_id(channel: str, body: dict[str, Any]) -> str:
    """The same problem of the same enterprise from the same channel is the same submission (a batch uploaded
    twice, or a form sent twice, accepts nothing twice)."""
    enterprise = body.get("enterprise") or {}
    basis = "|".join([channel, normalise_name(str(enterprise.get("name") or "")),
                      phone_digits(str(enterprise.get("contact_phone") or "")),
                      re.sub(r"\s+", "", str(body.get("content") or ""))])
    return f"{channel}-{hashlib.sha256(basis.encode()).hexdigest()[:24]}"


# Column headers people use in the batch file (Chinese as printed on the template, or the field names).
BATCH_COLUMNS = {
    "enterprise.name": ("企业名称", "enterprise_name", "company"),
    "enterprise.uscc": ("统一社会信用代码", "信用代码", "uscc"),
    "enterprise.contact_name": ("联系人", "contact_name"),
    "enterprise.contact_phone": ("联系电话", "手机号", "contact_phone", "phone"),
    "content": ("问题描述", "问题内容", "content"),
    "title": ("标题", "问题标题", "title"),
    "region_hint": ("所属乡镇", "乡镇", "region", "region_hint"),
    "category": ("问题类别", "类别", "category"),
    "reporter.name": ("反映人", "reporter", "reporter_name"),
    "submitted_at": ("收集时间", "submitted_at"),
}
_HEADER_TO_FIELD = {h.lower(): f for f, headers in BATCH_COLUMNS.items() for h in headers}


class BatchFileError(Refusal):
    """The file as a whole cannot be read (not CSV / xlsx, no header row, unknown columns only): 422."""

    def __init__(self, message: str) -> None:
        super().__init__(422, message, detail=[{"field": "file", "msg": message}], fields=["file"])


def read_batch(raw: bytes, kind: str) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, with or without BOM, or GB18030) or xlsx file, keyed by field path."""
    if kind == "xlsx":
        rows = _xlsx_rows(raw)
    else:
        rows = _csv_rows(raw)
    if not rows:
        raise BatchFileError("文件为空")
    header = [_HEADER_TO_FIELD.get(str(h or "").strip().lower()) for h in rows[0]]
    if not any(header):
        raise BatchFileError("第一行应为表头（企业名称、联系电话、问题描述等）")
    if "content" not in header or "enterprise.name" not in header:
        raise BatchFileError("表头缺少“企业名称”或“问题描述”列")
    out = []
    for cells in rows[1:]:
        row = {f: ("" if v is None else str(v).strip()) for f, v in zip(header, cells, strict=False) if f}
        out.append(row)
    return out


def _csv_rows(raw: bytes) -> list[list[str]]:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise BatchFileError("CSV文件编码无法识别（请用UTF-8）")
    return [r for r in csv.reader(io.StringIO(text))]


def _xlsx_rows(raw: bytes) -> list[list[Any]]:
    from openpyxl import load_workbook  # only batches need it

    try:
        workbook = load_workbook(io.BytesIO(raw), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises several types for a file that is not xlsx
        raise BatchFileError("不是有效的Excel（xlsx）文件") from exc
    sheet = workbook.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    workbook.close()
    return rows


def row_body(row: dict[str, str], *, channel: str, default_reporter: str | None, received: datetime) -> dict[str, Any]:
    """A batch row as a submission body (validation happens on the result)."""
    body: dict[str, Any] = {"channel": channel, "enterprise": {}, "reporter": {"kind": channel}}
    for path, value in row.items():
        if value == "":
            continue
        if "." in path:
            parent, child = path.split(".")
            body.setdefault(parent, {})[child] = value
        else:
            body[path] = value
    if not body["reporter"].get("name") and default_reporter:
        body["reporter"]["name"] = default_reporter
    body.setdefault("submitted_at", received.isoformat())
    if body["submitted_at"] and "T" not in body["submitted_at"] and "+" not in body["submitted_at"]:
        body["submitted_at"] = local_time(body["submitted_at"], received.tzinfo).isoformat()  # type: ignore[arg-type]
    return body


@dataclass
class RowOutcome:
    row: int  # the row number as the spreadsheet shows it (the header is row 1)
    status: str  # accepted, duplicate (accepted earlier, nothing new), rejected
    submission_id: str | None = None
    case_id: str | None = None
    tracking_no: str | None = None
    errors: list[dict[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v not in (None, [])} | {"row": self.row,
                                                                              "status": self.status}


def validate_rows(rows: list[dict[str, str]], *, channel: str, default_reporter: str | None, received: datetime,
                  org: Any, messages: Any) -> tuple[list[RowOutcome], dict[int, Submission]]:
    """Check every row; a row repeating an earlier row of the same file is rejected with that row's number."""
    outcomes: list[RowOutcome] = []
    valid: dict[int, Submission] = {}
    seen: dict[str, int] = {}
    for index, row in enumerate(rows, start=2):
        if not any(row.values()):
            continue  # a blank line is not a row
        body = row_body(row, channel=channel, default_reporter=default_reporter, received=received)
        try:
            body["submission_id"] = reporter_submission_id(channel, body)
            # a batch is typed by people: a credit code with a wrong check character is reported on its row
            submission = Submission.model_validate(body, context={"org": org, "strict": True})
        except (ValidationError, ValueError) as exc:
            errors = messages(exc) if isinstance(exc, ValidationError) else [{"field": "submitted_at",
                                                                             "message": "收集时间格式不正确"}]
            outcomes.append(RowOutcome(index, "rejected", errors=errors))
            continue
        if not (submission.reporter and submission.reporter.name):
            outcomes.append(RowOutcome(index, "rejected", errors=[{"field": "reporter.name",
                                                                   "message": "反映人: 缺少必填字段"}]))
            continue
        if submission.submission_id in seen:
            outcomes.append(RowOutcome(index, "rejected", submission.submission_id, errors=[
                {"field": "row", "message": f"与第{seen[submission.submission_id]}行内容重复"}]))
            continue
        seen[submission.submission_id] = index
        outcomes.append(RowOutcome(index, "pending", submission.submission_id))
        valid[index] = submission
    return outcomes, valid
