"""sync: case events -> what the city platform and the hotline must be told."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from services.sync import domain
from services.sync.store import SyncStore
from shared.auth import require_role
from shared.contracts.envelope import CaseEvent
from shared.http import HttpError, endpoint, int_query, staff_of
from shared.runtime import Parts, ServiceContext

NAME = "sync"


def build(ctx: ServiceContext) -> Parts:
    store = SyncStore(ctx.db, ctx.clock)
    city_level = ctx.org.top_escalation_level

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        applied = await store.links.apply(event.case_id, event.event_id, lambda doc: domain.outbound(
            doc, event, city_level=city_level, hotline_channel=ctx.settings.hotline_channel))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    async def links(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "admin", "leader")
        target = request.query_params.get("target", "city")
        if target not in ("city", "hotline"):
            raise HttpError(422, "target 只能是 city 或 hotline", detail=[{"field": "target", "msg": "city or hotline"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.linked(target, limit, skip)
        return {"items": [{"case_id": d["_id"], "targets": d.get("targets", []), "city_state": d.get("city_state"),
                           "updates": d.get("updates", [])} for d in docs], "limit": limit, "offset": skip}

    return Parts(
        routes=[Route("/api/v1/sync/links", endpoint(links), methods=["GET"])],
        on_start=[store.ensure_indexes],
    )
