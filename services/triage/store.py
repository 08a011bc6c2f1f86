"""triage's collections: `cases` (one document per case: text, proposal, decision, duplicate keys, claim,
audit history) and `examples` (officers' decisions kept as labelled training examples)."""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import DuplicateKeyError

from shared.store import CaseDocuments

QUEUE_SORTS: dict[str, list[tuple[str, int]]] = {
    "newest": [("registered_at", DESCENDING), ("_id", ASCENDING)],
    "oldest": [("registered_at", ASCENDING), ("_id", ASCENDING)],
    "confidence": [("min_confidence", ASCENDING), ("registered_at", ASCENDING), ("_id", ASCENDING)],
}
# The officers' queues: cases waiting for a triage officer, and unclear cases waiting for the enterprise's detail.
QUEUE_VIEWS: dict[str, dict[str, Any]] = {"review": {"needs_review": True},
                                          "awaiting_detail": {"awaiting_detail": True}}
AWAITING_SORTS: dict[str, list[tuple[str, int]]] = {
    "newest": [("detail_asked_at", DESCENDING), ("_id", ASCENDING)],
    "oldest": [("detail_asked_at", ASCENDING), ("_id", ASCENDING)],
    "confidence": [("min_confidence", ASCENDING), ("detail_asked_at", ASCENDING), ("_id", ASCENDING)],
}
LISTED = {"outbox": 0, "processed": 0, "dup_keys": 0}
INDEXED = {"text": 1, "enterprise_key": 1, "region": 1, "department": 1, "dup_keys": 1, "screening": 1,
           "registered_at": 1, "closed": 1, "identity": 1, "matters": 1, "co_departments": 1, "tracking_no": 1}


class TriageStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.cases = CaseDocuments(db["cases"], clock)
        self.examples = db["examples"]
        self.clock = clock

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        # The duplicate lookup moved to memory (dup_index.py); the multikey index only slowed every write.
        if "dup_keys_1" in await self.cases.collection.index_information():
            await self.cases.collection.drop_index("dup_keys_1")
        await self.cases.collection.create_index([("needs_review", ASCENDING), ("registered_at", ASCENDING)])
        await self.cases.collection.create_index([("needs_review", ASCENDING), ("min_confidence", ASCENDING)])
        await self.cases.collection.create_index([("awaiting_detail", ASCENDING), ("detail_asked_at", ASCENDING)])

    async def index_documents(self) -> list[dict[str, Any]]:
        """Every accepted case with what the duplicate index needs (one read at start-up)."""
        return await self.cases.collection.find({"screening": ACCEPTED_SCREENINGS}, INDEXED).to_list()

    async def review_queue(self, sort: str, limit: int, skip: int, view: str = "review") -> list[dict[str, Any]]:
        """One page of a queue: `review` (waiting for an officer) or `awaiting_detail` (unclear, waiting for the
        enterprise's 补充说明, ordered by when it was asked)."""
        order = AWAITING_SORTS[sort] if view == "awaiting_detail" else QUEUE_SORTS[sort]
        cursor = self.cases.collection.find(QUEUE_VIEWS[view], LISTED)
        return await cursor.sort(order).skip(skip).limit(limit).to_list()

    async def queue_length(self, view: str = "review") -> int:
        return await self.cases.collection.count_documents(QUEUE_VIEWS[view])

    async def add_example(self, example: dict[str, Any]) -> None:
        try:
            await self.examples.insert_one(example)
        except DuplicateKeyError:
            pass  # the same decision stored again (a retry): one example

    async def all_examples(self) -> list[dict[str, Any]]:
        return await self.examples.find({}).to_list()


# Cases a new one may repeat: accepted ones (also those waiting for an officer), never a duplicate itself.
ACCEPTED_SCREENINGS = {"$in": ["accepted"]}
