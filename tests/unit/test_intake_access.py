"""Who reads a case and what (CONTRACT.md section 3, version 2): staff scope, the enterprise's view, proofs."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.intake import access, domain
from services.intake.tracking import Proof
from shared.auth import AuthError, Staff, issue_token, verify_token

TZ = ZoneInfo("Asia/Shanghai")
SECRET = "unit-test-secret-of-at-least-32-characters"
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# A case as the case view holds it after assignment, resolution, a rating and a referral to the commission.
CASE = {
    "_id": "case-1", "tracking_no": "QH2026030200007", "status": "resolved", "enterprise_name": "开化县某纸业有限公司",
    "received_at": datetime(2026, 3, 2, 1, 15, tzinfo=UTC), "department": "gongdian",
    "due_at": "2026-03-04T17:30:00+08:00",
    "triage": {"screening": "accepted", "department": "gongdian", "co_departments": ["fagai"]},
    "assignment": {"department": "gongdian", "co_departments": ["fagai"], "due_at": "2026-03-04T17:30:00+08:00"},
    "resolution": {"resolution": "已完成增容，请企业确认", "by": "wang.wu", "solution": "内部方案：先挪用备用线路"},
    "rating": {"level": "dissatisfied", "comment": "师傅态度差", "satisfied": False},
    "supervision": {"to": "jiwei", "reason": "不满意", "case_file": {"notes": "领导批示暂缓"}},
    "history": [
        {"type": "case.progressed", "occurred_at": "2026-03-02T10:00:00+08:00",
         "data": {"department": "gongdian", "by": "wang.wu", "note": "内部备注：领导批示暂缓"}},
        {"type": "case.referred", "occurred_at": "2026-03-03T10:00:00+08:00",
         "data": {"to": "jiwei", "reason": "不满意", "case_file": {"x": 1}}},
    ],
}


def test_county_roles_read_every_case_and_a_unit_handler_only_its_units():
    assert access.staff_may_read(Staff("li.si", "leader", None), CASE)
    assert access.staff_may_read(Staff("q", "supervisor", None), CASE)
    assert access.staff_may_read(Staff("w", "unit_handler", "gongdian"), CASE)
    assert access.staff_may_read(Staff("c", "unit_handler", "fagai"), CASE)  # a co-department
    assert not access.staff_may_read(Staff("j", "unit_handler", "jiaotong"), CASE)
    assert not access.staff_may_read(Staff("n", "unit_handler", None), CASE)
    assert not access.staff_may_read(Staff("rating", "service", None), CASE)


def test_a_unit_handler_does_not_read_the_commissions_file_or_the_comment():
    view = access.staff_view(Staff("w", "unit_handler", "gongdian"), domain.case_view(CASE))
    assert view["supervision"] is None
    assert view["rating"] == {"level": "dissatisfied", "satisfied": False}
    assert [e["type"] for e in view["history"]] == ["case.progressed"]
    full = access.staff_view(Staff("q", "supervisor", None), domain.case_view(CASE))
    assert full["supervision"]["case_file"] == {"notes": "领导批示暂缓"}


def test_the_enterprise_sees_public_steps_and_nothing_internal(org):
    view = access.enterprise_view(CASE, org, TZ)
    text = repr(view)
    for secret in ("内部备注", "领导批示", "内部方案", "wang.wu", "师傅态度差", "jiwei", "case-1"):
        assert secret not in text, secret
    assert view["tracking_no"] == "QH2026030200007"
    assert view["status_name"] == "已办结"
    assert view["unit_name"] == "国网开化县供电公司"
    assert view["co_unit_names"] == ["县发改局"]
    assert view["due_at"] == "2026-03-04T17:30:00+08:00"
    assert view["reply"] == "已完成增容，请企业确认"
    assert view["rating"] == {"level": "dissatisfied", "name": "不满意"}
    assert view["received_at"] == "2026-03-02T09:15:00+08:00"


def test_track_tokens_open_one_case_until_they_expire_and_are_never_staff_tokens():
    token = access.issue_track_token(SECRET, case_id="case-1", tracking_no="QH2026030200007", now=NOW,
                                     ttl_seconds=3600)
    assert access.verify_track_token(SECRET, token, NOW + timedelta(minutes=59)) == access.TrackClaim(
        "case-1", "QH2026030200007")
    assert access.verify_track_token(SECRET, token, NOW + timedelta(minutes=61)) is None
    assert access.verify_track_token("another-secret-of-at-least-32-chars!!", token, NOW) is None
    assert access.verify_track_token(SECRET, token[:-2] + "xx", NOW) is None
    with pytest.raises(AuthError):
        verify_token(SECRET, f"Bearer {token}")
    staff = issue_token(SECRET, sub="li.si", role="leader")
    assert access.verify_track_token(SECRET, staff, NOW) is None


def test_a_one_time_code_works_once_within_its_time_and_attempts():
    stored = {"hash": access.code_hash("QH1", "123456", SECRET), "expires_at": NOW + timedelta(minutes=10),
              "attempts": 0, "used": False}
    assert access.code_matches(stored, "QH1", "123456", SECRET, NOW, 5)
    assert not access.code_matches(stored, "QH1", "654321", SECRET, NOW, 5)
    assert not access.code_matches(stored, "QH2", "123456", SECRET, NOW, 5)  # another number's code
    assert not access.code_matches({**stored, "used": True}, "QH1", "123456", SECRET, NOW, 5)
    assert not access.code_matches({**stored, "attempts": 5}, "QH1", "123456", SECRET, NOW, 5)
    assert not access.code_matches(stored, "QH1", "123456", SECRET, NOW + timedelta(minutes=10), 5)
    assert not access.code_matches(None, "QH1", "123456", SECRET, NOW, 5)
    assert len(access.new_code()) == 6 and access.new_code().isdigit()


def test_budget_windows_are_fixed_and_say_when_to_retry():
    # 09:00:00 UTC is 1772442000 s; windows of 900 s start on multiples of 900
    window = access.window_at(datetime(2026, 3, 2, 9, 5, tzinfo=UTC), 900)
    assert window.retry_after == 600
    assert window.key("t", "QH1") == f"t:QH1:{1772442000 // 900}"
    assert access.window_at(datetime(2026, 3, 2, 9, 15, tzinfo=UTC), 900).index == window.index + 1


def test_a_proof_needs_a_number_and_digits_or_a_code_or_a_token():
    assert Proof.of({"token": "t"}).missing() == []
    assert Proof.of({"tracking_no": " qh1 ", "phone_last4": "1234"}).tracking_no == "QH1"
    assert [m["field"] for m in Proof.of({}).missing()] == ["tracking_no", "phone_last4"]
    assert [m["field"] for m in Proof.of({"tracking_no": "QH1", "phone_last4": "12a4"}).missing()] == ["phone_last4"]
    assert [m["field"] for m in Proof.of({"tracking_no": "QH1", "code": "12345"}).missing()] == ["code"]


def test_a_retry_has_the_same_fingerprint_and_other_content_another():
    first = domain.fingerprint("hotline", "开化县某纸业有限公司", "138 0000 1234", "电力增容 三个月没有答复")
    assert first == domain.fingerprint("hotline", "开化县某纸业有限公司", "13800001234", "电力增容三个月没有答复")
    assert first != domain.fingerprint("hotline", "开化县某纸业有限公司", "13800001234", "供水管道破裂")
    assert first != domain.fingerprint("qrcode", "开化县某纸业有限公司", "13800001234", "电力增容三个月没有答复")


# ---------------------------------------------------------------- 补充说明, returns, recurrences (issue 17)

def test_a_supplement_is_taken_only_while_the_case_waits_for_detail():
    registration = {"_id": "case-9", "tracking_no": "QH2026030200009"}
    change = domain.supplement({"status": "awaiting_detail"}, registration, "地点在马金镇工业园区二期，电话13800001234",
                               now=NOW)
    [event] = change.events
    assert event.type == "case.supplemented" and event.case_id == "case-9"
    assert event.data == {"content": "地点在马金镇工业园区二期，电话138****1234", "by": "enterprise", "round": 1}
    assert change.push["supplements"]["content"] == "地点在马金镇工业园区二期，电话13800001234"  # private copy
    second = domain.supplement({"status": "awaiting_detail"}, {**registration, "supplements": [{}]}, "再补充", now=NOW)
    assert second.events[0].data["round"] == 2 and second.events[0].event_id != event.event_id
    for status in ("registered", "assigned", "closed", None):
        with pytest.raises(domain.SupplementRefused):
            domain.supplement({"status": status}, registration, "x", now=NOW)
    with pytest.raises(domain.SupplementRefused, match="最多补充说明5次"):
        domain.supplement({"status": "awaiting_detail"}, {**registration, "supplements": [{}] * 5}, "x", now=NOW)


def _event(type_, data, n):
    from shared.contracts.envelope import CaseEvent

    return CaseEvent.model_validate({"event_id": f"e{n}", "type": type_, "version": 1, "case_id": "case-1",
                                     "occurred_at": f"2026-03-0{n}T09:00:00+08:00", "data": data})


def test_a_returned_case_is_public_as_returned_with_no_deadline_until_assigned_again(org):
    doc = {"_id": "case-1", **domain.project(None, _event("case.registered", {
        "submission_id": "s", "channel": "qrcode", "tracking_no": "QH1", "received_at": "2026-03-01T09:00:00+08:00",
        "enterprise": {"name": "某公司", "contact_phone": "138****1234"}, "content": "停电"}, 1)).set, "history": []}
    for n, (type_, data) in enumerate([
            ("case.assigned", {"department": "gongdian", "co_departments": [], "region": "majin",
                               "complexity": "simple", "escalation_level": 1, "due_at": "2026-03-04T17:30:00+08:00"}),
            ("case.returned", {"department": "gongdian", "by": "wang.wu", "reason": "不属于本单位职责"})], start=2):
        change = domain.project(doc, _event(type_, data, n))
        doc = {**doc, **change.set, "history": doc["history"] + [change.push["history"]]}
    view = access.enterprise_view(doc, org, TZ)
    assert view["status"] == "returned" and view["status_name"] == "承办单位退回，重新研判交办"
    assert view["due_at"] is None and view["unit_name"] is None
    steps = {s["step"]: s for s in view["timeline"]}
    assert steps["assigned"]["done"] is False
    assert steps["screened"]["detail"] == "承办单位申请退回，正在重新研判交办"


def test_a_recurrence_tells_the_enterprise_it_is_a_new_case(org):
    doc = {"status": "triaged", "tracking_no": "QH2", "received_at": "2026-03-01T09:00:00+08:00", "history": [
        {"type": "case.triaged", "occurred_at": "2026-03-01T09:01:00+08:00",
         "data": {"screening": "accepted", "recurrence_of": "old-case", "needs_review": False}}]}
    steps = {s["step"]: s for s in access.enterprise_view(doc, org, TZ)["timeline"]}
    assert steps["screened"]["detail"] == "此前已销号的问题再次出现，已作为新问题受理"
    assert "old-case" not in repr(access.enterprise_view(doc, org, TZ))
