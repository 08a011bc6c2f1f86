"""The dispatcher's in-memory index of when each link document next has a delivery due.

FerretDB evaluates every filter other than `_id` equality by reading the whole collection
(docs/ferretdb.md, "Query speed"), so asking the store "which documents are due?" on every pass made each pass
grow with the history of all links. Instead every write of a link document reports its new `next_delivery_at`
here; the queue is rebuilt from the store at start and re-read on a slow timer (writes by another process), and
the dispatcher then reads only the due documents, by `_id`.
"""

import heapq
from datetime import datetime


class DueQueue:
    def __init__(self) -> None:
        self._at: dict[str, datetime] = {}  # the truth: key -> when it is next due
        self._heap: list[tuple[datetime, str]] = []  # may hold stale entries; checked against `_at`

    def note(self, key: str, at: datetime | None) -> None:
        """The document's new next-due time (None: nothing pending)."""
        if at is None:
            self._at.pop(key, None)
            return
        if self._at.get(key) == at:
            return
        self._at[key] = at
        heapq.heappush(self._heap, (at, key))

    def take_due(self, now: datetime, limit: int) -> list[str]:
        """Up to `limit` keys due by `now`, earliest first; they leave the queue until a write notes them again
        (the dispatcher notes each one after its pass over it)."""
        out: list[str] = []
        while self._heap and len(out) < limit and self._heap[0][0] <= now:
            at, key = heapq.heappop(self._heap)
            if self._at.get(key) == at:
                del self._at[key]
                out.append(key)
        if len(self._heap) > 4 * len(self._at) + 1024:  # drop stale entries now and then
            self._heap = [(at, key) for key, at in self._at.items()]
            heapq.heapify(self._heap)
        return out

    def keys(self) -> list[str]:
        return list(self._at)

    def merge(self, times: dict[str, datetime]) -> None:
        """What a scan of the store found. Only adds or brings forward: a scan is a snapshot, and a write noted
        while it ran is newer (a key noted too early costs one look at a document with nothing due)."""
        for key, at in times.items():
            if key not in self._at or at < self._at[key]:
                self.note(key, at)

    def __len__(self) -> int:
        return len(self._at)
