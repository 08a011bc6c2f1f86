"""sla: `case.assigned` and later events -> the deadline record; a periodic scan -> `case.overdue`."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from services.sla import domain
from services.sla.store import SlaStore
from shared.contracts.envelope import CaseEvent
from shared.http import HttpError, endpoint, int_query, staff_of
from shared.runtime import Parts, ServiceContext

NAME = "sla"


def build(ctx: ServiceContext) -> Parts:
    store = SlaStore(ctx.db, ctx.clock)
    departments = [d.code for d in ctx.org.departments]

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        applied = await store.deadlines.apply(event.case_id, event.event_id, lambda doc: domain.track(doc, event))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    async def scan() -> None:
        now = ctx.clock()
        for doc in await store.due_unannounced(now):
            case_id, due_at = doc["_id"], doc["due_at"]
            applied = await store.deadlines.apply(
                case_id, domain.overdue_cause(case_id, due_at),
                lambda current: domain.announce_overdue(current, case_id=case_id, due_at=due_at, now=now))
            await ctx.emit(store.deadlines, case_id, applied.events)
        open_counts, overdue_counts = await store.open_counts(now)
        for code in departments:
            ctx.metrics.cases_open.labels(NAME, code).set(open_counts.get(code, 0))
            ctx.metrics.cases_overdue.labels(NAME, code).set(overdue_counts.get(code, 0))

    async def sweep() -> None:
        await ctx.sweep_outbox(store.deadlines)

    async def open_deadlines(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的办理时限")
            department = staff.unit
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.list_open(department, limit, skip)
        return {"items": [{"case_id": d["_id"], "department": d.get("department"), "complexity": d.get("complexity"),
                           "due_at": d["due_at"].isoformat(), "escalation_level": d.get("escalation_level"),
                           "overdue": d["due_at"] <= ctx.clock()} for d in docs],
                "limit": limit, "offset": skip}

    return Parts(
        routes=[Route("/api/v1/sla/deadlines", endpoint(open_deadlines), methods=["GET"])],
        on_start=[store.ensure_indexes],
        periodic=[(ctx.settings.sla_scan_interval_seconds, scan), (ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )
