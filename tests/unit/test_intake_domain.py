"""services.intake.domain: case identity, tracking numbers, registration and the case view."""

import copy
import json
import re
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from services.intake.domain import (STATUS_AFTER, STATUS_AFTER_SCREENING, STATUS_NAMES, case_id_for, case_view,
                                   fingerprint,
                                    project, register, tracking_no)
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent, derived_id
from shared.contracts.submissions import parse_submission
from shared.store import Change

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
NOW = datetime(2026, 3, 2, 9, 15, 5, tzinfo=SHANGHAI)
PHONE = "13800000000"
OTHER_PHONE = "13912345678"
LANDLINE = "0570-6012345"

PAYLOAD = {
    "submission_id": "hotline-20260302-0001",
    "channel": "hotline",
    "submitted_at": "2026-03-02T09:15:00+08:00",
    "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXY", "contact_name": "张三",
                   "contact_phone": PHONE},
    "content": f"厂区需要电力增容，请回电{OTHER_PHONE}或座机{LANDLINE}。",
    "title": "电力增容",
    "region_hint": "majin",
    "reporter": {"kind": "enterprise", "name": "张三"},
}


@pytest.fixture
def submission(org):
    return parse_submission(copy.deepcopy(PAYLOAD), org)


def apply(doc, change: Change, key="case-1"):
    """What the store does with a Change, enough for these tests."""
    new = copy.deepcopy(doc) if doc is not None else {"_id": key}
    new.update(copy.deepcopy(change.set))
    for field, value in change.push.items():
        new.setdefault(field, []).append(copy.deepcopy(value))
    return new


def event(type_, data, cause="cause-1", case_id="case-1", at=NOW):
    return CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=at, data=data)


# ---------------------------------------------------------------- identity and tracking numbers

def test_case_id_for_is_deterministic():
    assert case_id_for("hotline-20260302-0001") == case_id_for("hotline-20260302-0001")
    assert case_id_for("hotline-20260302-0001") == "58638233-9f78-5773-94bd-8622da05d65d"
    assert case_id_for("hotline-20260302-0001") == derived_id("submission", "hotline-20260302-0001")
    assert uuid.UUID(case_id_for("x")).version == 5


def test_case_id_for_differs_per_submission():
    ids = {case_id_for(f"qrcode-{i}") for i in range(200)}
    assert len(ids) == 200


@pytest.mark.parametrize("received_at, sequence, expected", [
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 1, "QH2026030200001"),
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 42, "QH2026030200042"),
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 99999, "QH2026030299999"),
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 0, "QH2026030200000"),
    (datetime(2026, 12, 31, 23, 59, 59, tzinfo=SHANGHAI), 7, "QH2026123100007"),
    # UTC inputs are read as Shanghai local dates
    (datetime(2026, 3, 1, 15, 59, 59, tzinfo=timezone.utc), 3, "QH2026030100003"),  # 23:59:59 local
    (datetime(2026, 3, 1, 16, 0, 0, tzinfo=timezone.utc), 3, "QH2026030200003"),  # 00:00 local, next day
    (datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc), 12, "QH2026030200012"),  # just before UTC midnight
    (datetime(2026, 12, 31, 16, 30, tzinfo=timezone.utc), 1, "QH2027010100001"),  # new year locally
])
def test_tracking_no(received_at, sequence, expected):
    assert tracking_no(received_at, sequence, SHANGHAI) == expected


def test_tracking_no_uses_the_given_zone():
    moment = datetime(2026, 3, 1, 23, 59, tzinfo=timezone.utc)
    assert tracking_no(moment, 1, UTC) == "QH2026030100001"
    assert tracking_no(moment, 1, SHANGHAI) == "QH2026030200001"


def test_tracking_no_shape():
    for seq in (1, 10, 500, 12345, 99999):
        assert re.fullmatch(r"QH\d{8}\d{5}", tracking_no(NOW, seq, SHANGHAI))


# ---------------------------------------------------------------- register

