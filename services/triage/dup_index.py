"""The cases a new one may repeat, held in memory: LSH band keys and enterprise keys -> case ids. Pure, no I/O.

Why not a store query: on FerretDB (the local and test store) an indexed `$in` over an array field still scans
the collection, so a lookup cost grew with every stored case (7.4 cases/s with 150 stored, 0.6/s with 1,000).
Here a lookup costs the same whatever the store holds; the store stays the record (the index is rebuilt from it
at start-up, and kept current from the case-events topic for cases other triage instances decide).

A case is a candidate while it is accepted (also while waiting for an officer) and still open, or closed but
registered within the window; `prune` drops the rest so memory follows the window, not the history.
"""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from services.triage import followups
from services.triage.duplicates import Candidate

ACCEPTED = "accepted"


@dataclass(frozen=True)
class Entry:
    candidate: Candidate
    keys: tuple[str, ...]
    registered_at: datetime
    closed: bool


def entry_of(doc: Mapping[str, Any]) -> Entry | None:
    """What a triage case document contributes to the index (None: it may not be repeated)."""
    if doc.get("screening") != ACCEPTED or not doc.get("dup_keys") or doc.get("registered_at") is None:
        return None
    text = doc.get("text") or ""
    candidate = Candidate(str(doc["_id"]), text, doc.get("enterprise_key") or "", doc.get("region"),
                          doc.get("department"), tuple(doc.get("identity") or ()), tuple(doc.get("matters") or ()),
                          tuple(doc.get("co_departments") or ()), bool(doc.get("closed")), doc["registered_at"],
                          doc.get("tracking_no"), followups.shared_things(text), followups.localities(text))
    return Entry(candidate, tuple(doc["dup_keys"]), doc["registered_at"], bool(doc.get("closed")))


class DuplicateIndex:
    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}
        self._postings: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, case_id: object) -> bool:
        return case_id in self._entries

    def get(self, case_id: str) -> Entry | None:
        return self._entries.get(case_id)

    def load(self, docs: Iterable[Mapping[str, Any]]) -> None:
        for doc in docs:
            self.sync(doc)

    def sync(self, doc: Mapping[str, Any]) -> None:
        """Make the index agree with a case document as stored (added, changed or no longer a candidate)."""
        entry = entry_of(doc)
        if entry is None:
            self.remove(str(doc["_id"]))
        else:
            self.put(entry)

    def put(self, entry: Entry) -> None:
        case_id = entry.candidate.case_id
        self.remove(case_id)
        self._entries[case_id] = entry
        for key in entry.keys:
            self._postings.setdefault(key, set()).add(case_id)

    def remove(self, case_id: str) -> None:
        entry = self._entries.pop(case_id, None)
        if entry is None:
            return
        for key in entry.keys:
            ids = self._postings.get(key)
            if ids is not None:
                ids.discard(case_id)
                if not ids:
                    del self._postings[key]

    def close(self, case_id: str) -> None:
        entry = self._entries.get(case_id)
        if entry is not None and not entry.closed:
            self._entries[case_id] = Entry(replace(entry.candidate, closed=True), entry.keys, entry.registered_at, True)

    def candidates(self, keys: Iterable[str], case_id: str, since: datetime, limit: int) -> list[Candidate]:
        """Cases sharing a key with `keys`, open or registered since `since`, newest first, at most `limit`."""
        ids: set[str] = set()
        for key in keys:
            ids.update(self._postings.get(key, ()))
        ids.discard(case_id)
        live = [e for e in map(self._entries.__getitem__, ids) if not e.closed or e.registered_at >= since]
        live.sort(key=lambda e: (e.registered_at, e.candidate.case_id), reverse=True)
        return [e.candidate for e in live[:limit]]

    def prune(self, since: datetime) -> int:
        """Forget closed cases registered before `since`: they can no longer be repeated."""
        stale = [cid for cid, e in self._entries.items() if e.closed and e.registered_at < since]
        for case_id in stale:
            self.remove(case_id)
        return len(stale)
