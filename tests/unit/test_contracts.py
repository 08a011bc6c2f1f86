"""shared.contracts: the ingress submission, the case-event envelope and the data of each event type."""

import copy
import difflib
import json
import os
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel, ValidationError

from shared.contracts import case_events
from shared.contracts.case_events import DATA_MODELS, UnreadableEvent, parse_case_event
from shared.contracts.envelope import QHWY_NAMESPACE, CaseEvent, derived_id
from shared.contracts.submissions import Submission, SubmissionBody, parse_submission

CST = timezone(timedelta(hours=8))
SNAPSHOT = Path(__file__).parent / "snapshots" / "contract_schemas.json"

EXAMPLE = {
    "submission_id": "hotline-20260302-0001",
    "channel": "hotline",
    "submitted_at": "2026-03-02T09:15:00+08:00",
    "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXY",
                   "contact_name": "张三", "contact_phone": "13800000000"},
    "content": "问题描述……",
    "title": None,
    "region_hint": None,
    "reporter": {"kind": "enterprise", "name": "张三"},
}


def payload(**changes):
    data = copy.deepcopy(EXAMPLE)
    data.update(changes)
    return data


def enterprise(**changes):
    data = copy.deepcopy(EXAMPLE["enterprise"])
    data.update(changes)
    return data


def locs(exc: ValidationError) -> list[tuple]:
    return [tuple(e["loc"]) for e in exc.errors()]


# ================================================================ submissions

@pytest.mark.parametrize("form", ["dict", "str", "bytes"])
def test_contract_example_parses(org, form):
    raw = {"dict": EXAMPLE, "str": json.dumps(EXAMPLE, ensure_ascii=False),
           "bytes": json.dumps(EXAMPLE).encode()}[form]
    sub = parse_submission(raw, org)
    assert isinstance(sub, Submission)
    assert sub.submission_id == "hotline-20260302-0001"
    assert sub.channel == "hotline"
    assert sub.submitted_at == datetime(2026, 3, 2, 1, 15, tzinfo=timezone.utc)
    assert sub.submitted_at.utcoffset() == timedelta(hours=8)
    assert sub.enterprise.name == "开化县某某纸业有限公司"
    assert sub.enterprise.uscc == "91330824MA2XXXXXXY"
    assert sub.enterprise.contact_name == "张三"
    assert sub.enterprise.contact_phone == "13800000000"
    assert sub.content == "问题描述……"
    assert sub.title is None and sub.region_hint is None
    assert sub.reporter is not None and sub.reporter.kind == "enterprise" and sub.reporter.name == "张三"


def test_minimal_payload_has_defaults(org):
    minimal = {"submission_id": "s1", "channel": "qrcode", "submitted_at": "2026-03-02T09:15:00Z",
               "enterprise": {"name": "某公司", "contact_phone": "13800000000"}, "content": "供电不稳定"}
    sub = parse_submission(minimal, org)
    assert sub.enterprise.uscc is None and sub.enterprise.contact_name is None
    assert sub.title is None and sub.region_hint is None and sub.reporter is None


@pytest.mark.parametrize("path", [
    ("submission_id",), ("channel",), ("submitted_at",), ("enterprise",), ("enterprise", "name"),
    ("enterprise", "contact_phone"), ("content",),
], ids=lambda p: ".".join(p))
@pytest.mark.parametrize("org_given", [True, False], ids=["with-org", "without-org"])
def test_each_required_field_missing_is_named(org, path, org_given):
    data = payload()
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    with pytest.raises(ValidationError) as info:
        parse_submission(data, org if org_given else None)
    assert locs(info.value) == [path]
    assert info.value.errors()[0]["type"] == "missing"


@pytest.mark.parametrize("path", [("title",), ("region_hint",), ("reporter",), ("enterprise", "uscc"),
                                  ("enterprise", "contact_name")], ids=lambda p: ".".join(p))
def test_optional_fields_may_be_absent(org, path):
    data = payload()
    target = data
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    parse_submission(data, org)


