"""console's collections (one process writes them):

- `cases`: one per case, folded from the case events (idempotent on event ids): the timeline reads it
- `search`: a slim copy of each case's listed fields, rewritten after each change of `cases`: what search scans
  (FerretDB evaluates every filter but `_id` equality by decoding the whole collection: small documents help)
- `tracking`: tracking number -> case id, so the commonest search is an `_id` lookup on every store
- `org_audit`: every organisation-file edit an administrator checked, with its diff and who made it
- `calendar_audit`: every year schedule (holiday file) an administrator checked, with its summary and who
"""

from collections.abc import Callable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.store import CaseDocuments

LISTED = {"tracking_no": 1, "enterprise": 1, "content": 1, "title": 1, "channel": 1, "received_at": 1, "department": 1,
          "co_departments": 1, "region": 1, "complexity": 1, "due_at": 1, "overdue": 1, "status": 1, "last_event": 1,
          "updated_at": 1}


class ConsoleStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.cases = CaseDocuments(db["cases"], clock)
        self.slim = db["search"]
        self.tracking = db["tracking"]
        self.audit = db["org_audit"]
        self.calendar_audit = db["calendar_audit"]

    async def ensure_indexes(self) -> None:
        await self.cases.ensure_indexes()
        cases = self.slim
        await cases.create_index([("received_at", DESCENDING)])
        await cases.create_index([("enterprise_key", ASCENDING), ("received_at", DESCENDING)])
        await cases.create_index([("units", ASCENDING), ("received_at", DESCENDING)])
        await self.audit.create_index([("at", DESCENDING)])
        await self.calendar_audit.create_index([("at", DESCENDING)])

    async def search(self, query: dict[str, Any], unit: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        """Paged: newest first; a tracking number by its `_id` lookup, text by a case-insensitive match."""
        where: dict[str, Any] = {}
        if query["kind"] == "tracking_no":
            found = await self.tracking.find_one({"_id": query["value"]})
            doc = await self.slim.find_one({"_id": found["case_id"]}) if found else None
            return [doc] if doc and (unit is None or unit in (doc.get("units") or [])) and skip == 0 else []
        if query["kind"] == "text":
            pattern = {"$regex": query["pattern"], "$options": "i"}
            where["$or"] = [{"enterprise": pattern}, {"content": pattern}, {"tracking_no": pattern}]
        if unit is not None:
            where["units"] = unit
        cursor = self.slim.find(where)
        return await cursor.sort("received_at", DESCENDING).skip(skip).limit(limit).to_list()

    async def index(self, doc: dict[str, Any], *, with_tracking: bool = True) -> dict[str, Any]:
        """Refresh the slim search copy (and, `with_tracking`, the tracking number) from the case document just
        written."""
        slim = {"_id": doc["_id"], **{k: doc[k] for k in (*LISTED, "units", "enterprise_key") if k in doc}}
        await self.slim.replace_one({"_id": doc["_id"]}, slim, upsert=True)
        if with_tracking and doc.get("tracking_no"):
            await self.tracking.replace_one({"_id": doc["tracking_no"]}, {"_id": doc["tracking_no"],
                                                                          "case_id": doc["_id"]}, upsert=True)
        return slim

    async def slim_rows(self, since: datetime | None = None) -> list[dict[str, Any]]:
        """Every case's search row (at start), or those changed since an instant (another instance's)."""
        return await self.slim.find({"updated_at": {"$gte": since}} if since else {}).to_list()

    async def rows(self, case_ids: list[str]) -> list[dict[str, Any]]:
        """The search rows of some cases (until the in-memory rows are loaded): one `_id` lookup each."""
        found = []
        for case_id in case_ids:
            row = await self.slim.find_one({"_id": case_id})
            if row is not None:
                found.append(row)
        return found

    async def case(self, case_id: str) -> dict[str, Any] | None:
        return await self.cases.collection.find_one({"_id": case_id}, {"outbox": 0, "processed": 0})

    def _trail(self, kind: str) -> Any:
        return self.calendar_audit if kind == "calendar" else self.audit

    async def add_audit(self, entry: dict[str, Any], kind: str = "org") -> None:
        await self._trail(kind).insert_one(entry)

    async def audit_trail(self, limit: int, skip: int, kind: str = "org") -> list[dict[str, Any]]:
        cursor = self._trail(kind).find({}, {"text": 0})
        return await cursor.sort("at", DESCENDING).skip(skip).limit(limit).to_list()

    async def audit_entry(self, entry_id: str, kind: str = "org") -> dict[str, Any] | None:
        return await self._trail(kind).find_one({"_id": entry_id})
