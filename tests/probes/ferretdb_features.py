"""Probe which MongoDB features a MongoDB-protocol server supports, via pymongo.AsyncMongoClient.

Written for FerretDB 1.24.2 (SQLite backend), the store used by local runs and tests; see
docs/ferretdb.md for the measured results and the rules the platform follows because of them.

Usage:
    .venv/bin/python tests/probes/ferretdb_features.py [mongodb-url [name-part ...]]

Extra arguments after the URL select only the probes whose name contains one of them, e.g.
    .venv/bin/python tests/probes/ferretdb_features.py mongodb://127.0.0.1:27017 concurrent '$group'

The default URL is mongodb://127.0.0.1:27017 (directConnection=true and tz_aware=True are always
set). The probe uses its own database, qhwy_feature_probe, which it drops at start and at end.
Each feature prints one line: SUPPORTED (with a note where something was measured) or MISSING
with the error code and the first 100 characters of the error message. "wrong result" means the
server accepted the request but did not do what MongoDB does. A full run takes about 15 s on
FerretDB; the expected MongoDB behaviour written into each probe is MongoDB 7's.

This file is a script, not a test module: it has no test_ prefix and no test functions, so pytest
does not collect it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal
import random
import sys
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any

from bson import Decimal128, ObjectId
from pymongo import (
    ASCENDING,
    DESCENDING,
    DeleteOne,
    InsertOne,
    ReplaceOne,
    ReturnDocument,
    UpdateOne,
)
from pymongo import AsyncMongoClient
from pymongo.errors import (
    AutoReconnect,
    BulkWriteError,
    ClientBulkWriteException,
    DuplicateKeyError,
    PyMongoError,
)
from pymongo.read_concern import ReadConcern
from pymongo.write_concern import WriteConcern

DEFAULT_URL = "mongodb://127.0.0.1:27017"
DB_NAME = "qhwy_feature_probe"
PROBE_TIMEOUT_S = 120

UTC = dt.timezone.utc


class WrongResult(Exception):
    """The server accepted the request but the outcome differs from MongoDB's."""


def expect(actual: Any, expected: Any, what: str = "") -> None:
    if actual != expected:
        raise WrongResult(f"{what + ': ' if what else ''}expected {expected!r}, got {actual!r}")


def fmt_error(exc: BaseException) -> str:
    if isinstance(exc, WrongResult):
        return f"wrong result: {str(exc)[:200]}"
    if isinstance(exc, asyncio.TimeoutError):
        return f"timeout after {PROBE_TIMEOUT_S}s"
    code = getattr(exc, "code", None)
    details = getattr(exc, "details", None)
    msg = None
    if isinstance(details, dict):
        msg = details.get("errmsg")
    if not msg:
        msg = str(exc)
    msg = " ".join(str(msg).split())
    prefix = f"code={code} " if code is not None else ""
    return f"{prefix}{type(exc).__name__}: {msg[:100]}"


Probe = Callable[[Any, Any], Awaitable[str | None]]
PROBES: list[tuple[str, Probe]] = []


def probe(name: str) -> Callable[[Probe], Probe]:
    def register(fn: Probe) -> Probe:
        PROBES.append((name, fn))
        return fn

    return register


async def docs(cursor: Any) -> list[dict]:
    return await cursor.to_list(None)


async def agg(coll: Any, pipeline: list[dict], **kw: Any) -> list[dict]:
    return await (await coll.aggregate(pipeline, **kw)).to_list(None)


# --------------------------------------------------------------------------------------------
# Server, sessions, transactions, change streams
# --------------------------------------------------------------------------------------------


@probe("hello / server version fields")
async def p_hello(db, coll):
    hello = await db.client.admin.command("hello")
    info = await db.client.server_info()
    keys = ("maxWireVersion", "minWireVersion", "maxBsonObjectSize", "maxMessageSizeBytes",
            "logicalSessionTimeoutMinutes", "setName", "msg", "isWritablePrimary")
    fields = ", ".join(f"{k}={hello.get(k)!r}" for k in keys if k in hello)
    missing = [k for k in ("setName", "logicalSessionTimeoutMinutes") if k not in hello]
    ferret = info.get("ferretdb") or info.get("ferretdbVersion") or ""
    return (f"version={info.get('version')!r} {fields}; absent: {', '.join(missing) or '-'}"
            + (f"; ferretdb={ferret!r}" if ferret else ""))


@probe("serverStatus command")
async def p_server_status(db, coll):
    st = await db.client.admin.command("serverStatus")
    return "keys: " + ", ".join(sorted(st)[:12])


@probe("topology seen by PyMongo / retryWrites default")
async def p_topology(db, coll):
    c = db.client
    await c.admin.command("ping")
    td = c.topology_description
    retry = c.options.retry_writes
    return f"topology={td.topology_type_name}, retryWrites option={retry} (PyMongo uses retryable " \
           f"writes only on replica sets/sharded clusters, so none are sent to this server)"


@probe("sessions without transaction (causal)")
async def p_session(db, coll):
    async with db.client.start_session() as s:
        await coll.insert_one({"_id": 1}, session=s)
        got = await coll.find_one({"_id": 1}, session=s)
    expect(got, {"_id": 1})


@probe("multi-document transaction: commit")
async def p_txn_commit(db, coll):
    async with db.client.start_session() as s:
        await s.start_transaction()
        await coll.insert_one({"_id": 1}, session=s)
        await coll.insert_one({"_id": 2}, session=s)
        await s.commit_transaction()
    expect(await coll.count_documents({}), 2, "documents after commit")


@probe("multi-document transaction: abort rolls back")
async def p_txn_abort(db, coll):
    async with db.client.start_session() as s:
        await s.start_transaction()
        await coll.insert_one({"_id": 1}, session=s)
        await coll.insert_one({"_id": 2}, session=s)
        await s.abort_transaction()
    expect(await coll.count_documents({}), 0, "documents after abort")


@probe("change streams (collection.watch)")
async def p_watch(db, coll):
    await coll.insert_one({"_id": 0})
    async with await coll.watch(max_await_time_ms=500) as stream:
        await coll.insert_one({"_id": 1})
        change = None
        for _ in range(10):
            change = await stream.try_next()
            if change:
                break
    if not change:
        raise WrongResult("no change event received")
    expect(change["operationType"], "insert", "operationType")


@probe("read concern majority")
async def p_rc_majority(db, coll):
    await coll.insert_one({"_id": 1})
    c = coll.with_options(read_concern=ReadConcern("majority"))
    expect(await c.find_one({"_id": 1}), {"_id": 1})


@probe("write concern w='majority'")
async def p_wc_majority(db, coll):
    c = coll.with_options(write_concern=WriteConcern(w="majority", wtimeout=5000))
    await c.insert_one({"_id": 1})
    expect(await coll.find_one({"_id": 1}), {"_id": 1})