def test_register_private_record_keeps_the_full_submission(submission):
    change = register(submission, tracking="QH2026030200001", now=NOW)
    case_id = case_id_for("hotline-20260302-0001")
    assert change.push == {}
    assert change.set == {
        "case_id": case_id,
        "submission_id": "hotline-20260302-0001",
        "channel": "hotline",
        "tracking_no": "QH2026030200001",
        "received_at": NOW,
        "submission": submission.model_dump(mode="json"),
        "enterprise_name": "开化县某某纸业有限公司",
        "enterprise_id": None,
        "source_ref": None,
        "visit_id": None,
        "category": None,
        "status": "registered",
        # who, through which channel, and what: a later send of the id with other content is not a retry
        "fingerprint": fingerprint("hotline", "开化县某某纸业有限公司", PHONE, submission.content),
    }
    private = change.set["submission"]
    assert private["enterprise"]["contact_phone"] == PHONE
    assert private["enterprise"]["contact_name"] == "张三"
    assert private["reporter"] == {"kind": "enterprise", "name": "张三", "id": None}
    assert private["content"] == PAYLOAD["content"]  # unmasked in the private record


def test_register_event_is_masked(submission):
    change = register(submission, tracking="QH2026030200001", now=NOW)
    assert len(change.events) == 1
    ev = change.events[0]
    assert ev.type == "case.registered"
    assert ev.version == 1
    assert ev.case_id == case_id_for("hotline-20260302-0001")
    assert ev.event_id == derived_id("submission:hotline-20260302-0001", "case.registered")
    assert ev.occurred_at == NOW
    assert ev.data == {
        "submission_id": "hotline-20260302-0001",
        "channel": "hotline",
        "tracking_no": "QH2026030200001",
        "received_at": "2026-03-02T09:15:05+08:00",
        "submitted_at": "2026-03-02T09:15:00+08:00",
        "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXY",
                       "contact_name": "张*", "contact_phone": "138****0000"},
        "content": "厂区需要电力增容，请回电139****5678或座机0570-****2345。",
        "title": "电力增容",
        "region_hint": "majin",
        "reporter_kind": "enterprise",
        "source_ref": None,
        "enterprise_id": None,
        "category": None,
        "visit_id": None,
        "liaison_officer": None,
    }
    text = ev.to_json().decode()
    for secret in (PHONE, OTHER_PHONE, "6012345", "张三"):
        assert secret not in text


def test_register_event_validates_as_registered(submission):
    ev = register(submission, tracking="QH2026030200001", now=NOW).events[0]
    data = ce.Registered.model_validate(ev.data)
    assert data.enterprise.contact_phone == "138****0000"


def test_register_is_repeatable(submission):
    a = register(submission, tracking="QH2026030200001", now=NOW)
    b = register(submission, tracking="QH2026030200001", now=NOW)
    assert a == b


def test_register_without_optional_parts(org):
    minimal = {"submission_id": "qrcode-1", "channel": "qrcode", "submitted_at": "2026-03-02T09:15:00Z",
               "enterprise": {"name": "某公司", "contact_phone": "0570-6012345"}, "content": "供电不稳定"}
    change = register(parse_submission(minimal, org), tracking="QH2026030200002", now=NOW)
    data = change.events[0].data
    assert data["reporter_kind"] is None
    assert data["enterprise"] == {"name": "某公司", "uscc": None, "contact_name": None,
                                  "contact_phone": "057****2345"}
    assert data["title"] is None and data["region_hint"] is None


def test_register_masks_phones_in_the_title_too(org):
    payload = copy.deepcopy(PAYLOAD)
    payload["title"] = f"请回电{OTHER_PHONE}"
    change = register(parse_submission(payload, org), tracking="QH2026030200001", now=NOW)
    ev = change.events[0]
    assert ev.data["title"] == "请回电139****5678"
    assert OTHER_PHONE not in ev.to_json().decode()
    assert change.set["submission"]["title"] == f"请回电{OTHER_PHONE}"  # the private record keeps it


# ---------------------------------------------------------------- project

def registered_doc(submission):
    """The intake document after register() and then the projection of its own case.registered."""
    change = register(submission, tracking="QH2026030200001", now=NOW)
    doc = apply(None, change, key=change.set["case_id"])
    return apply(doc, project(doc, change.events[0])), change.events[0]


def test_project_registered_without_a_document_starts_the_view(submission):
    ev = register(submission, tracking="QH2026030200001", now=NOW).events[0]
    change = project(None, ev)
    assert change.events == []
    assert change.set == {
        "status": "registered", "case_id": ev.case_id, "submission_id": "hotline-20260302-0001",
        "channel": "hotline", "tracking_no": "QH2026030200001", "received_at": NOW,
        "enterprise_name": "开化县某某纸业有限公司", "history": [],
        "content": "厂区需要电力增容，请回电139****5678或座机0570-****2345。", "category": None,
        "enterprise_id": None, "source_ref": None, "visit_id": None,
    }
    assert isinstance(change.set["received_at"], datetime)
    assert change.push == {"history": {"event_id": ev.event_id, "type": "case.registered", "version": 1,
                                       "occurred_at": "2026-03-02T09:15:05+08:00", "data": ev.data}}


def test_project_registered_onto_the_registered_document_only_adds_history(submission):
    change = register(submission, tracking="QH2026030200001", now=NOW)
    doc = apply(None, change)
    projected = project(doc, change.events[0])
    assert projected.set == {"status": "registered"}
    assert projected.push["history"]["type"] == "case.registered"


@pytest.mark.parametrize("type_", sorted(set(ce.DATA_MODELS) - {"case.registered"}))
def test_project_orphan_event_is_none(type_):
    assert project(None, CaseEvent(event_id="e", type=type_, case_id="c", occurred_at=NOW, data={})) is None


DUE = datetime(2026, 3, 3, 9, 15, 5, tzinfo=SHANGHAI)

# type, data model, the fields project() sets
PROJECTIONS = [
    ("case.assigned",
     ce.Assigned(department="gongdian", co_departments=["shuiwu"], region="majin", complexity="general",
                 escalation_level=1, due_at=DUE),
     lambda d: {"status": "assigned", "assignment": d, "due_at": "2026-03-03T09:15:05+08:00",
                "escalation_level": 1, "department": "gongdian"}),
    ("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), lambda d: {"status": "in_progress"}),
    ("case.reminded", ce.Reminded(due_at=DUE, level=1), lambda d: {}),
    ("case.overdue", ce.Overdue(due_at=DUE, escalation_level=1), lambda d: {"overdue": True}),
    ("case.escalated", ce.Escalated(from_level=1, to_level=2, reason="逾期"), lambda d: {"escalation_level": 2}),
    ("case.resolved", ce.Resolved(resolution="已增容", resolved_at=DUE, on_time=True, by="wang.wu"),
     lambda d: {"status": "resolved", "resolution": d}),
    ("case.rated", ce.Rated(level="satisfied", satisfied=True, comment="好"), lambda d: {"rating": d}),
    ("case.revisited", ce.Revisited(method="phone", outcome="认可"), lambda d: {}),
    ("case.referred", ce.Referred(to="jiwei", reason="不满意件"), lambda d: {"supervision": d}),
    ("case.reopened", ce.Reopened(reason="不满意", due_at=DUE + timedelta(days=2)),
     lambda d: {"status": "reopened", "due_at": "2026-03-05T09:15:05+08:00", "overdue": False}),
    ("case.closed", ce.Closed(closed_at=DUE), lambda d: {"status": "closed", "closed_reason": None}),
    ("case.synced", ce.Synced(target="hotline", direction="outbound", remote_id="r1"), lambda d: {}),
    # the unit handed it back: no unit and no deadline until triage assigns it again (issue 17, item 9)
    ("case.returned", ce.Returned(department="fagai", by="u1", reason="不属于本单位"),
     lambda d: {"status": "returned", "due_at": None, "department": None, "assignment": None}),
    ("case.supplemented", ce.Supplemented(content="地点在二期", round=1), lambda d: {"status": "registered"}),
    ("case.progressed", ce.Progressed(department="fagai", by="u1", note="已联系企业"), lambda d: {}),
    # types other issues added: history only, as far as intake's view goes
    *[(type_, model, lambda d: {}) for type_, model in (
        ("case.rating_appealed", getattr(ce, "RatingAppealed", None) and ce.RatingAppealed(
            round=1, department="fagai", by="u1", reason="恶意差评")),
        ("case.rating_reviewed", getattr(ce, "RatingReviewed", None) and ce.RatingReviewed(
            round=1, decision="upheld", by="u2", reason="维持")),
        ("case.supervised", getattr(ce, "Supervised", None) and ce.Supervised(action="pressed", by="u3", note="督促")),
    ) if type_ in ce.DATA_MODELS],
]


def test_projection_table_covers_every_type_but_registered_and_triaged():
    table = {t for t, _, _ in PROJECTIONS} | {"case.registered", "case.triaged"}
    assert table <= set(ce.DATA_MODELS)
    core = {"case.accepted", "case.assigned", "case.overdue", "case.escalated", "case.resolved", "case.rated",
            "case.referred", "case.reopened", "case.closed", "case.synced", "case.reminded", "case.revisited",
            "case.returned", "case.progressed"}
    assert core <= table


def test_types_the_view_does_not_know_only_join_the_history(submission):
    """Types other services add later are kept in the history and change nothing else."""
    doc, _ = registered_doc(submission)
    others = set(ce.DATA_MODELS) - {t for t, _, _ in PROJECTIONS} - {"case.registered", "case.triaged"}
    for type_ in sorted(others | {"case.not_yet_invented"}):
        ev = CaseEvent.model_validate({"event_id": f"e-{type_}", "type": type_, "version": 1, "case_id": doc["_id"],
                                       "occurred_at": NOW.isoformat(), "data": {"x": 1}})
        change = project(doc, ev)
        assert change.set == {} and change.push["history"]["type"] == type_


@pytest.mark.parametrize("type_, data, expected", PROJECTIONS, ids=[p[0] for p in PROJECTIONS])
def test_project_each_event_type(submission, type_, data, expected):
    doc, _ = registered_doc(submission)
    ev = event(type_, data, case_id=doc["_id"])
    change = project(doc, ev)
    assert change.set == expected(ev.data)
    assert change.events == []
    assert change.push == {"history": {"event_id": ev.event_id, "type": type_, "version": 1,
                                       "occurred_at": "2026-03-02T09:15:05+08:00", "data": ev.data}}
    if type_ in STATUS_AFTER:
        assert change.set["status"] == STATUS_AFTER[type_]
    else:
        assert "status" not in change.set


@pytest.mark.parametrize("screening, needs_review, status", [
    ("accepted", False, "triaged"),
    ("non_business", False, "screened_out"),
    ("unclear", False, "awaiting_detail"),
    ("duplicate", False, "duplicate"),
    ("something_new", False, "triaged"),
    ("accepted", True, "pending_review"),
    ("unclear", True, "pending_review"),
])
def test_project_triaged(submission, screening, needs_review, status):
    doc, _ = registered_doc(submission)
    data = ce.Triaged(screening=screening, department="gongdian", decided_by="auto", needs_review=needs_review)
    ev = event("case.triaged", data)
    change = project(doc, ev)
    assert change.set == {"triage": ev.data, "status": status}
    assert change.push["history"]["type"] == "case.triaged"


def test_status_tables_are_named():
    for status in [*STATUS_AFTER.values(), *STATUS_AFTER_SCREENING.values(), "pending_review"]:
        assert status in STATUS_NAMES
    assert set(STATUS_AFTER_SCREENING) == {"accepted", "non_business", "unclear", "duplicate"}


def lifecycle_events(case_id):
    return [
        event("case.triaged", ce.Triaged(screening="accepted", department="gongdian", region="majin",
                                         complexity="simple", decided_by="auto", needs_review=False), "e1", case_id),
        event("case.assigned", ce.Assigned(department="gongdian", complexity="simple", escalation_level=1,
                                           due_at=DUE), "e1", case_id),
        event("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), "e2", case_id),
        event("case.overdue", ce.Overdue(due_at=DUE, escalation_level=1), "e3", case_id),
        event("case.escalated", ce.Escalated(from_level=1, to_level=2, reason="逾期"), "e4", case_id),
        event("case.resolved", ce.Resolved(resolution="已增容", resolved_at=DUE, on_time=False, by="wang.wu"),
              "e5", case_id),
        event("case.rated", ce.Rated(level="dissatisfied", satisfied=False), "e6", case_id),
        event("case.referred", ce.Referred(to="jiwei", reason="不满意件"), "e7", case_id),
        event("case.reopened", ce.Reopened(reason="不满意", due_at=DUE + timedelta(days=3)), "e8", case_id),
        event("case.resolved", ce.Resolved(resolution="已增容完成", resolved_at=DUE + timedelta(days=2),
                                           on_time=True, by="wang.wu"), "e9", case_id),
        event("case.closed", ce.Closed(closed_at=DUE + timedelta(days=4)), "e10", case_id),
    ]


def test_full_lifecycle_view(submission):
    doc, registered = registered_doc(submission)
    events = lifecycle_events(doc["_id"])
    states = []
    for ev in events:
        doc = apply(doc, project(doc, ev))
        states.append((doc["status"], doc.get("overdue"), doc.get("escalation_level")))
    assert states == [
        ("triaged", None, None), ("assigned", None, 1), ("in_progress", None, 1), ("in_progress", True, 1),
        ("in_progress", True, 2), ("resolved", True, 2), ("resolved", True, 2), ("resolved", True, 2),
        ("reopened", False, 2), ("resolved", False, 2), ("closed", False, 2),
    ]
    view = case_view(doc)
    assert view["case_id"] == case_id_for("hotline-20260302-0001")
    assert view["tracking_no"] == "QH2026030200001"
    assert view["status"] == "closed" and view["status_name"] == "已销号"
    assert view["received_at"] == "2026-03-02T09:15:05+08:00"
    assert view["enterprise_name"] == "开化县某某纸业有限公司"
    assert view["department"] == "gongdian"
    assert view["due_at"] == "2026-03-06T09:15:05+08:00"
    assert view["overdue"] is False
    assert view["escalation_level"] == 2
    assert view["resolution"]["resolution"] == "已增容完成"
    assert {k: view["rating"][k] for k in ("level", "satisfied", "comment")} == {
        "level": "dissatisfied", "satisfied": False, "comment": None}
    assert {k: view["supervision"][k] for k in ("to", "reason")} == {"to": "jiwei", "reason": "不满意件"}
    assert [h["type"] for h in view["history"]] == ["case.registered"] + [e.type for e in events]
    assert [h["event_id"] for h in view["history"]] == [registered.event_id] + [e.event_id for e in events]


def walk(value, key=None):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v, key)
    else:
        yield key, value


def test_case_view_never_exposes_contact_data(submission):
    doc, _ = registered_doc(submission)
    for ev in lifecycle_events(doc["_id"]):
        doc = apply(doc, project(doc, ev))
    assert doc["submission"]["enterprise"]["contact_phone"] == PHONE  # the private record has it
    view = case_view(doc)
    text = json.dumps(view, ensure_ascii=False, default=str)
    for secret in (PHONE, OTHER_PHONE, "6012345", "张三"):
        assert secret not in text
    assert "submission" not in view
    phones = [v for k, v in walk(view) if k == "contact_phone"]
    assert phones == ["138****0000"]  # only the masked copy in the registration history entry


def test_case_view_keys_and_defaults():
    view = case_view({"_id": "c1"})
    assert view == {
        "case_id": "c1", "tracking_no": None, "submission_id": None, "channel": None, "status": "registered",
        "status_name": "已受理登记", "received_at": None, "enterprise_name": None, "enterprise_id": None,
        "category": None, "source_ref": None, "visit_id": None, "triage": None, "assignment": None,
        "department": None, "due_at": None, "overdue": False, "escalation_level": None, "resolution": None,
        "rating": None, "supervision": None, "history": [],
    }


def test_case_view_formats_datetimes_and_passes_strings():
    view = case_view({"_id": "c1", "received_at": NOW, "due_at": "2026-03-03T09:15:05+08:00",
                      "status": "weird_status", "overdue": 1})
    assert view["received_at"] == "2026-03-02T09:15:05+08:00"
    assert view["due_at"] == "2026-03-03T09:15:05+08:00"
    assert view["status_name"] == "weird_status"
    assert view["overdue"] is True


@pytest.mark.parametrize("status, name", sorted(STATUS_NAMES.items()))
def test_case_view_status_names(status, name):
    assert case_view({"_id": "c", "status": status})["status_name"] == name
