"""services.sync.domain: what goes to the city and the hotline, delivery outcomes, inbound city messages."""

import copy
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.sync import domain
from services.sync.city_api import Assignment, CityEnterprise, CityMessage
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)
LATER = NOW + timedelta(hours=5)
RULES = domain.SyncRules(city_level=4, city_department="city", hotline_channel="hotline",
                         city_channel="city_platform", ticket_field="submission_id")


def event(type_, data, cause="cause-1", case_id="case-1"):
    return CaseEvent.new(cause=cause, type=type_, case_id=case_id, occurred_at=NOW, data=data)


def set_path(doc, path, value):
    parts = path.split(".")
    for part in parts[:-1]:
        doc = doc.setdefault(part, {})
    doc[parts[-1]] = value


def apply(doc, change):
    """What CaseDocuments.apply does to the document (dotted paths included)."""
    new = copy.deepcopy(doc) if doc is not None else {"_id": "case-1"}
    sets = change.set if hasattr(change, "set") else change
    for path, value in copy.deepcopy(sets).items():
        set_path(new, path, value)
    for name, value in getattr(change, "push", {}).items():
        new.setdefault(name, []).append(value)
    return new


def fold_all(events, doc=None):
    for ev in events:
        change = domain.fold(doc, ev, RULES, NOW)
        if change is not None:
            doc = apply(doc, change)
    return doc


def registered(channel, submission_id=None, **extra):
    return event("case.registered", ce.Registered(
        submission_id=submission_id or f"{channel}-20260302-0001", channel=channel, tracking_no="QH2026030200001",
        received_at=NOW, enterprise=ce.PublicEnterprise(name="某公司", contact_phone="138****0000"),
        content="需要电力增容", **extra), cause="sub")


def escalated(to_level, cause="esc"):
    return event("case.escalated", ce.Escalated(from_level=to_level - 1, to_level=to_level, reason="逾期未办结"),
                 cause=cause)


ASSIGNED = event("case.assigned", ce.Assigned(department="gongdian", complexity="simple", escalation_level=1,
                                             due_at=NOW + timedelta(days=1)), cause="as")
