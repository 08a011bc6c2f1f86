"""make bench-sync: deliveries per second to the city simulator, and how long the backlog takes to drain after
the city was down for 10 minutes while the platform took 50 cases a minute.

Runs sync's real dispatcher, store (the MongoDB-protocol store on QHWY_MONGO_URL, a throwaway database) and
signed HTTP client against the simulator served by uvicorn on a local port. The `case.synced` events go to the
store's outbox and are marked published without Kafka (their publishing is the same as every service's).

The outage is not waited out in real time: 10 minutes x 50 cases/minute = 500 escalations are recorded while
the simulator answers 503, the dispatcher runs against it until its breaker is open, and each delivery is then
given the backoff state the outage left it in (case i arrived i x 1.2 s into it and failed on the backoff
schedule since: old cases wait up to the cap, recent ones a few seconds). Then the city comes back and the drain
is timed: the first successful probe (after the breaker's half-open wait) pulls the backlog forward.

    .venv/bin/python bench/sync.py [--cases 100] [--concurrency 16]
"""

import argparse
import asyncio
import logging
import random
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import uvicorn

from services.sync import domain
from services.sync.breaker import CircuitBreaker
from services.sync.city_client import CityClient
from services.sync.delivery import Dispatcher
from services.sync.settings import SyncSettings
from services.sync.simulator.app import Faults, build_simulator
from services.sync.store import SyncStore
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.logging import configure_logging, get_logger
from shared.settings import Settings
from shared.store import mongo_client

KEY, SECRET = "bench-county", "bench-secret"
OUTAGE_SECONDS, CASES_PER_MINUTE = 600, 50
RULES = domain.SyncRules(city_level=4, city_department="city", hotline_channel="hotline",
                         city_channel="city_platform", ticket_field="source_ref")


def now() -> datetime:
    return datetime.now(UTC)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def preload(store: SyncStore, prefix: str, count: int) -> None:
    async def one(i: int) -> None:
        case_id = f"{prefix}-{i:05d}"
        registered = CaseEvent.new(cause=f"sub-{case_id}", type="case.registered", case_id=case_id, occurred_at=now(),
                                   data=ce.Registered(submission_id=f"bench-{case_id}", channel="qrcode",
                                                      tracking_no=f"QH{i:010d}", received_at=now(), content="电力增容",
                                                      enterprise=ce.PublicEnterprise(name="某公司",
                                                                                     contact_phone="138****0000")))
        escalated = CaseEvent.new(cause=f"esc-{case_id}", type="case.escalated", case_id=case_id, occurred_at=now(),
                                  data=ce.Escalated(from_level=3, to_level=4, reason="县级无法协调"))
        for event in (registered, escalated):
            await store.links.apply(case_id, event.event_id, lambda doc, e=event: domain.fold(doc, e, RULES, now()))

    gate = asyncio.Semaphore(4)

    async def gated(i: int) -> None:
        async with gate:
            await one(i)

    await asyncio.gather(*(gated(i) for i in range(count)))


def _outage_state(doc: dict[str, Any], next_at: datetime, attempts: int, tried_at: datetime) -> dict[str, Any]:
    sets = {f"deliveries.{did}.{k}": v for did in doc["deliveries"]
            for k, v in (("attempts", attempts), ("next_at", next_at), ("tried_at", tried_at),
                         ("last_error", "city: HTTP 503"))}
    return {**sets, "next_delivery_at": next_at}


