"""The in-memory case search: newest first, a unit's own cases, text, paging, updates in place."""

from datetime import UTC, datetime, timedelta

from services.console.domain import search_query
from services.console.search_index import SearchIndex

T0 = datetime(2026, 3, 2, 1, 0)


def row(n: int, unit: str = "fagai", enterprise: str = "开化县某纸业有限公司", content: str = "电力增容",
        at: datetime | None = None) -> dict:
    return {"_id": f"c{n}", "tracking_no": f"QH{20260302000000 + n}", "enterprise": enterprise, "content": content,
            "units": [unit], "received_at": at or T0 + timedelta(minutes=n)}


def ids(rows: list[dict]) -> list[str]:
    return [r["_id"] for r in rows]


def test_newest_first_with_paging_and_a_units_own_cases() -> None:
    index = SearchIndex()
    index.load([row(1), row(3, unit="gongdian"), row(2)])
    index.put(row(4))
    recent = search_query("")
    assert ids(index.search(recent, None, 10, 0)) == ["c4", "c3", "c2", "c1"]
    assert ids(index.search(recent, None, 2, 1)) == ["c3", "c2"]
    assert ids(index.search(recent, "fagai", 10, 0)) == ["c4", "c2", "c1"]
    assert ids(index.search(recent, "nobody", 10, 0)) == []


def test_text_matches_enterprise_content_or_tracking_number_ignoring_case() -> None:
    index = SearchIndex()
    index.load([row(1, enterprise="开化县ABC纸业"), row(2, content="道路破损"), row(3)])
    assert ids(index.search(search_query("abc"), None, 10, 0)) == ["c1"]
    assert ids(index.search(search_query("道路"), None, 10, 0)) == ["c2"]
    assert ids(index.search(search_query("20260302000003"), None, 10, 0)) == ["c3"]
    assert ids(index.search(search_query("qh20260302000002"), None, 10, 0)) == ["c2"]  # as text: any case
    assert ids(index.search({"kind": "tracking_no", "value": "QH20260302000002"}, None, 10, 0)) == ["c2"]


def test_a_changed_case_is_replaced_not_duplicated_and_a_load_keeps_newer_rows() -> None:
    index = SearchIndex()
    index.put(row(1, unit="fagai"))
    index.put({**row(1, unit="gongdian"), "received_at": (T0 + timedelta(minutes=1)).replace(tzinfo=UTC)})
    assert len(index) == 1 and ids(index.search(search_query(""), "gongdian", 10, 0)) == ["c1"]
    index.load([row(1, unit="fagai"), row(2)])
    assert index.rows["c1"]["units"] == ["gongdian"] and index.loaded
    assert ids(index.search(search_query(""), None, 10, 0)) == ["c2", "c1"]


def test_a_tracking_number_is_found_directly_and_only_by_its_unit() -> None:
    index = SearchIndex()
    index.load([row(1), row(2, unit="gongdian")])
    query = {"kind": "tracking_no", "value": "QH20260302000002"}
    assert ids(index.search(query, None, 10, 0)) == ["c2"] and ids(index.search(query, "gongdian", 10, 0)) == ["c2"]
    assert index.search(query, "fagai", 10, 0) == [] and index.search(query, None, 10, 1) == []
    assert index.search({"kind": "tracking_no", "value": "QH0"}, None, 10, 0) == []
