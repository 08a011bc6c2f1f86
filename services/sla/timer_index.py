"""Which case's timer is due next, in memory, so a sweep does not query every clock record each second.

The store stays the truth (each record's `next_fire_at`); this index is a cache of it: loaded from the store when
this instance gains partitions, updated by every write this instance makes, consulted by the sweep. A stale entry
only costs a read: the sweep decides on the record as stored.
"""

import heapq
from datetime import datetime


class TimerIndex:
    def __init__(self) -> None:
        self._next: dict[str, tuple[datetime, int | None]] = {}
        self._heap: list[tuple[datetime, str]] = []
        self.loaded_partitions: frozenset[int] = frozenset()

    def __len__(self) -> int:
        return len(self._next)

    def set(self, case_id: str, at: datetime | None, partition: int | None) -> None:
        if at is None:
            self._next.pop(case_id, None)
            return
        if self._next.get(case_id, (None,))[0] == at:
            return
        self._next[case_id] = (at, partition)
        heapq.heappush(self._heap, (at, case_id))
        if len(self._heap) > 4 * len(self._next) + 1000:  # drop superseded entries now and then
            self._heap = [(at, case) for case, (at, _) in self._next.items()]
            heapq.heapify(self._heap)

    def take_due(self, now: datetime, owned: frozenset[int], limit: int) -> list[tuple[str, datetime]]:
        """Up to `limit` due (case, time) on owned partitions, earliest first; they leave the index until re-set."""
        out: list[tuple[str, datetime]] = []
        foreign: list[tuple[datetime, str]] = []
        while self._heap and self._heap[0][0] <= now and len(out) < limit:
            at, case_id = heapq.heappop(self._heap)
            current = self._next.get(case_id)
            if current is None or current[0] != at:
                continue  # superseded
            if current[1] is not None and current[1] not in owned:
                foreign.append((at, case_id))
                continue
            del self._next[case_id]
            out.append((case_id, at))
        for item in foreign:
            heapq.heappush(self._heap, item)
        return out