async def drain(dispatcher: Dispatcher, store: SyncStore, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        await dispatcher.run_once()
        if dispatcher.pending_cases() == 0:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise RuntimeError(f"backlog not drained in {timeout}s")


async def main(cases: int, concurrency: int) -> None:
    configure_logging("WARNING", "console")
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = Settings()
    mongo = mongo_client(settings)
    db_name = f"qhwy_bench_sync_{uuid.uuid4().hex[:8]}"
    store = SyncStore(mongo[db_name], now)
    await store.ensure_indexes()
    sim = build_simulator({KEY: SECRET})
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(sim.asgi(), host="127.0.0.1", port=port, log_level="warning",
                                           access_log=False, lifespan="off"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    sync = SyncSettings()  # production defaults for backoff, breaker and concurrency unless --concurrency says
    breaker = CircuitBreaker("city", failures=sync.sync_breaker_failures, reset_seconds=sync.sync_breaker_reset_seconds)
    city = CityClient(name="city", base_url=f"http://127.0.0.1:{port}/city", app_key=KEY, app_secret=SECRET,
                      timeout=5, attempts=3, breaker=breaker)

    async def emit(docs, key, events):  # type: ignore[no-untyped-def]
        await docs.mark_published(key, [e.event_id for e in events])

    dispatcher = Dispatcher(store=store, clients={"city": city, "hotline": None}, emit=emit, clock=now,
                            log=get_logger("bench.sync"), backoff_base=sync.sync_backoff_base_seconds,
                            backoff_cap=sync.sync_backoff_cap_seconds, breaker_reset=sync.sync_breaker_reset_seconds,
                            concurrency=concurrency, batch=200, on_outcome=lambda t, o: None)
    try:
        # 1. throughput: a backlog of escalations, the city up
        await preload(store, "up", cases)
        seconds = await drain(dispatcher, store, 600)
        assert len(sim.city.received) == cases, "every escalation is one record at the city"
        print(f"deliveries to the simulator: {cases} escalations (with case file) in {seconds:.2f} s = "
              f"{cases / seconds:.0f} msg/s (concurrency {concurrency}, signed HTTP, store write + case.synced each)")

        # 2. the city down for 10 minutes at 50 cases a minute = 500 escalations waiting
        sim.city.faults = Faults(down=True)
        backlog = OUTAGE_SECONDS * CASES_PER_MINUTE // 60
        await preload(store, "down", backlog)
        dispatcher.batch = 20
        for _ in range(2):  # enough failures to open the breaker (the outage's other attempts are modelled below)
            await dispatcher.run_once()
        dispatcher.batch = 200
        opened = breaker.times_opened
        # Each case's backoff state as the outage left it: case i arrived at i * 1.2 s into the 600 s outage and
        # failed on the backoff schedule since (the settings' base and cap, random jitter), so an old case waits
        # up to the cap and a recent one a few seconds.
        rng = random.Random(7)
        started = time.perf_counter()
        back = now()
        for i, case_id in enumerate(sorted(store.due.keys())):
            age = OUTAGE_SECONDS - i * OUTAGE_SECONDS / backlog
            attempts, elapsed = 0, 0.0
            while True:
                attempts += 1
                step = domain.backoff_seconds(attempts, sync.sync_backoff_base_seconds, sync.sync_backoff_cap_seconds,
                                              rng.random())
                if elapsed + step > age:
                    break
                elapsed += step
            next_at = back + timedelta(seconds=elapsed + step - age)
            tried_at = back - timedelta(seconds=age - elapsed)  # its last failed attempt, during the outage
            await store.links.modify(case_id, lambda d, n=next_at, k=attempts, t=tried_at: _outage_state(d, n, k, t))
        setup = time.perf_counter() - started
        waiting = (await store.counts())["cases_with_pending_deliveries"]
        assert waiting == dispatcher.pending_cases() == backlog, "the due queue agrees with the store"
        sim.city.faults = Faults()
        seconds = await drain(dispatcher, store, 600)
        assert len(sim.city.received) == cases + backlog, "nothing lost, nothing applied twice"
        print(f"after 10 min down at 50 cases/min: {waiting} escalations waiting (breaker opened {opened}x, each at "
              f"the backoff state the outage left, next tries 0-{sync.sync_backoff_cap_seconds:.0f} s ahead; "
              f"{setup:.1f} s to record that state), drained in {seconds:.2f} s once the city was back "
              f"(incl. the breaker's {breaker.reset_seconds:.0f} s half-open wait) = {backlog / seconds:.0f} msg/s")
        print(f"city records: {len(sim.city.received)} for {cases + backlog} deliveries; repeats answered from "
              f"memory: {sim.city.repeats}")
    finally:
        await city.aclose()
        server.should_exit = True
        await serving
        await mongo.drop_database(db_name)
        await mongo.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=SyncSettings().sync_dispatch_concurrency)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.concurrency))
