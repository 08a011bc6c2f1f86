"""The case search in memory: the slim rows of every case, newest first, filtered in Python.

Why: FerretDB evaluates every query but `_id` equality by decoding the whole collection (docs/ferretdb.md), so
"the newest 20" or a text search over 100,000 cases takes seconds there. The rows are read once at start (one
scan) and kept current by the case-events consumer; a query walks the rows newest first and stops at the page.
One console instance consumes every partition; with more, set QHWY_CONSOLE_SEARCH_REFRESH_SECONDS so each
rereads the rows changed by the others.
"""

import bisect
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

EPOCH = datetime(1970, 1, 1)


def _key(row: dict[str, Any]) -> tuple[datetime, str]:
    at = row.get("received_at") or EPOCH
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at, row["_id"]


class SearchIndex:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self._order: list[tuple[datetime, str]] = []  # ascending (received_at, case_id)
        self._by_tracking_no: dict[str, str] = {}
        self.loaded = False

    def __len__(self) -> int:
        return len(self.rows)

    def put(self, row: dict[str, Any]) -> None:
        old = self.rows.get(row["_id"])
        if old is not None:
            position = bisect.bisect_left(self._order, _key(old))
            if position < len(self._order) and self._order[position] == _key(old):
                del self._order[position]
        self.rows[row["_id"]] = row
        if row.get("tracking_no"):
            self._by_tracking_no[row["tracking_no"]] = row["_id"]
        bisect.insort(self._order, _key(row))  # cases arrive roughly in time order: mostly an append

    def load(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            kept = self.rows.setdefault(row["_id"], row)  # a row the consumer put while this loaded is newer
            if kept.get("tracking_no"):
                self._by_tracking_no[kept["tracking_no"]] = kept["_id"]
        self._order = sorted(_key(r) for r in self.rows.values())
        self.loaded = True

    def search(self, query: dict[str, Any], unit: str | None, limit: int, skip: int) -> list[dict[str, Any]]:
        """The same answer as ConsoleStore.search: newest first, a unit's own cases only, paged."""
        if query["kind"] == "tracking_no":
            row = self.rows.get(self._by_tracking_no.get(query["value"], ""))
            visible = row is not None and (unit is None or unit in (row.get("units") or ()))
            return [row] if visible and skip == 0 and limit > 0 else []
        needle = query.get("value", "").lower() if query["kind"] == "text" else None
        out: list[dict[str, Any]] = []
        for _, case_id in reversed(self._order):
            row = self.rows[case_id]
            if unit is not None and unit not in (row.get("units") or ()):
                continue
            if needle is not None and not any(needle in (row.get(f) or "").lower()
                                              for f in ("enterprise", "content", "tracking_no")):
                continue
            if skip:
                skip -= 1
                continue
            out.append(row)
            if len(out) >= limit:
                break
        return out
