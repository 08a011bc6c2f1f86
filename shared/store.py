"""MongoDB access shared by the services' store modules.

FerretDB (the local and test store) has no multi-document transactions, so one document is the unit of
consistency: a case document holds its state, the ids of the events already applied to it, and an outbox of
the events that applying them produced. Writing all three in one update makes every consumer idempotent and
lets a crash between "stored" and "published" be repaired by publishing the outbox again.

FerretDB 1.x applies an update by reading the document, changing it in Go and writing the whole document
back, so two concurrent updates of one document can lose one of them (MongoDB cannot). Hence each document
has one writer at a time: a per-key lock within the process, and one consumer (one partition owner) or one
process per collection across processes. The `rev` check still protects MongoDB deployments.
"""

import asyncio
import atexit
import copy
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar
from weakref import WeakValueDictionary

from pymongo import ASCENDING, AsyncMongoClient, ReplaceOne, UpdateOne, monitoring
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.contracts.envelope import CaseEvent
from shared.settings import Settings


class CommandProfile(monitoring.CommandListener):
    """Count and time every store command by (command, collection); written as JSON at exit.

    Switched on by QHWY_STORE_PROFILE=<file> (bench/load.py --profile): which round trips the hot path makes
    and what each kind costs, measured in the service under load."""

    def __init__(self, path: str):
        self.path = path
        self._began: dict[int, tuple[str, float]] = {}
        self.totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])  # count, total ms, max ms
        self.lock = threading.Lock()
        atexit.register(self.write)

    def _record(self, event: Any) -> None:
        began = self._began.pop(event.request_id, None)
        if began is None:
            return
        ms = (time.perf_counter() - began[1]) * 1000
        with self.lock:
            entry = self.totals[began[0]]
            entry[0] += 1
            entry[1] += ms
            entry[2] = max(entry[2], ms)

    def started(self, event: Any) -> None:
        command = event.command
        collection = command.get(event.command_name)
        label = f"{event.command_name} {collection if isinstance(collection, str) else ''}".strip()
        where = command.get("filter", command.get("query")) if event.command_name in ("find", "count") else None
        if isinstance(where, Mapping):  # which fields it filters on: on FerretDB all but `_id` scan the collection
            label += " {" + ",".join(sorted(where)) + "}"
        self._began[event.request_id] = (label, time.perf_counter())

    def succeeded(self, event: Any) -> None:
        self._record(event)

    def failed(self, event: Any) -> None:
        self._record(event)

    def write(self) -> None:
        with self.lock:
            rows = {k: {"count": int(v[0]), "total_ms": round(v[1], 1), "mean_ms": round(v[1] / v[0], 2),
                        "max_ms": round(v[2], 1)} for k, v in sorted(self.totals.items(), key=lambda kv: -kv[1][1])
                    if v[0]}
        with open(self.path, "w", encoding="utf-8") as out:
            json.dump(rows, out, indent=1)


def mongo_client(settings: Settings) -> AsyncMongoClient[dict[str, Any]]:
    """PyMongo's own asyncio client (motor reached end of life in May 2026)."""
    options: dict[str, Any] = {"tz_aware": True, "serverSelectionTimeoutMS": 10_000, "appname": "qhwy"}
    if os.environ.get("QHWY_STORE_PROFILE"):
        options["event_listeners"] = [CommandProfile(os.environ["QHWY_STORE_PROFILE"])]
    if "directConnection" not in settings.mongo_url and "replicaSet" not in settings.mongo_url:
        options["directConnection"] = True  # single server (FerretDB, or one mongod)
    return AsyncMongoClient(settings.mongo_url, **options)


@dataclass(frozen=True)
class Change:
    """What applying one cause does to a document: fields to set and events to publish."""

    set: dict[str, Any] = field(default_factory=dict)
    events: list[CaseEvent] = field(default_factory=list)
    push: dict[str, Any] = field(default_factory=dict)  # field -> one value appended to an array


@dataclass(frozen=True)
class Applied:
    doc: dict[str, Any]
    events: list[CaseEvent]  # to publish now (new ones, or unpublished ones of a repeated cause)
    duplicate: bool


class ConcurrentWriteError(RuntimeError):
    pass


