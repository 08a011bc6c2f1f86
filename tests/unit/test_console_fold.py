"""The console's fold of the case events (issue 17, item 9): status and deadline after a reopening and a return,
in the order the events happened and in orders they may arrive in. Event sequences written by hand."""

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from services.console import domain
from services.console.names import Names
from shared.org import load_organisation

CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=CST)
FIRST_DUE = "2026-03-03T09:15:00+08:00"
NEW_DUE = "2026-03-13T10:00:00+08:00"

REGISTERED = ("case.registered", 0, {"tracking_no": "QH2026030200007", "channel": "qrcode", "title": None,
                                     "content": "电力增容三个月没有答复",
                                     "enterprise": {"name": "开化县某某纸业有限公司"}})
TRIAGED = ("case.triaged", 1, {"screening": "accepted", "department": "gongdian", "co_departments": [],
                               "region": "majin", "complexity": "simple", "decided_by": "auto", "needs_review": False})
ASSIGNED = ("case.assigned", 2, {"department": "gongdian", "co_departments": [], "region": "majin",
                                 "complexity": "simple", "escalation_level": 1, "due_at": FIRST_DUE})
ACCEPTED = ("case.accepted", 3, {"department": "gongdian", "by": "wang.wu"})
RESOLVED = ("case.resolved", 60, {"resolution": "已增容", "resolved_at": "2026-03-02T10:15:00+08:00",
                                  "on_time": True, "by": "wang.wu"})
RATED = ("case.rated", 120, {"level": "dissatisfied", "satisfied": False, "comment": "还是停电"})
REOPENED = ("case.reopened", 180, {"reason": "企业不满意，重新办理", "due_at": NEW_DUE})
RETURNED = ("case.returned", 30, {"department": "gongdian", "by": "wang.wu", "reason": "不属于本单位职责"})


def fold(events: list[tuple[str, int, dict[str, Any]]]) -> dict[str, Any]:
    """Apply events one by one as the store does (set the fields, append the timeline entry); the minutes after T0
    are each event's occurred_at. The store hands datetimes back naive UTC: so does this."""
    doc: dict[str, Any] | None = None
    for n, (event_type, minutes, data) in enumerate(events):
        fields, entry = domain.case_change(doc, event_id=f"e{n}", event_type=event_type,
                                           occurred_at=T0 + timedelta(minutes=minutes), data=data)
        stored = {k: (v.astimezone(UTC).replace(tzinfo=None) if isinstance(v, datetime) else v)
                  for k, v in fields.items()}
        doc = {**(doc or {}), **stored, "timeline": [*(doc or {}).get("timeline", []), entry]}
    assert doc is not None
    return doc


def test_a_reopened_case_shows_the_new_deadline_and_reopened() -> None:
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, ACCEPTED, RESOLVED, RATED, REOPENED])
    assert doc["due_at"] == NEW_DUE
    assert doc["status"] == "reopened" and domain.status_name(doc) == "重新办理"


def test_an_overdue_case_reopened_is_no_longer_overdue() -> None:
    overdue = ("case.overdue", 90, {"due_at": FIRST_DUE, "escalation_level": 2})
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, overdue])
    assert doc["overdue"] is True and doc["due_at"] == FIRST_DUE
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, overdue, RESOLVED, RATED, REOPENED])
    assert doc["overdue"] is False and doc["due_at"] == NEW_DUE


def test_a_returned_case_says_so_and_has_no_deadline_until_assigned_again() -> None:
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, ACCEPTED, RETURNED])
    assert doc["status"] == "returned" and domain.status_name(doc) == "承办单位退回，待重新研判交办"
    assert doc["due_at"] is None
    reassigned = ("case.assigned", 45, {**ASSIGNED[2], "department": "fagai", "due_at": "2026-03-04T11:00:00+08:00"})
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, ACCEPTED, RETURNED,
                ("case.triaged", 40, {**TRIAGED[2], "department": "fagai"}), reassigned])
    assert doc["status"] == "assigned" and domain.status_name(doc) == "已交办，待签收"
    assert doc["due_at"] == "2026-03-04T11:00:00+08:00" and doc["department"] == "fagai"


def test_events_that_arrive_late_do_not_move_status_or_deadline_back() -> None:
    # the reopening is folded before the older assignment and resolution arrive (a replay, another instance)
    doc = fold([REGISTERED, REOPENED, ASSIGNED, RESOLVED])
    assert doc["due_at"] == NEW_DUE and doc["status"] == "reopened"
    doc = fold([REGISTERED, TRIAGED, RETURNED, ASSIGNED])  # the return (minute 30) after the assignment (minute 2)
    assert doc["status"] == "returned" and doc["due_at"] is None


def test_status_follows_the_case_through_its_life() -> None:
    seen = []
    sequence = [REGISTERED, TRIAGED, ASSIGNED, ACCEPTED, RESOLVED, RATED, REOPENED,
                ("case.resolved", 200, RESOLVED[2]), ("case.closed", 300, {"closed_at": "2026-03-02T14:15:00+08:00"})]
    for n in range(1, len(sequence) + 1):
        seen.append(domain.status_name(fold(sequence[:n])))
    assert seen == ["已受理登记", "已研判，待交办", "已交办，待签收", "办理中", "已办结，待评价", "企业已评价",
                    "重新办理", "已办结，待评价", "已销号"]
    # reminders, syncs and the like leave the status alone
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, ("case.reminded", 5, {"due_at": FIRST_DUE, "level": 1}),
                ("case.synced", 6, {"target": "city", "direction": "outbound", "remote_id": "C1"})])
    assert doc["status"] == "assigned" and doc["last_event"] == "case.synced"


def test_a_case_waiting_for_an_officer_or_detail_says_so() -> None:
    review = ("case.triaged", 1, {**TRIAGED[2], "needs_review": True})
    assert domain.status_name(fold([REGISTERED, review])) == "待人工研判"
    unclear = ("case.triaged", 1, {**TRIAGED[2], "screening": "unclear", "department": None})
    assert domain.status_name(fold([REGISTERED, unclear])) == "待企业补充说明"
    # a row folded before statuses were kept still reads in words
    assert domain.status_name({"last_event": "case.accepted"}) == "签收"


def test_the_timeline_reads_in_words_with_names_not_codes_or_login_ids() -> None:
    org = load_organisation()
    names = Names.of(org, [("wang.wu", "王五")])
    doc = fold([REGISTERED, TRIAGED, ASSIGNED, ACCEPTED, RESOLVED, RATED, REOPENED, RETURNED])
    lines = {e["type"]: e["details"] for e in domain.timeline(doc["timeline"], names)}
    assert {"label": "渠道", "text": "“企呼我应”平台二维码"} in lines["case.registered"]
    assert {"label": "承办单位", "text": "国网开化县供电公司"} in lines["case.triaged"]
    assert {"label": "属地", "text": "马金镇"} in lines["case.triaged"]
    assert {"label": "复杂度", "text": "简单问题"} in lines["case.triaged"]
    assert {"label": "筛查", "text": "受理交办"} in lines["case.triaged"]
    assert {"label": "研判方式", "text": "系统自动研判"} in lines["case.triaged"]
    assert {"label": "经办人", "text": "王五"} in lines["case.accepted"]
    assert {"label": "等级", "text": "不满意"} in lines["case.rated"]
    assert {"label": "办理时限", "text": "2026-03-13 10:00"} in lines["case.reopened"]
    assert {"label": "理由", "text": "不属于本单位职责"} in lines["case.returned"]
    everything = " ".join(d["text"] + d["label"] for ds in lines.values() for d in ds)
    for raw in ("gongdian", "majin", "wang.wu", "accepted", "dissatisfied", "auto", "simple", "qrcode"):
        assert raw not in everything, raw
    # a colleague missing from the directory is not shown by login id
    assert Names.of(org).person("zhao.liu") == "其他工作人员"


def test_lists_name_a_case_by_tracking_number_enterprise_and_first_words() -> None:
    doc = fold([REGISTERED])
    assert domain.brief(doc) == {"tracking_no": "QH2026030200007", "enterprise": "开化县某某纸业有限公司",
                                 "title": "电力增容三个月没有答复", "department": None, "region": None}
    long = {"content": "我们公司在马金镇工业园区申请电力增容三个月没有答复，经常停电影响生产，请尽快解决"}
    title = "我们公司在马金镇工业园区申请电力增容三个月没有答复，经常停电…"  # 30 characters
    assert domain.brief(long)["title"] == title


def test_the_calendar_banner_is_for_admins_and_leaders_and_says_what_to_do() -> None:
    status = {"year": 2027, "known": False, "days_left": 25, "warning": True, "current_year_missing": False}
    admin = domain.calendar_banner(status, "admin")
    assert admin == {"level": "warning",
                     "text": "2027 年节假日安排尚未导入，距 1 月 1 日还有 25 天；未导入前，2027 年的办理时限"
                             "将按周一至周五计算。请在“工作日历”页面上传并应用国务院办公厅公布的安排。"}
    assert "提醒系统管理员" in domain.calendar_banner(status, "leader")["text"]
    assert domain.calendar_banner(status, "unit_handler") is None
    assert domain.calendar_banner({**status, "warning": False, "known": True}, "admin") is None
    both = domain.calendar_banner({**status, "current_year_missing": True}, "admin")
    assert both["level"] == "error" and both["text"].startswith("本年度（2026 年）节假日安排缺失")
