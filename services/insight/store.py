"""insight's collections.

- `facts`: one document per case, folded from its events (the projection; rebuilt from the topic at will);
- `problem_groups`: common problems (举一反三), rewritten by the grouping job (its only writer);
- `case_library`: typical cases (典型服务案例), one per case id;
- `mechanisms`: the register of long-term mechanisms (长效机制);
- `warnings`: early warnings found, with whether they were published;
- `reports`: generated reports (HTML and PDF), one per period label.

Figures are computed in Python from the facts (FerretDB's $group has only $sum/$count; docs/ferretdb.md).
"""

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from bson import Binary
from pymongo import ASCENDING, DESCENDING, ReplaceOne
from pymongo.asynchronous.database import AsyncDatabase

from services.insight import domain
from services.insight.domain import FACT_FIELDS
from shared.store import CaseDocuments, bulk_write_in_chunks

FACTS_PROJECTION = {"processed": 0, "outbox": 0, "pending_since": 0, "rev": 0}


def stored_instant(instant: datetime) -> datetime:
    """Stored datetimes have millisecond precision (BSON): answer what will be read back."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


class InsightStore:
    def __init__(self, db: AsyncDatabase, clock: Callable[[], datetime]):
        self.db = db
        self.facts = CaseDocuments(db["facts"], clock)
        self.groups = db["problem_groups"]
        self.library = db["case_library"]
        self.mechanisms = db["mechanisms"]
        self.warnings = db["warnings"]
        self.reports = db["reports"]

    async def ensure_indexes(self) -> None:
        await self.facts.ensure_indexes()
        col = self.facts.collection
        await col.create_index([("received_at", ASCENDING)])
        await col.create_index([("department", ASCENDING), ("received_at", ASCENDING)])
        await self.groups.create_index([("size", DESCENDING)])
        await self.warnings.create_index([("published", ASCENDING)])
        await self.reports.create_index([("kind", ASCENDING), ("period", ASCENDING)])

    # ------------------------------------------------------------------ facts

    async def facts_between(self, start: datetime, end: datetime,
                            department: str | None = None) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"received_at": {"$gte": start, "$lt": end}}
        if department:
            query["department"] = department
        return await self.facts.collection.find(query, FACTS_PROJECTION).to_list()

    async def recurrences_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Cases received in [start, end) that bring back a closed case's problem (回头件)."""
        return await self.facts.collection.find(
            {"received_at": {"$gte": start, "$lt": end}, "recurrence_of": {"$exists": True, "$ne": None}},
            {"_id": 1, "recurrence_of": 1, "department": 1}).to_list()

    async def closed_recurrences(self, start: datetime, end: datetime) -> dict[str, list[str]]:
        """回头件 received in [start, end), by the unit that closed the earlier case."""
        found = await self.recurrences_between(start, end)
        earlier = await self.facts_by_ids({f["recurrence_of"] for f in found})
        return domain.closed_recurrences(found, earlier)

    async def facts_by_ids(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        ids = list(ids)
        if not ids:
            return {}
        docs = await self.facts.collection.find({"_id": {"$in": ids}}, FACTS_PROJECTION).to_list()
        return {d["_id"]: d for d in docs}

    async def fact(self, case_id: str) -> dict[str, Any] | None:
        return await self.facts.collection.find_one({"_id": case_id}, FACTS_PROJECTION)

    async def write_rebuilt(self, cases: dict[str, dict[str, Any]], processed: dict[str, list[str]], *,
                            empty: bool, batch: int = 1000) -> None:
        """Write facts folded in memory, in the same shape the live consumer leaves (so it can go on from there).

        Into an empty collection by plain inserts: an upserting replace costs FerretDB a read per document.
        """
        ops: list[Any] = []

        async def flush() -> None:
            if empty:
                await self.facts.collection.insert_many(ops, ordered=False)
            else:
                await bulk_write_in_chunks(self.facts.collection, ops)
            ops.clear()

        for case_id, facts in cases.items():
            doc = {"_id": case_id, **{k: v for k, v in facts.items() if k in FACT_FIELDS},
                   "processed": processed.get(case_id, []), "outbox": {}, "pending_since": None,
                   "rev": len(processed.get(case_id, [])) or 1}
            ops.append(doc if empty else ReplaceOne({"_id": case_id}, doc, upsert=True))
            if len(ops) >= batch:
                await flush()
        if ops:
            await flush()

    # ------------------------------------------------------------------ problem groups

    async def replace_groups(self, groups: list[dict[str, Any]]) -> None:
        keep = [g["_id"] for g in groups]
        if groups:
            await bulk_write_in_chunks(self.groups, [ReplaceOne({"_id": g["_id"]}, g, upsert=True) for g in groups])
        await self.groups.delete_many({"_id": {"$nin": keep}})

    async def list_groups(self, limit: int, unit: str | None = None) -> list[dict[str, Any]]:
        query = {f"units.{unit}": {"$gt": 0}} if unit else {}
        return await self.groups.find(query, {"case_ids": 0}).sort("size", DESCENDING).limit(limit).to_list()

    async def group(self, group_id: str) -> dict[str, Any] | None:
        return await self.groups.find_one({"_id": group_id})

    async def existing_group_ids(self, ids: list[str]) -> set[str]:
        return {d["_id"] async for d in self.groups.find({"_id": {"$in": ids}}, {"_id": 1})}

    # ------------------------------------------------------------------ case library and mechanisms

    async def put_library_entry(self, entry: dict[str, Any]) -> None:
        await self.library.replace_one({"_id": entry["_id"]}, entry, upsert=True)

    async def library_entries(self) -> list[dict[str, Any]]:
        return await self.library.find({}).sort("marked_at", DESCENDING).to_list()

    async def put_mechanism(self, doc: dict[str, Any]) -> None:
        await self.mechanisms.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def mechanism(self, mechanism_id: str) -> dict[str, Any] | None:
        return await self.mechanisms.find_one({"_id": mechanism_id})

    async def list_mechanisms(self, group_id: str | None = None) -> list[dict[str, Any]]:
        query = {"group_ids": group_id} if group_id else {}
        return await self.mechanisms.find(query).sort("created_at", DESCENDING).to_list()

    # ------------------------------------------------------------------ warnings

    async def record_warning(self, doc: dict[str, Any]) -> bool:
        """Store a warning unless it is known (same id); True when it is new."""
        if await self.warnings.find_one({"_id": doc["_id"]}, {"_id": 1}) is not None:
            return False
        await self.warnings.insert_one({**doc, "published": False})
        return True

    async def unpublished_warnings(self) -> list[dict[str, Any]]:
        return await self.warnings.find({"published": False}).limit(500).to_list()

    async def mark_warning_published(self, warning_id: str) -> None:
        await self.warnings.update_one({"_id": warning_id}, {"$set": {"published": True}})

    async def warnings_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        return await self.warnings.find({"window_end": {"$gt": start, "$lte": end}}).sort(
            "window_end", DESCENDING).limit(200).to_list()

    # ------------------------------------------------------------------ reports

    async def put_report(self, doc: dict[str, Any]) -> None:
        doc = {**doc, "pdf": Binary(doc["pdf"])}
        await self.reports.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def report(self, report_id: str) -> dict[str, Any] | None:
        return await self.reports.find_one({"_id": report_id})

    async def has_report(self, report_id: str) -> bool:
        return await self.reports.find_one({"_id": report_id}, {"_id": 1}) is not None

    async def list_reports(self, limit: int) -> list[dict[str, Any]]:
        return await self.reports.find({}, {"html": 0, "pdf": 0}).sort("generated_at", DESCENDING).limit(
            limit).to_list()