class UnitOfWork:
    """One consumer batch's writes to case documents, stored together (FerretDB has no multi-document
    transactions, but a bulk write of whole documents by `_id` is one round trip instead of one per change).

    While a batch runs, `CaseDocuments.apply` stages each new document here (state, processed cause, outbox) and
    `ServiceContext.emit` defers publishing. `flush` then writes every staged document (one bulk write per
    collection), publishes the batch's events (each case's in order, cases concurrently), clears the outboxes
    (one bulk write per collection) and only then lets the consumer commit the batch's offsets. A crash before
    the first write loses nothing (the batch is delivered again and decided again); a crash after it leaves the
    outboxes for the redelivery or the sweep to publish. Anyone else applying to a staged document (an HTTP
    route, a timer, another batch) stores the batch's staged documents first (`flush_staged`)."""

    def __init__(self, publish: Callable[[list[CaseEvent]], Awaitable[None]]):
        self.publish = publish
        self.closed = False
        self.stored_rev: dict[tuple[int, str], int | None] = {}  # (docs, key) -> rev in the store (None: new)
        self.touched: dict[int, tuple["CaseDocuments", list[str]]] = {}
        self.deferred: list[tuple["CaseDocuments", str, list[CaseEvent]]] = []
        self._flush_lock = asyncio.Lock()
        self._ever_staged: dict[int, tuple["CaseDocuments", set[str]]] = {}  # what abandon() must unstage
        # collection -> key -> fields to $set (upserted) with the batch's documents (set_fields)
        self.field_sets: dict[int, tuple[Any, dict[str, dict[str, Any]]]] = {}

    def set_later(self, collection: Any, key: str, fields: dict[str, Any]) -> None:
        self.field_sets.setdefault(id(collection), (collection, {}))[1].setdefault(key, {}).update(fields)

    def stage(self, docs: "CaseDocuments", key: str, stored_rev: int | None) -> None:
        self._ever_staged.setdefault(id(docs), (docs, set()))[1].add(key)
        if (id(docs), key) not in self.stored_rev:
            self.stored_rev[(id(docs), key)] = stored_rev
            self.touched.setdefault(id(docs), (docs, []))[1].append(key)

    def defer(self, docs: "CaseDocuments", key: str, events: list[CaseEvent]) -> None:
        if events:
            self.deferred.append((docs, key, events))

    def abandon(self) -> None:
        """The batch is over: its staged documents are dropped (written by its flush, or, when it failed before,
        not at all: it will be delivered again)."""
        self.closed = True
        for docs, keys in self._ever_staged.values():
            docs._unstage(list(keys), self)
        for docs, _, batch in self.deferred:
            docs.release([e.event_id for e in batch])

    async def flush(self) -> None:
        """Store, publish and clear everything the batch staged; then the batch is over."""
        try:
            async with self._flush_lock:
                await self._store_and_publish()
        finally:
            self.abandon()  # written or not, the batch is over: other writers may go on

    async def flush_staged(self) -> None:
        """Store, publish and clear what is staged so far, and go on with the batch (see
        CaseDocuments._wait_for_other_batches: whoever needs a staged document stores it, never waits for the end
        of the batch that staged it)."""
        async with self._flush_lock:
            if self.closed:  # its final flush stored everything (or failed and left it to the redelivery)
                return
            await self._store_and_publish()

    async def _store_and_publish(self) -> None:
        touched, deferred, field_sets = self.touched, self.deferred, self.field_sets
        self.touched, self.deferred, self.field_sets = {}, [], {}
        written = {(id(d), k): d._staged_docs[k] for d, keys in touched.values() for k in keys}
        try:
            for docs, keys in touched.values():
                await docs._write_staged(keys, self, written)
            for collection, sets in field_sets.values():
                await bulk_write_in_chunks(collection, [UpdateOne({"_id": key}, {"$set": fields}, upsert=True)
                                                        for key, fields in sets.items()])
        except BaseException:
            for docs, keys in touched.values():  # not stored: still the batch's to store
                self.touched.setdefault(id(docs), (docs, []))[1].extend(keys)
            self.deferred[:0] = deferred
            for collection, sets in field_sets.values():
                for key, fields in sets.items():
                    self.set_later(collection, key, fields)
            raise
        for docs, keys in touched.values():
            for key in keys:  # stored at this rev; a lane that staged it again since writes over it later
                self.stored_rev[(id(docs), key)] = written[(id(docs), key)]["rev"]
        # only this batch's events: a staged document's outbox may also hold events another writer (an HTTP
        # route) stored and is publishing itself
        events: dict[str, CaseEvent] = {}
        for _, _, batch in deferred:
            events.update((e.event_id, e) for e in batch)
        try:
            if events:
                await self.publish(list(events.values()))
                for docs, keys in touched.values():
                    await docs._clear_outboxes(keys, set(events), written)
                staged = set(written)
                for docs, key, batch in deferred:
                    if (id(docs), key) not in staged:  # a repeat's leftovers from the store's outbox
                        await docs.mark_published(key, [e.event_id for e in batch])
        finally:  # published or left in the outboxes for the redelivery or the sweep
            for docs, _, batch in deferred:
                docs.release([e.event_id for e in batch])
        for docs, keys in touched.values():
            for key in keys:
                if docs._staged_docs.get(key) is written[(id(docs), key)]:  # unchanged since: no longer staged
                    docs._unstage([key], self)
                    del self.stored_rev[(id(docs), key)]
                else:
                    self.touched.setdefault(id(docs), (docs, []))[1].append(key)