def test_all_required_missing_at_once_names_each(org):
    with pytest.raises(ValidationError) as info:
        parse_submission({"enterprise": {}}, org)
    assert sorted(locs(info.value)) == sorted([
        ("submission_id",), ("channel",), ("submitted_at",), ("enterprise", "name"),
        ("enterprise", "contact_phone"), ("content",)])


def test_unknown_channel_rejected_when_org_given(org):
    with pytest.raises(ValidationError) as info:
        parse_submission(payload(channel="wechat"), org)
    assert locs(info.value) == [("channel",)]
    assert "unknown channel 'wechat'" in info.value.errors()[0]["msg"]


def test_unknown_channel_accepted_without_org():
    assert parse_submission(payload(channel="wechat"), None).channel == "wechat"


@pytest.mark.parametrize("channel", ["qrcode", "hotline", "liaison", "forum", "deputy", "cppcc", "chamber",
                                     "industry_chain", "city_platform"])
def test_every_organisation_channel_accepted(org, channel):
    assert channel in org.channel_codes
    assert parse_submission(payload(channel=channel), org).channel == channel


def test_channel_check_uses_the_org_given_not_a_hard_coded_list(org):
    class OneChannel:
        channel_codes = frozenset({"wechat"})

    assert parse_submission(payload(channel="wechat"), OneChannel()).channel == "wechat"
    with pytest.raises(ValidationError):
        parse_submission(payload(channel="hotline"), OneChannel())


@pytest.mark.parametrize("value", ["2026-03-02T09:15:00", "2026-03-02 09:15:00", "2026-03-02"])
def test_naive_or_dateless_submitted_at_rejected(org, value):
    with pytest.raises(ValidationError) as info:
        parse_submission(payload(submitted_at=value), org)
    assert locs(info.value) == [("submitted_at",)]


def test_naive_datetime_object_rejected(org):
    with pytest.raises(ValidationError) as info:
        parse_submission(payload(submitted_at=datetime(2026, 3, 2, 9, 15)), org)
    assert info.value.errors()[0]["type"] == "timezone_aware"


@pytest.mark.parametrize("phone", ["abc", "138000000ab", "1380", "+", "13800000000x", "电话13800000000",
                                   "-13800000000", "", "1" * 21, "(0570)6012345"])
def test_bad_phone_rejected(org, phone):
    with pytest.raises(ValidationError) as info:
        parse_submission(payload(enterprise=enterprise(contact_phone=phone)), org)
    assert locs(info.value) == [("enterprise", "contact_phone")]


@pytest.mark.parametrize("phone, stored", [
    ("13800000000", "13800000000"), ("+86 138 0000 0000", "+86 138 0000 0000"), ("0570-6012345", "0570-6012345"),
    ("12345", "12345"), ("  13800000000  ", "13800000000"),
])
def test_good_phone_accepted_and_stripped(org, phone, stored):
    assert parse_submission(payload(enterprise=enterprise(contact_phone=phone)), org).enterprise.contact_phone == stored


@pytest.mark.parametrize("changes, loc", [
    ({"content": ""}, ("content",)),
    ({"content": "   "}, ("content",)),  # stripped, then too short
    ({"content": "x" * 5001}, ("content",)),
    ({"submission_id": ""}, ("submission_id",)),
    ({"submission_id": "has space"}, ("submission_id",)),
    ({"submission_id": "中文编号"}, ("submission_id",)),
    ({"submission_id": "a/b"}, ("submission_id",)),
    ({"submission_id": "x" * 129}, ("submission_id",)),
    ({"submission_id": None}, ("submission_id",)),
    ({"channel": ""}, ("channel",)),
    ({"title": "t" * 201}, ("title",)),
    ({"submitted_at": "yesterday"}, ("submitted_at",)),
    ({"enterprise": enterprise(name="")}, ("enterprise", "name")),
    ({"enterprise": enterprise(uscc="9" * 33)}, ("enterprise", "uscc")),
    ({"enterprise": "某公司"}, ("enterprise",)),
])
def test_other_field_rules(org, changes, loc):
    with pytest.raises(ValidationError) as info:
        parse_submission(payload(**changes), org)
    assert locs(info.value) == [loc]


@pytest.mark.parametrize("sid", ["hotline-20260302-0001", "a", "A.b_c:d-e", "x" * 128])
def test_submission_id_shapes_accepted(org, sid):
    assert parse_submission(payload(submission_id=sid), org).submission_id == sid


