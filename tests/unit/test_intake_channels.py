"""intake's pure edges: credit codes, region codes, enterprise identity, channel mappings, batches, Open311,
the tracking timeline."""

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from openpyxl import Workbook
from pydantic import ValidationError

from services.intake import channels, enterprises, open311
from services.intake.domain import phone_matches, timeline
from shared.contracts.submissions import Enterprise, Submission, parse_submission, uscc_check_character, uscc_problem
from shared.http import field_errors

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
VALID_USCC = "91330824MA2XXXXXXY"


def body(**changes):
    data = {"submission_id": "s-1", "channel": "qrcode", "submitted_at": "2026-03-02T09:15:00+08:00",
            "enterprise": {"name": "开化县某某纸业有限公司", "contact_phone": "13800001234"}, "content": "停电"}
    data.update(changes)
    return data


# ---------------------------------------------------------------- credit codes

@pytest.mark.parametrize("code", [VALID_USCC, "91350100M000100Y43", "91440300708461136T", "91110108551385082Q",
                                  "91330824MA2XXXXXXy"])
def test_valid_credit_codes_accepted(org, code):
    sub = parse_submission(body(enterprise={"name": "某公司", "contact_phone": "13800001234", "uscc": code}), org)
    assert sub.enterprise.uscc == code.upper()


def test_wrong_check_character_is_kept_unverified_unless_strict(org):
    """CONTRACT.md's own example code has a wrong check character: machine channels must not lose it."""
    enterprise = {"name": "某公司", "contact_phone": "13800001234", "uscc": "91330824MA2XXXXXXX"}
    sub = parse_submission(body(enterprise=enterprise), org)
    assert sub.enterprise.uscc == "91330824MA2XXXXXXX" and not sub.enterprise.uscc_verified
    with pytest.raises(ValidationError) as info:
        Submission.model_validate(body(enterprise=enterprise), context={"org": org, "strict": True})
    assert "check character" in info.value.errors()[0]["msg"]


@pytest.mark.parametrize("code, problem", [
    ("91330824MA2XXXXXX", "18 characters"),
    ("91330824MA2XXXXXXYY", "18 characters"),
    ("91330824MA2IXXXXXY", "characters"),  # I is not in the alphabet
    ("9133082-MA2XXXXXXY", "characters"),
])
def test_bad_credit_codes_rejected_with_the_reason(org, code, problem):
    with pytest.raises(ValidationError) as info:
        parse_submission(body(enterprise={"name": "某公司", "contact_phone": "13800001234", "uscc": code}), org)
    assert [tuple(e["loc"]) for e in info.value.errors()] == [("enterprise", "uscc")]
    assert problem in info.value.errors()[0]["msg"]


def test_every_check_character_is_reachable():
    """Changing the 17th character walks the check character through the whole alphabet."""
    seen = {uscc_check_character("91330824MA2XXXXX" + ch) for ch in "0123456789ABCDEFGHJKLMNPQRTUWXY"}
    assert len(seen) == 31
    assert uscc_problem(VALID_USCC) is None


def test_empty_credit_code_means_not_given(org):
    assert parse_submission(body(enterprise={"name": "某", "contact_phone": "13800001234", "uscc": ""}),
                            org).enterprise.uscc is None


# ---------------------------------------------------------------- phones, regions, categories

@pytest.mark.parametrize("phone", ["12800001234", "10000000000", "+86 128 0000 1234"])
def test_mobile_shaped_but_impossible_numbers_rejected(org, phone):
    with pytest.raises(ValidationError):
        parse_submission(body(enterprise={"name": "某", "contact_phone": phone}), org)


@pytest.mark.parametrize("hint, code", [("majin", "majin"), ("马金镇", "majin"), ("", None), (None, None)])
def test_region_hint_code_or_name_normalised_to_the_code(org, hint, code):
    assert parse_submission(body(region_hint=hint), org).region_hint == code


def test_free_text_region_hint_from_a_machine_channel_is_kept(org):
    assert parse_submission(body(region_hint="城关某工业区"), org).region_hint == "城关某工业区"
    with pytest.raises(ValidationError):
        parse_submission(body(region_hint="nowhere"), org)  # an unknown code is always an error