# The batch the current task works for (set by the consumer; HTTP requests and timers have none).
current_unit_of_work: ContextVar[UnitOfWork | None] = ContextVar("current_unit_of_work", default=None)


T = TypeVar("T")


async def run_in_unit_of_work(uow: UnitOfWork | None, work: Awaitable[T]) -> T:
    """Await `work` with `uow` as the current unit of work, then store and publish what it staged (`flush`,
    which raises when that fails). Work that fails leaves nothing of it stored. With None, `work` writes as it
    goes."""
    token = current_unit_of_work.set(uow)
    try:
        result = await work
    except BaseException:
        if uow is not None:
            uow.abandon()
        raise
    finally:
        current_unit_of_work.reset(token)
    if uow is not None:
        await uow.flush()
    return result


async def set_fields(collection: Any, key: str, fields: dict[str, Any]) -> None:
    """$set `fields` on the document `key` of `collection` (upserted). Within a consumer batch, the batch stores
    them with its documents: one bulk write per collection instead of a round trip per event, and handlers of
    different keys stay in step, so their reads still go together (ReadBatcher). Elsewhere, at once. For
    idempotent marks only: a batch delivered again sets the same fields again."""
    uow = current_unit_of_work.get()
    if uow is None or uow.closed:
        await collection.update_one({"_id": key}, {"$set": fields}, upsert=True)
    else:
        uow.set_later(collection, key, fields)


def _with_change(doc: dict[str, Any] | None, key: str, change: Change, cause: str, outbox: dict[str, Any],
                 now: datetime) -> dict[str, Any]:
    """The document after `change`, as the store's update would make it (dotted `set` paths included)."""
    new = copy.deepcopy(doc) if doc is not None else {"_id": key, "processed": [], "outbox": {}, "rev": 0,
                                                       "pending_since": None}
    for path, value in change.set.items():
        target, *parents = new, *path.split(".")[:-1]
        for part in parents:
            target = target.setdefault(part, {})
        target[path.split(".")[-1]] = copy.deepcopy(value)
    for name, value in change.push.items():
        new.setdefault(name, []).append(copy.deepcopy(value))
    new.setdefault("processed", []).append(cause)
    new.setdefault("outbox", {}).update(outbox)
    if outbox and new.get("pending_since") is None:
        new["pending_since"] = now
    new["rev"] = new.get("rev", 0) + 1
    return new


# How often each collection's outboxes are looked for store-wide (CaseDocuments.stale_outboxes): what another
# instance stored and never published, when it died and did not come back.
FULL_SCAN_EVERY = timedelta(hours=1)
DUPLICATE_KEY = 11000  # the server's error code for a second document with the same unique key


class _SameTurnBatcher:
    """Requests made in the same turn of the event loop (a consumer batch's lanes, handled concurrently) are
    served together, by one `_serve` scheduled for the next turn."""

    def __init__(self) -> None:
        self._scheduled = False

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._run()))

    async def _run(self) -> None:
        await asyncio.sleep(0)  # one more turn of the loop: let the other lanes of the batch ask too
        self._scheduled = False
        await self._serve()

    async def _serve(self) -> None:
        """Serve every request waiting now (taken at once, before any await: later ones schedule a new turn)."""
        raise NotImplementedError


