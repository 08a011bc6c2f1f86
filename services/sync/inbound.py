"""What the city platform sends the county: cases it assigns (handed to intake on the ingress topic) and its
replies and decisions (case events). Read from the city's feeds with a cursor that never skips a gap."""

import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from services.sync import domain
from services.sync.city_api import Assignment, CityMessage
from services.sync.city_client import CityClient
from services.sync.store import SyncStore
from shared.contracts.envelope import CaseEvent

Publish = Callable[[str, bytes], Awaitable[None]]  # (key, value) onto the ingress topic
Emit = Callable[[Any, str, list[CaseEvent]], Awaitable[None]]
MAX_PAGES = 20
PAGE = 100


class Inbound:
    def __init__(self, *, store: SyncStore, client: CityClient, rules: domain.SyncRules, publish_submission: Publish,
                 emit: Emit, clock: Callable[[], datetime], log: Any):
        self.store, self.client, self.rules = store, client, rules
        self.publish_submission, self.emit, self.clock, self.log = publish_submission, emit, clock, log

    async def hand_over(self, assignment: Assignment) -> None:
        """At least once onto the ingress topic; intake makes one case of one submission id."""
        submission = domain.submission_for(assignment, self.rules)
        await self.publish_submission(submission["submission_id"], json.dumps(submission, ensure_ascii=False).encode())
        await self.store.assignment_handed_over(assignment.city_case_id, submission["submission_id"], self.clock())

    async def apply_message(self, message: CityMessage) -> bool:
        """Apply one city message; True when it was new."""
        applied = await self.store.links.apply(message.county_case_id, domain.city_message_cause(message),
                                               lambda doc: domain.city_message(doc, message, self.rules, self.clock()))
        await self.emit(self.store.links, message.county_case_id, applied.events)
        return not applied.duplicate

    async def _follow(self, name: str, fetch: Callable[..., Awaitable[tuple[list[Any], int | None]]],
                      handle: Callable[[Any], Awaitable[Any]]) -> int:
        cursor, ahead = await self.store.cursor(name)
        handled = 0
        after = cursor
        for _ in range(MAX_PAGES):
            items, next_after = await fetch(after, PAGE)
            fresh = {i.seq: i for i in items if i.seq > cursor and i.seq not in ahead}
            for seq in sorted(fresh):
                await handle(fresh[seq])
                handled += 1
            cursor, ahead = domain.advance_cursor(cursor, ahead, list(fresh))
            await self.store.save_cursor(name, cursor, ahead)
            if not items or next_after is None or next_after <= after:
                break
            after = next_after
        return handled

    async def poll(self) -> dict[str, int]:
        assignments = await self._follow("city.assignments", self.client.assignments, self.hand_over)
        messages = await self._follow("city.messages", self.client.messages, self.apply_message)
        if assignments or messages:
            self.log.info("city_feed_read", assignments=assignments, messages=messages)
        return {"assignments": assignments, "messages": messages}
