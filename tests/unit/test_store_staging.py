"""A batch's staged document is what the store's update would have made (shared.store._with_change)."""

from datetime import UTC, datetime

from shared.contracts.envelope import CaseEvent
from shared.store import Change, _with_change

NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def event(n: int) -> CaseEvent:
    return CaseEvent.model_validate({"event_id": f"e{n}", "type": "case.reminded", "version": 1, "case_id": "c1",
                                     "occurred_at": "2026-03-02T09:00:00+08:00", "data": {"due_at": "x", "level": 1}})


def test_a_new_document_gets_its_state_cause_outbox_and_first_revision():
    outbox = {"e1": {**event(1).model_dump(mode="json"), "cause": "cause-1"}}
    doc = _with_change(None, "c1", Change(set={"status": "open", "deliveries.d1.state": "due"},
                                         push={"history": {"n": 1}}), "cause-1", outbox, NOW)
    assert doc == {"_id": "c1", "status": "open", "deliveries": {"d1": {"state": "due"}}, "history": [{"n": 1}],
                   "processed": ["cause-1"], "outbox": outbox, "pending_since": NOW, "rev": 1}


def test_a_change_to_a_stored_document_keeps_the_rest_and_does_not_touch_the_original():
    stored = {"_id": "c1", "status": "open", "deliveries": {"d1": {"state": "due", "tries": 2}},
              "history": [{"n": 1}], "processed": ["cause-1"], "outbox": {}, "pending_since": None, "rev": 4}
    doc = _with_change(stored, "c1", Change(set={"deliveries.d1.state": "sent", "status": "closed"},
                                           push={"history": {"n": 2}}), "cause-2", {}, NOW)
    assert doc == {"_id": "c1", "status": "closed", "deliveries": {"d1": {"state": "sent", "tries": 2}},
                   "history": [{"n": 1}, {"n": 2}], "processed": ["cause-1", "cause-2"], "outbox": {},
                   "pending_since": None, "rev": 5}
    assert stored["status"] == "open" and stored["history"] == [{"n": 1}] and stored["rev"] == 4
    assert stored["deliveries"]["d1"]["state"] == "due"


def test_pending_since_stays_at_the_oldest_unpublished_event():
    earlier = datetime(2026, 3, 1, tzinfo=UTC)
    stored = {"_id": "c1", "processed": [], "outbox": {"e0": {}}, "pending_since": earlier, "rev": 1}
    doc = _with_change(stored, "c1", Change(), "cause-3", {"e1": {}}, NOW)
    assert doc["pending_since"] == earlier and set(doc["outbox"]) == {"e0", "e1"}