def test_extra_fields_ignored(org):
    data = payload(priority="urgent", _meta={"x": 1})
    data["enterprise"]["legal_person"] = "王五"
    data["reporter"]["id_card"] = "330824199001011234"
    sub = parse_submission(data, org)
    dumped = sub.model_dump()
    assert "priority" not in dumped and "_meta" not in dumped
    assert "legal_person" not in dumped["enterprise"]
    assert "id_card" not in dumped["reporter"]
    assert not hasattr(sub, "priority")
    assert sub.model_extra in (None, {})


def test_strings_are_stripped(org):
    data = payload(content="  供电不稳定  ", channel=" hotline ")
    data["enterprise"]["name"] = " 某公司 "
    sub = parse_submission(data, org)
    assert (sub.content, sub.channel, sub.enterprise.name) == ("供电不稳定", "hotline", "某公司")


def test_bad_json_raises_validation_error(org):
    with pytest.raises(ValidationError):
        parse_submission(b"{not json", org)


def test_submission_body_allows_a_missing_id(org):
    body = SubmissionBody.model_validate({k: v for k, v in EXAMPLE.items() if k != "submission_id"},
                                         context={"org": org})
    assert body.submission_id is None


# ================================================================ envelope

NOW = datetime(2026, 3, 2, 9, 15, tzinfo=CST)


def test_event_id_is_derived_from_cause_and_type():
    data = case_events.Closed(closed_at=NOW)
    a = CaseEvent.new(cause="submission:hotline-20260302-0001", type="case.registered", case_id="c1",
                      occurred_at=NOW, data=data)
    b = CaseEvent.new(cause="submission:hotline-20260302-0001", type="case.registered", case_id="c2",
                      occurred_at=NOW + timedelta(hours=1), data=case_events.Closed(closed_at=NOW + timedelta(days=1)))
    assert a.event_id == b.event_id  # same cause + type: same id, whatever else differs
    # pinned: changing the namespace or the derivation would break every consumer's idempotency
    assert a.event_id == "5ea2210b-5bba-5c36-99ae-912acea310e4"
    assert a.event_id == str(uuid.uuid5(QHWY_NAMESPACE, "submission:hotline-20260302-0001/case.registered"))
    assert uuid.UUID(a.event_id).version == 5


def test_event_id_differs_for_other_cause_or_type():
    data = case_events.Closed(closed_at=NOW)
    ids = {
        CaseEvent.new(cause=cause, type=type_, case_id="c1", occurred_at=NOW, data=data).event_id
        for cause in ("submission:s1", "submission:s2", "evt-1", "evt-2")
        for type_ in ("case.triaged", "case.assigned", "case.registered")
    }
    assert len(ids) == 12


def test_derived_id_pinned():
    assert derived_id("submission", "hotline-20260302-0001") == "58638233-9f78-5773-94bd-8622da05d65d"
    assert derived_id("a", "b") != derived_id("b", "a")


def test_new_event_envelope_fields_and_json_data():
    event = CaseEvent.new(cause="x", type="case.reopened", case_id="c1", occurred_at=NOW,
                          data=case_events.Reopened(reason="不满意", due_at=NOW + timedelta(days=1)))
    assert event.version == 1
    assert event.type == "case.reopened"
    assert event.case_id == "c1"
    assert event.occurred_at == NOW
    assert event.data == {"reason": "不满意", "due_at": "2026-03-03T09:15:00+08:00"}  # JSON-ready, not datetimes
    decoded = json.loads(event.to_json())
    assert decoded == {"event_id": event.event_id, "type": "case.reopened", "version": 1, "case_id": "c1",
                       "occurred_at": "2026-03-02T09:15:00+08:00",
                       "data": {"reason": "不满意", "due_at": "2026-03-03T09:15:00+08:00"}}


def test_envelope_is_frozen():
    event = CaseEvent.new(cause="x", type="case.closed", case_id="c1", occurred_at=NOW,
                          data=case_events.Closed(closed_at=NOW))
    with pytest.raises(ValidationError):
        event.type = "case.other"


