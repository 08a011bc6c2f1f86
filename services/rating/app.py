"""rating: `case.resolved` -> a rating invitation; `case.rated` -> its outcome."""

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from services.rating import domain
from services.rating.store import RatingStore
from shared.auth import require_role
from shared.contracts.envelope import CaseEvent
from shared.http import endpoint, int_query, staff_of
from shared.runtime import Parts, ServiceContext

NAME = "rating"


def build(ctx: ServiceContext) -> Parts:
    store = RatingStore(ctx.db, ctx.clock)
    satisfied = frozenset(level.code for level in ctx.org.rating_levels if level.satisfied)

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        applied = await store.ratings.apply(event.case_id, event.event_id,
                                            lambda doc: domain.track(doc, event, satisfied))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    async def awaiting(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "leader", "supervisor", "admin")
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.awaiting(limit, skip)
        return {"items": [{"case_id": d["_id"], "resolved_at": d.get("resolved_at"), "rounds": d.get("rounds")}
                          for d in docs], "limit": limit, "offset": skip}

    return Parts(
        routes=[Route("/api/v1/rating/awaiting", endpoint(awaiting), methods=["GET"])],
        on_start=[store.ensure_indexes],
    )