class ReadBatcher(_SameTurnBatcher):
    """Reads by `_id` asked for at about the same time (a consumer batch's keys, handled concurrently) go to the
    store as one `{"_id": {"$in": [...]}}` query instead of one round trip each. Stock FerretDB 1.x answers `$in`
    by scanning the whole collection (777 ms for 100 of 20,000 documents); the FerretDB deploy/ferretdb.sh builds
    hands it to SQLite's `_id` index (21 ms, against 78 ms for 100 reads by `_id` one at a time)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], most: int = 500):
        super().__init__()
        self.collection, self.most = collection, most
        self._waiting: dict[str, list[asyncio.Future[dict[str, Any] | None]]] = {}

    async def get(self, key: str) -> dict[str, Any] | None:
        future: asyncio.Future[dict[str, Any] | None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        self._schedule()
        return await future

    async def _serve(self) -> None:
        waiting, self._waiting = self._waiting, {}
        keys = list(waiting)
        try:
            found: dict[str, dict[str, Any]] = {}
            for start in range(0, len(keys), self.most):
                part = keys[start:start + self.most]
                query = {"_id": part[0]} if len(part) == 1 else {"_id": {"$in": part}}
                async for doc in self.collection.find(query):
                    found[doc["_id"]] = doc
        except BaseException as exc:
            for futures in waiting.values():
                for future in futures:
                    if not future.done():
                        future.set_exception(exc)
            return
        for key, futures in waiting.items():
            for n, future in enumerate(futures):
                if not future.done():
                    stored = found.get(key)
                    future.set_result(stored if n == 0 or stored is None else copy.deepcopy(stored))


class InsertBatcher(_SameTurnBatcher):
    """Inserts asked for at about the same time (a consumer batch's lanes) go to the store as one unordered
    `insert_many` instead of one command each: FerretDB (SQLite) spent 330 ms of CPU on 300 single inserts and
    20 ms on the same 300 in commands of 20 (measured on this machine; docs/operations.md "Load benchmark").
    `insert` answers False when a document with that `_id` is stored already (the caller updates it instead)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], most: int | None = None):
        super().__init__()
        self.collection, self.most = collection, most or BULK_WRITE_CHUNK
        self._waiting: list[tuple[dict[str, Any], asyncio.Future[bool]]] = []

    async def insert(self, doc: dict[str, Any]) -> bool:
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._waiting.append((doc, future))
        self._schedule()
        return await future

    async def _serve(self) -> None:
        waiting, self._waiting = self._waiting, []
        for start in range(0, len(waiting), self.most):
            chunk = waiting[start:start + self.most]
            try:
                inserted = await insert_new(self.collection, [doc for doc, _ in chunk])
            except BaseException as exc:
                for _, future in chunk:
                    if not future.done():
                        future.set_exception(exc)
                continue
            for (_, future), stored in zip(chunk, inserted, strict=True):
                if not future.done():
                    future.set_result(stored)


async def insert_new(collection: Any, docs: list[dict[str, Any]]) -> list[bool]:
    """Insert `docs` in one unordered command; for each, whether it was stored (False: a document with its `_id`
    is stored already). Any other failure raises."""
    try:
        await collection.insert_many(docs, ordered=False)
        return [True] * len(docs)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors") or []
        if any(error.get("code") != DUPLICATE_KEY for error in errors):
            raise
        inserted = [True] * len(docs)
        for error in errors:
            inserted[error["index"]] = False
        return inserted


# FerretDB 1.24 (SQLite) keeps the result set of each statement of an update command open until the command ends,
# each on a connection from the database's pool of 100: an update command of 100 statements or more waits for ever
# for one more connection, and every later request to that database waits behind it until FerretDB restarts
# (measured: a bulk write of 99 replacements by `_id` returns in 0.09 s, one of 100 never). PyMongo sends a whole
# bulk write as one command, so the platform's bulk writes go in commands of at most this many statements.
BULK_WRITE_CHUNK = 50


async def bulk_write_in_chunks(collection: Any, ops: list[Any]) -> int:
    """Unordered bulk writes of at most BULK_WRITE_CHUNK statements each; returns documents matched or upserted."""
    stored = 0
    for start in range(0, len(ops), BULK_WRITE_CHUNK):
        result = await collection.bulk_write(ops[start:start + BULK_WRITE_CHUNK], ordered=False)
        stored += result.matched_count + result.upserted_count
    return stored