# ================================================================ case events

SAMPLES: dict[str, dict] = {
    "case.registered": {
        "submission_id": "hotline-20260302-0001", "channel": "hotline", "tracking_no": "QH2026030200001",
        "received_at": "2026-03-02T09:15:05+08:00", "submitted_at": "2026-03-02T09:15:00+08:00",
        "enterprise": {"name": "开化县某某纸业有限公司", "uscc": "91330824MA2XXXXXXY", "contact_name": "张*",
                       "contact_phone": "138****0000"},
        "content": "问题描述……", "title": None, "region_hint": None, "reporter_kind": "enterprise"},
    "case.triaged": {"screening": "accepted", "department": "gongdian", "co_departments": [], "region": "majin",
                     "complexity": "simple", "decided_by": "auto", "needs_review": False,
                     "confidence": {"department": 0.95}, "reason": "按职能关键词匹配：gongdian"},
    "case.assigned": {"department": "gongdian", "co_departments": ["shuiwu"], "region": None, "complexity": "general",
                      "escalation_level": 1, "due_at": "2026-03-04T09:15:00+08:00"},
    "case.accepted": {"department": "gongdian", "by": "wang.wu"},
    "case.reminded": {"due_at": "2026-03-04T09:15:00+08:00", "level": 1},
    "case.overdue": {"due_at": "2026-03-04T09:15:00+08:00", "escalation_level": 1},
    "case.escalated": {"from_level": 1, "to_level": 2, "reason": "逾期"},
    "case.resolved": {"resolution": "已增容", "resolved_at": "2026-03-03T10:00:00+08:00", "on_time": True,
                      "by": "wang.wu"},
    "case.rated": {"level": "satisfied", "satisfied": True, "comment": None},
    "case.revisited": {"method": "phone", "outcome": "企业认可"},
    "case.referred": {"to": "jiwei", "reason": "不满意件"},
    "case.reopened": {"reason": "不满意", "due_at": "2026-03-05T09:15:00+08:00"},
    "case.closed": {"closed_at": "2026-03-06T09:15:00+08:00"},
    "case.synced": {"target": "hotline", "direction": "outbound", "remote_id": "12345-1"},
    "case.returned": {"department": "fagai", "by": "wang.wu", "reason": "不属于本单位职责"},
    "case.progressed": {"department": "fagai", "by": "wang.wu", "note": "已联系企业"},
    "case.rating_appealed": {"round": 1, "department": "gongdian", "by": "wang.wu", "reason": "企业误评",
                             "evidence": ["通话录音：企业确认已恢复供电"]},
    "case.rating_reviewed": {"round": 1, "decision": "excluded", "by": "li.si", "reason": "证据充分，属误评"},
    "case.evaluated": {"source": "third_party", "round": 1, "satisfied": True, "score": 92.0, "by": "zhao.liu"},
    "case.supervised": {"action": "pressed", "by": "zhao.liu", "note": "限期整改", "round": 1, "findings": []},
    "case.detail_added": {"detail": "停电地点在马金镇工业园区二期", "by": "enterprise"},
    "case.urged": {"submission_id": "hotline-20260305-0002", "channel": "hotline", "urge_count": 1},
    "case.supplemented": {"content": "停电地点在马金镇工业园区二期，联系电话138****1234", "by": "enterprise",
                          "round": 1},
}

# one required data field per type, to break
REQUIRED = {
    "case.registered": "tracking_no", "case.triaged": "decided_by", "case.assigned": "due_at",
    "case.accepted": "by", "case.reminded": "level", "case.overdue": "escalation_level",
    "case.escalated": "to_level", "case.resolved": "on_time", "case.rated": "satisfied",
    "case.revisited": "method", "case.referred": "to", "case.reopened": "due_at", "case.closed": "closed_at",
    "case.synced": "target",
    "case.returned": "reason",
    "case.progressed": "note",
    "case.rating_appealed": "reason",
    "case.rating_reviewed": "decision",
    "case.evaluated": "source",
    "case.supervised": "action",
    "case.detail_added": "detail",
    "case.urged": "urge_count",
    "case.supplemented": "content",
}


