"""sync: the county platform's bridge to the city platform and the 12345 hotline.

case events -> link documents with their deliveries (one write) -> dispatcher -> remote sides -> `case.synced`;
the city's feeds -> ingress submissions and case events; periodic reconciliation; operator API for parked
deliveries; the AsyncAPI document of the public topics; the simulator at /sim when QHWY_CITY_SIMULATOR=1.
"""

import time
from datetime import datetime, timedelta
from typing import Any

from prometheus_client import Counter, Gauge
from starlette.requests import Request
from starlette.routing import BaseRoute, Mount, Route

from services.sync import domain
from services.sync.asyncapi import document as asyncapi_document
from services.sync.breaker import CircuitBreaker
from services.sync.city_client import CityClient
from services.sync.delivery import Dispatcher
from services.sync.hotline_client import HotlineClient
from services.sync.inbound import Inbound
from services.sync.reconciliation import Reconciler
from services.sync.remote import RemoteUnavailable
from services.sync.settings import DEV_APP_SECRET, SyncSettings
from services.sync.store import SyncStore
from shared.auth import require_role
from shared.contracts import topics
from shared.contracts.envelope import CaseEvent
from shared.http import HttpError, endpoint, int_query, read_json, staff_of
from shared.runtime import Parts, ServiceContext

NAME = "sync"
SIMULATOR_MOUNT = "/sim"


def rules_for(ctx: ServiceContext, settings: SyncSettings) -> domain.SyncRules:
    top = max(ctx.org.escalation_levels, key=lambda level: level.level)
    return domain.SyncRules(city_level=top.level, city_department=top.code, hotline_channel=ctx.settings.hotline_channel,
                            city_channel=settings.city_channel, ticket_field=settings.hotline_ticket_field,
                            city_actor_prefix=settings.city_actor_prefix)


def _base_url(configured: str, settings: SyncSettings, ctx: ServiceContext, side: str) -> str | None:
    if configured:
        return configured
    if settings.city_simulator:
        host = "127.0.0.1" if ctx.settings.http_host in ("0.0.0.0", "::") else ctx.settings.http_host
        return f"http://{host}:{ctx.settings.http_port}{SIMULATOR_MOUNT}/{side}"
    return None