def test_unknown_region_and_category_named(org):
    with pytest.raises(ValidationError) as info:
        Submission.model_validate(body(region_hint="火星镇", category="teleport"), context={"org": org, "strict": True})
    assert sorted(tuple(e["loc"]) for e in info.value.errors()) == [("category",), ("region_hint",)]
    messages = {e["field"]: e["message"] for e in field_errors(info.value)}
    # what is wrong and what is expected (issue 17, item 15: "取值无效" alone said neither)
    assert messages["region_hint"] == "region_hint: 乡镇（街道）不存在，请从列表中选择"
    assert messages["category"] == "category: 问题类别不存在，请从列表中选择"


def test_new_optional_fields_round_trip(org):
    sub = parse_submission(body(source_ref="T-1", category="utilities", visit_id="v1",
                                reporter={"kind": "liaison_officer", "name": "王", "id": "o-1"}), org)
    assert (sub.source_ref, sub.category, sub.visit_id, sub.reporter.id) == ("T-1", "utilities", "v1", "o-1")


# ---------------------------------------------------------------- enterprise identity

def ent(**kw):
    return Enterprise.model_validate({"name": "开化县某某纸业有限公司", "contact_phone": "13800001234", **kw})


def test_identity_by_credit_code_ignores_name_and_phone():
    a = enterprises.identity_key(ent(uscc=VALID_USCC))
    b = enterprises.identity_key(ent(uscc=VALID_USCC.lower(), name="某某纸业", contact_phone="0570-6012345"))
    assert a == b == f"uscc:{VALID_USCC}"
    assert enterprises.enterprise_id_for(a) == enterprises.enterprise_id_for(b)


def test_identity_without_code_by_normalised_name_and_phone():
    a = enterprises.identity_key(ent())
    b = enterprises.identity_key(ent(name=" 开化县某某纸业有限公司 ", contact_phone="+86 138 0000 1234"))
    c = enterprises.identity_key(ent(name="开化县某某纸业(有限公司)"))
    assert a == b == c
    assert a != enterprises.identity_key(ent(contact_phone="13900001234"))
    assert a != enterprises.identity_key(ent(name="开化县另一家纸业有限公司"))
    assert enterprises.normalise_name("ＡＢＣ（开化）有限公司") == "abc开化有限公司"


# ---------------------------------------------------------------- hotline

TICKET = {"ticket_no": "12345-20260302-000123", "caller_name": "张三", "caller_phone": "13800001234",
          "company_name": "开化县某某纸业有限公司", "company_uscc": VALID_USCC, "content": "电力增容三个月没答复",
          "call_time": "2026-03-02 09:15:00", "category": "营商环境/水电气等要素保障", "area": "马金镇"}


def test_hotline_ticket_maps_to_a_submission_keeping_the_ticket_number(org):
    mapped = channels.hotline_submission(channels.HotlineTicket.model_validate(TICKET), channel="hotline", org=org,
                                         tz=SHANGHAI)
    sub = parse_submission(mapped, org)
    assert sub.submission_id == "hotline-12345-20260302-000123" and sub.source_ref == TICKET["ticket_no"]
    assert sub.submitted_at == NOW  # local time without an offset is the county's
    assert sub.enterprise.contact_name == "张三" and sub.enterprise.uscc == VALID_USCC
    assert (sub.category, sub.region_hint) == ("utilities", "majin")


def test_hotline_unknown_category_and_area_are_dropped_not_fatal(org):
    ticket = channels.HotlineTicket.model_validate({**TICKET, "category": "咨询", "area": "外省"})
    mapped = channels.hotline_submission(ticket, channel="hotline", org=org, tz=SHANGHAI)
    assert mapped["category"] is None and mapped["region_hint"] is None
    parse_submission(mapped, org)


def test_hotline_ticket_requires_its_fields():
    with pytest.raises(ValidationError) as info:
        channels.HotlineTicket.model_validate({"content": "x"})
    assert {e["loc"][0] for e in info.value.errors()} == {"ticket_no", "caller_phone", "company_name", "call_time"}


