"""intake's store on the real store: an Open311 listing includes a request accepted a moment ago whose case view
does not exist yet, and never lists a case twice or by its stale registration once the view exists."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient

from services.intake.store import IntakeStore

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
OPEN = {"$nin": ["closed", "archived", "rejected"]}


@pytest.fixture
async def store(infra: dict[str, str]) -> AsyncIterator[IntakeStore]:
    client: AsyncMongoClient = AsyncMongoClient(infra["QHWY_MONGO_URL"], directConnection=True, tz_aware=True)
    name = f"t{uuid.uuid4().hex[:10]}_intake"
    yield IntakeStore(client[name], lambda: NOW, ZoneInfo("Asia/Shanghai"))
    await client.drop_database(name)
    await client.close()


async def test_a_registration_without_its_view_is_listed_once_and_a_viewed_one_by_its_view(store: IntakeStore) -> None:
    registration = {"status": "registered", "category": "utilities"}
    await store.registrations.collection.insert_many([
        {"_id": "c1", "tracking_no": "QH1", "received_at": NOW - timedelta(minutes=2), **registration},
        {"_id": "c2", "tracking_no": "QH2", "received_at": NOW - timedelta(minutes=1), **registration},
        {"_id": "c3", "tracking_no": "QH3", "received_at": NOW - timedelta(hours=3), **registration},
    ])
    # QH1 has its view (closed by now); QH2 was accepted a minute ago and has none yet; QH3 is old and unviewed
    await store.cases.collection.insert_one({"_id": "c1", "tracking_no": "QH1", "status": "closed",
                                             "category": "utilities", "received_at": NOW - timedelta(minutes=2)})

    def listed(docs: list[dict]) -> list[tuple[str, str]]:
        return [(d["tracking_no"], d["status"]) for d in docs]

    every = await store.find_requests(tracking_nos=None, categories=None, status=None, start=None, end=None,
                                      limit=50, skip=0)
    assert listed(every) == [("QH2", "registered"), ("QH1", "closed")]
    by_id = await store.find_requests(tracking_nos=["QH2", "QH1"], categories=["utilities"], status=None,
                                      start=None, end=None, limit=50, skip=0)
    assert listed(by_id) == [("QH2", "registered"), ("QH1", "closed")]
    still_open = await store.find_requests(tracking_nos=None, categories=None, status=OPEN, start=None, end=None,
                                           limit=50, skip=0)
    assert listed(still_open) == [("QH2", "registered")]  # QH1's registration still says registered: not listed
    second_page = await store.find_requests(tracking_nos=None, categories=None, status=None, start=None, end=None,
                                            limit=1, skip=1)
    assert listed(second_page) == [("QH1", "closed")]
    assert "submission" not in every[0]  # the private record's contact data never leaves through a listing
