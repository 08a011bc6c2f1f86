"""sync's collection: `links`, one document per case that a remote platform must hear about."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class SyncStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.links = CaseDocuments(db["links"], clock)

    async def ensure_indexes(self) -> None:
        await self.links.ensure_indexes()
        await self.links.collection.create_index([("targets", ASCENDING)])

    async def linked(self, target: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.links.collection.find({"targets": target}, {"outbox": 0, "processed": 0})
        return await cursor.sort("_id", ASCENDING).skip(skip).limit(limit).to_list()
