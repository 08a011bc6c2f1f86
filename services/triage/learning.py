"""Learning from officers at once: each officer's decision is remembered the moment it is made, and a new case
worded like a corrected one takes the officer's answer (the fitted models catch up at their next refit, which
the service starts in the background after a correction). Pure; an inverted index over the matter's bigrams
keeps a lookup proportional to the words shared, not to the number of corrections.
"""

from dataclasses import dataclass
from typing import Protocol


class Vectors(Protocol):  # duplicates.Vocabulary
    def vector(self, text: str) -> dict[str, float]: ...

# How alike a new case must be to a corrected one to take the officer's answer.
MIN_SIMILARITY = 0.5


@dataclass(frozen=True)
class Correction:
    case_id: str
    text: str
    screening: str
    department: str | None
    co_departments: tuple[str, ...]
    complexity: str | None


class OfficerMemory:
    def __init__(self, vocabulary: Vectors):
        self.vocabulary = vocabulary
        self._items: dict[str, tuple[Correction, dict[str, float]]] = {}
        self._postings: dict[str, dict[str, float]] = {}

    def __len__(self) -> int:
        return len(self._items)

    def add(self, correction: Correction) -> None:
        """Remember (or replace: an officer may decide a case again) one decision. A duplicate says nothing about
        how to route the next case, and an acceptance without a unit cannot be followed: neither is kept."""
        self.remove(correction.case_id)
        if correction.screening == "duplicate" or (correction.screening == "accepted" and not correction.department):
            return
        vector = self.vocabulary.vector(correction.text)
        self._items[correction.case_id] = (correction, vector)
        for gram, weight in vector.items():
            self._postings.setdefault(gram, {})[correction.case_id] = weight

    def remove(self, case_id: str) -> None:
        old = self._items.pop(case_id, None)
        if old is None:
            return
        for gram in old[1]:
            ids = self._postings.get(gram)
            if ids is not None:
                ids.pop(case_id, None)
                if not ids:
                    del self._postings[gram]

    def nearest(self, text: str, exclude: str | None = None) -> tuple[Correction, float] | None:
        """The remembered decision most like `text`, if alike enough."""
        if not self._items:
            return None
        totals: dict[str, float] = {}
        for gram, weight in self.vocabulary.vector(text).items():
            for case_id, other in self._postings.get(gram, {}).items():
                totals[case_id] = totals.get(case_id, 0.0) + weight * other
        totals.pop(exclude or "", None)
        if not totals:
            return None
        best = max(totals, key=lambda k: (totals[k], k))
        if totals[best] < MIN_SIMILARITY:
            return None
        return self._items[best][0], round(totals[best], 3)
