"""sla's collections.

- `deadlines`: one clock record per assigned case, written only by the owner of the case's Kafka partition
  (its case-event consumer and its timer sweep, serialised by CaseDocuments' per-key lock);
- `handling`: one record per case of the units' actions, written only by the handling API;
- `triage_clocks`: one record per registered case of triage's own 1-working-day clock, written like `deadlines`;
- `firings`: one record per timer firing (insert only, `_id` = case and first timer: a second insert of the same
  firing fails, which is what "fired once" rests on), holding the clock's state after it and the events it
  publishes; `firings_published`: one record per firing whose events reached the topic (insert only). A firing is
  folded into its clock record at the record's next write and both are deleted in batches some time later. Inserts
  and `_id` reads cost the same whatever the collection's size on FerretDB; updates and deletes scan it.

Two writers never share a document (FerretDB loses concurrent updates of one document: docs/ferretdb.md).
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.cursor import AsyncCursor
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.sla import domain

from shared.store import CaseDocuments, ReadBatcher

OPEN = {"$in": ["assigned", "accepted"]}
# what domain.timers() reads: a starting instance folds stored firings into the records it loads
TIMER_FIELDS = ("state", "epoch", "started_at", "due_at", "fired", "escalate_at", "escalation_level", "overdue",
                "response_due_at", "accepted_at", "response_missed", "follow_up_at")
INDEX_READ_BATCH = 2000  # records per reply of the start-up read
LIST_FIELDS = {"processed": 0, "outbox": 0, "last_lags": 0}  # `fired` stays: the firings are folded in


class SlaStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.deadlines = CaseDocuments(db["deadlines"], clock)
        self.handling = CaseDocuments(db["handling"], clock)
        self.triage = CaseDocuments(db["triage_clocks"], clock)  # triage's 1-working-day clock (triage_clock.py)
        self.firings = db["firings"]
        self.published = db["firings_published"]
        self._firing_reads = ReadBatcher(self.firings)  # a batch's events each look up their case's firing

    async def ensure_indexes(self) -> None:
        await self.deadlines.ensure_indexes()
        await self.handling.ensure_indexes()
        await self.triage.ensure_indexes()
        col = self.deadlines.collection
        await col.create_index([("next_fire_at", ASCENDING)])
        await col.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
        await col.create_index([("department", ASCENDING), ("state", ASCENDING), ("due_at", ASCENDING)])
        await col.create_index([("co_departments", ASCENDING), ("state", ASCENDING)])

    def index_records(self, fields: Iterable[str]) -> AsyncCursor[dict[str, Any]]:
        """Every clock record, reduced to its timers and `fields`: what a starting instance's in-memory timer
        index and gauge tally are filled from (one read of the collection, instead of one per refresh). A cursor,
        not a list: 100,000 records held at once took the service past 400 MiB."""
        projection = {"next_fire_at": 1, "partition": 1, **{f: 1 for f in (*fields, *TIMER_FIELDS)}}
        return self.deadlines.collection.find({}, projection, batch_size=INDEX_READ_BATCH)

    # ------------------------------------------------------------------ firings

    async def insert_firing(self, record: dict[str, Any]) -> bool:
        """Store a firing; False when it was stored already (by this or another instance, before or now)."""
        try:
            await self.firings.insert_one(record)
        except DuplicateKeyError:
            return False
        return True

    async def get_firing(self, firing_id: str) -> dict[str, Any] | None:
        return await self._firing_reads.get(firing_id)

    async def effective(self, case_id: str, doc: dict[str, Any] | None,
                        policy: domain.Policy) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        """The clock record with its unabsorbed firings folded in, and those firings (one `_id` read each, and
        one more that finds nothing)."""
        found: dict[str, dict[str, Any]] = {}
        while doc is not None and len(found) < domain.MAX_CHAIN:
            next_id = domain.next_firing_id(case_id, doc, policy)
            firing = await self.get_firing(next_id) if next_id else None
            if firing is None:
                break
            found[next_id] = firing
            doc = domain.merge_firing(doc, firing, policy)
        return doc, list(found.values())

    async def mark_published(self, firing_id: str) -> None:
        try:
            await self.published.insert_one({"_id": firing_id})
        except DuplicateKeyError:
            pass

    async def is_published(self, firing_id: str) -> bool:
        return await self.published.find_one({"_id": firing_id}, {"_id": 1}) is not None

    async def all_firings(self) -> list[dict[str, Any]]:
        """Every stored firing (read once when an instance gains partitions)."""
        return await self.firings.find({}).to_list()

    async def published_ids(self) -> set[str]:
        return {doc["_id"] async for doc in self.published.find({}, {"_id": 1})}

    async def delete_firings(self, ids: list[str]) -> None:
        """Forget firings their clock records absorbed: one statement per collection for the whole batch."""
        if ids:
            await self.firings.delete_many({"_id": {"$in": ids}})
            await self.published.delete_many({"_id": {"$in": ids}})

    async def triage_timers(self) -> list[dict[str, Any]]:
        """Every triage clock's next firing and partition (read once when the instance gains partitions)."""
        return await self.triage.collection.find({}, {"next_fire_at": 1, "partition": 1}).to_list()

    async def gauges(self, now: datetime, due_soon_until: datetime) -> dict[str, list[dict[str, Any]]]:
        """Counts for the gauges, by compound keys ($group with $sum is what FerretDB offers).

        Reads every record on FerretDB: the service counts in memory (tally.py); this is the reference the tests
        compare the tally with."""
        col = self.deadlines.collection

        async def group(match: dict[str, Any], keys: tuple[str, ...]) -> list[dict[str, Any]]:
            cursor = await col.aggregate([{"$match": match},
                                          {"$group": {"_id": {k: f"${k}" for k in keys}, "n": {"$sum": 1}}}])
            return [{**doc["_id"], "n": doc["n"]} async for doc in cursor]

        return {
            "open": await group({"state": OPEN}, ("state", "department", "region", "complexity")),
            "overdue": await group({"state": OPEN, "due_at": {"$lte": now}}, ("department", "escalation_level")),
            "due_soon": await group({"state": OPEN, "due_at": {"$gt": now, "$lte": due_soon_until}},
                                    ("department",)),
            "resolved": await group({"on_time": {"$in": [True, False]}}, ("department", "on_time")),
            "problem_list": await group({"state": "resolved", "problem_list": True}, ("department",)),
        }

    async def figure_records(self, department: str | None) -> list[dict[str, Any]]:
        """What the figures API counts: each record's response fields, urges and state (one read; on demand)."""
        fields = ("state", "epoch", "department", "due_at", "response_due_at", "accepted_at", "resolved_at",
                  "returned_at", "response_missed", "responses", "urges", "escalation_level", "overdue", "fired",
                  "started_at", "escalate_at", "follow_up_at")
        query: dict[str, Any] = {"state": {"$exists": True}}
        if department:
            query["$or"] = [{"department": department}, {"responses.department": department}]
        return await self.deadlines.collection.find(query, {f: 1 for f in fields}).to_list()

    async def list_cases(self, *, unit: str | None, states: list[str], limit: int, skip: int,
                         extra: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"state": {"$in": states}, **(extra or {})}
        if unit:
            query["$or"] = [{"department": unit}, {"co_departments": unit}]
        cursor = self.deadlines.collection.find(query, LIST_FIELDS)
        return await cursor.sort("due_at", ASCENDING).skip(skip).limit(limit).to_list()
