"""services.sla.domain firing records: a firing stored on its own and folded into the clock record later gives the
same clock as the firing written into the record, whatever the order of firings and case events."""

import copy
from datetime import timedelta

from services.sla import domain
from services.sla.domain import fire, firing_record, merge_firing, schedule, timers, track, with_firings
from tests.unit.test_sla_domain import POLICY, at, event, opened
from shared.contracts import case_events as ce


def folded_after(doc, times):
    """Fire at each instant as the service does now: a firing record per sweep, the record left as it was."""
    store: dict[str, dict] = {}
    records = []
    for now in times:
        current, _ = with_firings("case-1", doc, POLICY, store.get)
        change = fire(current, case_id="case-1", now=now, policy=POLICY)
        if change is None:
            continue
        record = firing_record("case-1", current, change, now=now, partition=2)
        assert record["_id"] not in store
        store[record["_id"]] = record
        records.append(record)
    return store, records


def written_after(doc, times):
    """Fire at each instant the old way: each firing written into the record."""
    doc = copy.deepcopy(doc)
    events = []
    for now in times:
        change = fire(doc, case_id="case-1", now=now, policy=POLICY)
        if change is not None:
            doc.update(change.set)
            events += change.events
    return doc, events


TIMES = [at(2026, 3, 2, 14, 40), at(2026, 3, 2, 17, 10), at(2026, 3, 3, 9, 1), at(2026, 3, 3, 16), at(2026, 3, 4, 15),
         at(2026, 3, 5, 16)]


def test_folded_firings_equal_written_ones():
    doc = opened()
    store, records = folded_after(doc, TIMES)
    folded, used = with_firings("case-1", doc, POLICY, store.get)
    written, events = written_after(doc, TIMES)
    for key in ("fired", "overdue", "escalation_level", "escalate_at", "next_fire_at", "next_timer"):
        assert folded[key] == written[key], key
    assert used == [r["_id"] for r in records]
    # the same events with the same ids as before firing records existed
    assert [e["event_id"] for r in records for e in r["events"]] == [e.event_id for e in events]
    assert folded["escalation_level"] == 4 and folded["next_fire_at"] is None


def test_firing_id_is_the_first_timer_it_fires_and_a_second_attempt_collides():
    doc = opened()
    late = at(2026, 3, 3, 10)  # after an outage: 50%, 80%, end-of-day and the deadline are all due
    change = fire(doc, case_id="case-1", now=late, policy=POLICY)
    record = firing_record("case-1", doc, change, now=late, partition=2)
    assert record["_id"] == domain.firing_id("case-1", timers(doc, POLICY)[0].id)
    # another instance, on the same record a second later, computes the same id: the insert fails there
    again = firing_record("case-1", doc, fire(doc, case_id="case-1", now=late + timedelta(seconds=1), policy=POLICY),
                          now=late, partition=2)
    assert again["_id"] == record["_id"]
    # once folded in, the record's next firing has another id, and nothing more is due yet
    folded = merge_firing(doc, record, POLICY)
    assert domain.next_firing_id("case-1", folded, POLICY) != record["_id"]
    assert fire(folded, case_id="case-1", now=late, policy=POLICY) is None


def test_a_case_event_absorbs_the_firings_and_keeps_their_effects():
    doc = opened()
    store, records = folded_after(doc, TIMES[:3])  # up to the deadline: overdue, level 2
    folded, used = with_firings("case-1", doc, POLICY, store.get)
    accepted = event("case.accepted", ce.Accepted(department="gongdian", by="wang.wu"), cause="acc",
                     when=at(2026, 3, 3, 9, 30))
    change = domain.absorbing(folded, used, track(folded, accepted, POLICY))
    stored = {**doc, **change.set}
    assert stored["state"] == "accepted" and stored["escalation_level"] == 2 and stored["overdue"]
    assert stored["fired"] == folded["fired"]
    # nothing left to fold: the stored record alone is the clock
    again, used_again = with_firings("case-1", stored, POLICY, store.get)
    assert used_again == [] and again == stored
    # an event that changes nothing still writes what it absorbed (the record's rev moves on)
    stale_escalation = event("case.escalated", ce.Escalated(from_level=1, to_level=2, reason="x", by="sla"),
                             cause="esc", when=at(2026, 3, 3, 9, 1))
    assert track(folded, stale_escalation, POLICY) is None
    noop = domain.absorbing(folded, used, None)
    assert noop is not None and noop.set["escalation_level"] == 2 and noop.set["fired"] == folded["fired"]
    assert domain.absorbing(doc, [], None) is None


def test_a_reopened_clock_ignores_the_old_epochs_firings():
    doc = opened()
    store, _ = folded_after(doc, TIMES)
    folded, used = with_firings("case-1", doc, POLICY, store.get)
    reopened = event("case.reopened", ce.Reopened(due_at=at(2026, 3, 10, 9), reason="差评"), cause="re",
                     when=at(2026, 3, 9, 9))
    change = domain.absorbing(folded, used, track(folded, reopened, POLICY))
    stored = {**doc, **change.set}
    assert stored["epoch"] == 2 and stored["fired"] == []
    again, used_again = with_firings("case-1", stored, POLICY, store.get)
    assert used_again == [] and again["next_timer"].startswith("2/")


def test_merge_of_a_firing_from_an_older_view_keeps_the_higher_level():
    doc = opened()
    late = at(2026, 3, 3, 10)
    record = firing_record("case-1", doc, fire(doc, case_id="case-1", now=late, policy=POLICY), now=late, partition=2)
    ahead = {**doc, "escalation_level": 3, "escalate_at": at(2026, 3, 4, 9)}  # leadership was asked meanwhile
    merged = merge_firing(ahead, record, POLICY)
    assert merged["escalation_level"] == 3 and merged["escalate_at"] == at(2026, 3, 4, 9)
    assert set(record["fired"]) <= set(merged["fired"])
    assert merged["next_fire_at"] == schedule(merged, POLICY)["next_fire_at"]


def test_a_broken_chain_stops():
    doc = opened()
    loop = {"fired": [], "escalation_level": 1}  # a firing that folds in nothing cannot loop forever
    _, used = with_firings("case-1", doc, POLICY, lambda _id: loop)
    assert len(used) == domain.MAX_CHAIN
