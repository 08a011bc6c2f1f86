"""The dispatcher: sends the deliveries recorded in the link documents, at least once, in order per case and
remote side; records the outcome of each attempt (delivered -> `case.synced`; unavailable -> backoff; refused ->
parked for an operator)."""

import asyncio
import random
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.sync import domain
from services.sync.breaker import BreakerOpen
from services.sync.remote import RemoteClient, RemoteRejected, RemoteUnavailable
from services.sync.store import SyncStore
from shared.contracts.envelope import CaseEvent

Emit = Callable[[Any, str, list[CaseEvent]], Awaitable[None]]
MAX_ROUNDS_PER_CASE = 20


class Dispatcher:
    def __init__(self, *, store: SyncStore, clients: dict[str, RemoteClient | None], emit: Emit,
                 clock: Callable[[], datetime], log: Any, backoff_base: float, backoff_cap: float,
                 breaker_reset: float, concurrency: int, batch: int, on_outcome: Callable[[str, str], None],
                 rng: random.Random | None = None):
        self.store, self.clients, self.emit, self.clock, self.log = store, clients, emit, clock, log
        self.backoff_base, self.backoff_cap, self.breaker_reset = backoff_base, backoff_cap, breaker_reset
        self.concurrency, self.batch = concurrency, batch
        self.on_outcome = on_outcome
        self.rng = rng or random.Random()
        self._running = asyncio.Lock()
        self._recovered_from = {t: 0 for t in clients}  # breaker openings already followed by a pull-forward

    async def run_once(self) -> int:
        """One pass over the documents with deliveries due; returns how many deliveries were attempted."""
        if self._running.locked():  # a slow pass is still going (a periodic tick must not overlap it)
            return 0
        async with self._running:
            docs = await self.store.due(self.clock(), self.batch)
            gate = asyncio.Semaphore(self.concurrency)

            async def one(case_id: str) -> int:
                async with gate:
                    return await self.deliver_case(case_id)

            return sum(await asyncio.gather(*(one(d["_id"]) for d in docs)))

    async def drain(self, timeout: float) -> None:
        """Run passes until nothing is due (tests and the benchmark)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while loop.time() < deadline:
            if not await self.store.due(self.clock(), 1):
                return
            await self.run_once()
            await asyncio.sleep(0.05)

    async def deliver_case(self, case_id: str) -> int:
        attempted = 0
        for _ in range(MAX_ROUNDS_PER_CASE):
            doc = await self.store.links.get(case_id)
            due = domain.due_deliveries(doc, self.clock()) if doc else []
            if not due:
                break
            outcomes = [await self.deliver(case_id, delivery) for delivery in due]
            attempted += len(due)
            if any(o != "delivered" for o in outcomes):
                break
        return attempted

    async def deliver(self, case_id: str, delivery: dict[str, Any]) -> str:
        target, delivery_id = delivery["target"], delivery["id"]
        client = self.clients.get(target)
        now = self.clock()
        try:
            if client is None:
                raise RemoteUnavailable(f"{target}: not connected (no base URL configured)")
            receipt = await client.send(delivery)
        except BreakerOpen:
            until = now + timedelta(seconds=self.breaker_reset * (0.5 + self.rng.random() / 2))
            await self.store.links.modify(case_id, lambda doc: domain.deferred(doc, delivery_id, until))
            outcome = "deferred"
        except RemoteRejected as exc:
            await self.store.park({"_id": delivery_id, "case_id": case_id, "target": target, "kind": delivery["kind"],
                                   "event_id": delivery["event_id"], "event_type": delivery["event_type"],
                                   "path": delivery["path"], "body": delivery["body"], "status": exc.status,
                                   "reason": exc.body[:2000], "parked_at": now, "state": "parked"})
            await self.store.links.modify(case_id, lambda doc: domain.parked(doc, delivery_id, str(exc), now))
            self.log.warning("delivery_parked", case_id=case_id, target=target, kind=delivery["kind"],
                             delivery_id=delivery_id, status=exc.status)
            outcome = "parked"
        except RemoteUnavailable as exc:
            jitter = self.rng.random()
            await self.store.links.modify(case_id, lambda doc: domain.failed(
                doc, delivery_id, str(exc), now, base=self.backoff_base, cap=self.backoff_cap, jitter=jitter))
            self.log.info("delivery_retry_later", case_id=case_id, target=target, delivery_id=delivery_id,
                          attempts=delivery["attempts"] + 1, error=str(exc))
            outcome = "unavailable"
        else:
            applied = await self.store.links.apply(case_id, domain.delivered_cause(delivery), lambda doc: domain.delivered(
                doc, delivery_id, receipt.remote_id, self.clock()) if doc else None)
            await self.emit(self.store.links, case_id, applied.events)
            self.log.info("delivered", case_id=case_id, target=target, kind=delivery["kind"], remote_id=receipt.remote_id,
                          repeat=receipt.duplicate)
            outcome = "delivered"
            await self._after_recovery(target, client)
        self.on_outcome(target, outcome)
        return outcome

    async def _after_recovery(self, target: str, client: RemoteClient | None) -> None:
        """After an outage, the first success pulls the whole backlog of that side forward: the deliveries
        rescheduled with backoff during the outage go now, instead of one by one at up to the backoff cap."""
        if client is None or client.breaker.times_opened <= self._recovered_from.get(target, 0):
            return
        self._recovered_from[target] = client.breaker.times_opened
        now = self.clock()
        pulled = 0
        for doc in await self.store.pending_docs(100_000):
            pulled += await self.store.links.modify(doc["_id"], lambda d: domain.pull_forward(d, target, now))
        self.log.info("backlog_pulled_forward", target=target, cases=pulled)
