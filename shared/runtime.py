"""Composition: builds services from their parts, runs one or all of them in one process behind one HTTP origin."""

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn
from faststream.kafka import KafkaBroker
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from pymongo import AsyncMongoClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from shared import openapi
from shared import error_pages
from shared.clock import Clock
from shared.contracts import topics
from shared.contracts.case_events import UnreadableEvent, parse_case_event
from shared.contracts.envelope import CaseEvent
from shared.logging import configure_logging, get_logger
from shared.messaging import (BadMessage, Consumer, LagReporter, Skip, ensure_topics, kafka_client_options,
                              lag_interval_seconds, make_broker)
from shared.metrics import PlatformMetrics, platform_metrics
from shared.org import Organisation, load_organisation
from shared.production import shared_development_defaults
from shared.settings import DEV_JWT_SECRET, Settings
from shared.store import CaseDocuments, UnitOfWork, current_unit_of_work, mongo_client


# A module-level handler of one case-event type: (event, its typed data, the service's dependencies) -> outcome
# ("ok", "duplicate", "skipped"...; None means "ok").
CaseEventHandler = Callable[[CaseEvent, Any, Any], Awaitable[str | None]]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServiceContext:
    """Everything a service's composition needs; handed to its `build()`."""

    name: str
    settings: Settings
    org: Organisation
    broker: KafkaBroker
    mongo: AsyncMongoClient[dict[str, Any]]
    registry: CollectorRegistry
    metrics: PlatformMetrics
    clock: Callable[[], datetime] = utc_now
    consumers: list[Consumer] = field(default_factory=list)
    development_defaults: list[str] = field(default_factory=list)

    def development_default(self, problem: str) -> None:
        """Something this service would run with that is fit for development only (refused in production)."""
        self.development_defaults.append(problem)

    @property
    def log(self) -> Any:
        return get_logger(f"qhwy.{self.name}")

    @property
    def db(self) -> Any:
        return self.mongo[self.settings.database(self.name)]

    @property
    def jwt_secret(self) -> str:
        return self.settings.jwt_secret.get_secret_value()

    def consume(self, topic: str, dead_letter_topic: str, decode: Callable[[bytes], Any],
                handle: Callable[[Any], Awaitable[str]], *, concurrency: int | None = None) -> Consumer:
        """`concurrency`: how many keys of a batch are handled at once (default QHWY_CONSUMER_CONCURRENCY)."""
        consumer = Consumer(
            service=self.name, broker=self.broker, topic=self.settings.topic(topic),
            group_id=self.settings.group_id(self.name, topic), dead_letter_topic=self.settings.topic(dead_letter_topic),
            decode=decode, handle=handle, metrics=self.metrics, log=self.log, batch=self.settings.consumer_batch,
            concurrency=self.settings.consumer_concurrency if concurrency is None else concurrency,
            unit_of_work=(lambda: UnitOfWork(self.publish_pipelined)) if self.settings.consumer_unit_of_work else None,
        )
        self.consumers.append(consumer)
        return consumer

    def consume_case_events(self, handle: Callable[[tuple[CaseEvent, Any]], Awaitable[str]], *,
                            concurrency: int | None = None) -> Consumer:
        """Subscribe to the public case-events topic; unknown types and newer versions are skipped."""

        def decode(raw: bytes) -> tuple[CaseEvent, Any]:
            try:
                parsed = parse_case_event(raw)
            except UnreadableEvent as exc:
                raise BadMessage(exc.reason, exc.errors)
            if parsed is None:
                raise Skip()
            return parsed

        return self.consume(topics.CASE_EVENTS, topics.CASE_EVENTS_DLQ, decode, handle, concurrency=concurrency)

    def on_case_events(self, table: Mapping[str, CaseEventHandler], deps: Any, *,
                       concurrency: int | None = None) -> Consumer:
        """Subscribe a service's handler table: each event goes to `table[event.type]` (or `table["*"]`) as
        `handler(event, data, deps)`; types the table does not name are skipped."""

        async def dispatch(parsed: tuple[CaseEvent, Any]) -> str:
            event, data = parsed
            handler = table.get(event.type) or table.get("*")
            if handler is None:
                return "skipped"
            return await handler(event, data, deps) or "ok"

        return self.consume_case_events(dispatch, concurrency=concurrency)

    async def publish(self, events: Iterable[CaseEvent]) -> None:
        for event in events:
            await self.broker.publish(event.to_json(), topic=self.settings.topic(topics.CASE_EVENTS),
                                      key=event.case_id.encode(), headers={"content-type": "application/json"})
            self.metrics.events_published.labels(self.name, event.type).inc()
            self.log.debug("event_published", type=event.type, case_id=event.case_id, event_id=event.event_id)

    async def publish_pipelined(self, events: list[CaseEvent]) -> None:
        """Publish many cases' events at once: each case's in order, the cases concurrently."""
        by_case: dict[str, list[CaseEvent]] = {}
        for event in events:
            by_case.setdefault(event.case_id, []).append(event)
        await asyncio.gather(*(self.publish(case_events) for case_events in by_case.values()))

    async def emit(self, docs: CaseDocuments, key: str, events: list[CaseEvent]) -> None:
        """Publish what a store write put in its outbox, then clear it (at least once; ids make repeats harmless).
        Within a consumer's batch the batch publishes them when it stores its writes (shared.store.UnitOfWork)."""
        uow = current_unit_of_work.get()
        if uow is not None and not uow.closed:
            uow.defer(docs, key, events)
            return
        ids = [e.event_id for e in events]
        try:
            await self.publish(events)
            await docs.mark_published(key, ids)
        finally:
            docs.release(ids)

    async def sweep_outbox(self, docs: CaseDocuments) -> None:
        """Publish events stored but never published (the process died between the two)."""
        for key, events in await docs.stale_outboxes(timedelta(seconds=self.settings.outbox_sweep_interval_seconds)):
            self.log.warning("outbox_repaired", case_id=key, events=len(events))
            await self.emit(docs, key, events)