@probe("write concern w=1, j=True")
async def p_wc_journal(db, coll):
    c = coll.with_options(write_concern=WriteConcern(w=1, j=True))
    await c.insert_one({"_id": 1})
    expect(await coll.count_documents({}), 1)


# --------------------------------------------------------------------------------------------
# Indexes and collections
# --------------------------------------------------------------------------------------------


async def index_by_name(coll, name):
    async for ix in await coll.list_indexes():
        if ix["name"] == name:
            return ix
    return None


@probe("TTL index (expireAfterSeconds accepted + listed)")
async def p_ttl(db, coll):
    name = await coll.create_index("expires_at", expireAfterSeconds=3600)
    ix = await index_by_name(coll, name)
    if ix is None:
        raise WrongResult("index not listed")
    expect(ix.get("expireAfterSeconds"), 3600, "listed expireAfterSeconds")


@probe("text index + $text query")
async def p_text(db, coll):
    await coll.create_index([("body", "text")])
    await coll.insert_many([{"_id": 1, "body": "water leak in tower"}, {"_id": 2, "body": "noise"}])
    got = await docs(coll.find({"$text": {"$search": "leak"}}))
    expect([d["_id"] for d in got], [1])


@probe("2dsphere index")
async def p_2dsphere(db, coll):
    await coll.create_index([("loc", "2dsphere")])
    await coll.insert_one({"_id": 1, "loc": {"type": "Point", "coordinates": [121.47, 31.23]}})
    got = await docs(coll.find({"loc": {"$near": {"$geometry": {"type": "Point",
                                                               "coordinates": [121.4, 31.2]}}}}))
    expect(len(got), 1)


@probe("unique index enforcement")
async def p_unique(db, coll):
    await coll.create_index("k", unique=True)
    await coll.insert_one({"k": 1})
    try:
        await coll.insert_one({"k": 1})
    except DuplicateKeyError as e:
        return f"duplicate rejected with code {e.code}"
    raise WrongResult("duplicate accepted")


@probe("unique index on nested field (a.b)")
async def p_unique_nested(db, coll):
    await coll.create_index("a.b", unique=True)
    await coll.insert_one({"a": {"b": 1}})
    try:
        await coll.insert_one({"a": {"b": 1}})
    except DuplicateKeyError:
        return None
    raise WrongResult("duplicate accepted")


@probe("compound index (+ unique compound)")
async def p_compound(db, coll):
    name = await coll.create_index([("a", ASCENDING), ("b", DESCENDING)], unique=True)
    ix = await index_by_name(coll, name)
    expect(list(ix["key"].items()), [("a", 1), ("b", -1)], "listed key")
    await coll.insert_many([{"a": 1, "b": 1}, {"a": 1, "b": 2}])
    try:
        await coll.insert_one({"a": 1, "b": 2})
    except DuplicateKeyError:
        return None
    raise WrongResult("compound duplicate accepted")


@probe("partial index (partialFilterExpression)")
async def p_partial(db, coll):
    name = await coll.create_index("k", unique=True,
                                   partialFilterExpression={"status": {"$eq": "open"}})
    ix = await index_by_name(coll, name)
    if not ix or "partialFilterExpression" not in ix:
        raise WrongResult(f"option not listed: {ix}")
    await coll.insert_many([{"k": 1, "status": "closed"}, {"k": 1, "status": "closed"}])
    await coll.insert_one({"k": 1, "status": "open"})
    try:
        await coll.insert_one({"k": 1, "status": "open"})
    except DuplicateKeyError:
        return None
    raise WrongResult("duplicate inside the partial filter accepted")


@probe("sparse index (option kept)")
async def p_sparse(db, coll):
    name = await coll.create_index("k", unique=True, sparse=True)
    ix = await index_by_name(coll, name)
    if not ix or not ix.get("sparse"):
        raise WrongResult(f"create_index accepted, but sparse dropped from the listing: {ix}")
    await coll.insert_many([{"x": 1}, {"x": 2}])  # both lack k: allowed by a sparse unique index
    return None


@probe("unique index: 2nd doc lacking the field rejected")
async def p_unique_missing(db, coll):
    # MongoDB indexes a missing field as null, so a non-sparse unique index allows only one.
    await coll.create_index("k", unique=True)
    await coll.insert_one({"x": 1})
    try:
        await coll.insert_one({"x": 2})
    except DuplicateKeyError:
        return None
    raise WrongResult("second document without the key accepted (MongoDB rejects it: null dup)")


@probe("list_indexes / index_information")
async def p_list_indexes(db, coll):
    await coll.create_index("a")
    names = sorted([ix["name"] async for ix in await coll.list_indexes()])
    expect(names, ["_id_", "a_1"])
    info = await coll.index_information()
    expect(sorted(info), ["_id_", "a_1"])


@probe("drop_index")
async def p_drop_index(db, coll):
    await coll.create_index("a")
    await coll.drop_index("a_1")
    names = sorted([ix["name"] async for ix in await coll.list_indexes()])
    expect(names, ["_id_"])


@probe("create_collection with $jsonSchema validator")
async def p_validator(db, coll):
    name = coll.name
    await coll.drop()
    c = await db.create_collection(name, validator={"$jsonSchema": {
        "bsonType": "object", "required": ["a"], "properties": {"a": {"bsonType": "int"}}}})
    await c.insert_one({"a": 1})
    try:
        await c.insert_one({"b": 1})
    except PyMongoError as e:
        return f"invalid document rejected (code {getattr(e, 'code', None)})"
    raise WrongResult("validator accepted but invalid document inserted")


@probe("capped collection")
async def p_capped(db, coll):
    name = coll.name
    await coll.drop()
    c = await db.create_collection(name, capped=True, size=100_000, max=3)
    opts = await c.options()
    for i in range(5):
        await c.insert_one({"_id": i})
    ids = [d["_id"] for d in await docs(c.find())]
    expect(ids, [2, 3, 4], "documents left right after inserting 5 with max=3")
    return f"options={opts}"


@probe("rename collection")
async def p_rename(db, coll):
    await coll.insert_one({"_id": 1})
    new = coll.name + "_renamed"
    await coll.rename(new)
    names = await db.list_collection_names()
    if coll.name in names or new not in names:
        raise WrongResult(f"collections: {names}")
    expect(await db[new].count_documents({}), 1)
    await db[new].drop()


@probe("explain")
async def p_explain(db, coll):
    await coll.insert_one({"a": 1})
    plan = await coll.find({"a": 1}).explain()
    return "keys: " + ", ".join(sorted(plan))


# --------------------------------------------------------------------------------------------
# Writes
# --------------------------------------------------------------------------------------------


