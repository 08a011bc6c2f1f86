"""rating's collection: `ratings`, one document per resolved case."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class RatingStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.ratings = CaseDocuments(db["ratings"], clock)

    async def ensure_indexes(self) -> None:
        await self.ratings.ensure_indexes()
        await self.ratings.collection.create_index([("state", ASCENDING), ("resolved_at", ASCENDING)])

    async def awaiting(self, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.ratings.collection.find({"state": "awaiting_rating"}, {"outbox": 0, "processed": 0})
        return await cursor.sort("resolved_at", ASCENDING).skip(skip).limit(limit).to_list()
