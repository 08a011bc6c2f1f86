"""shared/store.py CaseDocuments on the real store: idempotent per cause, the outbox cleared after publishing
(in one update when nothing changed the document since), and stored-but-unpublished events found by the sweep."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from shared.contracts.envelope import CaseEvent, derived_id
from shared.store import CaseDocuments, Change

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Updates(monitoring.CommandListener):
    """Counts update commands, the round trips FerretDB pays for with a collection scan."""

    def __init__(self) -> None:
        self.count = 0

    def started(self, event: Any) -> None:
        self.count += event.command_name == "update"

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture(scope="module")
async def store(infra: dict[str, str]) -> AsyncIterator[tuple[AsyncMongoClient, Updates, str]]:
    updates = Updates()
    client: AsyncMongoClient = AsyncMongoClient(infra["QHWY_MONGO_URL"], directConnection=True, tz_aware=True,
                                                event_listeners=[updates])
    name = f"t{uuid.uuid4().hex[:10]}_casedocs"
    try:
        yield client, updates, name
    finally:
        await client.drop_database(name)
        await client.close()


def docs_of(store: tuple[AsyncMongoClient, Updates, str]) -> CaseDocuments:
    client, _, name = store
    return CaseDocuments(client[name][f"c{uuid.uuid4().hex[:6]}"], lambda: NOW)


def event(case_id: str, cause: str, type_: str = "case.registered") -> CaseEvent:
    return CaseEvent(event_id=derived_id(cause, type_), type=type_, version=1, case_id=case_id, occurred_at=NOW,
                     data={"n": 1})


async def test_new_document_is_published_with_one_update_and_a_repeat_is_a_no_op(store: Any) -> None:
    docs, updates = docs_of(store), store[1]
    first = await docs.apply("c1", "cause-1", lambda doc: Change(set={"status": "registered"},
                                                                 events=[event("c1", "cause-1")]))
    assert not first.duplicate and len(first.events) == 1
    before = updates.count
    await docs.mark_published("c1", [e.event_id for e in first.events])
    docs.release([e.event_id for e in first.events])
    assert updates.count - before == 1
    stored = await docs.get("c1")
    assert stored is not None and stored["outbox"] == {} and stored["pending_since"] is None
    again = await docs.apply("c1", "cause-1", lambda doc: pytest.fail("a repeated cause must not be decided again"))
    assert again.duplicate and again.events == []
    docs.clock = lambda: NOW + timedelta(minutes=1)
    assert await docs.stale_outboxes(timedelta(seconds=10)) == []


async def test_second_change_before_publishing_the_first_keeps_the_unpublished_events(store: Any) -> None:
    docs = docs_of(store)
    first = await docs.apply("c2", "a", lambda doc: Change(events=[event("c2", "a")]))
    second = await docs.apply("c2", "b", lambda doc: Change(events=[event("c2", "b", "case.triaged")]))
    await docs.mark_published("c2", [e.event_id for e in first.events])  # the outbox still holds b's event
    docs.release([e.event_id for e in first.events + second.events])
    stored = await docs.get("c2")
    assert stored is not None and list(stored["outbox"]) == [second.events[0].event_id]
    assert stored["pending_since"] is not None
    docs.clock = lambda: NOW + timedelta(minutes=1)
    stale = await docs.stale_outboxes(timedelta(seconds=10))
    assert [(k, [e.event_id for e in evs]) for k, evs in stale] == [("c2", [second.events[0].event_id])]
    await docs.mark_published("c2", [second.events[0].event_id])
    stored = await docs.get("c2")
    assert stored is not None and stored["outbox"] == {} and stored["pending_since"] is None


async def test_a_write_by_another_process_in_between_is_not_overwritten(store: Any) -> None:
    docs = docs_of(store)
    first = await docs.apply("c3", "a", lambda doc: Change(events=[event("c3", "a")]))
    # another instance (another CaseDocuments on the same collection) applies a cause before we mark ours
    other = CaseDocuments(docs.collection, lambda: NOW)
    theirs = await other.apply("c3", "b", lambda doc: Change(set={"x": 1}, events=[event("c3", "b")]))
    await docs.mark_published("c3", [e.event_id for e in first.events])
    stored = await docs.get("c3")
    assert stored is not None and list(stored["outbox"]) == [theirs.events[0].event_id]
    assert stored["pending_since"] is not None and stored["x"] == 1 and stored["processed"] == ["a", "b"]


async def test_unpublished_events_of_a_crashed_writer_are_found_and_then_cleared(store: Any) -> None:
    docs = docs_of(store)
    applied = await docs.apply("c4", "a", lambda doc: Change(events=[event("c4", "a"), event("c4", "a", "x")]))
    # the process dies here: a fresh CaseDocuments (a restarted service) finds them
    restarted = CaseDocuments(docs.collection, lambda: NOW + timedelta(minutes=1))
    stale = await restarted.stale_outboxes(timedelta(seconds=10))
    assert [(k, sorted(e.event_id for e in evs)) for k, evs in stale] == [
        ("c4", sorted(e.event_id for e in applied.events))]
    await restarted.mark_published("c4", [e.event_id for e in applied.events])
    stored = await docs.get("c4")
    assert stored is not None and stored["outbox"] == {} and stored["pending_since"] is None


class Finds(monitoring.CommandListener):
    """The filters of the find commands that look for more than one document by its `_id` (the sweep's)."""

    def __init__(self) -> None:
        self.filters: list[dict[str, Any]] = []

    def started(self, event: Any) -> None:
        where = event.command.get("filter", {}) if event.command_name == "find" else {"_id": "one"}
        if not isinstance(where.get("_id"), str):
            self.filters.append(where)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


async def test_the_sweep_asks_the_store_for_all_outboxes_at_start_then_reads_only_its_own(
        store: Any, infra: dict[str, str]) -> None:
    finds = Finds()
    client: AsyncMongoClient = AsyncMongoClient(infra["QHWY_MONGO_URL"], directConnection=True, tz_aware=True,
                                                event_listeners=[finds])
    try:
        collection = client[store[2]][f"s{uuid.uuid4().hex[:6]}"]
        now = [NOW]
        docs = CaseDocuments(collection, lambda: now[0])
        left = await CaseDocuments(collection, lambda: NOW).apply(  # a predecessor died before publishing
            "left", "p", lambda doc: Change(events=[event("left", "p")]))
        # at start: the store-wide query, with no age (the predecessor's event is 0 s old)
        assert [(k, [e.event_id for e in evs]) for k, evs in await docs.stale_outboxes(timedelta(seconds=10))] == [
            ("left", [left.events[0].event_id])]
        assert "pending_since" in finds.filters[-1]
        await docs.mark_published("left", [left.events[0].event_id])
        docs.release([left.events[0].event_id])
        mine = await docs.apply("mine", "m", lambda doc: Change(events=[event("mine", "m")]))
        docs.release([e.event_id for e in mine.events])  # its publishing failed: the outbox keeps it
        other = CaseDocuments(collection, lambda: NOW)  # another instance dies with an event unpublished
        await other.apply("other", "o", lambda doc: Change(events=[event("other", "o")]))
        asked = len(finds.filters)
        now[0] = NOW + timedelta(seconds=5)  # younger than 10 s: nothing due, nothing asked
        assert await docs.stale_outboxes(timedelta(seconds=10)) == []
        assert len(finds.filters) == asked
        now[0] = NOW + timedelta(seconds=11)  # its own failed event, read by `_id`; not the other instance's
        stale = await docs.stale_outboxes(timedelta(seconds=10))
        assert [(k, [e.event_id for e in evs]) for k, evs in stale] == [("mine", [mine.events[0].event_id])]
        assert finds.filters[asked:] == [{"_id": {"$in": ["mine"]}}]
        await docs.mark_published("mine", [mine.events[0].event_id])
        docs.release([mine.events[0].event_id])
        now[0] = NOW + timedelta(minutes=30)
        assert await docs.stale_outboxes(timedelta(seconds=10)) == []
        assert len(finds.filters) == asked + 1  # published and cleared: not read again
        now[0] = NOW + timedelta(hours=1, seconds=1)  # the hourly store-wide query finds the other instance's
        stale = await docs.stale_outboxes(timedelta(seconds=10))
        assert [k for k, _ in stale] == ["other"] and "pending_since" in finds.filters[-1]
    finally:
        await client.close()


async def test_changes_to_watched_documents_are_counted(store: Any) -> None:
    client, _, name = store
    docs = CaseDocuments(client[name][f"w{uuid.uuid4().hex[:6]}"], lambda: NOW,
                         watch=lambda doc: doc.get("round", 0) >= 1)
    await docs.apply("w1", "registered", lambda doc: Change(set={"round": 0}))
    assert docs.watched_changes == 0  # a new, unresolved case
    await docs.apply("w1", "resolved", lambda doc: Change(set={"round": 1}))
    await docs.apply("w1", "resolved", lambda doc: pytest.fail("a repeat is not decided again"))
    assert docs.watched_changes == 1  # resolved once; the repeat changes nothing
    await docs.apply("w1", "rated", lambda doc: Change(set={"rating": "satisfied"}))
    assert docs.watched_changes == 2
