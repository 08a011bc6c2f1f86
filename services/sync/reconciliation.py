"""Periodic comparison with the remote sides; repairs gaps on either side.

- Outbound: the idempotency keys of our recent deliveries against the keys the remote side holds. One we think
  delivered that it lacks is sent again; one still pending here that it holds (its answer was lost) is sent now
  and confirmed by the idempotent answer.
- Inbound: the city's assignments and messages of the window, listed again; any not yet applied is applied
  (everything inbound is idempotent, so this also covers a cursor that moved past something).
"""

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from services.sync import domain
from services.sync.inbound import Inbound
from services.sync.remote import RemoteClient
from services.sync.store import SyncStore

SCAN_LIMIT = 5000


class Reconciler:
    def __init__(self, *, store: SyncStore, clients: dict[str, RemoteClient | None], inbound: Inbound | None,
                 clock: Callable[[], datetime], window: timedelta, log: Any):
        self.store, self.clients, self.inbound = store, clients, inbound
        self.clock, self.window, self.log = clock, window, log
        self.last_report: dict[str, Any] | None = None

    async def run(self) -> dict[str, Any]:
        started = self.clock()
        since = started - self.window
        report: dict[str, Any] = {"started_at": started.isoformat(), "window_since": since.isoformat()}
        docs = {d["_id"]: d for d in await self.store.delivered_since(since, SCAN_LIMIT)}
        docs.update({d["_id"]: d for d in await self.store.pending_docs(SCAN_LIMIT)})
        for target, client in self.clients.items():
            if client is None:
                continue
            report[target] = await self._outbound(target, client, docs)
        if self.inbound is not None:
            report["city_inbound"] = await self._inbound(since)
        report["finished_at"] = self.clock().isoformat()
        self.last_report = report
        repaired = {k: v for k, v in report.items() if isinstance(v, dict) and any(v.values())}
        self.log.info("reconciled", **{k: v for k, v in repaired.items()})
        return report

    async def _outbound(self, target: str, client: RemoteClient, docs: dict[str, dict[str, Any]]) -> dict[str, int]:
        local: dict[str, str] = {}
        case_of: dict[str, str] = {}
        for case_id, doc in docs.items():
            for delivery_id, delivery in doc.get("deliveries", {}).items():
                if delivery["target"] == target and delivery["state"] in (domain.PENDING, domain.DELIVERED):
                    local[delivery_id] = delivery["state"]
                    case_of[delivery_id] = case_id
        if not local:
            return {"checked": 0, "resent": 0, "confirmed": 0}
        comparison = domain.compare(local, await client.receipts(sorted(local)))
        now = self.clock()
        for delivery_id in comparison.missing_remotely:
            await self.store.links.modify(case_of[delivery_id], lambda doc, d=delivery_id: domain.resend(
                doc, d, now, "missing at the remote side (reconciliation)"))
            self.log.warning("reconcile_resend", target=target, case_id=case_of[delivery_id], delivery_id=delivery_id)
        for delivery_id in comparison.confirmed_remotely:
            await self.store.links.modify(case_of[delivery_id], lambda doc, d=delivery_id: domain.deferred(doc, d, now))
        return {"checked": len(local), "resent": len(comparison.missing_remotely),
                "confirmed": len(comparison.confirmed_remotely)}

    async def _inbound(self, since: datetime) -> dict[str, int]:
        assert self.inbound is not None
        client = self.inbound.client
        assignments = await _all_pages(client.assignments, since)
        unique = {a.city_case_id: a for a in assignments}
        known = await self.store.known_assignments(list(unique))
        for city_case_id in sorted(set(unique) - known):
            await self.inbound.hand_over(unique[city_case_id])
        messages = await _all_pages(client.messages, since)
        applied = 0
        for message in sorted({m.message_id: m for m in messages}.values(), key=lambda m: m.seq):
            applied += await self.inbound.apply_message(message)
        return {"assignments_listed": len(unique), "assignments_handed_over": len(set(unique) - known),
                "messages_listed": len(messages), "messages_applied": applied}


async def _all_pages(fetch: Callable[..., Awaitable[tuple[list[Any], int | None]]], since: datetime) -> list[Any]:
    """Every item of a cursor-paged city listing (at most 100 pages of 500)."""
    items: list[Any] = []
    after = 0
    for _ in range(100):
        page, next_after = await fetch(after, 500, since=since)
        items.extend(page)
        if not page or next_after is None:
            break
        after = next_after
    return items