ACCEPTED = event("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), cause="acc")
RESOLVED = event("case.resolved", ce.Resolved(resolution="已增容", resolved_at=LATER, on_time=True, by="wang.wu"),
                 cause="res")
RATED = event("case.rated", ce.Rated(level="satisfied", satisfied=True, comment="好"), cause="rat")
CLOSED = event("case.closed", ce.Closed(closed_at=LATER), cause="clo")


def deliveries(doc):
    return sorted(doc.get("deliveries", {}).values(), key=lambda d: d["seq"])


# ---------------------------------------------------------------- folding

def test_every_registration_is_kept_for_the_case_file_but_sends_nothing():
    doc = fold_all([registered("qrcode"), ASSIGNED, ACCEPTED])
    assert doc["registered"]["content"] == "需要电力增容" and doc["tracking_no"] == "QH2026030200001"
    assert [t["type"] for t in doc["timeline"]] == ["case.assigned", "case.accepted"]
    assert "deliveries" not in doc and doc.get("targets", []) == []


def test_events_of_a_case_never_registered_here_are_not_kept():
    assert domain.fold(None, ACCEPTED, RULES, NOW) is None


def test_hotline_case_remembers_its_ticket():
    doc = fold_all([registered("hotline")])
    assert doc["hotline_ticket"] == "hotline-20260302-0001"
    assert doc["targets"] == ["hotline"]
    assert "deliveries" not in doc


def test_ticket_field_is_configurable_and_falls_back_to_the_submission_id():
    rules = domain.SyncRules(**{**RULES.__dict__, "ticket_field": "source_ref"})
    with_ref = domain.fold(None, registered("hotline", source_ref="12345-0042"), rules, NOW)
    assert with_ref.set["hotline_ticket"] == "12345-0042"
    without = domain.fold(None, registered("hotline"), rules, NOW)
    assert without.set["hotline_ticket"] == "hotline-20260302-0001"


def test_hotline_result_and_rating_go_back_with_the_ticket():
    doc = fold_all([registered("hotline"), ASSIGNED, ACCEPTED, RESOLVED, RATED, CLOSED])
    sent = deliveries(doc)
    assert [(d["target"], d["kind"]) for d in sent] == [("hotline", "result"), ("hotline", "rating")]
    assert all(d["path"] == "/v1/tickets/hotline-20260302-0001/results" for d in sent)
    assert sent[0]["body"]["resolution"] == "已增容"
    assert sent[1]["body"]["level"] == "satisfied"
    assert all(d["state"] == "pending" and d["attempts"] == 0 and d["next_at"] == NOW for d in sent)
    assert doc["next_delivery_at"] == NOW


def test_escalation_below_the_city_level_stays_local():
    doc = fold_all([registered("qrcode"), ASSIGNED, escalated(2), escalated(3)])
    assert "deliveries" not in doc and not doc.get("city_linked")


def test_escalation_to_the_city_sends_the_case_file():
    doc = fold_all([registered("hotline"), ASSIGNED, ACCEPTED, escalated(4)])
    (sent,) = deliveries(doc)
    assert sent["target"] == "city" and sent["kind"] == "escalation" and sent["path"] == "/v1/escalations"
    body = sent["body"]
    assert body["idempotency_key"] == sent["id"]
    assert body["county_case_id"] == "case-1" and body["tracking_no"] == "QH2026030200001"
    assert body["to_level"] == 4 and body["reason"] == "逾期未办结"
    assert body["case_file"]["content"] == "需要电力增容"
    assert body["case_file"]["enterprise"]["contact_phone"] == "138****0000"  # masked, as in the events
    assert [t["type"] for t in body["case_file"]["timeline"]] == ["case.assigned", "case.accepted"]
    assert doc["targets"] == ["city", "hotline"] and doc["city_linked"] is True


def test_escalation_of_a_case_sync_never_saw_registered():
    doc = fold_all([escalated(4)])
    (sent,) = deliveries(doc)
    assert sent["body"]["tracking_no"] is None and sent["kind"] == "escalation"


def test_after_the_escalation_the_city_hears_every_update():
    doc = fold_all([registered("qrcode"), escalated(4), ACCEPTED, RESOLVED, RATED, CLOSED])
    sent = deliveries(doc)
    assert [d["kind"] for d in sent] == ["escalation", "update", "update", "update", "update"]
    assert [d["body"]["type"] for d in sent[1:]] == ["accepted", "resolved", "rated", "closed"]
    assert [d["seq"] for d in sent] == [1, 2, 3, 4, 5]


def test_a_second_escalation_to_the_city_is_an_update():
    doc = fold_all([registered("qrcode"), escalated(4), escalated(4, cause="esc2")])
    assert [d["kind"] for d in deliveries(doc)] == ["escalation", "update"]


def test_city_assigned_case_reports_its_status_and_result_to_the_city():
    doc = fold_all([registered("city_platform", submission_id="city-SJ2026030200001"), ASSIGNED, ACCEPTED,
                    RESOLVED, CLOSED])
    assert doc["city_case_id"] == "SJ2026030200001"
    sent = deliveries(doc)
    assert [d["body"]["type"] for d in sent] == ["accepted", "resolved", "closed"]
    assert all(d["body"]["city_case_id"] == "SJ2026030200001" for d in sent)


def test_what_the_city_said_is_not_echoed_back():
    from_city = event("case.resolved", ce.Resolved(resolution="市里已协调", resolved_at=LATER, on_time=True,
                                                   by="city:desk"), cause="cm")
    doc = fold_all([registered("hotline"), escalated(4), from_city])
    assert [(d["target"], d["kind"]) for d in deliveries(doc)] == [("city", "escalation"), ("hotline", "result")]


def test_own_synced_events_change_nothing():
    doc = fold_all([registered("hotline")])
    synced = event("case.synced", ce.Synced(target="hotline", direction="outbound", remote_id="x"))
    assert domain.fold(doc, synced, RULES, NOW) is None


def test_delivery_ids_derive_from_the_event():
    a = fold_all([registered("hotline"), RESOLVED])
    b = fold_all([registered("hotline"), RESOLVED])
    assert list(a["deliveries"]) == list(b["deliveries"])


def test_new_document_gets_a_whole_map_existing_one_dotted_paths():
    new = domain.fold(None, escalated(4), RULES, NOW)
    assert "deliveries" in new.set and not any(k.startswith("deliveries.") for k in new.set)
    doc = fold_all([registered("hotline")])
    later = domain.fold(doc, RESOLVED, RULES, NOW)
    assert "deliveries" not in later.set and any(k.startswith("deliveries.") for k in later.set)


# ---------------------------------------------------------------- delivery order and outcomes

def test_due_deliveries_one_per_target_in_order():
    doc = fold_all([registered("hotline"), escalated(4), ACCEPTED, RESOLVED])
    due = domain.due_deliveries(doc, NOW)
    assert [(d["target"], d["kind"]) for d in due] == [("city", "escalation"), ("hotline", "result")]
    assert domain.due_deliveries(doc, NOW - timedelta(seconds=1)) == []
    assert [d["target"] for d in domain.due_deliveries(doc, NOW, {"hotline"})] == ["hotline"]


def test_delivered_confirms_and_publishes_case_synced():
    doc = fold_all([registered("qrcode"), escalated(4), ACCEPTED])
    first, second = deliveries(doc)
    change = domain.delivered(doc, first["id"], "CE-1", LATER)
    (synced,) = change.events
    assert synced.type == "case.synced"
    assert synced.data == {"target": "city", "direction": "outbound", "remote_id": "CE-1"}
    doc = apply(doc, change)
    assert doc["city_escalation_id"] == "CE-1"
    assert doc["next_delivery_at"] == NOW  # the update is still pending
    assert [d["id"] for d in domain.due_deliveries(doc, NOW)] == [second["id"]]
    assert domain.delivered(doc, first["id"], "CE-1", LATER) is None  # once


def test_same_confirmation_twice_gives_the_same_event_id():
    doc = fold_all([registered("qrcode"), escalated(4)])
    (only,) = deliveries(doc)
    a = domain.delivered(doc, only["id"], "CE-1", LATER).events[0]
    b = domain.delivered(doc, only["id"], "CE-1", LATER + timedelta(minutes=1)).events[0]
    assert a.event_id == b.event_id


@pytest.mark.parametrize("attempts, jitter, expected", [
    (1, 0.0, 1.0), (1, 0.999999, 2.0), (2, 0.0, 2.0), (3, 0.5, 6.0), (10, 0.0, 60.0), (30, 1.0, 120.0),
])
def test_backoff_is_exponential_with_jitter_and_capped(attempts, jitter, expected):
    assert domain.backoff_seconds(attempts, 2.0, 120.0, jitter) == pytest.approx(expected, rel=1e-5)


def test_failed_reschedules_and_blocks_later_deliveries_of_the_target():
    doc = fold_all([registered("qrcode"), escalated(4), ACCEPTED])
    first, second = deliveries(doc)
    doc = apply(doc, domain.failed(doc, first["id"], "HTTP 503", NOW, base=2, cap=120, jitter=0.0))
    again = doc["deliveries"][first["id"]]
    assert again["attempts"] == 1 and again["next_at"] == NOW + timedelta(seconds=1)
    assert again["last_error"] == "HTTP 503"
    assert domain.due_deliveries(doc, NOW) == []  # the update waits behind the escalation
    assert [d["id"] for d in domain.due_deliveries(doc, NOW + timedelta(seconds=1))] == [first["id"]]
    assert doc["next_delivery_at"] == NOW + timedelta(seconds=1)  # the update cannot go before the escalation


def test_parked_holds_back_the_rest_of_its_target_until_replayed():
    doc = fold_all([registered("hotline"), escalated(4), ACCEPTED, RESOLVED])
    escalation, update, *_ = [d for d in deliveries(doc) if d["target"] == "city"]
    (hotline,) = [d for d in deliveries(doc) if d["target"] == "hotline"]
    doc = apply(doc, domain.parked(doc, escalation["id"], "HTTP 422", NOW))
    assert doc["deliveries"][escalation["id"]]["state"] == "parked"
    # The city's update waits (the city would refuse an update about a case it never accepted); the hotline's
    # result, another remote side, goes.
    assert [d["id"] for d in domain.due_deliveries(doc, LATER)] == [hotline["id"]]
    doc = apply(doc, domain.delivered(doc, hotline["id"], "H-1", NOW))
    assert domain.due_deliveries(doc, LATER) == []
    assert doc["next_delivery_at"] is None  # nothing can go until an operator acts
    assert domain.failed(doc, escalation["id"], "x", NOW, base=1, cap=1, jitter=0) is None
    doc = apply(doc, domain.resend(doc, escalation["id"], LATER, "replayed"))
    assert doc["next_delivery_at"] == LATER
    assert [d["id"] for d in domain.due_deliveries(doc, LATER)] == [escalation["id"]]
    doc = apply(doc, domain.delivered(doc, escalation["id"], "CE-1", LATER))
    assert [d["id"] for d in domain.due_deliveries(doc, LATER)] == [update["id"]]


def test_resend_of_a_parked_delivery_with_a_correction_keeps_the_key():
    doc = fold_all([registered("qrcode"), escalated(4)])
    (only,) = deliveries(doc)
    doc = apply(doc, domain.parked(doc, only["id"], "HTTP 422", NOW))
    doc = apply(doc, domain.resend(doc, only["id"], LATER, "replayed", {"reason": "更正", "idempotency_key": "x"}))
    again = doc["deliveries"][only["id"]]
    assert again["state"] == "pending" and again["attempts"] == 0 and again["next_at"] == LATER
    assert again["body"] == {"reason": "更正", "idempotency_key": only["id"]}
    assert again["resent"] == 1 and doc["next_delivery_at"] == LATER
    assert domain.resend(doc, only["id"], LATER, "again") is None  # already pending


def test_deferred_moves_the_time_without_counting_an_attempt():
    doc = fold_all([registered("qrcode"), escalated(4)])
    (only,) = deliveries(doc)
    doc = apply(doc, domain.deferred(doc, only["id"], LATER))
    assert doc["deliveries"][only["id"]]["attempts"] == 0
    assert doc["next_delivery_at"] == LATER


def test_nothing_pending_means_no_next_time():
    doc = fold_all([registered("qrcode"), escalated(4)])
    (only,) = deliveries(doc)
    doc = apply(doc, domain.delivered(doc, only["id"], "CE-1", NOW))
    assert doc["next_delivery_at"] is None


# ---------------------------------------------------------------- inbound

def message(seq, case_seq, kind="reply", decision=None, text="收到", case_id="case-1", minutes=0):
    return CityMessage(message_id=f"CM-{seq}", seq=seq, county_case_id=case_id, case_seq=case_seq, kind=kind,
                       decision=decision, author="desk", text=text, occurred_at=NOW + timedelta(minutes=minutes))


def test_a_city_reply_becomes_progress_and_synced():
    change = domain.city_message(None, message(1, 1), RULES, LATER)
    progressed, synced = change.events
    assert progressed.type == "case.progressed"
    assert {k: progressed.data[k] for k in ("department", "by", "note")} == {
        "department": "city", "by": "city:desk", "note": "收到"}
    assert synced.data == {"target": "city", "direction": "inbound", "remote_id": "CM-1"}
    assert change.set == {"city_case_seq": 1, "city_status": "reply"}


def test_a_city_resolution_becomes_case_resolved_on_time_against_the_due_date():
    doc = fold_all([registered("qrcode"), ASSIGNED, escalated(4)])
    change = domain.city_message(doc, message(2, 2, "decision", "resolve", "已协调解决", minutes=30), RULES, LATER)
    resolved = change.events[0]
    assert resolved.type == "case.resolved"
    assert resolved.data["on_time"] is True and resolved.data["by"] == "city:desk"
    late = domain.city_message(doc, message(3, 3, "decision", "resolve", minutes=60 * 48), RULES, LATER)
    assert late.events[0].data["on_time"] is False


def test_out_of_order_messages_never_move_the_city_status_back():
    doc = apply(None, domain.city_message(None, message(2, 2, "decision", "accept"), RULES, NOW))
    older = domain.city_message(doc, message(1, 1), RULES, NOW)
    assert older.set == {}  # the older reply is still published ...
    assert [e.type for e in older.events] == ["case.progressed", "case.synced"]
    assert doc["city_status"] == "accept"  # ... but the status stays on the later decision


def test_city_message_event_ids_are_stable():
    a = domain.city_message(None, message(1, 1), RULES, NOW).events
    b = domain.city_message({"city_case_seq": 5}, message(1, 1), RULES, LATER).events
    assert [e.event_id for e in a] == [e.event_id for e in b]


def test_assignment_becomes_a_city_platform_submission():
    assignment = Assignment(city_case_id="SJ2026030200001", seq=1, assigned_at=NOW, content="土地指标问题",
                            enterprise=CityEnterprise(name="某公司", contact_phone="13800000000"))
    submission = domain.submission_for(assignment, RULES)
    assert submission["submission_id"] == "city-SJ2026030200001"
    assert submission["channel"] == "city_platform"
    assert submission["enterprise"] == {"name": "某公司", "contact_phone": "13800000000"}


@pytest.mark.parametrize("cursor, seen, new, expected", [
    (0, set(), [1, 2, 3], (3, set())),
    (0, set(), [2, 3], (0, {2, 3})),  # 1 is late: hold the cursor below it
    (0, {2, 3}, [1], (3, set())),
    (3, set(), [1, 2], (3, set())),  # already behind the cursor
    (3, {6}, [4], (4, {6})),
])
def test_cursor_never_jumps_a_gap(cursor, seen, new, expected):
    assert domain.advance_cursor(cursor, seen, new) == expected


def test_compare_finds_gaps_on_both_sides():
    local = {"a": "delivered", "b": "delivered", "c": "pending", "d": "pending", "e": "parked"}
    result = domain.compare(local, {"a", "c", "e"})
    assert result.missing_remotely == ["b"]
    assert result.confirmed_remotely == ["c"]


def test_a_resent_delivery_is_confirmed_again_under_a_new_cause():
    doc = fold_all([registered("qrcode"), escalated(4)])
    (only,) = deliveries(doc)
    first = domain.delivered(doc, only["id"], "CE-1", NOW)
    doc = apply(doc, first)
    doc = apply(doc, domain.resend(doc, only["id"], LATER, "missing at the remote side"))
    assert domain.delivered_cause(doc["deliveries"][only["id"]]) != domain.delivered_cause(only)
    second = domain.delivered(doc, only["id"], "CE-1", LATER)
    assert second.events[0].event_id != first.events[0].event_id
    assert apply(doc, second)["deliveries"][only["id"]]["state"] == "delivered"


def test_a_side_back_since_makes_deliveries_tried_before_it_due_but_not_later_failures():
    doc = fold_all([registered("hotline"), escalated(4), RESOLVED])
    city = [d for d in deliveries(doc) if d["kind"] == "escalation"][0]
    hotline = [d for d in deliveries(doc) if d["target"] == "hotline"][0]
    for d in (city, hotline):
        doc = apply(doc, domain.failed(doc, d["id"], "down", NOW, base=60, cap=120, jitter=0.5))
    back = NOW + timedelta(seconds=5)
    assert domain.due_deliveries(doc, back) == []
    due = domain.due_deliveries(doc, back, back_since={"city": back})
    assert [d["id"] for d in due] == [city["id"]]  # the hotline is not known to be back
    # A failure after the side came back keeps its backoff.
    doc = apply(doc, domain.failed(doc, city["id"], "500", back, base=60, cap=120, jitter=0.5))
    assert domain.due_deliveries(doc, back + timedelta(seconds=1), back_since={"city": back}) == []
