"""The gauges' counts, in memory, so a refresh costs no store scan.

On FerretDB every filter other than `_id` equality reads the whole collection (docs/ferretdb.md "Query speed"), so
grouping the clock records every few seconds would keep the store busy with 100,000 open cases. Instead this
keeps one small row per clock record, filled once from the store when the instance gains partitions and updated by
every write the instance makes; a refresh counts the rows of the partitions it owns. Only the partition owner
writes a case's record, so each instance's figures are exact for its partitions: with several instances, add them
up (`sum by`).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.sla.domain import OPEN_STATES, response_outcomes, unanswered

Rows = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True, slots=True)
class Row:
    partition: int | None
    state: str | None
    department: str | None
    region: str | None
    complexity: str | None
    due_at: datetime | None
    escalation_level: int | None
    on_time: bool | None
    problem_list: bool
    response: dict[str, Any]  # what the response outcomes are computed from (RESPONSE_FIELDS)

    @classmethod
    def of(cls, doc: dict[str, Any]) -> "Row":
        return cls(doc.get("partition"), doc.get("state"), doc.get("department"), doc.get("region"),
                   doc.get("complexity"), doc.get("due_at"), doc.get("escalation_level"), doc.get("on_time"),
                   bool(doc.get("problem_list")), {k: doc.get(k) for k in RESPONSE_FIELDS})


RESPONSE_FIELDS = ("state", "department", "response_due_at", "accepted_at", "resolved_at", "returned_at",
                   "response_missed", "responses")
# the record fields a row is made of (the projection of the start-up read)
FIELDS = ("partition", "state", "department", "region", "complexity", "due_at", "escalation_level", "on_time",
          "problem_list", *RESPONSE_FIELDS[2:])


class Tally:
    def __init__(self) -> None:
        self._rows: dict[str, Row] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def set(self, case_id: str, doc: dict[str, Any] | None) -> None:
        """Record a clock record as it now stands in the store (None: it is gone)."""
        if doc is None or "state" not in doc:
            self._rows.pop(case_id, None)
        else:
            self._rows[case_id] = Row.of(doc)

    def counts(self, now: datetime, due_soon_until: datetime, owned: Iterable[int] | None = None) -> Rows:
        """The same grouped counts the store's `$group` would give, over the owned partitions (None: all)."""
        keep = None if owned is None else frozenset(owned)
        open_, overdue, due_soon, resolved, problem = {}, {}, {}, {}, {}  # type: ignore[var-annotated]
        responses: dict[tuple[str | None, bool], int] = {}
        waiting: dict[str | None, int] = {}
        for row in self._rows.values():
            if keep is not None and row.partition not in keep:
                continue
            if row.state in OPEN_STATES:
                key = (row.state, row.department, row.region, row.complexity)
                open_[key] = open_.get(key, 0) + 1
                if row.due_at is not None:
                    if row.due_at <= now:
                        k2 = (row.department, row.escalation_level)
                        overdue[k2] = overdue.get(k2, 0) + 1
                    elif row.due_at <= due_soon_until:
                        due_soon[row.department] = due_soon.get(row.department, 0) + 1
            if row.on_time is not None:
                k3 = (row.department, row.on_time)
                resolved[k3] = resolved.get(k3, 0) + 1
            if row.state == "resolved" and row.problem_list:
                problem[row.department] = problem.get(row.department, 0) + 1
            for k4 in response_outcomes(row.response, now):
                responses[k4] = responses.get(k4, 0) + 1
            if unanswered(row.response, now):
                waiting[row.department] = waiting.get(row.department, 0) + 1
        return {
            "open": [{"state": s, "department": d, "region": r, "complexity": c, "n": n}
                     for (s, d, r, c), n in open_.items()],
            "overdue": [{"department": d, "escalation_level": lv, "n": n} for (d, lv), n in overdue.items()],
            "due_soon": [{"department": d, "n": n} for d, n in due_soon.items()],
            "resolved": [{"department": d, "on_time": ot, "n": n} for (d, ot), n in resolved.items()],
            "problem_list": [{"department": d, "n": n} for d, n in problem.items()],
            "responses": [{"department": d, "met": met, "n": n} for (d, met), n in responses.items()],
            "unanswered": [{"department": d, "n": n} for d, n in waiting.items()],
        }