async def insert_or_replace(collection: Any, new_docs: list[dict[str, Any]], replacements: list[Any]) -> int:
    """Store documents found absent (inserted) and documents found stored (`replacements`, bulk written); returns
    how many were stored. On FerretDB (SQLite) an insert costs about a quarter of an upsert (4 against 14 ticks of
    its CPU for 300 documents in bulk, measured on this machine). A document another writer stored since it was
    found absent (a duplicate key) is replaced instead, as an upsert would have done."""
    stored = await bulk_write_in_chunks(collection, replacements) if replacements else 0
    for start in range(0, len(new_docs), BULK_WRITE_CHUNK):
        chunk = new_docs[start:start + BULK_WRITE_CHUNK]
        inserted = await insert_new(collection, chunk)
        stored += sum(inserted)
        taken = [doc for doc, ok in zip(chunk, inserted, strict=True) if not ok]
        if taken:
            stored += await bulk_write_in_chunks(collection, [ReplaceOne({"_id": doc["_id"]}, doc, upsert=True)
                                                              for doc in taken])
    return stored


class CaseDocuments:
    """A collection of per-case documents changed at most once per cause (an event id or submission id)."""

    def __init__(self, collection: AsyncCollection[dict[str, Any]], clock: Callable[[], datetime],
                 watch: Callable[[dict[str, Any]], bool] | None = None):
        self.collection = collection
        self.clock = clock
        # Changes this process applied to documents that `watch` holds (before or after the change): lets a job
        # that recomputes from such documents skip its store-wide read when none changed.
        self.watch = watch
        self.watched_changes = 0
        self._locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()
        # Events handed to a caller for publishing and not yet marked published: a concurrent repeat of
        # the same cause (an HTTP retry while the consumer publishes) must not publish them a second time.
        self._in_flight: set[str] = set()
        # key -> (rev, outbox event ids) as this process last wrote the document: lets mark_published clear the
        # outbox and pending_since in one update instead of two when nothing changed the document since.
        # (Updates are the expensive round trip on FerretDB: see docs/operations.md "Load benchmark".)
        self._written: dict[str, tuple[int, frozenset[str]]] = {}
        self._guarded: bool | None = None  # filter writes on `rev`? decided once, by the server (see _guarded_writes)
        self._staged: dict[str, UnitOfWork] = {}  # key -> the batch whose write of it is pending
        self._staged_docs: dict[str, dict[str, Any]] = {}
        self._reads = ReadBatcher(collection)
        # key -> when this process stored events in the document's outbox that it has not seen cleared since: what
        # the periodic sweep reads (by `_id`). The store-wide query for stale outboxes decodes every document on
        # FerretDB (its filters other than `_id` are not pushed down): run every 10 s by every service, it took more
        # of FerretDB's CPU than the cases did from a few thousand cases on. It runs at start, for what a
        # predecessor left, and then every FULL_SCAN_EVERY for what another instance left.
        self._unsettled: dict[str, datetime] = {}
        self._scanned_at: datetime | None = None

    async def _guarded_writes(self) -> bool:
        """Whether writes carry the optimistic `rev` filter. MongoDB: yes, it is cheap and it works.
        FerretDB 1.x: no. It cannot enforce it (an update reads, changes in Go and writes back, so concurrent
        updates of one document lose writes whatever the filter: hence one writer per document), and a filter
        with anything besides `_id` makes it scan the whole collection, so every write would cost time in
        proportion to the collection. With one writer per document, reading by `_id` then writing by `_id`
        (both indexed) decides the same thing."""
        if self._guarded is None:
            info = await self.collection.database.client.admin.command("buildInfo")
            self._guarded = "ferretdbVersion" not in info
        return self._guarded

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def ensure_indexes(self) -> None:
        await self.collection.create_index([("pending_since", ASCENDING)])

    async def get(self, key: str) -> dict[str, Any] | None:
        staged = self._staged_docs.get(key)
        if staged is not None:
            return copy.deepcopy(staged)
        return await self._reads.get(key)

    async def _read(self, key: str) -> dict[str, Any] | None:
        return await self._reads.get(key)  # the batch's reads together (see ReadBatcher)

    async def _wait_for_other_batches(self, key: str, uow: UnitOfWork | None) -> None:
        while (owner := self._staged.get(key)) is not None and owner is not uow:
            if owner.closed:  # a batch that ended without unstaging (it always does; never wait for it)
                self._unstage([key], owner)
                continue
            # Store the owner's staged documents now rather than wait for the end of its batch: that batch may be
            # waiting for something this task holds (a document staged by our batch, an enterprise's lock), and
            # a staged document is always a whole decision, fit to be stored at any moment.
            await owner.flush_staged()

    async def apply(self, key: str, cause: str, decide: Callable[[dict[str, Any] | None], Change | None]) -> Applied:
        """Apply `decide` to the document unless `cause` was applied already.

        `decide` is a pure function of the current document (None when there is none yet).
        The returned events must be handed to `ServiceContext.emit` (publish, mark published, release).
        Optimistic concurrency on `rev` keeps concurrent writers in different processes apart (on MongoDB).
        """
        uow = current_unit_of_work.get()
        if uow is not None and uow.closed:
            uow = None  # a task the batch started that outlived it
        while True:
            await self._wait_for_other_batches(key, uow)
            async with self._lock(key):
                owner = self._staged.get(key)
                if owner is not None and owner is not uow:
                    continue  # a batch staged it while we waited for the lock: its write comes first
                if uow is not None:
                    return await self._stage(uow, key, cause, decide)
                return await self._apply(key, cause, decide)

    async def modify(self, key: str, decide: Callable[[dict[str, Any]], dict[str, Any] | None]
                      ) -> dict[str, Any] | None:
        """Set fields computed from the current document (bookkeeping that is no event and has no cause: a
        delivery attempt's outcome); returns the document as changed, or None when it is missing or `decide`
        sets nothing. A batch's staged write of the document goes to the store first: staged, it was decided on
        the document as it was before this change, and written after it, it would undo it."""
        while True:
            await self._wait_for_other_batches(key, None)
            async with self._lock(key):
                if self._staged.get(key) is not None:
                    continue  # a batch staged it while we waited for the lock: its write comes first
                return await self._modify(key, decide)

    async def _modify(self, key: str, decide: Callable[[dict[str, Any]], dict[str, Any] | None]
                      ) -> dict[str, Any] | None:
        doc = await self.collection.find_one({"_id": key})
        if doc is None:
            return None
        sets = decide(doc)
        if not sets:
            return None
        await self.collection.update_one({"_id": key}, {"$set": sets, "$inc": {"rev": 1}})
        self._written.pop(key, None)  # its rev moved on: mark_published takes the general path
        return {**doc, **sets}

    async def _stage(self, uow: UnitOfWork, key: str, cause: str,
                     decide: Callable[[dict[str, Any] | None], Change | None]) -> Applied:
        """apply() within a batch: decide on the staged (or stored) document and stage the result."""
        doc = self._staged_docs.get(key)
        if doc is None:
            doc = await self._read(key)
            stored_rev = doc["rev"] if doc is not None else None
        else:
            stored_rev = uow.stored_rev[(id(self), key)]
        if doc is not None and cause in doc.get("processed", ()):
            pending = [CaseEvent.model_validate(e) for e in doc.get("outbox", {}).values()
                       if e["cause"] == cause and e["event_id"] not in self._in_flight]
            self._in_flight.update(e.event_id for e in pending)
            return Applied(copy.deepcopy(doc), pending, duplicate=True)
        change = decide(copy.deepcopy(doc) if doc is not None else None) or Change()
        outbox = {e.event_id: {**e.model_dump(mode="json"), "cause": cause} for e in change.events}
        new_doc = _with_change(doc, key, change, cause, outbox, self.clock())
        uow.stage(self, key, stored_rev)
        uow.defer(self, key, list(change.events))
        self._staged[key], self._staged_docs[key] = uow, new_doc
        self._in_flight.update(e.event_id for e in change.events)
        self._count_watched(doc, new_doc)
        return Applied(copy.deepcopy(new_doc), list(change.events), duplicate=False)

    async def _write_staged(self, keys: list[str], uow: UnitOfWork,
                            written: dict[tuple[int, str], dict[str, Any]]) -> None:
        """One bulk write of the batch's documents of this collection (whole documents by `_id`)."""
        guarded = await self._guarded_writes()
        new_docs, ops = [], []
        for key in keys:
            stored_rev = uow.stored_rev[(id(self), key)]
            doc = written[(id(self), key)]
            if stored_rev is None:
                new_docs.append(doc)
            else:
                ops.append(ReplaceOne({"_id": key, "rev": stored_rev} if guarded else {"_id": key}, doc))
        stored = await insert_or_replace(self.collection, new_docs, ops)
        if guarded and stored < len(keys):
            raise ConcurrentWriteError(f"{len(keys) - stored} documents of {self.collection.name} changed under the "
                                       f"batch")
        for key in keys:
            doc = written[(id(self), key)]
            self._remember(key, doc["rev"], doc.get("outbox") or {})

    async def _clear_outboxes(self, keys: list[str], published: set[str],
                              written: dict[tuple[int, str], dict[str, Any]]) -> None:
        ops = []
        for key in keys:
            outbox = written[(id(self), key)].get("outbox") or {}
            done = [eid for eid in outbox if eid in published]
            if not done:
                continue
            restaged = self._staged_docs.get(key)
            if restaged is not None and restaged is not written[(id(self), key)]:
                for eid in done:  # staged again since: its later write must not bring them back
                    (restaged.get("outbox") or {}).pop(eid, None)
                if not restaged.get("outbox"):
                    restaged["pending_since"] = None
            update: dict[str, Any] = {"$unset": {f"outbox.{eid}": "" for eid in done}}
            if not set(outbox) - set(done):
                update["$set"] = {"pending_since": None}
                if restaged is None or not restaged.get("outbox"):
                    self._unsettled.pop(key, None)
            ops.append(UpdateOne({"_id": key}, update))
            self._written.pop(key, None)
        await bulk_write_in_chunks(self.collection, ops)

    def _unstage(self, keys: list[str], uow: UnitOfWork) -> None:
        for key in keys:
            if self._staged.get(key) is uow:
                del self._staged[key]
                self._staged_docs.pop(key, None)

    async def _apply(self, key: str, cause: str, decide: Callable[[dict[str, Any] | None], Change | None]) -> Applied:
        for _ in range(20):
            doc = await self._read(key)
            if doc is not None and cause in doc.get("processed", ()):
                pending = [CaseEvent.model_validate(e) for e in doc.get("outbox", {}).values()
                           if e["cause"] == cause and e["event_id"] not in self._in_flight]
                self._in_flight.update(e.event_id for e in pending)
                self._remember(key, doc["rev"], doc.get("outbox", {}))
                return Applied(doc, pending, duplicate=True)
            change = decide(doc)
            if change is None:  # nothing to do, but remember the cause so a replay is cheap
                change = Change()
            outbox = {e.event_id: {**e.model_dump(mode="json"), "cause": cause} for e in change.events}
            pending_since = self.clock() if outbox else None
            if doc is None:
                new_doc = {"_id": key, **change.set, "processed": [cause], "outbox": outbox,
                           "pending_since": pending_since, "rev": 1}
                for name, value in change.push.items():
                    new_doc[name] = [value]
                try:
                    await self.collection.insert_one(new_doc)
                except DuplicateKeyError:
                    if await self.collection.find_one({"_id": key}, {"_id": 1}) is None:
                        raise  # another unique index refused it: the caller's problem, not a race on `key`
                    continue  # someone inserted `key` first: decide again on their document
                self._in_flight.update(e.event_id for e in change.events)
                self._remember(key, 1, outbox)
                self._count_watched(None, new_doc)
                return Applied(new_doc, list(change.events), duplicate=False)
            update: dict[str, Any] = {
                "$set": {**change.set, **{f"outbox.{eid}": entry for eid, entry in outbox.items()}},
                "$push": {"processed": cause, **change.push},
                "$inc": {"rev": 1},
            }
            if pending_since is not None and doc.get("pending_since") is None:
                update["$set"]["pending_since"] = pending_since
            where = {"_id": key, "rev": doc["rev"]} if await self._guarded_writes() else {"_id": key}
            result = await self.collection.update_one(where, update)
            if result.modified_count == 1:
                self._in_flight.update(e.event_id for e in change.events)
                self._remember(key, doc["rev"] + 1, {**doc.get("outbox", {}), **outbox})
                merged = {**doc, **change.set, "rev": doc["rev"] + 1}
                self._count_watched(doc, merged)
                return Applied(merged, list(change.events), duplicate=False)
        raise ConcurrentWriteError(f"document {key} kept changing under us")

    def _count_watched(self, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
        if self.watch is not None and (self.watch(after) or (before is not None and self.watch(before))):
            self.watched_changes += 1

    def _remember(self, key: str, rev: int, outbox: dict[str, Any]) -> None:
        if outbox:
            self._written[key] = (rev, frozenset(outbox))
            self._unsettled.setdefault(key, self.clock())
        else:
            self._written.pop(key, None)

    def release(self, event_ids: list[str]) -> None:
        """The caller is done publishing these (or failed to): a later repeat or sweep may take them again."""
        self._in_flight.difference_update(event_ids)

    async def mark_published(self, key: str, event_ids: list[str]) -> None:
        if not event_ids:
            return
        async with self._lock(key):
            await self._mark_published(key, event_ids)

    async def _mark_published(self, key: str, event_ids: list[str]) -> None:
        staged = self._staged_docs.get(key)
        if staged is not None:  # a batch will write its copy of the document: it must not bring these back
            for eid in event_ids:
                (staged.get("outbox") or {}).pop(eid, None)
        unset = {f"outbox.{eid}": "" for eid in event_ids}
        written = self._written.pop(key, None)
        if not await self._guarded_writes():  # FerretDB: read by _id, then one update by _id (both indexed)
            doc = await self.collection.find_one({"_id": key}, {"outbox": 1})
            if doc is None:
                return
            update: dict[str, Any] = {"$unset": unset}
            settled = not set(doc.get("outbox") or {}) - set(event_ids)
            if settled:
                update["$set"] = {"pending_since": None}
            await self.collection.update_one({"_id": key}, update)
            if settled and not (staged or {}).get("outbox"):
                self._unsettled.pop(key, None)
            return
        if written is not None and written[1] <= set(event_ids):
            # The whole outbox as we wrote it is published: one update, valid only if no writer has applied
            # anything since (every apply bumps `rev`; a concurrent mark_published only removes entries).
            result = await self.collection.update_one({"_id": key, "rev": written[0]},
                                                      {"$unset": unset, "$set": {"pending_since": None}})
            if result.matched_count == 1:
                if not (staged or {}).get("outbox"):
                    self._unsettled.pop(key, None)
                return
        await self.collection.update_one({"_id": key}, {"$unset": unset})
        await self.collection.update_one({"_id": key, "outbox": {}}, {"$set": {"pending_since": None}})

    async def stale_outboxes(self, older_than: timedelta, limit: int = 500) -> list[tuple[str, list[CaseEvent]]]:
        """Documents whose events were stored but not published for a while (a crash between the two, a broker
        that refused them). The first call, and one every FULL_SCAN_EVERY, asks the store for all of them (at
        start, with no age: nothing of a predecessor is in flight here); the calls in between read only the
        documents this process stored events in and has not seen cleared."""
        now = self.clock()
        if self._scanned_at is None or now - self._scanned_at >= FULL_SCAN_EVERY:
            cutoff = now if self._scanned_at is None else now - older_than
            self._scanned_at = now
            cursor = self.collection.find({"pending_since": {"$lte": cutoff}}, {"outbox": 1}).limit(limit)
            found = [doc async for doc in cursor]
            if len(found) >= limit:
                self._scanned_at = None  # more than one call's worth: the next call asks again
            return self._pending_events(found)
        due = [key for key, since in self._unsettled.items() if since <= now - older_than][:limit]
        if not due:
            return []
        found = await self.collection.find({"_id": {"$in": due}}, {"outbox": 1}).to_list()
        for key in set(due) - {doc["_id"] for doc in found if doc.get("outbox")}:
            self._unsettled.pop(key, None)  # cleared by someone else, or gone
        return self._pending_events(found)

    def _pending_events(self, docs: list[dict[str, Any]]) -> list[tuple[str, list[CaseEvent]]]:
        stale = []
        for doc in docs:
            events = [CaseEvent.model_validate(e) for e in (doc.get("outbox") or {}).values()
                      if e["event_id"] not in self._in_flight]
            if events:
                self._in_flight.update(e.event_id for e in events)
                stale.append((doc["_id"], events))
        return stale
