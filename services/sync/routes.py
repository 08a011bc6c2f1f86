"""sync's HTTP API: the links to the remote sides, its status, the parked deliveries an operator replays,
reconciliation on demand, the AsyncAPI document of the public topics, and the county's daily figures."""

import time
from datetime import datetime
from typing import Any

from services.sync import domain, jobs
from services.sync.asyncapi import document as asyncapi_document
from services.sync.deps import Deps
from shared.http import Call, RouteTable, read_json
from shared.jsonable import iso
from shared.refusal import Refusal

ROUTES = RouteTable("/api/v1/sync")
FIGURE_ROUTES = RouteTable("/api/v1/sync")  # served after the simulator's mount (app.py), as always
READERS = ("admin", "leader")
OPERATORS = ("admin",)


def link_view(doc: dict[str, Any]) -> dict[str, Any]:
    deliveries = sorted(doc.get("deliveries", {}).values(), key=lambda d: d["seq"])
    return {"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"), "targets": doc.get("targets", []),
            "hotline_ticket": doc.get("hotline_ticket"), "city_case_id": doc.get("city_case_id"),
            "city_escalation_id": doc.get("city_escalation_id"), "city_status": doc.get("city_status"),
            "deliveries": [{"delivery_id": d["id"], "target": d["target"], "kind": d["kind"],
                            "event_type": d["event_type"], "state": d["state"], "attempts": d["attempts"],
                            "remote_id": d.get("remote_id"), "last_error": d.get("last_error")} for d in deliveries]}


def parked_view(record: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in record.items() if k != "_id"}
    view["delivery_id"] = record["_id"]
    for key in ("parked_at", "replayed_at"):
        if view.get(key) is not None:
            view[key] = iso(view[key])
    return view


@ROUTES.get("/links", roles=READERS)
async def links(call: Call[Deps]) -> Any:
    """The cases linked to one remote side, with their deliveries."""
    target = call.query("target", "city")
    if target not in (domain.CITY, domain.HOTLINE):
        raise Refusal(422, "target 只能是 city 或 hotline", detail=[{"field": "target", "msg": "city or hotline"}])
    limit, skip = call.page()
    docs = await call.deps.store.linked(target, limit, skip)
    return {"items": [link_view(d) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/status", roles=READERS)
async def status(call: Call[Deps]) -> Any:
    """The remote sides (connected, breaker), the deliveries by state, the feeds' cursors, the last reconciliation."""
    deps, now = call.deps, time.time()
    clients, breakers = deps.clients, deps.breakers
    return {"remote_sides": {t: {"connected": clients[t] is not None,
                                 "base_url": clients[t].base_url if clients[t] else None,  # type: ignore[union-attr]
                                 "breaker": breakers[t].snapshot(now)} for t in clients},
            **await deps.store.counts(),
            "cursors": {n: (await deps.store.cursor(n))[0] for n in ("city.assignments", "city.messages")},
            "last_reconciliation": deps.reconciler.last_report}


@ROUTES.get("/parked", roles=OPERATORS)
async def parked_list(call: Call[Deps]) -> Any:
    """Deliveries a remote side refused, parked for an operator (or replayed already)."""
    state = call.query("state", "parked")
    if state not in ("parked", "replayed", "all"):
        raise Refusal(422, "state 只能是 parked、replayed 或 all",
                      detail=[{"field": "state", "msg": "parked, replayed or all"}])
    limit, skip = call.page()
    items = await call.deps.store.parked_list(None if state == "all" else state, limit, skip)
    return {"items": [parked_view(p) for p in items], "limit": limit, "offset": skip}


@ROUTES.get("/parked/{delivery_id}", roles=OPERATORS)
async def parked_one(call: Call[Deps]) -> Any:
    record = await call.deps.store.parked_get(call.path("delivery_id"))
    if record is None:
        raise Refusal(404, "没有这条暂存的投递")
    return parked_view(record)


@ROUTES.post("/parked/{delivery_id}/replay", roles=OPERATORS)
async def replay(call: Call[Deps]) -> Any:
    """Send a parked delivery again, as it was or with a corrected body."""
    deps, staff, delivery_id = call.deps, call.caller, call.path("delivery_id")
    record = await deps.store.parked_get(delivery_id)
    if record is None:
        raise Refusal(404, "没有这条暂存的投递")
    if record["state"] != "parked":
        raise Refusal(409, "这条投递已经重新发送过")
    raw = await call.request.body()
    body = None
    if raw.strip():
        payload = await read_json(call.request)
        if not isinstance(payload, dict) or ("body" in payload and not isinstance(payload["body"], dict)):
            raise Refusal(422, "body 应为对象", detail=[{"field": "body", "msg": "an object"}])
        body = payload.get("body")
    now = deps.ctx.clock()
    changed = await deps.store.links.modify(record["case_id"], lambda doc: domain.resend(
        doc, delivery_id, now, f"replayed by {staff.sub}", body))
    if not changed:
        raise Refusal(409, "这条投递当前不能重新发送")
    await deps.store.parked_replayed(delivery_id, staff.sub, now)
    deps.ctx.log.info("delivery_replayed", delivery_id=delivery_id, case_id=record["case_id"], by=staff.sub)
    return {"delivery_id": delivery_id, "state": "pending", "corrected": body is not None}


@ROUTES.post("/reconcile", roles=OPERATORS)
async def reconcile_now(call: Call[Deps]) -> Any:
    return await call.deps.reconciler.run()


@ROUTES.get("/asyncapi.json", public=True)
async def asyncapi(call: Call[Deps]) -> Any:
    """The AsyncAPI document of the public topics (public: downstream systems read it)."""
    return asyncapi_document()


def period_param(call: Call[Deps]) -> str:
    """The `period` of the path: a day (YYYY-MM-DD) that is over."""
    period = call.path("period")
    try:
        day = datetime.strptime(period, "%Y-%m-%d").date()
    except ValueError:
        raise Refusal(422, "period 应为日期（YYYY-MM-DD）", detail=[{"field": "period", "msg": "a date"}]) from None
    if day.isoformat() > domain.last_complete_period(call.deps.ctx.clock(), call.deps.ctx.settings.tz):
        raise Refusal(422, "只能报送已经结束的日期", detail=[{"field": "period", "msg": "a day that is over"}])
    return day.isoformat()


@FIGURE_ROUTES.get("/figures/{period}", roles=READERS)
async def figures_view(call: Call[Deps]) -> Any:
    period = period_param(call)
    return {"period": period, "figures": await call.deps.store.figures(period)}


@FIGURE_ROUTES.post("/figures/{period}/report", roles=OPERATORS)
async def figures_report(call: Call[Deps]) -> Any:
    """The city asks for an earlier day's figures (or an operator sends them before the timer does)."""
    return await jobs.record_figures(call.deps, period_param(call))
