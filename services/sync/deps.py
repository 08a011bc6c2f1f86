"""What sync's handlers, routes and jobs share: one instance per process, made by app.build()."""

import time
from dataclasses import dataclass
from datetime import timedelta

from prometheus_client import Counter, Gauge

from services.sync import domain
from services.sync.breaker import CircuitBreaker
from services.sync.city_client import CityClient
from services.sync.delivery import Dispatcher
from services.sync.hotline_client import HotlineClient
from services.sync.inbound import Inbound
from services.sync.reconciliation import Reconciler
from services.sync.remote import RemoteClient
from services.sync.settings import SyncSettings
from services.sync.store import SyncStore
from shared.contracts import topics
from shared.runtime import ServiceContext

NAME = "sync"
SIMULATOR_MOUNT = "/sim"


@dataclass(frozen=True, repr=False)  # repr=False: a failing periodic job logs its name, not every dependency
class Deps:
    ctx: ServiceContext
    settings: SyncSettings
    store: SyncStore
    rules: domain.SyncRules
    breakers: dict[str, CircuitBreaker]  # remote side -> its circuit breaker
    clients: dict[str, RemoteClient | None]  # remote side -> its client (None: not configured)
    dispatcher: Dispatcher
    inbound: Inbound | None  # the city's feeds (None without a city client)
    reconciler: Reconciler


def rules_for(ctx: ServiceContext, settings: SyncSettings) -> domain.SyncRules:
    """sync's rules from the organisation file (the top of the ladder is the city) and its settings."""
    top = max(ctx.org.escalation_levels, key=lambda level: level.level)
    return domain.SyncRules(city_level=top.level, city_department=top.code,
                            hotline_channel=ctx.settings.hotline_channel, city_channel=settings.city_channel,
                            ticket_field=settings.hotline_ticket_field,
                            city_actor_prefix=settings.city_actor_prefix)


def _base_url(configured: str, settings: SyncSettings, ctx: ServiceContext, side: str) -> str | None:
    """The configured address of a remote side, else the simulator's in this process when it runs, else none."""
    if configured:
        return configured
    if settings.city_simulator:
        host = "127.0.0.1" if ctx.settings.http_host in ("0.0.0.0", "::") else ctx.settings.http_host
        return f"http://{host}:{ctx.settings.http_port}{SIMULATOR_MOUNT}/{side}"
    return None


def _clients(ctx: ServiceContext, settings: SyncSettings,
             breakers: dict[str, CircuitBreaker]) -> dict[str, RemoteClient | None]:
    def client(cls: type[RemoteClient], side: str, base: str, key: str, secret: str) -> RemoteClient | None:
        url = _base_url(base, settings, ctx, side)
        if url is None:
            return None
        return cls(name=side, base_url=url, app_key=key, app_secret=secret, breaker=breakers[side],
                   timeout=settings.sync_request_timeout_seconds, attempts=settings.sync_request_attempts)

    return {domain.CITY: client(CityClient, domain.CITY, settings.city_base_url, settings.city_app_key,
                                settings.city_app_secret.get_secret_value()),
            domain.HOTLINE: client(HotlineClient, domain.HOTLINE, settings.hotline_base_url, settings.hotline_app_key,
                                   settings.hotline_app_secret.get_secret_value())}


def make_deps(ctx: ServiceContext, settings: SyncSettings) -> Deps:
    """The store, the remote sides' clients behind their breakers, the dispatcher, the city's feeds and the
    reconciler, with sync's metrics registered."""
    store = SyncStore(ctx.db, ctx.clock, settings.sync_store_writers)
    rules = rules_for(ctx, settings)
    breakers = {t: CircuitBreaker(t, settings.sync_breaker_failures, settings.sync_breaker_reset_seconds)
                for t in (domain.CITY, domain.HOTLINE)}
    clients = _clients(ctx, settings, breakers)
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

    city = clients[domain.CITY]
    inbound = Inbound(store=store, client=city, rules=rules, publish_submission=publish_submission, emit=ctx.emit,
                      clock=ctx.clock, log=ctx.log) if isinstance(city, CityClient) else None
    reconciler = Reconciler(store=store, clients=clients, inbound=inbound, clock=ctx.clock,
                            window=timedelta(hours=settings.sync_reconcile_window_hours), log=ctx.log)
    return Deps(ctx=ctx, settings=settings, store=store, rules=rules, breakers=breakers, clients=clients,
                dispatcher=dispatcher, inbound=inbound, reconciler=reconciler)
