"""sync's collections.

- `links`: one document per case a remote side must hear about, with its deliveries (the outbox towards the
  remote sides) and the applied causes; written through `CaseDocuments.apply` (or `modify` for bookkeeping that
  is no event: an attempt's outcome), always under the document's lock.
- `parked`: deliveries a remote side refused for good, for an operator to inspect and replay.
- `assignments`: the city case ids already handed to intake (so reconciliation finds the ones that were not).
- `cursors`: how far the inbound feeds have been read.
"""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from services.sync.due import DueQueue
from shared.store import Applied, CaseDocuments, Change, set_fields


class LinkDocuments(CaseDocuments):
    """Every write reports the document's new `next_delivery_at` to the due queue (the dispatcher's index).

    Writes pass a process-wide gate: FerretDB's SQLite backend takes one writer at a time, and concurrent writers
    wait on its lock with backoff (measured by `make bench-sync`: 16 concurrent writes took ~1 s each, one at a
    time ~20 ms) or fail with SQLITE_BUSY."""

    def __init__(self, collection: Any, clock: Callable[[], datetime], due: DueQueue, writers: int = 1):
        super().__init__(collection, clock)
        self.due = due
        self._writes = asyncio.Semaphore(writers)

    async def _apply(self, key: str, cause: str, decide: Callable[[dict[str, Any] | None], Change | None]) -> Applied:
        async with self._writes:
            return await super()._apply(key, cause, decide)

    async def _mark_published(self, key: str, event_ids: list[str]) -> None:
        async with self._writes:
            await super()._mark_published(key, event_ids)

    async def apply(self, key: str, cause: str, decide: Callable[[dict[str, Any] | None], Change | None]) -> Applied:
        applied = await super().apply(key, cause, decide)
        if not applied.duplicate:
            self.due.note(key, applied.doc.get("next_delivery_at"))
        return applied

    async def _modify(self, key: str, decide: Callable[[dict[str, Any]], dict[str, Any] | None]
                      ) -> dict[str, Any] | None:
        async with self._writes:
            changed = await super()._modify(key, decide)
        if changed is not None:
            self.due.note(key, changed.get("next_delivery_at"))
        return changed


class SyncStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime], writers: int = 1):
        self.due = DueQueue()
        self.links = LinkDocuments(db["links"], clock, self.due, writers)
        self.parked = db["parked"]
        self.assignments = db["assignments"]
        self.cursors = db["cursors"]
        self.case_figures = db["case_figures"]

    async def ensure_indexes(self) -> None:
        await self.links.ensure_indexes()
        await self.links.collection.create_index([("targets", ASCENDING)])
        await self.links.collection.create_index([("next_delivery_at", ASCENDING)])
        await self.links.collection.create_index([("last_delivered_at", ASCENDING)])
        await self.parked.create_index([("state", ASCENDING), ("parked_at", DESCENDING)])
        for name in ("received_on", "resolved_on", "rated_on"):
            await self.case_figures.create_index([(name, ASCENDING)])

    async def linked(self, target: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"targets": target}, {"outbox": 0, "processed": 0, "timeline": 0})
        return await cursor.sort("_id", ASCENDING).skip(skip).limit(limit).to_list()

    async def load_due(self, keep: Callable[[str], bool] = lambda key: True) -> int:
        """Fill the due queue from the store with the documents `keep` accepts (at start, when partitions are
        gained, and on a slow timer for writes by another process). The one scan of `links` by a field; the
        dispatcher's passes read documents by `_id` only."""
        cursor = self.links.collection.find({"next_delivery_at": {"$ne": None}}, {"next_delivery_at": 1})
        times = {d["_id"]: d["next_delivery_at"] async for d in cursor if keep(d["_id"])}
        self.due.merge({k: v.replace(tzinfo=UTC) if v.tzinfo is None else v for k, v in times.items()})
        return len(times)

    async def delivered_since(self, since: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"last_delivered_at": {"$gte": since}}, {"deliveries": 1})
        return await cursor.limit(limit).to_list()

    async def pending_docs(self, limit: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"next_delivery_at": {"$ne": None}}, {"deliveries": 1})
        return await cursor.limit(limit).to_list()

    async def counts(self) -> dict[str, int]:
        pending = await self.links.collection.count_documents({"next_delivery_at": {"$ne": None}})
        parked = await self.parked.count_documents({"state": "parked"})
        return {"cases_with_pending_deliveries": pending, "parked": parked}

    # --- periodic figures: one record per case (`_id` = case id), set idempotently from its events
    async def mark_figures(self, case_id: str, marks: dict[str, Any]) -> None:
        """Idempotent marks: with the consumer batch's own writes (shared.store.set_fields)."""
        await set_fields(self.case_figures, case_id, marks)

    async def figures(self, period: str) -> dict[str, int]:
        """The figures of one period (a periodic scan: once a day)."""
        count = self.case_figures.count_documents
        resolved = await count({"resolved_on": period})
        rated = await count({"rated_on": period})
        return {"received": await count({"received_on": period}), "resolved": resolved,
                "resolved_on_time": await count({"resolved_on": period, "on_time": True}),
                "rated": rated, "satisfied": await count({"rated_on": period, "satisfied": True})}

    # --- parking
    async def park(self, record: dict[str, Any]) -> None:
        await self.parked.replace_one({"_id": record["_id"]}, record, upsert=True)

    async def parked_list(self, state: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query = {"state": state} if state else {}
        return await self.parked.find(query).sort("parked_at", DESCENDING).skip(skip).limit(limit).to_list()

    async def parked_get(self, delivery_id: str) -> dict[str, Any] | None:
        return await self.parked.find_one({"_id": delivery_id})

    async def parked_replayed(self, delivery_id: str, by: str, now: datetime) -> None:
        await self.parked.update_one({"_id": delivery_id}, {"$set": {"state": "replayed", "replayed_at": now,
                                                                     "replayed_by": by}, "$inc": {"replays": 1}})

    # --- inbound bookkeeping
    async def cursor(self, name: str) -> tuple[int, set[int]]:
        doc = await self.cursors.find_one({"_id": name})
        return (int(doc["position"]), set(doc.get("ahead", []))) if doc else (0, set())

    async def save_cursor(self, name: str, position: int, ahead: set[int]) -> None:
        await self.cursors.update_one({"_id": name}, {"$set": {"position": position, "ahead": sorted(ahead)}},
                                      upsert=True)

    async def known_assignments(self, ids: list[str]) -> set[str]:
        return {d["_id"] async for d in self.assignments.find({"_id": {"$in": ids}}, {"_id": 1})}

    async def assignment_handed_over(self, city_case_id: str, submission_id: str, now: datetime) -> None:
        await self.assignments.update_one({"_id": city_case_id},
                                          {"$setOnInsert": {"submission_id": submission_id, "handed_over_at": now}},
                                          upsert=True)