@probe("find_one_and_update upsert+sort+AFTER")
async def p_fau(db, coll):
    await coll.insert_many([{"k": "x", "n": 1}, {"k": "x", "n": 2}])
    got = await coll.find_one_and_update({"k": "x"}, {"$set": {"hit": True}}, sort=[("n", -1)],
                                         return_document=ReturnDocument.AFTER, upsert=True)
    expect((got["n"], got.get("hit")), (2, True), "sorted match updated")
    got = await coll.find_one_and_update({"k": "new"}, {"$set": {"n": 9}}, upsert=True,
                                         return_document=ReturnDocument.AFTER)
    expect((got["k"], got["n"]), ("new", 9), "upserted document")


@probe("find_one_and_update with projection=")
async def p_fau_projection(db, coll):
    await coll.insert_one({"_id": 1, "a": 1, "b": 2})
    got = await coll.find_one_and_update({"_id": 1}, {"$inc": {"a": 1}}, projection={"a": 1},
                                         return_document=ReturnDocument.AFTER)
    expect(got, {"_id": 1, "a": 2})
    got = await coll.find_one_and_update({"_id": 1}, {"$inc": {"a": 1}},
                                         projection={"b": 0, "_id": 0},
                                         return_document=ReturnDocument.AFTER)
    expect(got, {"a": 3}, "exclusion projection")


@probe("findAndModify remove (find_one_and_delete)")
async def p_fad(db, coll):
    await coll.insert_many([{"_id": 1, "n": 1}, {"_id": 2, "n": 2}])
    got = await coll.find_one_and_delete({}, sort=[("n", -1)])
    expect(got, {"_id": 2, "n": 2})
    expect(await coll.count_documents({}), 1)


@probe("update with filter on rev (optimistic check)")
async def p_rev(db, coll):
    await coll.insert_one({"_id": 1, "rev": 1})
    r1 = await coll.update_one({"_id": 1, "rev": 1}, {"$set": {"s": "a"}, "$inc": {"rev": 1}})
    r2 = await coll.update_one({"_id": 1, "rev": 1}, {"$set": {"s": "b"}, "$inc": {"rev": 1}})
    expect((r1.matched_count, r1.modified_count, r2.matched_count), (1, 1, 0))
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "rev": 2, "s": "a"})


def _update_case(start: dict, update: dict, expected: dict, **kw: Any) -> Probe:
    async def run(db, coll):
        await coll.insert_one({"_id": 1, **start})
        await coll.update_one({"_id": 1}, update, **kw)
        got = await coll.find_one({"_id": 1}, {"_id": 0})
        expect(got, expected)
    return run


_UPDATE_CASES: list[tuple[str, dict, dict, dict]] = [
    ("$set", {"a": 1}, {"$set": {"a": 2, "b": "x"}}, {"a": 2, "b": "x"}),
    ("$unset", {"a": 1, "b": 2}, {"$unset": {"b": ""}}, {"a": 1}),
    ("$inc", {"a": 1}, {"$inc": {"a": 2, "z": 1}}, {"a": 3, "z": 1}),
    ("$mul", {"a": 2}, {"$mul": {"a": 3}}, {"a": 6}),
    ("$push", {"l": [1]}, {"$push": {"l": 2}}, {"l": [1, 2]}),
    ("$push $each", {"l": [1]}, {"$push": {"l": {"$each": [2, 3]}}}, {"l": [1, 2, 3]}),
    ("$push $each $slice", {"l": [1, 2]}, {"$push": {"l": {"$each": [3, 4], "$slice": -3}}},
     {"l": [2, 3, 4]}),
    ("$push $each $position", {"l": [1, 2]}, {"$push": {"l": {"$each": [0], "$position": 0}}},
     {"l": [0, 1, 2]}),
    ("$push $each $sort", {"l": [3, 1]}, {"$push": {"l": {"$each": [2], "$sort": 1}}},
     {"l": [1, 2, 3]}),
    ("$addToSet", {"l": [1]}, {"$addToSet": {"l": 1}}, {"l": [1]}),
    ("$addToSet $each", {"l": [1]}, {"$addToSet": {"l": {"$each": [1, 2]}}}, {"l": [1, 2]}),
    ("$pull", {"l": [1, 2, 1]}, {"$pull": {"l": 1}}, {"l": [2]}),
    ("$pull with condition", {"l": [{"k": 1}, {"k": 2}]}, {"$pull": {"l": {"k": 1}}},
     {"l": [{"k": 2}]}),
    ("$pullAll", {"l": [1, 2, 3]}, {"$pullAll": {"l": [1, 3]}}, {"l": [2]}),
    ("$pop", {"l": [1, 2, 3]}, {"$pop": {"l": 1}}, {"l": [1, 2]}),
    ("$min", {"a": 5}, {"$min": {"a": 3}}, {"a": 3}),
    ("$max", {"a": 5}, {"$max": {"a": 7}}, {"a": 7}),
    ("$rename", {"a": 1}, {"$rename": {"a": "b"}}, {"b": 1}),
    ("dotted-path $set into sub-document", {"s": {"x": 1}}, {"$set": {"s.y.z": 2}},
     {"s": {"x": 1, "y": {"z": 2}}}),
    ("dotted-path $unset in sub-document", {"s": {"x": 1, "y": 2}}, {"$unset": {"s.y": ""}},
     {"s": {"x": 1}}),
    ("dotted-path $inc/$push in sub-document", {"s": {"n": 1, "l": []}},
     {"$inc": {"s.n": 1}, "$push": {"s.l": "e"}}, {"s": {"n": 2, "l": ["e"]}}),
    ("$set on array element by index (l.1)", {"l": [1, 2, 3]}, {"$set": {"l.1": 9}},
     {"l": [1, 9, 3]}),
]

for _name, _start, _upd, _exp in _UPDATE_CASES:
    probe(f"update {_name}")(_update_case(_start, _upd, _exp))


@probe("one update: $set + $push + $inc + outbox.<uuid> keys")
async def p_combined_update(db, coll):
    a, b = "6f1c0d2e-1111-4a5b-8c9d-000000000001", "6f1c0d2e-1111-4a5b-8c9d-000000000002"
    await coll.insert_one({"_id": 1, "rev": 1, "processed": [], "outbox": {}, "state": {"s": 0}})
    r = await coll.update_one({"_id": 1, "rev": 1}, {
        "$set": {"state.s": 1, f"outbox.{a}": {"n": 1}, f"outbox.{b}": {"n": 2}},
        "$push": {"processed": "e1"}, "$inc": {"rev": 1}})
    expect(r.modified_count, 1, "modified_count")
    await coll.update_one({"_id": 1}, {"$unset": {f"outbox.{a}": "", f"outbox.{b}": ""}})
    expect(await coll.find_one({"_id": 1}),
           {"_id": 1, "rev": 2, "processed": ["e1"], "outbox": {}, "state": {"s": 1}})


