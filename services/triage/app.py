"""triage: `case.registered` -> decision -> `case.triaged` (and `case.assigned` when no officer is needed)."""

from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from services.triage import domain
from services.triage.store import TriageStore
from shared.auth import require_role
from shared.contracts.case_events import Registered
from shared.contracts.envelope import CaseEvent
from shared.http import endpoint, int_query, staff_of
from shared.runtime import Parts, ServiceContext
from shared.store import Change

NAME = "triage"
DUPLICATE_WINDOW = timedelta(days=30)


def build(ctx: ServiceContext) -> Parts:
    store = TriageStore(ctx.db, ctx.clock)

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, data = parsed
        if event.type != "case.registered":
            return "skipped"
        registered: Registered = data
        print_ = domain.fingerprint(registered.enterprise.name, registered.enterprise.uscc, registered.content)
        duplicate_of = await store.recent_with_fingerprint(print_, event.case_id, DUPLICATE_WINDOW)

        def apply(doc: dict[str, Any] | None) -> Change | None:
            if doc is not None and doc.get("screening"):
                return None  # already decided (a re-registration of the same case)
            now = ctx.clock()
            decision = domain.decide(registered, ctx.org, review_threshold=ctx.settings.triage_review_threshold,
                                     duplicate_of=duplicate_of)
            events = domain.events_for(decision, cause=event.event_id, case_id=event.case_id, now=now,
                                       org=ctx.org, tz=ctx.settings.tz)
            return Change(
                set={"fingerprint": print_, "registered_at": event.occurred_at, "screening": decision.screening,
                     "department": decision.department, "needs_review": decision.needs_review,
                     "decision": events[0].data, "channel": registered.channel},
                events=events,
            )

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        await ctx.emit(store.cases, event.case_id, applied.events)
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    async def review_queue(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "leader", "admin")
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.review_queue(limit, skip)
        return {"items": [{"case_id": d["_id"], "registered_at": d.get("registered_at").isoformat(),
                           "channel": d.get("channel"), "proposal": d.get("decision")} for d in docs],
                "limit": limit, "offset": skip}

    async def sweep() -> None:
        await ctx.sweep_outbox(store.cases)

    return Parts(
        routes=[Route("/api/v1/triage/queue", endpoint(review_queue), methods=["GET"])],
        on_start=[store.ensure_indexes],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )
