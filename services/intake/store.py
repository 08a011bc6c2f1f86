"""intake's collections: `registrations` (the private record of each submission, written by the ingress
consumer and the HTTP API), `cases` (the case view, written only by the case-events consumer) and `counters`.

Two collections because the two writers are different consumers, possibly in different processes, and a
FerretDB document must have one writer at a time (see shared/store.py)."""

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class IntakeStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime], tz: ZoneInfo):
        self.registrations = CaseDocuments(db["registrations"], clock)
        self.cases = CaseDocuments(db["cases"], clock)
        self.counters = db["counters"]
        self.tz = tz
        self._sequence_lock = asyncio.Lock()  # FerretDB loses concurrent $inc on one document

    async def ensure_indexes(self) -> None:
        await self.registrations.ensure_indexes()
        await self.registrations.collection.create_index([("tracking_no", ASCENDING)], unique=True)
        await self.cases.ensure_indexes()
        col = self.cases.collection
        await col.create_index([("tracking_no", ASCENDING)], unique=True)
        await col.create_index([("department", ASCENDING), ("received_at", DESCENDING)])
        await col.create_index([("status", ASCENDING), ("received_at", DESCENDING)])
        await col.create_index([("received_at", DESCENDING)])

    async def next_sequence(self, day: datetime) -> int:
        """Daily counter behind tracking numbers (a number lost to a crash is only a gap)."""
        key = f"tracking:{day.astimezone(self.tz):%Y%m%d}"
        async with self._sequence_lock:
            doc = await self.counters.find_one_and_update(
                {"_id": key}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
        return int(doc["value"])

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """The case view; right after registration, before the view has caught up, the registration record."""
        return await self.cases.get(case_id) or await self.registrations.get(case_id)

    async def find_by_tracking_no(self, tracking_no: str) -> dict[str, Any] | None:
        query = {"tracking_no": tracking_no}
        return await self.cases.collection.find_one(query) or await self.registrations.collection.find_one(query)

    async def list_cases(self, *, department: str | None, status: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {}
        if department:
            query["department"] = department
        if status:
            query["status"] = status
        cursor = self.cases.collection.find(query, {"history": 0, "submission": 0, "outbox": 0, "processed": 0})
        return await cursor.sort("received_at", DESCENDING).skip(skip).limit(limit).to_list()