@dataclass
class Parts:
    routes: list[BaseRoute] = field(default_factory=list)
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    periodic: list[tuple[float, Callable[[], Awaitable[None]]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        for hook in self.on_start:
            await hook()
        for interval, job in self.periodic:
            self._tasks.append(asyncio.create_task(_every(interval, job)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for hook in self.on_stop:
            await hook()


async def _every(interval: float, job: Callable[[], Awaitable[None]]) -> None:
    log = get_logger("qhwy.periodic")
    while True:
        await asyncio.sleep(interval)
        try:
            await job()
        except Exception:  # a periodic job must survive a store or broker outage
            log.exception("periodic_job_failed", job=_job_name(job))


def _job_name(job: Callable[..., Any]) -> str:
    """A job's function name, also through functools.partial (jobs are module-level functions bound to deps)."""
    return str(getattr(getattr(job, "func", job), "__qualname__", repr(job)))


Builder = Callable[[ServiceContext], Parts]


class Runtime:
    """One or more services in one process: their brokers, one store client, one metrics registry, one HTTP app."""

    def __init__(self, builders: dict[str, Builder], settings: Settings | None = None):
        self.settings = settings or Settings()
        self.org = load_organisation(self.settings.org_file)
        self.registry = CollectorRegistry()
        self.metrics = platform_metrics(self.registry)
        self.mongo = mongo_client(self.settings)
        self.log = get_logger("qhwy.runtime")
        self.clock = Clock.from_settings()  # QHWY_CLOCK_START / QHWY_CLOCK_SPEED: frozen, shifted or accelerated
        self.contexts: dict[str, ServiceContext] = {}
        self.parts: dict[str, Parts] = {}
        self._heartbeat: asyncio.Task[None] | None = None
        self._lag: asyncio.Task[None] | None = None
        self._handled: dict[str, int] = {}
        for name, build in builders.items():
            broker = make_broker(self.settings.kafka_bootstrap, name, self.registry,
                                 logging.getLogger(f"faststream.{name}"), kafka_client_options(self.settings))
            ctx = ServiceContext(name=name, settings=self.settings, org=self.org, broker=broker, mongo=self.mongo,
                                 registry=self.registry, metrics=self.metrics, clock=self.clock)
            self.contexts[name] = ctx
            self.parts[name] = build(ctx)

    async def start(self) -> None:
        if self.settings.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
            self.log.warning("development_jwt_secret", hint="set QHWY_JWT_SECRET outside development")
        if not self.clock.is_real:
            self.log.warning("clock_not_real", **self.clock.describe())
        await ensure_topics(self.settings.kafka_bootstrap, [self.settings.topic(t) for t in topics.ALL],
                            self.settings.topic_partitions, kafka_client_options(self.settings))
        for name, parts in self.parts.items():
            await parts.start()
            await self.contexts[name].broker.start()
            self.log.info("service_started", service=name)
        self._heartbeat = asyncio.create_task(_every(self.settings.heartbeat_seconds, self.heartbeat))
        # `kill -USR1 <pid>`: every task's stack in the log, to see what a process that stopped consuming waits for
        asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, self.dump_tasks)
        # qhwy_consumer_lag of every consumer of this process (docs/operations.md, "Consumer lag")
        lag = LagReporter(self.metrics, lambda: [(n, c) for n, ctx in self.contexts.items() for c in ctx.consumers])
        self._lag = asyncio.create_task(_every(lag_interval_seconds(), lag.update))

    def dump_tasks(self) -> None:
        """One WARNING line per asyncio task with the chain of coroutines it waits in (operators:
        docs/operations.md). Task.print_stack shows the outermost frame only; the chain is in cr_await."""
        for task in asyncio.all_tasks():
            chain: list[str] = []
            awaited: Any = task.get_coro()
            while awaited is not None and len(chain) < 60:
                frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
                if frame is not None:
                    chain.append(f"{frame.f_code.co_filename}:{frame.f_lineno} {frame.f_code.co_name}")
                awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
            self.log.warning("task_stack", task=task.get_name(), waits_in=chain)

    async def heartbeat(self) -> None:
        """One INFO line per service: alive, consuming or not, messages handled since the last one."""
        totals: dict[str, float] = {}
        for metric in self.metrics.messages_processed.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    service = sample.labels["service"]
                    totals[service] = totals.get(service, 0) + sample.value
        for name, ctx in self.contexts.items():
            handled = int(totals.get(name, 0))
            self.log.info("heartbeat", service=name, consuming=all(c.joined for c in ctx.consumers),
                          handled=handled - self._handled.get(name, 0))
            self._handled[name] = handled

    async def stop(self) -> None:
        for task in (self._heartbeat, self._lag):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for name in reversed(list(self.parts)):
            await self.parts[name].stop()
            await self.contexts[name].broker.stop()
            self.log.info("service_stopped", service=name)
        await self.mongo.close()

    def production_problems(self) -> list[str]:
        """Development defaults this process would run with; empty outside production mode."""
        if self.settings.env != "production":
            return []
        problems = shared_development_defaults(self.settings)
        for ctx in self.contexts.values():
            problems.extend(f"{ctx.name}: {p}" for p in ctx.development_defaults)
        return problems

    def health(self) -> dict[str, Any]:
        services = {name: {"consuming": all(c.joined for c in ctx.consumers)} for name, ctx in self.contexts.items()}
        return {"status": "ok" if all(s["consuming"] for s in services.values()) else "starting", "services": services}

    def asgi(self) -> Starlette:
        async def healthz(_: Request) -> JSONResponse:
            body = self.health()
            return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)

        async def metrics(_: Request) -> Response:
            return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)

        @contextlib.asynccontextmanager
        async def lifespan(_: Starlette) -> AsyncIterator[None]:
            await self.start()
            try:
                yield
            finally:
                await self.stop()

        routes: list[BaseRoute] = [Route("/healthz", healthz), Route("/metrics", metrics)]
        for parts in self.parts.values():
            routes.extend(parts.routes)
        # GET /openapi.json and /docs: this process's own routes, described (shared/openapi/)
        title = None if len(self.parts) > 1 else f"企呼我应 (qhwy) {next(iter(self.parts))} HTTP API"
        routes.extend(openapi.routes(lambda: routes, title))
        # a browser that asks for a page that does not exist (or meets a fault) gets a Chinese page, API clients
        # a Chinese JSON refusal (shared/error_pages.py)
        return Starlette(routes=routes, lifespan=lifespan, exception_handlers=error_pages.HANDLERS)


class _Server(uvicorn.Server):
    """Exit 0 after a graceful shutdown on SIGINT/SIGTERM (uvicorn re-raises the signal, so exit code -15)."""

    def handle_exit(self, sig: int, frame: Any) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def run(builders: dict[str, Builder]) -> None:
    """Entry point of `python -m services` and `python -m services.<name>`; stops cleanly on SIGINT/SIGTERM."""
    settings = Settings()
    configure_logging(settings.log_level, settings.log_format, settings.timezone)
    runtime = Runtime(builders, settings)
    problems = runtime.production_problems()
    if problems:  # one line that names every problem, then a non-zero exit
        runtime.log.error("refusing_to_start_in_production", problems=problems)
        sys.exit(78)  # EX_CONFIG
    config = uvicorn.Config(runtime.asgi(), host=settings.http_host, port=settings.http_port, log_config=None,
                            access_log=False, lifespan="on")
    _Server(config).run()