@probe("query equality on empty sub-document {'outbox': {}}")
async def p_empty_subdoc(db, coll):
    await coll.insert_many([{"_id": 1, "outbox": {}}, {"_id": 2, "outbox": {"k": 1}}, {"_id": 3}])
    expect(sorted(d["_id"] for d in await docs(coll.find({"outbox": {}}))), [1])


@probe("query $lt datetime skips null / missing")
async def p_lt_null(db, coll):
    now = dt.datetime(2026, 11, 27, tzinfo=UTC)
    await coll.insert_many([{"_id": 1, "p": now - dt.timedelta(hours=1)}, {"_id": 2, "p": None},
                            {"_id": 3}, {"_id": 4, "p": now + dt.timedelta(hours=1)}])
    expect(sorted(d["_id"] for d in await docs(coll.find({"p": {"$lt": now}}))), [1])


# The concurrency probes send 30 requests at once; PyMongo then uses several pooled connections.
# With a single connection (maxPoolSize=1) the server sees them one after another.


@probe("concurrent update_one $inc on one doc (30 at once)")
async def p_concurrent_inc(db, coll):
    await coll.insert_one({"_id": 1, "v": 0})
    await asyncio.gather(*(coll.update_one({"_id": 1}, {"$inc": {"v": 1}}) for _ in range(30)))
    expect((await coll.find_one({"_id": 1}))["v"], 30, "final value (lost updates?)")


@probe("concurrent conditional updates on one doc (rev)")
async def p_concurrent_rev(db, coll):
    winners = []
    for _ in range(10):
        await coll.replace_one({"_id": 1}, {"rev": 1, "w": None}, upsert=True)
        results = await asyncio.gather(*(
            coll.update_one({"_id": 1, "rev": 1}, {"$set": {"w": i}, "$inc": {"rev": 1}})
            for i in range(30)))
        winners.append(sum(r.modified_count for r in results))
    if any(w != 1 for w in winners):
        raise WrongResult(f"writers that matched rev=1 per round (expected 1 each): {winners}")
    return "10 rounds of 30 writers: exactly one won each round"


@probe("concurrent find_one_and_update upsert $inc (counter)")
async def p_concurrent_counter(db, coll):
    async def bump() -> int | str:
        try:
            d = await coll.find_one_and_update({"_id": "c"}, {"$inc": {"value": 1}}, upsert=True,
                                               return_document=ReturnDocument.AFTER)
            return d["value"]
        except DuplicateKeyError:
            return "dup"

    got = await asyncio.gather(*(bump() for _ in range(30)))
    dups = got.count("dup")
    values = [v for v in got if v != "dup"]
    final = (await coll.find_one({"_id": "c"}))["value"]
    note = (f"30 concurrent upserts: {len(set(values))} distinct values returned, final value "
            f"{final}, {dups} DuplicateKeyError")
    if dups or final != 30 or len(set(values)) != len(values):
        raise WrongResult(note + " (MongoDB: 30 distinct values, final 30)")
    return note


@probe("update $currentDate")
async def p_current_date(db, coll):
    await coll.insert_one({"_id": 1})
    before = dt.datetime.now(UTC) - dt.timedelta(seconds=5)
    await coll.update_one({"_id": 1}, {"$currentDate": {"t": True}})
    got = await coll.find_one({"_id": 1})
    if not isinstance(got.get("t"), dt.datetime) or got["t"] < before:
        raise WrongResult(f"t={got.get('t')!r}")


@probe("update $setOnInsert (upsert)")
async def p_set_on_insert(db, coll):
    await coll.update_one({"_id": 1}, {"$setOnInsert": {"c": 1}, "$set": {"u": 1}}, upsert=True)
    await coll.update_one({"_id": 1}, {"$setOnInsert": {"c": 2}, "$set": {"u": 2}}, upsert=True)
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "c": 1, "u": 2})


@probe("update_one upsert with query fields")
async def p_upsert_fields(db, coll):
    r = await coll.update_one({"k": "a", "n": 1}, {"$set": {"v": 1}}, upsert=True)
    if r.upserted_id is None:
        raise WrongResult("no upserted_id")
    got = await coll.find_one({"_id": r.upserted_id}, {"_id": 0})
    expect(got, {"k": "a", "n": 1, "v": 1})


@probe("positional $ update")
async def p_positional(db, coll):
    await coll.insert_one({"_id": 1, "l": [{"k": 1, "v": 0}, {"k": 2, "v": 0}]})
    await coll.update_one({"_id": 1, "l.k": 2}, {"$set": {"l.$.v": 5}})
    expect((await coll.find_one({"_id": 1}))["l"], [{"k": 1, "v": 0}, {"k": 2, "v": 5}])


@probe("all-positional $[] update")
async def p_all_positional(db, coll):
    await coll.insert_one({"_id": 1, "l": [{"v": 0}, {"v": 1}]})
    await coll.update_one({"_id": 1}, {"$inc": {"l.$[].v": 1}})
    expect((await coll.find_one({"_id": 1}))["l"], [{"v": 1}, {"v": 2}])


@probe("arrayFilters $[elem] update")
async def p_array_filters(db, coll):
    await coll.insert_one({"_id": 1, "l": [{"k": 1, "v": 0}, {"k": 2, "v": 0}]})
    await coll.update_one({"_id": 1}, {"$set": {"l.$[e].v": 7}}, array_filters=[{"e.k": 2}])
    expect((await coll.find_one({"_id": 1}))["l"], [{"k": 1, "v": 0}, {"k": 2, "v": 7}])


@probe("pipeline update (update with a list)")
async def p_pipeline_update(db, coll):
    await coll.insert_one({"_id": 1, "a": 1})
    await coll.update_one({"_id": 1}, [{"$set": {"b": {"$add": ["$a", 1]}}}])
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "a": 1, "b": 2})


@probe("replace_one")
async def p_replace(db, coll):
    await coll.insert_one({"_id": 1, "a": 1})
    await coll.replace_one({"_id": 1}, {"b": 2})
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "b": 2})


@probe("update_many / delete_many")
async def p_many(db, coll):
    await coll.insert_many([{"g": 1}, {"g": 1}, {"g": 2}])
    r = await coll.update_many({"g": 1}, {"$set": {"x": 1}})
    expect(r.modified_count, 2)
    r = await coll.delete_many({"g": 1})
    expect(r.deleted_count, 2)


@probe("keys containing '.' (insert + read)")
async def p_dot_keys(db, coll):
    await coll.insert_one({"_id": 1, "m": {"a.b": 1}})
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "m": {"a.b": 1}})


@probe("keys starting with '$' (nested, insert + read)")
async def p_dollar_keys(db, coll):
    await coll.insert_one({"_id": 1, "m": {"$x": 1}})
    expect(await coll.find_one({"_id": 1}), {"_id": 1, "m": {"$x": 1}})


