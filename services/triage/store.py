"""triage's collection: `cases`, one document per case with its decision and duplicate fingerprint."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class TriageStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.cases = CaseDocuments(db["cases"], clock)
        self.clock = clock

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        await self.cases.collection.create_index([("fingerprint", ASCENDING), ("registered_at", DESCENDING)])
        await self.cases.collection.create_index([("needs_review", ASCENDING), ("registered_at", ASCENDING)])

    async def recent_with_fingerprint(self, fingerprint: str, case_id: str, within: timedelta) -> str | None:
        """An earlier case (not a duplicate itself) with the same fingerprint, registered within `within`."""
        cursor = self.cases.collection.find(
            {"fingerprint": fingerprint, "registered_at": {"$gte": self.clock() - within},
             "screening": {"$ne": "duplicate"}},
            {"_id": 1},
        ).sort("registered_at", ASCENDING).limit(2)
        for doc in await cursor.to_list():
            if doc["_id"] != case_id:
                return str(doc["_id"])
        return None

    async def review_queue(self, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.cases.collection.find({"needs_review": True}, {"outbox": 0, "processed": 0})
        return await cursor.sort("registered_at", ASCENDING).skip(skip).limit(limit).to_list()