# ---------------------------------------------------------------- liaison

OFFICER = {"_id": "o-1", "name": "李联络", "phone": "13900001111", "units": ["jingxin"]}


def visit(**changes):
    data = {"officer_id": "o-1", "visited_at": "2026-03-02T10:00:00+08:00",
            "enterprise": {"name": "开化县某某纸业有限公司", "contact_phone": "13800001234"},
            "problems": [{"content": "用工难"}, {"content": "电力增容", "category": "utilities"}]}
    data.update(changes)
    return channels.Visit.model_validate(data)


def test_each_problem_of_a_visit_is_its_own_submission_linked_to_visit_and_officer(org):
    subs = [parse_submission(b, org) for b in channels.visit_submissions(visit(), OFFICER, channel="liaison")]
    assert len(subs) == 2 and len({s.submission_id for s in subs}) == 2
    visit_id = channels.visit_id_of(visit())
    assert all(s.visit_id == visit_id and s.reporter.id == "o-1" and s.reporter.kind == "liaison_officer"
               for s in subs)
    assert subs[1].category == "utilities"


def test_visit_id_is_stable_for_a_resend_and_kept_when_given():
    assert channels.visit_id_of(visit()) == channels.visit_id_of(visit())
    assert channels.visit_id_of(visit()) != channels.visit_id_of(visit(visited_at="2026-03-03T10:00:00+08:00"))
    assert channels.visit_id_of(visit(visit_id="app-77")) == "app-77"


def test_visit_needs_at_least_one_problem():
    with pytest.raises(ValidationError):
        visit(problems=[])


def test_officer_units_must_be_organisation_units(org):
    channels.Officer.model_validate({"officer_id": "o-1", "name": "李", "phone": "13900001111",
                                     "units": ["jingxin", "majin"]}, context={"org": org})
    with pytest.raises(ValidationError):
        channels.Officer.model_validate({"officer_id": "o-1", "name": "李", "phone": "13900001111",
                                         "units": ["nowhere"]}, context={"org": org})


# ---------------------------------------------------------------- batches

def csv_bytes(rows, encoding="utf-8-sig"):
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode(encoding)


HEADER = ["企业名称", "统一社会信用代码", "联系人", "联系电话", "问题描述", "所属乡镇", "反映人"]
ROWS = [
    HEADER,
    ["开化县甲公司", VALID_USCC, "张三", "13800001234", "厂房验收慢", "马金镇", "王代表"],
    ["开化县乙公司", "", "李四", "12", "用工难", "", "王代表"],  # bad phone
    ["开化县甲公司", VALID_USCC, "张三", "13800001234", "厂房验收慢", "马金镇", "王代表"],  # repeats row 2
    ["", "", "", "", "", "", ""],  # blank line
    ["开化县丙公司", "91330824MA2XXXXXXX", "", "13800005678", "融资难", "火星镇", ""],  # bad code, bad region
]


def check(rows, org, default_reporter=None):
    return channels.validate_rows(rows, channel="deputy", default_reporter=default_reporter, received=NOW, org=org,
                                  messages=lambda exc: [{"field": e["field"], "message": e["message"]}
                                                        for e in field_errors(exc)])


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-8", "gb18030"])
def test_csv_batch_rows_checked_one_by_one(org, encoding):
    outcomes, valid = check(channels.read_batch(csv_bytes(ROWS, encoding), "csv"), org)
    by_row = {o.row: o for o in outcomes}
    assert sorted(by_row) == [2, 3, 4, 6]  # the blank line is skipped, row numbers as the sheet shows them
    assert by_row[2].status == "pending" and isinstance(valid[2], Submission)
    assert valid[2].reporter.name == "王代表" and valid[2].region_hint == "majin"
    assert by_row[3].status == "rejected" and [e["field"] for e in by_row[3].errors] == ["enterprise.contact_phone"]
    assert by_row[4].status == "rejected" and "第2行" in by_row[4].errors[0]["message"]
    assert by_row[6].status == "rejected"
    assert sorted(e["field"] for e in by_row[6].errors) == ["enterprise.uscc", "region_hint"]