@probe("keys that are UUID strings (outbox map)")
async def p_uuid_keys(db, coll):
    k = "3f2b8c1e-6a4d-4e1b-9a7c-2d5e8f0b1c3a"
    await coll.insert_one({"_id": 1, "outbox": {}})
    await coll.update_one({"_id": 1}, {"$set": {f"outbox.{k}": {"topic": "t"}}})
    await coll.update_one({"_id": 1}, {"$unset": {f"outbox.{k}": ""}})
    await coll.update_one({"_id": 1}, {"$set": {f"outbox.{k}": {"topic": "u"}}})
    expect((await coll.find_one({"_id": 1}))["outbox"], {k: {"topic": "u"}})


@probe("nested arrays")
async def p_nested_arrays(db, coll):
    await coll.insert_one({"_id": 1, "a": [[1, 2], [3, [4, 5]]]})
    expect((await coll.find_one({"_id": 1}))["a"], [[1, 2], [3, [4, 5]]])


@probe("collection.bulk_write ordered (stops at error)")
async def p_bulk_ordered(db, coll):
    await coll.insert_one({"_id": 1})
    ops = [InsertOne({"_id": 2}), InsertOne({"_id": 1}), InsertOne({"_id": 3}),
           UpdateOne({"_id": 2}, {"$set": {"a": 1}}), DeleteOne({"_id": 9}),
           ReplaceOne({"_id": 8}, {"r": 1}, upsert=True)]
    try:
        await coll.bulk_write(ops, ordered=True)
    except BulkWriteError as e:
        expect(e.details["nInserted"], 1, "nInserted")
        expect([w["index"] for w in e.details["writeErrors"]], [1], "error indexes")
        expect(sorted(d["_id"] for d in await docs(coll.find())), [1, 2], "ids present")
        r = await coll.bulk_write(ops[3:], ordered=True)
        expect((r.modified_count, r.upserted_count), (1, 1))
        return None
    raise WrongResult("no BulkWriteError")


@probe("collection.bulk_write unordered (continues)")
async def p_bulk_unordered(db, coll):
    await coll.insert_one({"_id": 1})
    ops = [InsertOne({"_id": 2}), InsertOne({"_id": 1}), InsertOne({"_id": 3})]
    try:
        await coll.bulk_write(ops, ordered=False)
    except BulkWriteError as e:
        expect(e.details["nInserted"], 2, "nInserted")
        expect(sorted(d["_id"] for d in await docs(coll.find())), [1, 2, 3], "ids present")
        return None
    raise WrongResult("no BulkWriteError")


@probe("client.bulk_write (PyMongo 4.9+, server 8.0+)")
async def p_client_bulk(db, coll):
    ns = f"{db.name}.{coll.name}"
    try:
        r = await db.client.bulk_write([InsertOne(namespace=ns, document={"_id": 1}),
                                        UpdateOne(namespace=ns, filter={"_id": 1},
                                                  update={"$set": {"a": 1}})])
    except ClientBulkWriteException as e:
        raise WrongResult(f"ClientBulkWriteException {e.error}") from e
    expect(r.inserted_count, 1)


@probe("insert_many ordered=False with duplicate")
async def p_insert_many_unordered(db, coll):
    await coll.insert_one({"_id": 1})
    try:
        await coll.insert_many([{"_id": 1}, {"_id": 2}], ordered=False)
    except BulkWriteError as e:
        expect(e.details["nInserted"], 1)
        return None
    raise WrongResult("no BulkWriteError")


# --------------------------------------------------------------------------------------------
# Queries
# --------------------------------------------------------------------------------------------

_QUERY_DOCS = [
    {"_id": 1, "s": "Water leak", "l": [1, 2, 3], "o": [{"k": 1, "v": "a"}, {"k": 2, "v": "b"}],
     "n": 5, "m": 3, "t": dt.datetime(2026, 11, 27, 0, 0, tzinfo=UTC)},
    {"_id": 2, "s": "noise", "l": [2], "o": [{"k": 1, "v": "b"}], "n": "5", "m": 9,
     "t": dt.datetime(2026, 11, 27, 23, 59, 59, 999000, tzinfo=UTC)},
    {"_id": 3, "s": "LEAK again", "l": [], "n": None, "m": 1,
     "t": dt.datetime(2026, 11, 28, 0, 0, tzinfo=UTC)},
]


def _query_case(flt: dict, expected_ids: list[int]) -> Probe:
    async def run(db, coll):
        await coll.insert_many(_QUERY_DOCS)
        got = sorted(d["_id"] for d in await docs(coll.find(flt, {"_id": 1})))
        expect(got, expected_ids)
    return run


_QUERY_CASES: list[tuple[str, dict, list[int]]] = [
    ("$regex", {"s": {"$regex": "^W"}}, [1]),
    ("$regex with options i", {"s": {"$regex": "leak", "$options": "i"}}, [1, 3]),
    ("$elemMatch on scalars ({$gt: 2})", {"l": {"$elemMatch": {"$gt": 2}}}, [1]),
    ("$elemMatch on documents, one field", {"o": {"$elemMatch": {"k": 2}}}, [1]),
    ("$elemMatch on documents, two fields", {"o": {"$elemMatch": {"k": 1, "v": "b"}}}, [2]),
    ("$all", {"l": {"$all": [1, 2]}}, [1]),
    ("$size", {"l": {"$size": 1}}, [2]),
    ("$exists", {"o": {"$exists": False}}, [3]),
    ("$type", {"n": {"$type": "string"}}, [2]),
    ("$in / $nin", {"_id": {"$in": [1, 2, 7]}, "m": {"$nin": [9]}}, [1]),
    ("$expr ($gt)", {"$expr": {"$gt": ["$m", 2]}}, [1, 2]),
    ("$expr ($eq)", {"$expr": {"$eq": ["$m", 3]}}, [1]),
    ("$or / $and / $not", {"$or": [{"m": 1}, {"m": {"$not": {"$gt": 2}}}]}, [3]),
    ("dotted path into array of docs", {"o.v": "b"}, [1, 2]),
    ("$eq null matches missing", {"x": None}, [1, 2, 3]),
    ("$not / $mod", {"m": {"$not": {"$mod": [3, 0]}}}, [3]),
    ("$gte/$lt on datetimes", {"t": {"$gte": dt.datetime(2026, 11, 27, tzinfo=UTC),
                                     "$lt": dt.datetime(2026, 11, 28, tzinfo=UTC)}}, [1, 2]),
]

for _name, _flt, _ids in _QUERY_CASES:
    probe(f"query {_name}")(_query_case(_flt, _ids))


@probe("collation (case-insensitive find)")
async def p_collation(db, coll):
    await coll.insert_many([{"_id": 1, "s": "abc"}, {"_id": 2, "s": "ABC"}])
    got = sorted(d["_id"] for d in await docs(
        coll.find({"s": "abc"}, collation={"locale": "en", "strength": 2})))
    expect(got, [1, 2])


