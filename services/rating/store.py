"""rating's collections, each with one writer at a time (the service runs as one process; CaseDocuments holds a
per-key lock, and every writer of a collection goes through the one instance below):

- `case_files`: one per case, folded from the case events (and the enterprise's rating)
- `revisits`: one per revisit task (`<case_id>:<round>:<method>`)
- `supervisions`: one per referred resolution (`<case_id>:<round>`)
- `appeals`: one per appealed rating (`<case_id>:<round>`)
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments

HIDDEN = {"outbox": 0, "processed": 0, "pending_since": 0, "rev": 0}


class RatingStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        # the figures are read from the resolved case files: a change to one is what makes them stale
        self.cases = CaseDocuments(db["case_files"], clock, watch=lambda doc: doc.get("round", 0) >= 1)
        self.revisits = CaseDocuments(db["revisits"], clock)
        self.supervisions = CaseDocuments(db["supervisions"], clock)
        self.appeals = CaseDocuments(db["appeals"], clock)
        self.all = (self.cases, self.revisits, self.supervisions, self.appeals)

    async def ensure_indexes(self) -> None:
        for docs in self.all:
            await docs.ensure_indexes()
        cases = self.cases.collection
        await cases.create_index([("tracking_no", ASCENDING)])
        await cases.create_index([("state", ASCENDING), ("unrated_flagged", ASCENDING), ("rating_due_at", ASCENDING)])
        await cases.create_index([("department", ASCENDING), ("last_rated_at", DESCENDING)])
        await self.revisits.collection.create_index([("state", ASCENDING), ("created_at", ASCENDING)])
        await self.supervisions.collection.create_index([("state", ASCENDING), ("referred_at", ASCENDING)])
        await self.appeals.collection.create_index([("state", ASCENDING), ("department", ASCENDING)])

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.collection.find_one({"_id": case_id}, HIDDEN)

    async def by_tracking_no(self, tracking_no: str) -> dict[str, Any] | None:
        return await self.cases.collection.find_one({"tracking_no": tracking_no}, HIDDEN)

    async def awaiting(self, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.cases.collection.find({"state": "awaiting_rating"}, {"round": 1, "rounds": 1, "department": 1,
                                                                            "rating_due_at": 1, "tracking_no": 1})
        return await cursor.sort("rating_due_at", ASCENDING).skip(skip).limit(limit).to_list()

    async def awaiting_rating(self) -> list[dict[str, Any]]:
        """Every case file awaiting the enterprise's rating, with what the periodic scan decides on (one read of
        the collection for both of its questions: FerretDB reads all of it for any filter but `_id`)."""
        cursor = self.cases.collection.find({"state": "awaiting_rating"},
                                            {"rating_due_at": 1, "unrated_flagged": 1, "invited": 1})
        return await cursor.to_list()

    async def rated_for_unit(self, department: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"last_rated_at": {"$exists": True}}
        if department:
            query["department"] = department
        cursor = self.cases.collection.find(query, {**HIDDEN, "timeline": 0})
        return await cursor.sort("last_rated_at", DESCENDING).skip(skip).limit(limit).to_list()

    async def resolved_cases(self) -> list[dict[str, Any]]:
        """Every case with a resolution, without timelines (the figures are computed in Python)."""
        cursor = self.cases.collection.find({"round": {"$gte": 1}}, {"department": 1, "region": 1, "rounds": 1,
                                                                      "received_at": 1})
        return await cursor.to_list()

    async def listing(self, docs: CaseDocuments, query: dict[str, Any], sort: str, limit: int,
                      skip: int) -> list[dict[str, Any]]:
        cursor = docs.collection.find(query, {**HIDDEN, "case_file": 0})
        return await cursor.sort(sort, ASCENDING).skip(skip).limit(limit).to_list()

    async def get(self, docs: CaseDocuments, key: str) -> dict[str, Any] | None:
        return await docs.collection.find_one({"_id": key}, HIDDEN)
