"""sync's collections.

- `links`: one document per case a remote side must hear about, with its deliveries (the outbox towards the
  remote sides) and the applied causes; written through `CaseDocuments.apply` (or `modify` for bookkeeping that
  is no event: an attempt's outcome), always under the document's lock.
- `parked`: deliveries a remote side refused for good, for an operator to inspect and replay.
- `assignments`: the city case ids already handed to intake (so reconciliation finds the ones that were not).
- `cursors`: how far the inbound feeds have been read.
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class LinkDocuments(CaseDocuments):
    async def modify(self, key: str, decide: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
        """Set fields computed from the current document, under its lock (one writer per document); no cause."""
        async with self._lock(key):
            doc = await self.collection.find_one({"_id": key})
            if doc is None:
                return False
            sets = decide(doc)
            if not sets:
                return False
            await self.collection.update_one({"_id": key}, {"$set": sets, "$inc": {"rev": 1}})
            return True


class SyncStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.links = LinkDocuments(db["links"], clock)
        self.parked = db["parked"]
        self.assignments = db["assignments"]
        self.cursors = db["cursors"]

    async def ensure_indexes(self) -> None:
        await self.links.ensure_indexes()
        await self.links.collection.create_index([("targets", ASCENDING)])
        await self.links.collection.create_index([("next_delivery_at", ASCENDING)])
        await self.links.collection.create_index([("last_delivered_at", ASCENDING)])
        await self.parked.create_index([("state", ASCENDING), ("parked_at", DESCENDING)])

    async def linked(self, target: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"targets": target}, {"outbox": 0, "processed": 0, "timeline": 0})
        return await cursor.sort("_id", ASCENDING).skip(skip).limit(limit).to_list()

    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"next_delivery_at": {"$lte": now}}, {"processed": 0, "timeline": 0})
        return await cursor.sort("next_delivery_at", ASCENDING).limit(limit).to_list()

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
