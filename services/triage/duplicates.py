"""Near-duplicate detection, pure: MinHash signatures with LSH band keys, and the similarity that decides.

A case is indexed under its band keys (in memory, dup_index.py); a new case is compared only with the cases that
share a key, so the cost stays flat as cases accumulate. One extra key names the enterprise, so an enterprise's
own recent cases are always candidates whatever their wording. The candidates are then compared with an
IDF-weighted cosine of character bigrams, which discounts the words every case shares (企业, 反映...); what a
similarity means for a follow-up or a shared problem is followups.link's to decide.
"""

import hashlib
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from services.triage.framing import matter_text, normalise

BANDS = 24
ROWS = 3  # hashes per band: two cases share a band key with probability J**ROWS (J: Jaccard of their shingles)
PRIME = (1 << 61) - 1
VECTORS_KEPT = 20_000  # texts whose vectors are remembered (about 2 KB each)
COMMON_SHARE = 0.08  # bigrams in more than this share of documents carry no identity (stop-bigrams)

_rng = np.random.default_rng(20260302)  # fixed: the stored keys must stay comparable across restarts
_A = _rng.integers(1, PRIME, size=BANDS * ROWS, dtype=np.uint64)
_B = _rng.integers(0, PRIME, size=BANDS * ROWS, dtype=np.uint64)


def bigrams(text: str) -> list[str]:
    return [text[i:i + 2] for i in range(len(text) - 1)]


@dataclass(frozen=True)
class Vocabulary:
    """Document frequencies of bigrams in a reference corpus: weights and stop-bigrams."""

    idf: dict[str, float]
    default_idf: float
    common: frozenset[str]
    # text -> its vector: each triage compares one case with up to hundreds of indexed ones, whose vectors were
    # otherwise computed again for every comparison (most of triage's time under load)
    _vectors: dict[str, dict[str, float]] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, texts: Iterable[str]) -> "Vocabulary":
        docs = [set(bigrams(matter_text(t))) for t in texts]
        counts = Counter(g for doc in docs for g in doc)
        n = max(len(docs), 1)
        idf = {g: math.log((1 + n) / (1 + c)) + 1 for g, c in counts.items()}
        common = frozenset(g for g, c in counts.items() if c / n > COMMON_SHARE)
        return cls(idf, math.log(1 + n) + 1, common)

    def vector(self, text: str) -> dict[str, float]:
        """The unit TF-IDF vector of a text's bigrams (remembered for the last VECTORS_KEPT texts)."""
        known = self._vectors.get(text)
        if known is None:
            if len(self._vectors) >= VECTORS_KEPT:
                self._vectors.pop(next(iter(self._vectors)))  # the oldest
            known = self._vectors[text] = self._vector(text)
        return known

    def _vector(self, text: str) -> dict[str, float]:
        counts = Counter(bigrams(matter_text(text)))
        vec = {g: (1 + math.log(c)) * self.idf.get(g, self.default_idf) for g, c in counts.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        return {g: v / norm for g, v in vec.items()}

    def similarity(self, a: str, b: str) -> float:
        va, vb = self.vector(a), self.vector(b)
        if len(va) > len(vb):
            va, vb = vb, va
        return sum(v * vb.get(g, 0.0) for g, v in va.items())

    def shingles(self, text: str) -> set[str]:
        grams = set(bigrams(matter_text(text)))
        specific = grams - self.common
        return specific or grams


def _hash64(s: str) -> int:
    return int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little") % PRIME


def signature(shingles: set[str]) -> np.ndarray:
    """MinHash signature: for each of BANDS*ROWS hash functions, the smallest hash over the shingles."""
    if not shingles:
        return np.full(BANDS * ROWS, PRIME, dtype=np.uint64)
    values = np.array([_hash64(s) for s in sorted(shingles)], dtype=np.uint64)
    # a*x + b wraps around modulo 2**64 in uint64 (numpy does not check): a fixed, well-mixed family of hashes
    with np.errstate(over="ignore"):
            hashed = (np.outer(_A, values) + _B[:, None]) % np.uint64(PRIME)
    return hashed.min(axis=1)


def band_keys(shingles: set[str]) -> list[str]:
    sig = signature(shingles)
    keys = []
    for band in range(BANDS):
        chunk = sig[band * ROWS:(band + 1) * ROWS]
        digest = hashlib.blake2b(chunk.tobytes(), digest_size=6).hexdigest()
        keys.append(f"b{band}:{digest}")
    return keys


def enterprise_key(name: str, uscc: str | None) -> str:
    who = (uscc or "").strip().upper() or normalise(name)
    return "e:" + hashlib.blake2b(who.encode(), digest_size=8).hexdigest()


def index_keys(vocabulary: Vocabulary, content: str, name: str, uscc: str | None) -> list[str]:
    """What a case is stored under: its LSH band keys and its enterprise key."""
    return [enterprise_key(name, uscc), *band_keys(vocabulary.shingles(content))]


def link_keys(vocabulary: Vocabulary, content: str, name: str, uscc: str | None, identity: Iterable[str] = (),
              matters: Iterable[str] = (), region: str | None = None, things: Iterable[str] = ()) -> list[str]:
    """What a case is indexed under for follow-ups and shared problems: the enterprise key and LSH bands (as
    `index_keys`), every identity key (credit code, phone, name, enterprise id), each matter at its place and
    each shared thing at its place (one outage told in words that share no matter or bigram). Not the unit at its
    place: tried, it linked nothing more on sets I and J and made each case compare with ~160 others under load."""
    keys = index_keys(vocabulary, content, name, uscc)
    keys += [f"id:{k}" for k in identity]
    keys += [f"m:{m}@{region or '-'}" for m in matters]
    if region:
        keys += [f"t:{t}@{region}" for t in things]
    return list(dict.fromkeys(keys))


@dataclass(frozen=True)
class Candidate:
    case_id: str
    content: str
    enterprise: str  # enterprise key
    region: str | None
    department: str | None = None
    identity: tuple[str, ...] = ()
    matters: tuple[str, ...] = ()
    co_departments: tuple[str, ...] = ()
    closed: bool = False
    registered_at: datetime | None = None
    tracking_no: str | None = None  # what people call the case (reasons name it, not the id)
    things: tuple[str, ...] = ()  # followups.shared_things of its text, read once when indexed
    places: tuple[str, ...] = ()  # followups.localities of its text, read once when indexed
