"""sla's collection: `deadlines`, one document per assigned case."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments


class SlaStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.deadlines = CaseDocuments(db["deadlines"], clock)

    async def ensure_indexes(self) -> None:
        await self.deadlines.ensure_indexes()
        col = self.deadlines.collection
        await col.create_index([("state", ASCENDING), ("due_at", ASCENDING)])
        await col.create_index([("department", ASCENDING), ("state", ASCENDING), ("due_at", ASCENDING)])

    async def due_unannounced(self, now: datetime, limit: int = 500) -> list[dict[str, Any]]:
        cursor = self.deadlines.collection.find(
            {"state": "open", "due_at": {"$lte": now}, "overdue_announced": False}, {"due_at": 1})
        return await cursor.sort("due_at", ASCENDING).limit(limit).to_list()

    async def open_counts(self, now: datetime) -> tuple[dict[str, int], dict[str, int]]:
        """Open and overdue cases per department ($group with $sum is all FerretDB offers; that is enough)."""
        async def by_department(match: dict[str, Any]) -> dict[str, int]:
            cursor = await self.deadlines.collection.aggregate(
                [{"$match": match}, {"$group": {"_id": "$department", "n": {"$sum": 1}}}])
            return {doc["_id"]: doc["n"] async for doc in cursor}

        return (await by_department({"state": "open"}),
                await by_department({"state": "open", "due_at": {"$lte": now}}))

    async def list_open(self, department: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"state": "open"}
        if department:
            query["department"] = department
        cursor = self.deadlines.collection.find(query, {"outbox": 0, "processed": 0})
        return await cursor.sort("due_at", ASCENDING).skip(skip).limit(limit).to_list()
