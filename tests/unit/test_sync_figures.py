"""The county's daily figures for the city: counting from case events (pure) and the report's delivery to the
simulated city (signed, idempotent)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from services.sync import domain
from services.sync.breaker import CircuitBreaker
from services.sync.city_client import CityClient
from services.sync.remote import RemoteRejected
from services.sync.simulator.app import build_simulator
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent

TZ = ZoneInfo("Asia/Shanghai")
# 2026-11-26 23:30 in the county is 15:30 UTC: still the 26th locally.
LATE = datetime(2026, 11, 26, 15, 30, tzinfo=UTC)


def ev(type_, data, at=LATE):
    return CaseEvent.new(cause="c", type=type_, case_id="case-1", occurred_at=at, data=data)


def test_marks_count_each_event_in_the_countys_local_day():
    resolved = ev("case.resolved", ce.Resolved(resolution="已解决", resolved_at=LATE, on_time=False, by="u"))
    assert domain.figure_marks(resolved, TZ) == {"resolved_on": "2026-11-26", "on_time": False}
    after_midnight = LATE + timedelta(minutes=31)  # 00:01 on the 27th locally
    rated = ev("case.rated", ce.Rated(level="satisfied", satisfied=True, method="sms"), at=after_midnight)
    assert domain.figure_marks(rated, TZ) == {"rated_on": "2026-11-27", "satisfied": True}
    progressed = ev("case.progressed", ce.Progressed(department="d", by="u", note="在办"))
    assert domain.figure_marks(progressed, TZ) is None


def test_the_last_complete_period_is_yesterday_local():
    assert domain.last_complete_period(LATE, TZ) == "2026-11-25"
    assert domain.last_complete_period(LATE + timedelta(hours=1), TZ) == "2026-11-26"


def report():
    counts = {"received": 7, "resolved": 5, "resolved_on_time": 4, "rated": 3, "satisfied": 2}
    change = domain.figures_report("2026-11-26", counts, LATE)
    (delivery,) = change.set["deliveries"].values()
    return change, delivery


def test_a_report_is_one_pending_delivery_to_the_city_and_its_confirmation_is_no_case_event():
    change, delivery = report()
    assert delivery["target"] == "city" and delivery["path"] == "/v1/county-figures"
    assert delivery["body"]["idempotency_key"] == delivery["id"] and delivery["body"]["received"] == 7
    assert change.set["next_delivery_at"] == LATE
    doc = {"_id": "figures:2026-11-26", **change.set}
    confirmed = domain.delivered(doc, delivery["id"], "CF-2026-11-26", LATE)
    assert confirmed.events == [] and confirmed.set[f"deliveries.{delivery['id']}.state"] == "delivered"
    assert confirmed.set["next_delivery_at"] is None
    # the same period gives the same delivery id: recorded twice, it is one report at the city
    assert report()[1]["id"] == delivery["id"]


@pytest.mark.asyncio
async def test_the_simulated_city_keeps_one_report_per_key_and_refuses_bad_figures():
    sim = build_simulator({"county": "s3cret"})
    city = CityClient(name="city", base_url="http://sim/city", app_key="county", app_secret="s3cret", timeout=2,
                      attempts=1, breaker=CircuitBreaker("city", 5, 1.0),
                      transport=httpx.ASGITransport(app=sim.asgi()), retry_wait_max=0.01)
    _, delivery = report()
    first = await city.send(delivery)
    again = await city.send(delivery)
    assert first.remote_id == again.remote_id == "CF-2026-11-26" and again.duplicate
    assert sim.city.figures["2026-11-26"]["resolved_on_time"] == 4 and len(sim.city.received) == 1
    bad = {**delivery, "id": "other", "body": {**delivery["body"], "received": -1}}
    with pytest.raises(RemoteRejected):
        await city.send(bad)
    await city.aclose()