@probe("sort + skip + limit + projection")
async def p_sort_skip(db, coll):
    await coll.insert_many([{"_id": i, "n": i % 3, "x": i} for i in range(10)])
    got = await docs(coll.find({}, {"x": 0}).sort([("n", -1), ("_id", 1)]).skip(1).limit(3))
    expect(got, [{"_id": 5, "n": 2}, {"_id": 8, "n": 2}, {"_id": 1, "n": 1}])


@probe("find projection: computed field {'x': '$a'}")
async def p_find_proj_expr(db, coll):
    await coll.insert_one({"_id": 1, "a": 1})
    expect(await coll.find_one({"_id": 1}, {"x": "$a"}), {"_id": 1, "x": 1})


@probe("find projection: $slice")
async def p_find_proj_slice(db, coll):
    await coll.insert_one({"_id": 1, "l": [1, 2, 3]})
    expect(await coll.find_one({"_id": 1}, {"l": {"$slice": -1}}), {"_id": 1, "l": [3]})


@probe("find projection: $elemMatch")
async def p_find_proj_elem(db, coll):
    await coll.insert_one({"_id": 1, "o": [{"k": 1}, {"k": 2}]})
    expect(await coll.find_one({"_id": 1}, {"o": {"$elemMatch": {"k": 2}}}),
           {"_id": 1, "o": [{"k": 2}]})


@probe("max_time_ms / pymongo.timeout() / hint")
async def p_timeouts(db, coll):
    import pymongo
    await coll.insert_many([{"a": i} for i in range(3)])
    expect(len(await docs(coll.find().max_time_ms(1000))), 3, "max_time_ms")
    with pymongo.timeout(5):
        expect(await coll.count_documents({}), 3, "pymongo.timeout")
    expect(len(await docs(coll.find().hint("_id_"))), 3, "hint")


@probe("distinct")
async def p_distinct(db, coll):
    await coll.insert_many([{"a": 1}, {"a": 2}, {"a": 1}, {"a": [3, 4]}])
    expect(sorted(await coll.distinct("a")), [1, 2, 3, 4])


@probe("estimated_document_count")
async def p_est_count(db, coll):
    await coll.insert_many([{"a": i} for i in range(5)])
    expect(await coll.estimated_document_count(), 5)


@probe("count_documents (filter, skip, limit)")
async def p_count_docs(db, coll):
    await coll.insert_many([{"a": i} for i in range(10)])
    expect(await coll.count_documents({"a": {"$gte": 3}}, skip=2, limit=4), 4)


@probe("cursor batches over 12k documents")
async def p_batches(db, coll):
    n = 12_000
    await coll.insert_many([{"_id": i, "pad": "x" * 50} for i in range(n)])
    t0 = time.perf_counter()
    count_default = 0
    async for _ in coll.find():
        count_default += 1
    t1 = time.perf_counter()
    count_small = 0
    async for _ in coll.find(batch_size=500):
        count_small += 1
    t2 = time.perf_counter()
    expect((count_default, count_small), (n, n))
    return f"{n} docs read: default batch {t1 - t0:.2f}s, batch_size=500 {t2 - t1:.2f}s"


@probe("sort without index over 20k documents (timed)")
async def p_sort_unindexed(db, coll):
    n = 20_000
    rnd = random.Random(7)
    await coll.insert_many([{"_id": i, "v": rnd.random()} for i in range(n)])
    t0 = time.perf_counter()
    got = await docs(coll.find({}, {"v": 1}).sort("v", ASCENDING))
    t1 = time.perf_counter()
    top = await docs(coll.find({}, {"v": 1}).sort("v", DESCENDING).limit(10))
    t2 = time.perf_counter()
    values = [d["v"] for d in got]
    expect(len(values), n, "count")
    if values != sorted(values):
        raise WrongResult("not sorted")
    expect([d["v"] for d in top], sorted(values, reverse=True)[:10], "top 10")
    return f"full sort {t1 - t0:.2f}s, sort+limit(10) {t2 - t1:.2f}s"


@probe("sort with index over 20k documents (timed)")
async def p_sort_indexed(db, coll):
    n = 20_000
    rnd = random.Random(7)
    await coll.create_index("v")
    await coll.insert_many([{"_id": i, "v": rnd.random()} for i in range(n)])
    t0 = time.perf_counter()
    got = await docs(coll.find({}, {"v": 1}).sort("v", ASCENDING))
    t1 = time.perf_counter()
    top = await docs(coll.find({}, {"v": 1}).sort("v", DESCENDING).limit(10))
    t2 = time.perf_counter()
    expect(len(got), n, "count")
    expect([d["v"] for d in top], sorted((d["v"] for d in got), reverse=True)[:10], "top 10")
    return f"full sort {t1 - t0:.2f}s, sort+limit(10) {t2 - t1:.2f}s"


# --------------------------------------------------------------------------------------------
# Values
# --------------------------------------------------------------------------------------------


@probe("datetime round trip (precision, tz_aware)")
async def p_datetime(db, coll):
    t = dt.datetime(2026, 11, 27, 8, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    await coll.insert_one({"_id": 1, "t": t})
    got = (await coll.find_one({"_id": 1}))["t"]
    expect(got.utcoffset(), dt.timedelta(0), "returned offset")
    expect(got, t.replace(microsecond=123000), "stored value (ms precision)")
    # PyMongo truncates the query value the same way, so $eq with the original value matches.
    eq = await coll.count_documents({"t": t})
    return f"{t.isoformat()} -> {got.isoformat()} (microseconds truncated to ms, returned in UTC); " \
           f"find by original value matches={eq}"


@probe("naive datetime stored as UTC")
async def p_naive_dt(db, coll):
    t = dt.datetime(2026, 11, 27, 8, 30, 15, 999999)
    await coll.insert_one({"_id": 1, "t": t})
    got = (await coll.find_one({"_id": 1}))["t"]
    expect(got, t.replace(microsecond=999000, tzinfo=UTC))


def _dropped(exc: AutoReconnect) -> WrongResult:
    return WrongResult(f"server dropped the connection ({type(exc).__name__}); FerretDB logs "
                       f"'invalid BSON type wirebson.Decimal128' and a panic for the connection")


@probe("Decimal128 insert (single value)")
async def p_decimal_insert(db, coll):
    try:
        await coll.insert_one({"_id": 1, "d": Decimal128("0.1")})
    except AutoReconnect as e:
        raise _dropped(e) from e
    expect((await coll.find_one({"_id": 1}))["d"], Decimal128("0.1"))


@probe("Decimal128 round trip + query + sort")
async def p_decimal(db, coll):
    vals = ["0.1", "10.25", "-3"]
    try:
        await coll.insert_many([{"_id": i, "d": Decimal128(v)} for i, v in enumerate(vals)])
        got = await coll.find_one({"_id": 0})
        expect(got["d"].to_decimal(), Decimal("0.1"))
        found = [d["_id"] for d in
                 await docs(coll.find({"d": {"$gt": Decimal128("0")}}).sort("d", 1))]
    except AutoReconnect as e:
        raise _dropped(e) from e
    expect(found, [0, 1], "range query + sort")


@probe("int64 / ObjectId / bool / None / binary values")
async def p_types(db, coll):
    from bson.int64 import Int64
    oid = ObjectId()
    d = {"_id": 1, "i": Int64(2**40), "o": oid, "b": True, "n": None, "bin": b"\x00\x01"}
    await coll.insert_one(d)
    expect(await coll.find_one({"_id": 1}), d)


async def _large(coll, mb: int) -> str:
    size = mb * 1024 * 1024
    doc = {"_id": 1, "blob": "x" * size}
    t0 = time.perf_counter()
    await coll.insert_one(doc)
    got = await coll.find_one({"_id": 1})
    expect(len(got["blob"]), size, "length read back")
    return f"insert+read {time.perf_counter() - t0:.2f}s"


@probe("large document 4 MB")
async def p_large4(db, coll):
    return await _large(coll, 4)


@probe("large document 15 MB")
async def p_large15(db, coll):
    return await _large(coll, 15)


# --------------------------------------------------------------------------------------------
# Aggregation
# --------------------------------------------------------------------------------------------

_AGG_DOCS = [
    {"_id": 1, "g": "a", "n": 1, "tags": ["x", "y"],
     "t": dt.datetime(2026, 11, 27, 10, 15, tzinfo=UTC)},
    {"_id": 2, "g": "a", "n": 3, "tags": ["y"], "t": dt.datetime(2026, 11, 27, 11, 45, tzinfo=UTC)},
    {"_id": 3, "g": "b", "n": 5, "tags": [], "t": dt.datetime(2026, 11, 26, 23, 0, tzinfo=UTC)},
]


def _agg_case(pipeline: list[dict], expected: Any, key: Callable[[list[dict]], Any] | None = None
              ) -> Probe:
    async def run(db, coll):
        await coll.insert_many(_AGG_DOCS)
        got = await agg(coll, pipeline)
        expect(key(got) if key else got, expected)
    return run


def _by_id(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: str(r["_id"]))


_G = [{"$sort": {"_id": 1}}]
_AGG_CASES: list[tuple[str, list[dict], Any, Callable | None]] = [
    ("$match", [{"$match": {"g": "a"}}, {"$project": {"_id": 1}}], [{"_id": 1}, {"_id": 2}], _by_id),
    ("$group $sum", [{"$group": {"_id": "$g", "v": {"$sum": "$n"}}}],
     [{"_id": "a", "v": 4}, {"_id": "b", "v": 5}], _by_id),
    ("$group $sum: 1 (count)", [{"$group": {"_id": "$g", "v": {"$sum": 1}}}],
     [{"_id": "a", "v": 2}, {"_id": "b", "v": 1}], _by_id),
    ("$group $count accumulator", [{"$group": {"_id": "$g", "v": {"$count": {}}}}],
     [{"_id": "a", "v": 2}, {"_id": "b", "v": 1}], _by_id),
    ("$group $avg", [{"$group": {"_id": "$g", "v": {"$avg": "$n"}}}],
     [{"_id": "a", "v": 2.0}, {"_id": "b", "v": 5.0}], _by_id),
    ("$group $min", [{"$group": {"_id": "$g", "v": {"$min": "$n"}}}],
     [{"_id": "a", "v": 1}, {"_id": "b", "v": 5}], _by_id),
    ("$group $max", [{"$group": {"_id": "$g", "v": {"$max": "$n"}}}],
     [{"_id": "a", "v": 3}, {"_id": "b", "v": 5}], _by_id),
    ("$group $push", _G + [{"$group": {"_id": "$g", "v": {"$push": "$n"}}}],
     [{"_id": "a", "v": [1, 3]}, {"_id": "b", "v": [5]}], _by_id),
    ("$group $addToSet", [{"$group": {"_id": "$g", "v": {"$addToSet": "$g"}}}],
     [{"_id": "a", "v": ["a"]}, {"_id": "b", "v": ["b"]}], _by_id),
    ("$group $first", _G + [{"$group": {"_id": "$g", "v": {"$first": "$n"}}}],
     [{"_id": "a", "v": 1}, {"_id": "b", "v": 5}], _by_id),
    ("$group $last", _G + [{"$group": {"_id": "$g", "v": {"$last": "$n"}}}],
     [{"_id": "a", "v": 3}, {"_id": "b", "v": 5}], _by_id),
    ("$group by compound _id", [{"$group": {"_id": {"g": "$g", "n": "$n"}, "c": {"$sum": 1}}},
                               {"$match": {"_id.g": "b"}}],
     [{"_id": {"g": "b", "n": 5}, "c": 1}], None),
    ("$group _id null (totals)", [{"$group": {"_id": None, "c": {"$sum": 1}}}],
     [{"_id": None, "c": 3}], None),
    ("$sort", [{"$sort": {"n": -1}}, {"$project": {"_id": 1}}], [{"_id": 3}, {"_id": 2}, {"_id": 1}],
     None),
    ("$project (include/exclude)", _G + [{"$project": {"g": 1, "n": 1, "_id": 0}}, {"$limit": 1}],
     [{"g": "a", "n": 1}], None),
    ("$project computed field", _G + [{"$project": {"x": "$n"}}, {"$limit": 1}],
     [{"_id": 1, "x": 1}], None),
    ("$unwind", _G + [{"$unwind": "$tags"}, {"$project": {"tags": 1}}],
     [{"_id": 1, "tags": "x"}, {"_id": 1, "tags": "y"}, {"_id": 2, "tags": "y"}], None),
    ("$count", [{"$match": {"g": "a"}}, {"$count": "c"}], [{"c": 2}], None),
    ("$limit / $skip", _G + [{"$skip": 1}, {"$limit": 1}, {"$project": {"_id": 1}}],
     [{"_id": 2}], None),
    ("$addFields / $set stage", _G + [{"$addFields": {"k": "$g"}}, {"$set": {"j": 1}},
                                      {"$project": {"k": 1, "j": 1}}, {"$limit": 1}],
     [{"_id": 1, "k": "a", "j": 1}], None),
    ("$addFields constant value", _G + [{"$addFields": {"k": 5}}, {"$project": {"k": 1}},
                                        {"$limit": 1}], [{"_id": 1, "k": 5}], None),
    ("$unset stage", _G + [{"$unset": ["tags", "t", "n"]}, {"$limit": 1}],
     [{"_id": 1, "g": "a"}], None),
    ("$lookup", _G + [{"$lookup": {"from": "agg_lookup_other", "localField": "g",
                                   "foreignField": "g", "as": "j"}},
                      {"$project": {"c": {"$size": "$j"}}}, {"$limit": 1}],
     [{"_id": 1, "c": 0}], None),
    ("$facet", [{"$facet": {"a": [{"$match": {"g": "a"}}, {"$count": "c"}],
                            "b": [{"$match": {"g": "b"}}, {"$count": "c"}]}}],
     [{"a": [{"c": 2}], "b": [{"c": 1}]}], None),
    ("$bucket", [{"$bucket": {"groupBy": "$n", "boundaries": [0, 2, 10], "default": "o"}}],
     [{"_id": 0, "count": 1}, {"_id": 2, "count": 2}], None),
    ("$sortByCount", [{"$sortByCount": "$g"}], [{"_id": "a", "count": 2}, {"_id": "b", "count": 1}],
     None),
    ("$sample", [{"$sample": {"size": 2}}, {"$count": "c"}], [{"c": 2}], None),
    ("$replaceRoot", _G + [{"$replaceRoot": {"newRoot": {"x": "$g"}}}, {"$limit": 1}],
     [{"x": "a"}], None),
    ("$replaceWith", _G + [{"$replaceWith": {"x": "$g"}}, {"$limit": 1}], [{"x": "a"}], None),
    ("$unionWith", [{"$unionWith": {"coll": "agg_union_other"}}, {"$count": "c"}], [{"c": 3}], None),
    # Expressions, each inside $project on the document with _id 1.
    ("expr $dateTrunc", [{"$match": {"_id": 1}},
                         {"$project": {"d": {"$dateTrunc": {"date": "$t", "unit": "hour"}}}}],
     [{"_id": 1, "d": dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)}], None),
    ("expr $dateToString", [{"$match": {"_id": 1}}, {"$project": {"d": {"$dateToString": {
        "date": "$t", "format": "%Y-%m-%d", "timezone": "Asia/Shanghai"}}}}],
     [{"_id": 1, "d": "2026-11-27"}], None),
    ("expr $cond", [{"$match": {"_id": 1}},
                    {"$project": {"d": {"$cond": [{"$gt": ["$n", 0]}, "pos", "neg"]}}}],
     [{"_id": 1, "d": "pos"}], None),
    ("expr $ifNull", [{"$match": {"_id": 1}}, {"$project": {"d": {"$ifNull": ["$zz", "dflt"]}}}],
     [{"_id": 1, "d": "dflt"}], None),
    ("expr $size", [{"$match": {"_id": 1}}, {"$project": {"d": {"$size": "$tags"}}}],
     [{"_id": 1, "d": 2}], None),
    ("expr $concat", [{"$match": {"_id": 1}}, {"$project": {"d": {"$concat": ["$g", "-", "$g"]}}}],
     [{"_id": 1, "d": "a-a"}], None),
    ("expr $toString", [{"$match": {"_id": 1}}, {"$project": {"d": {"$toString": "$n"}}}],
     [{"_id": 1, "d": "1"}], None),
    ("expr $subtract on dates", [{"$match": {"_id": 1}}, {"$project": {"d": {
        "$subtract": ["$t", dt.datetime(2026, 11, 27, 10, 0, tzinfo=UTC)]}}}],
     [{"_id": 1, "d": 900_000}], None),
    ("expr $sum/$add in $project", [{"$match": {"_id": 1}},
                                    {"$project": {"d": {"$add": ["$n", 1]}, "s": {"$sum": "$tags"}}}],
     [{"_id": 1, "d": 2, "s": 0}], None),
    ("$group by $dateToString (daily buckets)", [{"$group": {
        "_id": {"$dateToString": {"date": "$t", "format": "%Y-%m-%d"}}, "c": {"$sum": 1}}}],
     [{"_id": "2026-11-26", "c": 1}, {"_id": "2026-11-27", "c": 2}], _by_id),
]