def envelope(type_="case.assigned", data=None, **changes) -> dict:
    env = {"event_id": "e-1", "type": type_, "version": 1, "case_id": "c-1",
           "occurred_at": "2026-03-02T09:15:00+08:00", "data": SAMPLES.get(type_, {}) if data is None else data}
    env.update(changes)
    return env


def raw(env: dict) -> bytes:
    return json.dumps(env, ensure_ascii=False).encode()


def test_samples_cover_every_type():
    assert set(SAMPLES) == set(DATA_MODELS) == set(REQUIRED)
    assert all(version == 1 for version, _ in DATA_MODELS.values())


@pytest.mark.parametrize("type_", sorted(DATA_MODELS))
def test_valid_envelope_parses_to_its_data_model(type_):
    parsed = parse_case_event(raw(envelope(type_)))
    assert parsed is not None
    event, data = parsed
    assert isinstance(data, DATA_MODELS[type_][1])
    assert event.event_id == "e-1" and event.type == type_ and event.version == 1 and event.case_id == "c-1"
    assert event.occurred_at == datetime(2026, 3, 2, 9, 15, tzinfo=CST)
    assert event.data == SAMPLES[type_]
    assert data.model_dump(mode="json", exclude_unset=True) == SAMPLES[type_]


@pytest.mark.parametrize("type_", sorted(DATA_MODELS))
def test_round_trip_through_new_and_to_json(type_):
    model = DATA_MODELS[type_][1].model_validate(SAMPLES[type_])
    event = CaseEvent.new(cause="cause-1", type=type_, case_id="c-9", occurred_at=NOW, data=model)
    parsed = parse_case_event(event.to_json())
    assert parsed is not None
    back, data = parsed
    assert back == event
    assert data == model


def test_assigned_data_is_typed():
    _, data = parse_case_event(raw(envelope("case.assigned")))
    assert data.due_at == datetime(2026, 3, 4, 1, 15, tzinfo=timezone.utc)
    assert data.co_departments == ["shuiwu"]
    assert data.escalation_level == 1


@pytest.mark.parametrize("type_", ["case.unknown", "case.registered.v2", "invoice.paid", "CASE.REGISTERED"])
def test_unknown_type_is_skipped(type_):
    assert parse_case_event(raw(envelope(type_, data={"anything": [1, 2, 3]}))) is None


@pytest.mark.parametrize("type_", sorted(DATA_MODELS))
def test_higher_version_is_skipped_even_with_data_this_code_cannot_read(type_):
    assert parse_case_event(raw(envelope(type_, data={"shape": "of the future"}, version=2))) is None
    assert parse_case_event(raw(envelope(type_, version=99))) is None


def test_version_defaults_to_1():
    env = envelope("case.closed")
    del env["version"]
    event, _ = parse_case_event(raw(env))
    assert event.version == 1


def test_extra_fields_tolerated():
    env = envelope("case.closed", data={**SAMPLES["case.closed"], "note": "x"}, trace_id="t-1")
    event, data = parse_case_event(raw(env))
    assert data.closed_at == datetime(2026, 3, 6, 1, 15, tzinfo=timezone.utc)
    assert data.model_extra == {"note": "x"}


@pytest.mark.parametrize("blob", [b"{not json", b"", b"null", b"[]", b"\xff\xfe", b'"case.closed"'])
def test_bad_json_is_unreadable(blob):
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(blob)
    assert info.value.reason == "invalid case event envelope"
    assert str(info.value) == "invalid case event envelope"
    assert info.value.errors


@pytest.mark.parametrize("field", ["event_id", "type", "case_id", "occurred_at"])
def test_missing_envelope_field_is_unreadable(field):
    env = envelope("case.closed")
    del env[field]
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(raw(env))
    assert info.value.reason == "invalid case event envelope"
    assert [tuple(e["loc"]) for e in info.value.errors] == [(field,)]


@pytest.mark.parametrize("changes, loc", [
    ({"occurred_at": "2026-03-02T09:15:00"}, "occurred_at"),  # naive
    ({"version": 0}, "version"),
    ({"event_id": ""}, "event_id"),
    ({"event_id": "x" * 65}, "event_id"),
    ({"case_id": ""}, "case_id"),
    ({"data": "not an object"}, "data"),
])
def test_bad_envelope_values_are_unreadable(changes, loc):
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(raw(envelope("case.closed", **changes)))
    assert [e["loc"][0] for e in info.value.errors] == [loc]


