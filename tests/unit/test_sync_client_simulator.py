"""The signed client against the simulator in memory (httpx ASGI transport): 5xx bursts, duplicates, refusals,
the remote side down, out-of-order and duplicated feeds."""

import httpx
import pytest

from services.sync.breaker import BreakerOpen, CircuitBreaker
from services.sync.city_client import CityClient
from services.sync.hotline_client import HotlineClient
from services.sync.remote import RemoteRejected, RemoteUnavailable
from services.sync.simulator.app import Faults, build_simulator


@pytest.fixture
def sim():
    return build_simulator({"county": "s3cret"})


def client(sim, cls=CityClient, side="city", secret="s3cret", attempts=3, failures=5):
    return cls(name=side, base_url=f"http://sim/{side}", app_key="county", app_secret=secret, timeout=2,
               attempts=attempts, breaker=CircuitBreaker(side, failures=failures, reset_seconds=60),
               transport=httpx.ASGITransport(app=sim.asgi()), retry_wait_max=0.01)


def escalation(key="k1", case="case-1"):
    return {"id": key, "method": "POST", "path": "/v1/escalations",
            "body": {"idempotency_key": key, "county_case_id": case, "reason": "逾期", "case_file": {"content": "x"}}}


async def test_a_resend_with_the_same_key_changes_nothing(sim):
    city = client(sim)
    first = await city.send(escalation())
    again = await city.send(escalation())
    assert again.remote_id == first.remote_id and again.duplicate and not first.duplicate
    assert len(sim.city.received) == 1 and sim.city.repeats == 1
    assert sim.city.received["k1"]["count"] == 2


async def test_a_short_5xx_burst_is_absorbed_by_quick_retries(sim):
    sim.city.faults = Faults(errors=2)
    receipt = await client(sim).send(escalation())
    assert receipt.remote_id.startswith("CE-")
    assert sim.city.requests == 3


async def test_a_longer_burst_is_reported_unavailable(sim):
    sim.city.faults = Faults(errors=5)
    with pytest.raises(RemoteUnavailable):
        await client(sim, attempts=3).send(escalation())
    assert len(sim.city.received) == 0


async def test_a_refusal_is_permanent(sim):
    sim.city.faults = Faults(reject=1)
    with pytest.raises(RemoteRejected) as caught:
        await client(sim).send(escalation())
    assert caught.value.status == 422
    update = {"id": "u1", "method": "POST", "path": "/v1/case-updates",
              "body": {"county_case_id": "never-escalated", "type": "resolved",
                       "occurred_at": "2026-03-02T09:00:00+08:00"}}
    with pytest.raises(RemoteRejected) as unknown:
        await client(sim).send(update)
    assert unknown.value.status == 404


async def test_a_bad_signature_is_not_parked_but_retried_later(sim):
    with pytest.raises(RemoteUnavailable):
        await client(sim, secret="wrong").send(escalation())


async def test_down_opens_the_breaker_and_calls_stop(sim):
    sim.city.faults = Faults(down=True)
    city = client(sim, attempts=2, failures=4)
    for _ in range(2):
        with pytest.raises(RemoteUnavailable):
            await city.send(escalation())
    assert city.breaker.state(city.clock()) == "open"
    before = sim.city.requests
    with pytest.raises(BreakerOpen):
        await city.send(escalation())
    assert sim.city.requests == before  # not even attempted


async def test_receipts_tell_which_keys_the_remote_side_holds(sim):
    city = client(sim)
    await city.send(escalation("k1"))
    await city.send(escalation("k2", "case-2"))
    assert await city.receipts(["k1", "k2", "k3"]) == {"k1", "k2"}


async def test_hotline_results_by_ticket(sim):
    hotline = client(sim, HotlineClient, "hotline")
    delivery = {"id": "h1", "method": "POST", "path": "/v1/tickets/12345-0001/results",
                "body": {"county_case_id": "case-1", "kind": "result", "occurred_at": "2026-03-02T09:00:00+08:00",
                         "resolution": "已解决"}}
    receipt = await hotline.send(delivery)
    assert receipt.remote_id.startswith("HR-12345-0001")
    assert (await hotline.send(delivery)).duplicate
    assert await hotline.receipts(["h1", "nope"]) == {"h1"}


async def test_feeds_out_of_order_and_duplicated(sim):
    city = client(sim)
    for n in range(3):
        sim.add_message("case-1", "reply", None, f"回复{n}", "desk")
    sim.city.faults = Faults(out_of_order=True, duplicate_feed=True)
    items, next_after = await city.messages(0)
    assert [m.seq for m in items] == [2, 2, 1, 1]  # newest held back once, newest first, each twice
    assert next_after == 3
    items, _ = await city.messages(0)
    assert sorted({m.seq for m in items}) == [1, 2, 3]


async def test_feed_since_lists_everything_for_reconciliation(sim):
    city = client(sim)
    sim.add_assignment({"enterprise": {"name": "某公司", "contact_phone": "13800000000"}, "content": "用地问题"})
    sim.city.faults = Faults(out_of_order=True)
    items, _ = await city.assignments(0, since=__import__("datetime").datetime(2020, 1, 1).astimezone())
    assert [a.seq for a in items] == [1]