for _name, _pipe, _exp, _key in _AGG_CASES:
    probe(f"aggregate {_name}")(_agg_case(_pipe, _exp, _key))


@probe("aggregate allowDiskUse=True")
async def p_allow_disk(db, coll):
    await coll.insert_many(_AGG_DOCS)
    expect(len(await agg(coll, [{"$match": {"g": "a"}}], allowDiskUse=True)), 2)


@probe("aggregate $out")
async def p_out(db, coll):
    await coll.insert_many(_AGG_DOCS)
    target = coll.name + "_out"
    await agg(coll, [{"$match": {"g": "a"}}, {"$out": target}])
    expect(await db[target].count_documents({}), 2)
    await db[target].drop()


@probe("aggregate $merge")
async def p_merge(db, coll):
    await coll.insert_many(_AGG_DOCS)
    target = coll.name + "_merge"
    await agg(coll, [{"$group": {"_id": "$g", "c": {"$sum": 1}}}, {"$merge": {"into": target}}])
    expect(await db[target].count_documents({}), 2)
    await db[target].drop()


# --------------------------------------------------------------------------------------------


def _slug(name: str) -> str:
    keep = "".join(ch if ch.isalnum() else "_" for ch in name.lower())
    return "_".join(p for p in keep.split("_") if p)[:60]


async def main(url: str) -> int:
    client: AsyncMongoClient = AsyncMongoClient(url, directConnection=True, tz_aware=True,
                                                serverSelectionTimeoutMS=5000)
    try:
        await client.admin.command("ping")
    except PyMongoError as e:
        print(f"cannot reach {url}: {fmt_error(e)}", file=sys.stderr)
        return 2
    db = client[DB_NAME]
    await client.drop_database(DB_NAME)
    width = max(len(n) for n, _ in PROBES) + 2
    supported = missing = 0
    only = set(sys.argv[2:])  # optional extra args: run only probes whose name contains one
    print(f"# {url} (pymongo {__import__('pymongo').version})")
    for name, fn in PROBES:
        if only and not any(o in name for o in only):
            continue
        coll = db[_slug(name)]
        try:
            note = await asyncio.wait_for(fn(db, coll), PROBE_TIMEOUT_S)
            supported += 1
            print(f"{name:<{width}} SUPPORTED" + (f"  {note}" if note else ""), flush=True)
        except (PyMongoError, WrongResult, asyncio.TimeoutError) as e:
            missing += 1
            print(f"{name:<{width}} MISSING    {fmt_error(e)}", flush=True)
        except Exception as e:  # a bug in the probe itself, not a server answer
            missing += 1
            tb = traceback.format_exception_only(type(e), e)[-1].strip()
            print(f"{name:<{width}} MISSING    probe error: {tb[:150]}", flush=True)
        try:
            await coll.drop()
        except PyMongoError:
            pass
    print(f"# {supported} supported, {missing} missing")
    try:
        await client.drop_database(DB_NAME)
    finally:
        await client.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else DEFAULT_URL)))
