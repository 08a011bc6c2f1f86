"""triage's collections: `cases` (one document per case: text, proposal, decision, duplicate keys, claim,
audit history) and `examples` (officers' decisions kept as labelled training examples)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from services.triage.duplicates import Candidate
from shared.store import CaseDocuments

QUEUE_SORTS: dict[str, list[tuple[str, int]]] = {
    "newest": [("registered_at", DESCENDING), ("_id", ASCENDING)],
    "oldest": [("registered_at", ASCENDING), ("_id", ASCENDING)],
    "confidence": [("min_confidence", ASCENDING), ("registered_at", ASCENDING), ("_id", ASCENDING)],
}
LISTED = {"outbox": 0, "processed": 0, "dup_keys": 0}


class TriageStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.cases = CaseDocuments(db["cases"], clock)
        self.examples = db["examples"]
        self.clock = clock

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        # multikey: one entry per LSH band key and the enterprise key, queried with $in
        await self.cases.collection.create_index([("dup_keys", ASCENDING)])
        await self.cases.collection.create_index([("needs_review", ASCENDING), ("registered_at", ASCENDING)])
        await self.cases.collection.create_index([("needs_review", ASCENDING), ("min_confidence", ASCENDING)])

    async def duplicate_candidates(self, keys: list[str], case_id: str, since: datetime,
                                   limit: int) -> list[Candidate]:
        """Earlier accepted cases sharing a key, still open or registered since `since`; newest first."""
        cursor = self.cases.collection.find(
            {"dup_keys": {"$in": keys}, "_id": {"$ne": case_id}, "screening": ACCEPTED_SCREENINGS,
             "$or": [{"closed": {"$ne": True}}, {"registered_at": {"$gte": since}}]},
            {"_id": 1, "text": 1, "enterprise_key": 1, "region": 1, "department": 1},
        ).sort("registered_at", DESCENDING).limit(limit)
        return [Candidate(str(d["_id"]), d.get("text") or "", d.get("enterprise_key") or "", d.get("region"),
                          d.get("department")) async for d in cursor]

    async def review_queue(self, sort: str, limit: int, skip: int) -> list[dict[str, Any]]:
        cursor = self.cases.collection.find({"needs_review": True}, LISTED)
        return await cursor.sort(QUEUE_SORTS[sort]).skip(skip).limit(limit).to_list()

    async def queue_length(self) -> int:
        return await self.cases.collection.count_documents({"needs_review": True})

    async def add_example(self, example: dict[str, Any]) -> None:
        try:
            await self.examples.insert_one(example)
        except DuplicateKeyError:
            pass  # the same decision stored again (a retry): one example

    async def all_examples(self) -> list[dict[str, Any]]:
        return await self.examples.find({}).to_list()


# Cases a new one may repeat: accepted ones (also those waiting for an officer), never a duplicate itself.
ACCEPTED_SCREENINGS = {"$in": ["accepted"]}
