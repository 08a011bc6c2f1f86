"""shared/store.py UnitOfWork and ReadBatcher on the real store: a consumer batch's documents are read in one query
and written in one bulk write; two batches that each hold a document the other needs both finish (no deadlock:
that stalled intake once); events are published once and outboxes cleared."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pymongo import AsyncMongoClient, monitoring

from shared.contracts.envelope import CaseEvent, derived_id
from shared.store import CaseDocuments, Change, InsertBatcher, UnitOfWork, current_unit_of_work, set_fields

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


class Commands(monitoring.CommandListener):
    def __init__(self) -> None:
        self.names: list[str] = []

    def started(self, event: Any) -> None:
        self.names.append(event.command_name)

    def succeeded(self, event: Any) -> None:
        pass

    def failed(self, event: Any) -> None:
        pass


@pytest.fixture
async def db(infra: dict[str, str]) -> AsyncIterator[tuple[Any, Commands]]:
    commands = Commands()
    client: AsyncMongoClient = AsyncMongoClient(infra["QHWY_MONGO_URL"], directConnection=True, tz_aware=True,
                                                event_listeners=[commands])
    name = f"t{uuid.uuid4().hex[:10]}_uow"
    try:
        yield client[name], commands
    finally:
        await client.drop_database(name)
        await client.close()


def event(case_id: str, cause: str) -> CaseEvent:
    return CaseEvent(event_id=derived_id(cause, "case.noted"), type="case.noted", version=1, case_id=case_id,
                     occurred_at=NOW, data={"cause": cause})


def note(cause: str, case_id: str) -> Any:
    def decide(doc: dict[str, Any] | None) -> Change:
        return Change(set={"notes": (doc or {}).get("notes", 0) + 1}, events=[event(case_id, cause)])
    return decide


class Published:
    def __init__(self) -> None:
        self.ids: list[str] = []

    async def __call__(self, events: list[CaseEvent]) -> None:
        self.ids.extend(e.event_id for e in events)


async def apply_and_emit(docs: CaseDocuments, key: str, cause: str) -> None:
    """What a handler does: apply, then hand the events to the batch (ServiceContext.emit's batch path)."""
    applied = await docs.apply(key, cause, note(cause, key))
    uow = current_unit_of_work.get()
    assert uow is not None
    if applied.duplicate:  # a repeat's unpublished events (a new change's are deferred by the stage itself)
        uow.defer(docs, key, applied.events)


async def in_batch(uow: UnitOfWork, work: Any) -> None:
    """`work()` as a consumer batch: its tasks see the batch's unit of work, which is flushed after."""
    token = current_unit_of_work.set(uow)
    try:
        await work()
    finally:
        current_unit_of_work.reset(token)
    await uow.flush()


async def test_a_batch_reads_in_one_query_writes_in_one_bulk_write_and_publishes_each_event_once(db: Any) -> None:
    database, commands = db
    docs, published = CaseDocuments(database["cases"], lambda: NOW), Published()
    await docs.collection.insert_many([{"_id": f"c{n}", "notes": 5, "processed": [], "outbox": {}, "rev": 1,
                                        "pending_since": None} for n in range(10)])
    commands.names.clear()
    uow = UnitOfWork(published)
    keys = [f"c{n}" for n in range(20)]  # ten stored, ten new
    await in_batch(uow, lambda: asyncio.gather(*(apply_and_emit(docs, k, f"e-{k}") for k in keys)))
    # one {"_id": {"$in": [...]}} for the twenty lanes (FerretDB: on the _id index, deploy/ferretdb.sh)
    assert commands.names.count("find") == 1
    assert commands.names.count("update") == 2  # the stored documents, then the outboxes cleared
    assert commands.names.count("insert") == 1  # the new ones: an insert costs FerretDB a quarter of an upsert
    assert sorted(published.ids) == sorted(derived_id(f"e-{k}", "case.noted") for k in keys)
    stored = {d["_id"]: d async for d in docs.collection.find({})}
    assert stored["c3"]["notes"] == 6 and stored["c13"]["notes"] == 1
    assert all(d["outbox"] == {} and d["pending_since"] is None for d in stored.values())
    # the batch again (a redelivery after a crash before the commit): nothing changes, nothing is published
    again = UnitOfWork(published)
    await in_batch(again, lambda: asyncio.gather(*(apply_and_emit(docs, k, f"e-{k}") for k in keys)))
    assert len(published.ids) == 20 and (await docs.collection.find_one({"_id": "c3"}))["notes"] == 6


async def test_a_batch_of_150_stored_documents_is_written_and_the_database_answers_after(db: Any) -> None:
    """FerretDB 1.24 (SQLite) never answers an update command of 100 statements or more, nor anything else on that
    database afterwards (shared/store.py BULK_WRITE_CHUNK): that was the wedge that kept the unit of work off."""
    database, commands = db
    docs, published = CaseDocuments(database["cases"], lambda: NOW), Published()
    keys = [f"c{n}" for n in range(150)]
    await docs.collection.insert_many([{"_id": k, "notes": 1, "processed": [], "outbox": {}, "rev": 1,
                                        "pending_since": None} for k in keys])
    commands.names.clear()
    uow = UnitOfWork(published)
    work = in_batch(uow, lambda: asyncio.gather(*(apply_and_emit(docs, k, f"e-{k}") for k in keys)))
    await asyncio.wait_for(work, timeout=60)
    # three commands of 50 for the documents, three for the outboxes cleared
    assert commands.names.count("update") == 6
    assert len(published.ids) == 150
    reply = await asyncio.wait_for(docs.collection.find_one({"_id": "c149"}), timeout=10)
    assert reply is not None and reply["notes"] == 2 and reply["outbox"] == {}


async def test_two_batches_that_each_hold_what_the_other_needs_both_finish(db: Any) -> None:
    database, _ = db
    docs, published = CaseDocuments(database["cases"], lambda: NOW), Published()
    first, second = UnitOfWork(published), UnitOfWork(published)
    a_staged, b_staged = asyncio.Event(), asyncio.Event()

    async def batch_one() -> None:
        await apply_and_emit(docs, "a", "one-a")
        a_staged.set()
        await b_staged.wait()
        await apply_and_emit(docs, "b", "one-b")  # b is the other batch's

    async def batch_two() -> None:
        await apply_and_emit(docs, "b", "two-b")
        b_staged.set()
        await a_staged.wait()
        await apply_and_emit(docs, "a", "two-a")  # a is the other batch's

    await asyncio.wait_for(asyncio.gather(in_batch(first, batch_one), in_batch(second, batch_two)), 20)
    stored = {d["_id"]: d async for d in docs.collection.find({})}
    assert stored["a"]["notes"] == 2 and stored["b"]["notes"] == 2
    assert sorted(stored["a"]["processed"]) == ["one-a", "two-a"] and sorted(stored["b"]["processed"]) == ["one-b",
                                                                                                          "two-b"]
    assert sorted(published.ids) == sorted(derived_id(c, "case.noted") for c in ("one-a", "one-b", "two-a", "two-b"))
    assert all(d["outbox"] == {} for d in stored.values())


async def test_a_failed_publish_leaves_the_events_in_the_outbox_for_the_redelivery(db: Any) -> None:
    database, _ = db
    docs = CaseDocuments(database["cases"], lambda: NOW)

    async def broker_down(events: list[CaseEvent]) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await in_batch(UnitOfWork(broker_down), lambda: apply_and_emit(docs, "k", "cause-1"))
    stored = await docs.collection.find_one({"_id": "k"})
    assert list(stored["outbox"]) == [derived_id("cause-1", "case.noted")] and stored["pending_since"] is not None
    published = Published()
    await in_batch(UnitOfWork(published), lambda: apply_and_emit(docs, "k", "cause-1"))  # the batch comes again
    assert published.ids == [derived_id("cause-1", "case.noted")]
    stored = await docs.collection.find_one({"_id": "k"})
    assert stored["notes"] == 1 and stored["outbox"] == {} and stored["pending_since"] is None


async def test_a_batch_waiting_for_a_lock_held_by_a_task_that_needs_its_document_does_not_stall(db: Any) -> None:
    """intake's stall: one batch's lane holds an enterprise's lock and needs a case document the other batch
    staged; that batch's lane waits for the same enterprise's lock, so the other batch can never end."""
    database, _ = db
    docs, published = CaseDocuments(database["cases"], lambda: NOW), Published()
    enterprise = asyncio.Lock()
    staged, locked = asyncio.Event(), asyncio.Event()

    async def submissions() -> None:
        await apply_and_emit(docs, "case-1", "registered")
        staged.set()
        await locked.wait()
        async with enterprise:  # held by the other batch, which waits for case-1
            await apply_and_emit(docs, "case-2", "registered")

    async def case_events() -> None:
        await staged.wait()
        async with enterprise:
            locked.set()
            await apply_and_emit(docs, "case-1", "triaged")  # staged by the other batch, not yet stored

    await asyncio.wait_for(asyncio.gather(in_batch(UnitOfWork(published), submissions),
                                          in_batch(UnitOfWork(published), case_events)), 20)
    stored = {d["_id"]: d async for d in docs.collection.find({})}
    assert stored["case-1"]["processed"] == ["registered", "triaged"] and stored["case-1"]["notes"] == 2
    assert stored["case-2"]["processed"] == ["registered"]
    assert len(published.ids) == 3 and all(d["outbox"] == {} for d in stored.values())


async def test_a_change_made_outside_a_batch_to_a_document_it_staged_is_not_undone_by_its_write(db: Any) -> None:
    """sync's reconciliation resends a delivery (`modify`, from an HTTP route) while its consumer's batch holds the
    same document staged: the batch's whole-document write, decided before, must not bring the old state back
    (CI once lost a resend that way)."""
    database, _ = db
    docs, published = CaseDocuments(database["links"], lambda: NOW), Published()
    await docs.collection.insert_one({"_id": "c1", "notes": 1, "state": "delivered", "processed": [], "outbox": {},
                                      "rev": 1, "pending_since": None})
    uow = UnitOfWork(published)
    token = current_unit_of_work.set(uow)
    try:
        await apply_and_emit(docs, "c1", "e-c1")  # staged, not yet written
    finally:
        current_unit_of_work.reset(token)
    changed = await docs.modify("c1", lambda doc: {"state": "pending"} if doc["state"] == "delivered" else None)
    assert changed is not None and changed["state"] == "pending" and changed["notes"] == 2
    await uow.flush()
    stored = await docs.collection.find_one({"_id": "c1"})
    assert stored["state"] == "pending" and stored["notes"] == 2 and stored["outbox"] == {}
    assert published.ids == [derived_id("e-c1", "case.noted")]
    assert await docs.modify("missing", lambda doc: {"state": "pending"}) is None
    assert await docs.modify("c1", lambda doc: None) is None


async def test_marks_set_within_a_batch_are_stored_with_it_in_one_bulk_write(db: Any) -> None:
    """sync's day figures: a mark per event, stored with the batch (one command for all, not one per event)."""
    database, commands = db
    docs, published = CaseDocuments(database["links"], lambda: NOW), Published()
    figures = database["case_figures"]
    uow = UnitOfWork(published)

    async def work() -> None:
        await set_fields(figures, "c1", {"received_on": "2026-03-02"})
        await set_fields(figures, "c2", {"received_on": "2026-03-02"})
        await set_fields(figures, "c1", {"resolved_on": "2026-03-03", "on_time": True})
        assert await figures.count_documents({}) == 0  # not yet: with the batch
        await apply_and_emit(docs, "c1", "e-c1")

    commands.names.clear()
    await in_batch(uow, work)
    stored = {d["_id"]: d async for d in figures.find({})}
    assert stored == {"c1": {"_id": "c1", "received_on": "2026-03-02", "resolved_on": "2026-03-03", "on_time": True},
                      "c2": {"_id": "c2", "received_on": "2026-03-02"}}
    # the case document (new: an insert), the two marks, the outboxes cleared: two update commands
    assert commands.names.count("insert") == 1 and commands.names.count("update") == 2
    await set_fields(figures, "c3", {"rated_on": "2026-03-04"})  # no batch: at once
    assert (await figures.find_one({"_id": "c3"}))["rated_on"] == "2026-03-04"


async def test_a_document_found_absent_that_another_writer_stored_meanwhile_is_replaced_not_lost(db: Any) -> None:
    """A new document goes in as an insert; when another writer stored it since the batch found it absent (a
    duplicate key), the batch's decision replaces it, as the upsert did, and the rest of the batch is stored."""
    database, _ = db
    docs, published = CaseDocuments(database["cases"], lambda: NOW), Published()

    async def work() -> None:
        await asyncio.gather(*(apply_and_emit(docs, k, f"e-{k}") for k in ("new-1", "new-2", "new-3")))
        await docs.collection.insert_one({"_id": "new-2", "notes": 40, "processed": [], "outbox": {}, "rev": 7})

    await in_batch(UnitOfWork(published), work)
    stored = {d["_id"]: d async for d in docs.collection.find({})}
    assert {k: d["notes"] for k, d in stored.items()} == {"new-1": 1, "new-2": 1, "new-3": 1}
    assert all(d["outbox"] == {} for d in stored.values()) and len(published.ids) == 3


async def test_inserts_asked_together_go_in_one_command_and_a_stored_one_answers_false(db: Any) -> None:
    """intake's first reports of enterprises: a batch's lanes insert together; one already stored is told so (it
    is updated instead) and the others are stored all the same."""
    database, commands = db
    enterprises = database["enterprises"]
    await enterprises.insert_one({"_id": "known", "name": "甲"})
    batcher = InsertBatcher(enterprises)
    commands.names.clear()
    answers = await asyncio.gather(*(batcher.insert({"_id": k, "name": k}) for k in ("e1", "known", "e2", "e3")))
    assert answers == [True, False, True, True]
    assert commands.names.count("insert") == 1
    assert {d["_id"]: d["name"] async for d in enterprises.find({})} == {"known": "甲", "e1": "e1", "e2": "e2",
                                                                           "e3": "e3"}
    # alone, later: a command of its own
    assert await batcher.insert({"_id": "e4", "name": "e4"}) is True and commands.names.count("insert") == 2