def test_batch_row_without_reporter_takes_the_uploaders_default(org):
    rows = [HEADER, ["开化县丙公司", "", "", "13800005678", "融资难", "", ""]]
    outcomes, _ = check(channels.read_batch(csv_bytes(rows), "csv"), org)
    assert outcomes[0].status == "rejected" and outcomes[0].errors[0]["field"] == "reporter.name"
    outcomes, valid = check(channels.read_batch(csv_bytes(rows), "csv"), org, default_reporter="商会秘书处")
    assert outcomes[0].status == "pending" and valid[2].reporter.name == "商会秘书处"


def test_same_problem_gets_the_same_submission_id_in_any_file():
    a = {"enterprise": {"name": "开化县甲公司", "contact_phone": "13800001234"}, "content": "厂房 验收慢"}
    b = {"enterprise": {"name": " 开化县甲公司", "contact_phone": "+86 13800001234"}, "content": "厂房验收慢"}
    assert channels.reporter_submission_id("deputy", a) == channels.reporter_submission_id("deputy", b)
    assert channels.reporter_submission_id("deputy", a) != channels.reporter_submission_id("cppcc", a)


def test_xlsx_batch(org):
    book = Workbook()
    for row in ROWS[:3]:
        book.active.append(row)
    raw = io.BytesIO()
    book.save(raw)
    outcomes, valid = check(channels.read_batch(raw.getvalue(), "xlsx"), org)
    assert [o.status for o in outcomes] == ["pending", "rejected"] and list(valid) == [2]


@pytest.mark.parametrize("raw, kind", [(b"", "csv"), (b"a,b\n1,2\n", "csv"), (b"not a zip", "xlsx"),
                                       ("企业名称,联系电话\n".encode(), "csv")])
def test_unreadable_batch_files(raw, kind):
    with pytest.raises(channels.BatchFileError):
        channels.read_batch(raw, kind)


# ---------------------------------------------------------------- Open311

def test_open311_services_are_the_organisation_categories(org):
    services = open311.services(org)
    assert [s["service_code"] for s in services] == [c.code for c in org.categories]
    assert all(s["metadata"] is True and s["type"] == "realtime" for s in services)
    definition = open311.service_definition(org, "utilities")
    codes = [a["code"] for a in definition["attributes"]]
    assert codes == ["enterprise_name", "uscc", "contact_name", "region", "title"]
    region = definition["attributes"][3]
    assert region["datatype"] == "singlevaluelist" and {"key": "majin", "name": "马金镇"} in region["values"]
    assert open311.service_definition(org, "nope") is None


def test_open311_form_maps_to_a_valid_submission(org):
    form = {"service_code": "utilities", "description": "停电频繁", "phone": "13800001234", "first_name": "三",
            "last_name": "张", "attribute[enterprise_name]": "开化县某某纸业有限公司", "attribute[uscc]": VALID_USCC,
            "attribute[region]": "majin", "address_string": "马金镇工业园区"}
    data = open311.submission_body(form, channel="qrcode", now=NOW)
    sub = Submission.model_validate({**data, "submission_id": "open311-1"}, context={"org": org})
    assert sub.enterprise.contact_name == "张 三" and sub.category == "utilities" and sub.region_hint == "majin"
    assert "马金镇工业园区" in sub.content


def test_open311_request_view_has_no_contact_data(org):
    doc = {"tracking_no": "QH2026030200001", "status": "assigned", "department": "gongdian",
           "category": "utilities", "content": "请回电13900001111", "received_at": NOW,
           "due_at": "2026-03-03T09:15:00+08:00", "history": [{"occurred_at": "2026-03-02T09:16:00+08:00"}]}
    view = open311.service_request(doc, org, SHANGHAI)
    assert view["service_request_id"] == "QH2026030200001" and view["status"] == "open"
    # public fields only: the case text stays out unless the county allows it (CONTRACT.md section 5)
    assert view["agency_responsible"] == "国网开化县供电公司" and view["description"] is None
    allowed = open311.service_request(doc, org, SHANGHAI, public_text=True)
    assert allowed["description"] == "请回电139****1111"
    assert view["updated_datetime"] == "2026-03-02T09:16:00+08:00"
    assert open311.service_request({**doc, "status": "closed"}, org, SHANGHAI)["status"] == "closed"


