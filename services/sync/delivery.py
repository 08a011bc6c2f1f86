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
from shared.messaging import Consumer

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
        self._back_since: dict[str, datetime] = {}  # remote side -> when it came back after its last outage
        self._in_pass: set[str] = set()  # documents taken from the due queue by the pass under way
        self._recovered_from = {t: 0 for t in clients}  # breaker openings already followed by a pull-forward
        # The case-events consumer (set by app.build): with several instances, a document's deliveries are sent by
        # the instance owning its key's partition, the one that writes the document (two senders would each get
        # their own receipt, and FerretDB keeps no guard against two writers of one document).
        self.consumer: Consumer | None = None
        self._scanned: frozenset[int] = frozenset()  # owned partitions whose due documents the queue holds

    def mine(self, key: str) -> bool:
        return self.consumer is None or self.consumer.owns(key)

    async def run_once(self) -> int:
        """One pass over the documents with deliveries due (from the due queue, read by `_id`); returns how many
        deliveries were attempted."""
        if self._running.locked():  # a slow pass is still going (a periodic tick must not overlap it)
            return 0
        async with self._running:
            if self.consumer is not None:
                if not self.consumer.partition_count():  # ownership not known yet: taking keys would drop them
                    return 0
                owned = self.consumer.partitions
                if owned - self._scanned:  # partitions gained: another instance held their documents until now
                    await self.store.load_due(self.mine)
                self._scanned = owned
            # a key of a partition given away leaves the queue; its new owner reads it from the store
            keys = [k for k in self.store.due.take_due(self.clock(), self.batch) if self.mine(k)]
            self._in_pass.update(keys)
            gate = asyncio.Semaphore(self.concurrency)

            async def one(case_id: str) -> int:
                async with gate:
                    try:
                        return await self.deliver_case(case_id)
                    except Exception:  # a store error on one case (SQLITE_BUSY, a timeout): the others go on
                        self.log.exception("delivery_pass_failed", case_id=case_id)
                        self.store.due.merge({case_id: self.clock() + timedelta(seconds=self.backoff_base)})
                        return 0
                    finally:
                        self._in_pass.discard(case_id)

            return sum(await asyncio.gather(*(one(k) for k in keys)))

    async def rescan(self) -> None:
        """Re-read the due times from the store (at start; then on a slow timer, for writes by another process)."""
        async with self._running:
            await self.store.load_due(self.mine)

    def pending_cases(self) -> int:
        return len(self.store.due) + len(self._in_pass)

    async def deliver_case(self, case_id: str) -> int:
        attempted = 0
        doc = None
        try:
            for _ in range(MAX_ROUNDS_PER_CASE):
                doc = await self.store.links.get(case_id)
                due = domain.due_deliveries(doc, self.clock(), back_since=self._back_since) if doc else []
                if not due:
                    break
                outcomes = [await self.deliver(case_id, delivery) for delivery in due]
                attempted += len(due)
                if any(o != "delivered" for o in outcomes):
                    doc = await self.store.links.get(case_id)
                    break
        finally:
            # Back into the queue at the time the document last read says (the writes of this pass noted theirs;
            # the earlier of the two wins, at worst costing one look at a document with nothing due).
            if doc is not None and doc.get("next_delivery_at") is not None:
                self.store.due.merge({case_id: doc["next_delivery_at"]})
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
            await self.store.links.modify(case_id, lambda doc: domain.deferred(doc, delivery_id, until, now))
            outcome = "deferred"
        except RemoteRejected as exc:
            await self.store.park({"_id": delivery_id, "case_id": case_id, "target": target, "kind": delivery["kind"],
                                   "event_id": delivery["event_id"], "event_type": delivery["event_type"],
                                   "path": delivery["path"], "body": delivery["body"], "status": exc.status,
                                   "reason": exc.body[:2000], "parked_at": now, "state": "parked"})
            reason = str(exc)  # bound now: `exc` is unbound once the except block ends
            await self.store.links.modify(case_id, lambda doc: domain.parked(doc, delivery_id, reason, now))
            self.log.warning("delivery_parked", case_id=case_id, target=target, kind=delivery["kind"],
                             delivery_id=delivery_id, status=exc.status)
            outcome = "parked"
        except RemoteUnavailable as exc:
            jitter, reason = self.rng.random(), str(exc)
            await self.store.links.modify(case_id, lambda doc: domain.failed(
                doc, delivery_id, reason, now, base=self.backoff_base, cap=self.backoff_cap, jitter=jitter))
            self.log.info("delivery_retry_later", case_id=case_id, target=target, delivery_id=delivery_id,
                          attempts=delivery["attempts"] + 1, error=str(exc))
            outcome = "unavailable"
        else:
            applied = await self.store.links.apply(
                case_id, domain.delivered_cause(delivery),
                lambda doc: domain.delivered(doc, delivery_id, receipt.remote_id, self.clock()) if doc else None)
            await self.emit(self.store.links, case_id, applied.events)
            self.log.info("delivered", case_id=case_id, target=target, kind=delivery["kind"],
                          remote_id=receipt.remote_id, repeat=receipt.duplicate)
            outcome = "delivered"
            await self._after_recovery(target, client)
        self.on_outcome(target, outcome)
        return outcome

    async def _after_recovery(self, target: str, client: RemoteClient | None) -> None:
        """After an outage, the first success pulls the whole backlog of that side forward: the deliveries
        rescheduled with backoff during the outage go now, instead of one by one at up to the backoff cap. In
        memory (no write per case): a delivery last tried before the side came back counts as due."""
        if client is None or client.breaker.times_opened <= self._recovered_from.get(target, 0):
            return
        self._recovered_from[target] = client.breaker.times_opened
        now = self.clock()
        self._back_since[target] = now
        waiting = self.store.due.keys()
        self.store.due.merge({key: now for key in waiting})
        self.log.info("backlog_pulled_forward", target=target, cases=len(waiting) + len(self._in_pass))
