"""intake's collections: `registrations` (the private record of each submission, written by the ingress
consumer and the HTTP API), `cases` (the case view, written only by the case-events consumer), `counters`,
`enterprises` (one record per enterprise across channels), `officers` (the liaison officer registry) and
`visits` (liaison visits and the cases they produced).

Two collections because the two writers are different consumers, possibly in different processes, and a
FerretDB document must have one writer at a time (see shared/store.py)."""

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError
from pymongo.asynchronous.database import AsyncDatabase

from shared.locks import KeyedLocks
from shared.store import CaseDocuments, InsertBatcher


# Tracking numbers reserved per counter update (the counter was a store round trip per case; 5 digits a day leave
# room for the gaps).
SEQUENCE_BLOCK = 20


class IntakeStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime], tz: ZoneInfo) -> None:
        self.registrations = CaseDocuments(db["registrations"], clock)
        self.cases = CaseDocuments(db["cases"], clock)
        self.counters = db["counters"]
        self.enterprises = db["enterprises"]
        self._new_enterprises = InsertBatcher(self.enterprises)  # a batch's first reports in one command
        self.officers = db["officers"]
        self.visits = db["visits"]
        self.proof_budget = db["proof_budget"]  # wrong proofs per tracking number / address and window
        self.proof_codes = db["proof_codes"]  # one-time codes sent to contact phones (hashed)
        self.idempotency_keys = db["idempotency_keys"]  # Idempotency-Key (hashed) -> submission id
        self.personal_data_reads = db["personal_data_reads"]  # audit: staff reads of contact data
        self._budget_lock = asyncio.Lock()
        self._enterprise_locks = KeyedLocks()
        self.tz = tz
        self._sequence_lock = asyncio.Lock()  # FerretDB loses concurrent $inc on one document
        self._block: tuple[str, int, int] | None = None  # (counter, next number, last number reserved)

    async def ensure_indexes(self) -> None:
        await self.registrations.ensure_indexes()
        await self.registrations.collection.create_index([("tracking_no", ASCENDING)], unique=True)
        await self.cases.ensure_indexes()
        col = self.cases.collection
        await col.create_index([("tracking_no", ASCENDING)], unique=True)
        await col.create_index([("department", ASCENDING), ("received_at", DESCENDING)])
        await col.create_index([("status", ASCENDING), ("received_at", DESCENDING)])
        await col.create_index([("received_at", DESCENDING)])
        await col.create_index([("category", ASCENDING), ("received_at", DESCENDING)])
        await self.registrations.collection.create_index([("enterprise_id", ASCENDING), ("received_at", DESCENDING)])
        await self.registrations.collection.create_index([("received_at", DESCENDING)])
        await self.registrations.collection.create_index([("visit_id", ASCENDING)])
        await self.enterprises.create_index([("aliases", ASCENDING)])
        await self.personal_data_reads.create_index([("case_id", ASCENDING), ("at", DESCENDING)])

    async def next_sequence(self, day: datetime) -> int:
        """Daily counter behind tracking numbers. Numbers are reserved SEQUENCE_BLOCK at a time (one store round
        trip per block, not per case): numbers a crash or a new day leaves unused are only gaps, and two
        instances hand out numbers of their own blocks, so numbers are unique but not in order of arrival."""
        key = f"tracking:{day.astimezone(self.tz):%Y%m%d}"
        async with self._sequence_lock:
            if self._block is None or self._block[0] != key or self._block[1] > self._block[2]:
                doc = await self.counters.find_one_and_update(
                    {"_id": key}, {"$inc": {"value": SEQUENCE_BLOCK}}, upsert=True,
                    return_document=ReturnDocument.AFTER)
                self._block = (key, int(doc["value"]) - SEQUENCE_BLOCK + 1, int(doc["value"]))
            day_key, number, last = self._block
            self._block = (day_key, number + 1, last)
        return number

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """The case view; right after registration, before the view has caught up, the registration record."""
        return await self.cases.get(case_id) or await self.registrations.get(case_id)

    async def list_cases(self, *, department: str | None, status: str | None, limit: int,
                         skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if department:
            query["department"] = department
        if status:
            query["status"] = status
        cursor = self.cases.collection.find(query, {"history": 0, "submission": 0, "outbox": 0, "processed": 0})
        return await cursor.sort("received_at", DESCENDING).skip(skip).limit(limit).to_list()

    # ---------------------------------------------------------------- enterprises

    async def resolve_enterprise(self, key: str, candidate_id: str, alias: str, record: dict[str, Any]) -> str:
        """The enterprise id for a report: a known alias (name + phone) without a credit code finds the record
        that already has them; otherwise the id derived from the identity key. Records the report's names and
        phones on it. Writes to one record are serialised in the process; across instances a lost alias only
        means a later report without a code makes a second record (never a wrong one)."""
        if not key.startswith("uscc:"):
            known = await self.enterprises.find_one({"aliases": alias}, {"_id": 1})
            if known is not None:
                candidate_id = known["_id"]
        now = self.registrations.clock()
        async with self._enterprise_locks(candidate_id):
            update = {
                "$setOnInsert": {"identity_key": key, "first_seen": now},
                "$set": {"last_seen": now, **{k: v for k, v in record.items() if v}},
                "$addToSet": {"aliases": alias},
            }
            # A first report inserts (an insert is far cheaper than an update on FerretDB); a known enterprise,
            # or another instance inserting it at the same moment, is updated.
            first = {"_id": candidate_id, "identity_key": key, "first_seen": now, "last_seen": now,
                     **{k: v for k, v in record.items() if v}, "aliases": [alias]}
            if not await self._new_enterprises.insert(first):
                await self.enterprises.update_one({"_id": candidate_id}, update, upsert=True)
        return candidate_id

    async def enterprise(self, enterprise_id: str) -> dict[str, Any] | None:
        return await self.enterprises.find_one({"_id": enterprise_id})

    async def registrations_of(self, enterprise_id: str, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self.registrations.collection.find({"enterprise_id": enterprise_id},
                                                    {"outbox": 0, "processed": 0})
        return await cursor.sort("received_at", DESCENDING).limit(limit).to_list()

    # ---------------------------------------------------------------- liaison

    async def save_officer(self, officer: dict[str, Any]) -> None:
        await self.officers.replace_one({"_id": officer["_id"]}, officer, upsert=True)

    async def officer(self, officer_id: str) -> dict[str, Any] | None:
        return await self.officers.find_one({"_id": officer_id})

    async def list_officers(self, unit: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query = {"units": unit} if unit else {}
        return await self.officers.find(query).sort("_id", ASCENDING).skip(skip).limit(limit).to_list()

    async def record_visit(self, visit: dict[str, Any]) -> None:
        """The visit and the cases it produced; recorded again (same id) on a resend, so it ends complete."""
        await self.visits.replace_one({"_id": visit["_id"]}, visit, upsert=True)

    async def visit(self, visit_id: str) -> dict[str, Any] | None:
        return await self.visits.find_one({"_id": visit_id})

    # ---------------------------------------------------------------- tracking and Open311

    async def registration_by_tracking_no(self, tracking_no: str) -> dict[str, Any] | None:
        return await self.registrations.collection.find_one({"tracking_no": tracking_no})

    async def view_by_tracking_no(self, tracking_no: str) -> dict[str, Any] | None:
        return await self.cases.collection.find_one({"tracking_no": tracking_no})

    async def find_requests(self, *, tracking_nos: list[str] | None, categories: list[str] | None,
                            status: dict[str, Any] | None, start: datetime | None, end: datetime | None,
                            limit: int, skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if tracking_nos:
            query["tracking_no"] = {"$in": tracking_nos}
        if categories:
            query["category"] = {"$in": categories}
        if status is not None:
            query["status"] = status
        if start or end:
            query["received_at"] = {k: v for k, v in (("$gte", start), ("$lt", end)) if v}
        # A request accepted a moment ago has its registration but not yet its case view: list it all the same.
        # Only the last hour's registrations are looked at; a view follows its registration within seconds.
        views = self.cases.collection.find(query, {"outbox": 0, "processed": 0})
        found = {d["tracking_no"]: d for d in await views.sort("received_at", DESCENDING).limit(skip + limit).to_list()}
        recent = self.registrations.clock() - timedelta(hours=1)
        pending_query = {**query, "received_at": {**query.get("received_at", {}), "$gte": max(recent, start or recent)}}
        pending = await self.registrations.collection.find(pending_query, {"submission": 0, "outbox": 0,
                                                                           "processed": 0}).sort(
            "received_at", DESCENDING).limit(skip + limit + 1000).to_list()
        if unseen := [d for d in pending if d["tracking_no"] not in found]:
            viewed = {d["tracking_no"] async for d in self.cases.collection.find(
                {"tracking_no": {"$in": [d["tracking_no"] for d in unseen]}}, {"tracking_no": 1})}
            found.update((d["tracking_no"], d) for d in unseen if d["tracking_no"] not in viewed)
        ordered = sorted(found.values(), key=lambda d: d["received_at"], reverse=True)
        return ordered[skip:skip + limit]

    # ---------------------------------------------------------------- proofs, idempotency keys, audit

    async def budget_spent(self, keys: list[str]) -> dict[str, int]:
        """Wrong proofs counted in the current windows, by key."""
        found = await self.proof_budget.find({"_id": {"$in": keys}}).to_list()
        return {d["_id"]: int(d.get("n", 0)) for d in found}

    async def spend_budget(self, keys: list[str], expires: datetime) -> None:
        async with self._budget_lock:  # FerretDB loses concurrent $inc on one document
            for key in keys:
                await self.proof_budget.update_one({"_id": key}, {"$inc": {"n": 1},
                                                                  "$setOnInsert": {"expires": expires}}, upsert=True)

    async def forget_spent_budgets(self, now: datetime) -> int:
        result = await self.proof_budget.delete_many({"expires": {"$lt": now}})
        return result.deleted_count

    async def code(self, tracking_no: str) -> dict[str, Any] | None:
        return await self.proof_codes.find_one({"_id": tracking_no})

    async def save_code(self, record: dict[str, Any]) -> None:
        await self.proof_codes.replace_one({"_id": record["_id"]}, record, upsert=True)

    async def code_attempted(self, tracking_no: str, *, used: bool) -> None:
        update: dict[str, Any] = {"$inc": {"attempts": 1}}
        if used:
            update["$set"] = {"used": True}
        await self.proof_codes.update_one({"_id": tracking_no}, update)

    async def idempotent_submission(self, key_hash: str, submission_id: str, fingerprint: str,
                                    now: datetime) -> dict[str, Any]:
        """The submission an Idempotency-Key stands for: the first one recorded for it (another request with the
        same key, racing this one, may have recorded it first)."""
        record = {"_id": key_hash, "submission_id": submission_id, "fingerprint": fingerprint, "at": now}
        try:
            await self.idempotency_keys.insert_one(record)
            return record
        except DuplicateKeyError:
            found = await self.idempotency_keys.find_one({"_id": key_hash})
            return found or record

    async def idempotency_key(self, key_hash: str) -> dict[str, Any] | None:
        return await self.idempotency_keys.find_one({"_id": key_hash})

    async def replace_idempotency_key(self, record: dict[str, Any]) -> None:
        await self.idempotency_keys.replace_one({"_id": record["_id"]}, record, upsert=True)

    async def audit_personal_data(self, record: dict[str, Any]) -> None:
        """PIPL: who read whose contact data, when (kept; the log line is not the record)."""
        await self.personal_data_reads.insert_one(record)

    async def personal_data_reads_of(self, *, case_id: str | None, staff: str | None, limit: int,
                                     skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if case_id:
            query["case_id"] = case_id
        if staff:
            query["by"] = staff
        cursor = self.personal_data_reads.find(query).sort("at", DESCENDING).skip(skip).limit(limit)
        return await cursor.to_list()