def test_unreadable_errors_carry_no_input():
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(raw(envelope("case.assigned", data={"department": "13800001234"})))
    assert all("input" not in e and "url" not in e for e in info.value.errors)


def test_unreadable_event_is_a_value_error():
    assert issubclass(UnreadableEvent, ValueError)
    assert UnreadableEvent("x").errors == []


@pytest.mark.parametrize("type_", sorted(DATA_MODELS))
def test_known_type_with_bad_data_is_unreadable(type_):
    data = dict(SAMPLES[type_])
    missing = REQUIRED[type_]
    del data[missing]
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(raw(envelope(type_, data=data)))
    assert info.value.reason == f"invalid data for {type_}"
    assert [tuple(e["loc"]) for e in info.value.errors] == [(missing,)]


@pytest.mark.parametrize("type_, field, value", [
    ("case.triaged", "decided_by", "robot"),
    ("case.revisited", "method", "email"),
    ("case.assigned", "due_at", "tomorrow"),
    ("case.resolved", "on_time", "perhaps"),
    ("case.escalated", "to_level", "two"),
    ("case.registered", "enterprise", {"name": "某公司"}),  # contact_phone is required, masked
])
def test_known_type_with_wrong_value_is_unreadable(type_, field, value):
    with pytest.raises(UnreadableEvent) as info:
        parse_case_event(raw(envelope(type_, data={**SAMPLES[type_], field: value})))
    assert info.value.reason == f"invalid data for {type_}"
    assert info.value.errors[0]["loc"][0] == field


# ================================================================ schema snapshot

def current_schemas() -> dict:
    schemas: dict[str, dict] = {
        "submissions.Submission": Submission.model_json_schema(),
        "envelope.CaseEvent": CaseEvent.model_json_schema(),
    }
    for type_, (version, model) in sorted(DATA_MODELS.items()):
        schemas[f"case_events.{type_}.v{version}"] = model.model_json_schema()
    return json.loads(json.dumps(schemas))  # normalise tuples etc. to plain JSON


def render(schemas: dict) -> str:
    return json.dumps(schemas, ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def test_contract_schemas_match_snapshot():
    schemas = current_schemas()
    if os.environ.get("QHWY_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.parent.mkdir(parents=True, exist_ok=True)
        SNAPSHOT.write_text(render(schemas), encoding="utf-8")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing; run with QHWY_UPDATE_SNAPSHOTS=1 to create it"
    stored = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    if stored != schemas:
        diff = "\n".join(difflib.unified_diff(render(stored).splitlines(), render(schemas).splitlines(),
                                              "snapshot", "current", lineterm="", n=2))
        pytest.fail("contract schemas changed (a public contract change needs a new version, or "
                    "QHWY_UPDATE_SNAPSHOTS=1 if intended):\n" + diff)


def test_snapshot_covers_every_data_model():
    stored = json.loads(SNAPSHOT.read_text(encoding="utf-8"))
    expected = {"submissions.Submission", "envelope.CaseEvent",
                *(f"case_events.{t}.v{v}" for t, (v, _) in DATA_MODELS.items())}
    assert set(stored) == expected
    assert all(isinstance(model, type) and issubclass(model, BaseModel) for _, model in DATA_MODELS.values())


def test_sla_issue_17_additions_are_optional():
    # an older producer's closing and reminder still parse; the new fields carry the closing reason and who pressed
    assert case_events.Closed(closed_at=NOW).reason is None
    closed = case_events.Closed(closed_at=NOW, by="sla", reason="企业未在规定时间内补充说明",
                                reason_code="no_supplement")
    assert closed.model_dump()["reason_code"] == "no_supplement"
    urged = case_events.Reminded(due_at=NOW, level=1, kind="urged", department="gongdian", by="t.officer",
                                 note="请尽快")
    assert (urged.by, urged.note) == ("t.officer", "请尽快")
    assert case_events.Reminded(due_at=NOW, level=1).by is None
