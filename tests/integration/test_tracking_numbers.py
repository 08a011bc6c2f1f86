"""intake's daily tracking numbers on the real store: reserved 20 at a time, unique across instances, a new
count each local day."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient

from services.intake.store import IntakeStore

pytestmark = pytest.mark.integration
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture
async def db(infra: dict[str, str]) -> AsyncIterator[Any]:
    client: AsyncMongoClient = AsyncMongoClient(infra["QHWY_MONGO_URL"], directConnection=True, tz_aware=True)
    name = f"t{uuid.uuid4().hex[:10]}_seq"
    try:
        yield client[name]
    finally:
        await client.drop_database(name)
        await client.close()


async def test_numbers_come_in_blocks_unique_across_instances_and_start_again_each_day(db: Any) -> None:
    now = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)  # 09:00 on 2 March in the county
    one, two = IntakeStore(db, lambda: now, TZ), IntakeStore(db, lambda: now, TZ)
    assert [await one.next_sequence(now) for _ in range(3)] == [1, 2, 3]
    assert await two.next_sequence(now) == 21  # the second instance reserved 21-40
    assert await one.next_sequence(now) == 4
    assert (await db["counters"].find_one({"_id": "tracking:20260302"}))["value"] == 40  # two updates, not five
    numbers = [await one.next_sequence(now) for _ in range(17)]
    assert numbers[-1] == 41  # 5..20, then the next block 41-60
    late = datetime(2026, 3, 2, 16, 30, tzinfo=UTC)  # 00:30 on 3 March in the county: a new day
    assert await one.next_sequence(late) == 1
