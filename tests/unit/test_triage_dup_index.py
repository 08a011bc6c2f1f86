"""The in-memory duplicate index: what is a candidate, in what order, and what is forgotten."""

from datetime import UTC, datetime, timedelta

import pytest

from services.triage.dup_index import DuplicateIndex, entry_of

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE = NOW - timedelta(days=30)


def doc(case_id: str, keys: list[str], *, screening: str = "accepted", closed: bool = False,
        registered_at: datetime = NOW, department: str | None = "d1") -> dict:
    return {"_id": case_id, "text": f"text of {case_id}", "enterprise_key": "e:1", "region": "r1",
            "department": department, "dup_keys": keys, "screening": screening, "closed": closed,
            "registered_at": registered_at}


def ids(index: DuplicateIndex, keys: list[str], case_id: str = "new", limit: int = 10) -> list[str]:
    return [c.case_id for c in index.candidates(keys, case_id, SINCE, limit)]


def test_a_case_sharing_any_key_is_a_candidate_and_one_sharing_none_is_not() -> None:
    index = DuplicateIndex()
    index.load([doc("a", ["k1", "k2"]), doc("b", ["k3"])])
    assert ids(index, ["k2", "k9"]) == ["a"]
    assert ids(index, ["k9"]) == []
    assert len(index) == 2


def test_a_case_is_never_its_own_candidate() -> None:
    index = DuplicateIndex()
    index.sync(doc("a", ["k1"]))
    assert ids(index, ["k1"], case_id="a") == []


@pytest.mark.parametrize("screening", ["duplicate", "non_business", "unclear", "rejected", None])
def test_only_accepted_cases_are_indexed(screening: str | None) -> None:
    index = DuplicateIndex()
    index.sync(doc("a", ["k1"], screening=screening))  # type: ignore[arg-type]
    assert "a" not in index and ids(index, ["k1"]) == []


def test_a_case_no_longer_accepted_leaves_the_index_and_its_keys() -> None:
    index = DuplicateIndex()
    index.sync(doc("a", ["k1", "k2"]))
    index.sync(doc("a", ["k1", "k2"], screening="duplicate"))
    assert ids(index, ["k1", "k2"]) == [] and len(index) == 0
    assert index._postings == {}  # no empty posting lists left behind


def test_new_keys_replace_the_old_ones() -> None:
    index = DuplicateIndex()
    index.sync(doc("a", ["k1"]))
    index.sync(doc("a", ["k2"]))  # detail added: the text and its keys changed
    assert ids(index, ["k1"]) == [] and ids(index, ["k2"]) == ["a"]


def test_candidates_are_newest_first_and_limited() -> None:
    index = DuplicateIndex()
    index.load(doc(f"c{i}", ["k"], registered_at=NOW - timedelta(hours=i)) for i in range(5))
    assert ids(index, ["k"], limit=3) == ["c0", "c1", "c2"]


def test_a_closed_case_stays_a_candidate_only_within_the_window() -> None:
    index = DuplicateIndex()
    index.sync(doc("recent", ["k"], registered_at=NOW - timedelta(days=29)))
    index.sync(doc("old", ["k"], registered_at=NOW - timedelta(days=31)))
    index.sync(doc("old-open", ["k"], registered_at=NOW - timedelta(days=90)))
    index.close("recent")
    index.close("old")
    index.close("unknown")  # a case never indexed: nothing happens
    assert ids(index, ["k"]) == ["recent", "old-open"]
    assert index.prune(SINCE) == 1
    assert "old" not in index and len(index) == 2


def test_a_closed_document_loads_as_closed() -> None:
    index = DuplicateIndex()
    index.sync(doc("a", ["k"], closed=True, registered_at=NOW - timedelta(days=40)))
    assert ids(index, ["k"]) == []


def test_entry_of_needs_keys_and_a_registration_time() -> None:
    assert entry_of(doc("a", [])) is None
    assert entry_of({**doc("a", ["k"]), "registered_at": None}) is None
    entry = entry_of(doc("a", ["k"], department="d2"))
    assert entry is not None and entry.candidate.department == "d2" and entry.keys == ("k",)