def build(ctx: ServiceContext, settings: SyncSettings | None = None) -> Parts:
    settings = settings or SyncSettings()
    for side, secret in (("CITY", settings.city_app_secret), ("HOTLINE", settings.hotline_app_secret)):
        if secret.get_secret_value() == DEV_APP_SECRET:
            ctx.development_default(f"QHWY_{side}_APP_SECRET is the development signing secret")
    store = SyncStore(ctx.db, ctx.clock, settings.sync_store_writers)
    rules = rules_for(ctx, settings)
    breakers = {t: CircuitBreaker(t, settings.sync_breaker_failures, settings.sync_breaker_reset_seconds)
                for t in (domain.CITY, domain.HOTLINE)}

    def client(cls: type, side: str, base: str, key: str, secret: str) -> Any:
        url = _base_url(base, settings, ctx, side)
        if url is None:
            return None
        return cls(name=side, base_url=url, app_key=key, app_secret=secret, breaker=breakers[side],
                   timeout=settings.sync_request_timeout_seconds, attempts=settings.sync_request_attempts)

    city: CityClient | None = client(CityClient, domain.CITY, settings.city_base_url, settings.city_app_key,
                                     settings.city_app_secret.get_secret_value())
    hotline: HotlineClient | None = client(HotlineClient, domain.HOTLINE, settings.hotline_base_url,
                                           settings.hotline_app_key, settings.hotline_app_secret.get_secret_value())
    clients = {domain.CITY: city, domain.HOTLINE: hotline}

    deliveries = Counter("qhwy_sync_deliveries", "Delivery attempts to remote sides by outcome",
                         ["target", "outcome"], registry=ctx.registry)
    breaker_open = Gauge("qhwy_sync_breaker_open", "1 while a remote side's circuit breaker is open", ["target"],
                         registry=ctx.registry)
    for target, breaker in breakers.items():
        breaker_open.labels(target).set_function(lambda b=breaker: float(b.state(time.time()) != "closed"))

    dispatcher = Dispatcher(
        store=store, clients=clients, emit=ctx.emit, clock=ctx.clock, log=ctx.log,
        backoff_base=settings.sync_backoff_base_seconds, backoff_cap=settings.sync_backoff_cap_seconds,
        breaker_reset=settings.sync_breaker_reset_seconds, concurrency=settings.sync_dispatch_concurrency,
        batch=settings.sync_dispatch_batch, on_outcome=lambda t, o: deliveries.labels(t, o).inc())

    async def publish_submission(key: str, value: bytes) -> None:
        await ctx.broker.publish(value, topic=ctx.settings.topic(topics.SUBMISSIONS), key=key.encode(),
                                 headers={"content-type": "application/json"})

    inbound = Inbound(store=store, client=city, rules=rules, publish_submission=publish_submission, emit=ctx.emit,
                      clock=ctx.clock, log=ctx.log) if city else None
    reconciler = Reconciler(store=store, clients=clients, inbound=inbound, clock=ctx.clock,
                            window=timedelta(hours=settings.sync_reconcile_window_hours), log=ctx.log)

    # --- Kafka: case events -> link documents and their deliveries (one write per event)
    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        if settings.sync_city_figures and (marks := domain.figure_marks(event, ctx.settings.tz)):
            await store.mark_figures(event.case_id, marks)
        applied = await store.links.apply(event.case_id, event.event_id,
                                          lambda doc: domain.fold(doc, event, rules, ctx.clock()))
        await ctx.emit(store.links, event.case_id, applied.events)
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # --- HTTP
    async def links(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin", "leader")
        target = request.query_params.get("target", "city")
        if target not in (domain.CITY, domain.HOTLINE):
            raise HttpError(422, "target 只能是 city 或 hotline", detail=[{"field": "target", "msg": "city or hotline"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.linked(target, limit, skip)
        return {"items": [_link_view(d) for d in docs], "limit": limit, "offset": skip}

    async def status(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin", "leader")
        now = time.time()
        return {"remote_sides": {t: {"connected": clients[t] is not None,
                                     "base_url": clients[t].base_url if clients[t] else None,  # type: ignore[union-attr]
                                     "breaker": breakers[t].snapshot(now)} for t in clients},
                **await store.counts(),
                "cursors": {n: (await store.cursor(n))[0] for n in ("city.assignments", "city.messages")},
                "last_reconciliation": reconciler.last_report}

    async def parked_list(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin")
        state = request.query_params.get("state", "parked")
        if state not in ("parked", "replayed", "all"):
            raise HttpError(422, "state 只能是 parked、replayed 或 all",
                            detail=[{"field": "state", "msg": "parked, replayed or all"}])
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        items = await store.parked_list(None if state == "all" else state, limit, skip)
        return {"items": [_parked_view(p) for p in items], "limit": limit, "offset": skip}

    async def parked_one(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin")
        record = await store.parked_get(request.path_params["delivery_id"])
        if record is None:
            raise HttpError(404, "没有这条暂存的投递")
        return _parked_view(record)

    async def replay(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "admin")
        delivery_id = request.path_params["delivery_id"]
        record = await store.parked_get(delivery_id)
        if record is None:
            raise HttpError(404, "没有这条暂存的投递")
        if record["state"] != "parked":
            raise HttpError(409, "这条投递已经重新发送过")
        raw = await request.body()
        body = None
        if raw.strip():
            payload = await read_json(request)
            if not isinstance(payload, dict) or ("body" in payload and not isinstance(payload["body"], dict)):
                raise HttpError(422, "body 应为对象", detail=[{"field": "body", "msg": "an object"}])
            body = payload.get("body")
        now = ctx.clock()
        changed = await store.links.modify(record["case_id"], lambda doc: domain.resend(
            doc, delivery_id, now, f"replayed by {staff.sub}", body))
        if not changed:
            raise HttpError(409, "这条投递当前不能重新发送")
        await store.parked_replayed(delivery_id, staff.sub, now)
        ctx.log.info("delivery_replayed", delivery_id=delivery_id, case_id=record["case_id"], by=staff.sub)
        return {"delivery_id": delivery_id, "state": "pending", "corrected": body is not None}

    async def reconcile_now(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin")
        return await reconciler.run()

    async def asyncapi(_: Request) -> Any:
        return asyncapi_document()

    routes: list[BaseRoute] = [
        Route("/api/v1/sync/links", endpoint(links), methods=["GET"]),
        Route("/api/v1/sync/status", endpoint(status), methods=["GET"]),
        Route("/api/v1/sync/parked", endpoint(parked_list), methods=["GET"]),
        Route("/api/v1/sync/parked/{delivery_id}", endpoint(parked_one), methods=["GET"]),
        Route("/api/v1/sync/parked/{delivery_id}/replay", endpoint(replay), methods=["POST"]),
        Route("/api/v1/sync/reconcile", endpoint(reconcile_now), methods=["POST"]),
        Route("/api/v1/sync/asyncapi.json", endpoint(asyncapi), methods=["GET"]),
    ]
    if settings.city_simulator:
        from services.sync.simulator.app import build_simulator

        simulator = build_simulator({settings.city_app_key: settings.city_app_secret.get_secret_value(),
                                     settings.hotline_app_key: settings.hotline_app_secret.get_secret_value()})
        routes.append(Mount(SIMULATOR_MOUNT, app=simulator.asgi()))
        ctx.log.info("city_simulator_mounted", path=SIMULATOR_MOUNT)

    async def poll() -> None:
        if inbound is not None:
            try:
                await inbound.poll()
            except RemoteUnavailable as exc:  # the city is down: its feeds are read again on the next tick
                ctx.log.info("city_feed_unavailable", error=str(exc))

    async def record_figures(period: str) -> dict[str, Any]:
        """Record the report of one period (once) as a delivery; the dispatcher sends it like every other."""
        key = domain.FIGURES_KEY_PREFIX + period
        doc = await store.links.get(key)
        if doc is None:
            counts = await store.figures(period)
            doc = (await store.links.apply(key, key, lambda d: domain.figures_report(period, counts, ctx.clock())
                                           if d is None else None)).doc
            ctx.log.info("figures_recorded", period=period, **counts)
        (delivery,) = doc["deliveries"].values()
        return {"period": period, "figures": {k: delivery["body"][k] for k in domain.FIGURE_NAMES},
                "delivery_id": delivery["id"], "state": delivery["state"]}

    async def report_figures() -> None:
        """The city asks for the county's daily figures: once a day is over, report it."""
        await record_figures(domain.last_complete_period(ctx.clock(), ctx.settings.tz))

    def period_param(request: Request) -> str:
        period = request.path_params["period"]
        try:
            day = datetime.strptime(period, "%Y-%m-%d").date()
        except ValueError:
            raise HttpError(422, "period 应为日期（YYYY-MM-DD）", detail=[{"field": "period", "msg": "a date"}]) from None
        if day.isoformat() > domain.last_complete_period(ctx.clock(), ctx.settings.tz):
            raise HttpError(422, "只能报送已经结束的日期", detail=[{"field": "period", "msg": "a day that is over"}])
        return day.isoformat()

    async def figures_view(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin", "leader")
        period = period_param(request)
        return {"period": period, "figures": await store.figures(period)}

    async def figures_report(request: Request) -> Any:
        """The city asks for an earlier day's figures (or an operator sends them before the timer does)."""
        require_role(staff_of(request, ctx.jwt_secret), "admin")
        return await record_figures(period_param(request))

    routes += [Route("/api/v1/sync/figures/{period}", endpoint(figures_view), methods=["GET"]),
               Route("/api/v1/sync/figures/{period}/report", endpoint(figures_report), methods=["POST"])]

    async def reconcile() -> None:
        try:
            await reconciler.run()
        except RemoteUnavailable as exc:
            ctx.log.warning("reconciliation_postponed", error=str(exc))

    return Parts(
        routes=routes,
        on_start=[store.ensure_indexes, dispatcher.rescan],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, lambda: ctx.sweep_outbox(store.links)),
                  (settings.sync_dispatch_interval_seconds, dispatcher.run_once),
                  (settings.sync_due_rescan_seconds, dispatcher.rescan),
                  (settings.sync_poll_interval_seconds, poll),
                  (settings.sync_reconcile_interval_seconds, reconcile)]
                 + ([(settings.sync_figures_check_seconds, report_figures)] if settings.sync_city_figures else []),
    )


def _link_view(doc: dict[str, Any]) -> dict[str, Any]:
    deliveries = sorted(doc.get("deliveries", {}).values(), key=lambda d: d["seq"])
    return {"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"), "targets": doc.get("targets", []),
            "hotline_ticket": doc.get("hotline_ticket"), "city_case_id": doc.get("city_case_id"),
            "city_escalation_id": doc.get("city_escalation_id"), "city_status": doc.get("city_status"),
            "deliveries": [{"delivery_id": d["id"], "target": d["target"], "kind": d["kind"],
                            "event_type": d["event_type"], "state": d["state"], "attempts": d["attempts"],
                            "remote_id": d.get("remote_id"), "last_error": d.get("last_error")} for d in deliveries]}


def _parked_view(record: dict[str, Any]) -> dict[str, Any]:
    view = {k: v for k, v in record.items() if k != "_id"}
    view["delivery_id"] = record["_id"]
    for key in ("parked_at", "replayed_at"):
        if view.get(key) is not None:
            view[key] = view[key].isoformat()
    return view