# ---------------------------------------------------------------- tracking

def test_phone_matches_last_four_digits_only():
    reg = {"submission": {"enterprise": {"contact_phone": "138 0000 1234"}}}
    assert phone_matches(reg, "1234")
    assert not phone_matches(reg, "4321") and not phone_matches(reg, "234") and not phone_matches(None, "1234")
    assert not phone_matches(reg, "12a4")


def h(type_, data, at):
    return {"type": type_, "data": data, "occurred_at": at}


def test_timeline_follows_the_case(org):
    doc = {"tracking_no": "QH1", "received_at": NOW, "status": "resolved", "history": [
        h("case.registered", {}, "2026-03-02T09:15:00+08:00"),
        h("case.triaged", {"screening": "accepted", "needs_review": False}, "2026-03-02T09:15:02+08:00"),
        h("case.assigned", {"department": "gongdian", "co_departments": ["jingxin"],
                            "due_at": "2026-03-03T17:30:00+08:00"}, "2026-03-02T09:15:03+08:00"),
        h("case.accepted", {"department": "gongdian"}, "2026-03-02T10:00:00+08:00"),
        h("case.resolved", {"resolution": "已完成增容"}, "2026-03-03T10:00:00+08:00"),
    ]}
    steps = {s["step"]: s for s in timeline(doc, org, SHANGHAI)}
    assert [s for s in steps] == ["received", "screened", "assigned", "accepted", "resolved", "rated"]
    assert all(steps[k]["done"] for k in ("received", "screened", "assigned", "accepted", "resolved"))
    assert not steps["rated"]["done"]
    assert "国网开化县供电公司" in steps["assigned"]["detail"] and "县经信局协办" in steps["assigned"]["detail"]
    assert "2026-03-03 17:30" in steps["assigned"]["detail"]
    assert steps["resolved"]["detail"] == "已完成增容"
    assert steps["received"]["at"] == "2026-03-02T09:15:00+08:00"


def test_timeline_waiting_for_an_officer_and_screened_out(org):
    doc = {"received_at": NOW, "history": [h("case.triaged", {"screening": "accepted", "needs_review": True},
                                             "2026-03-02T09:15:02+08:00")]}
    steps = timeline(doc, org, SHANGHAI)
    assert steps[1]["done"] is False and steps[1]["detail"] == "正在人工研判"
    doc = {"received_at": NOW, "status": "screened_out", "history": [
        h("case.triaged", {"screening": "non_business", "needs_review": False}, "2026-03-02T09:15:02+08:00")]}
    steps = timeline(doc, org, SHANGHAI)
    assert [s["step"] for s in steps] == ["received", "screened"] and "不属于" in steps[1]["detail"]


def test_refusals_say_what_is_expected(org):
    bad = body(channel="nowhere", submitted_at="昨天", content="", submission_id="a b",
               enterprise={"name": "企" * 201, "contact_phone": "12", "uscc": "123"})
    with pytest.raises(ValidationError) as info:
        Submission.model_validate(bad, context={"org": org})
    messages = {e["field"]: e["message"] for e in field_errors(info.value)}
    assert messages == {
        "submission_id": "submission_id: 只能包含英文字母、数字和 . _ : -",
        "channel": "channel: 渠道代码不存在（应为组织文件中的渠道代码）",
        "submitted_at": "submitted_at: 时间格式不正确（应如 2026-03-02T09:15:00+08:00）",
        "enterprise.name": "enterprise.name: 内容过长（最多200个字符）",
        "enterprise.uscc": "enterprise.uscc: 统一社会信用代码应为18位",
        "enterprise.contact_phone": "enterprise.contact_phone: 过短（至少5个字符）",
        "content": "content: 不能为空",
    }
