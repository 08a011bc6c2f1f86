"""Fault injection with every service in its own process on the real broker and store (issue 10, "Faults").

Each test ends with tests/integration/faults.py: every submission sent is exactly one case, each event with
effects appears once per case (by id and by meaning), in order, and the services' own views agree.

- kill -9 each of the six services in turn in the middle of a stream, start it again;
- two instances of every service (consumer-group rebalancing), then stop one of each (SIGTERM or kill -9).

The broker and store restarts are in test_faults_infra.py (private servers), the clock over a holiday in
test_faults_clock.py, the city platform down for a while in test_sync_city_hotline.py.
"""

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.integration.faults import SERVICES, Platform, assigned, check_views, count_of, resolve_all
from tests.integration.harness import Namespace, Producer, TopicReader, submission

pytestmark = pytest.mark.integration

# Services whose work on these cases starts when a unit resolves them: killed in that phase, the others while
# the submissions come in.
RESOLVE_PHASE = ("rating", "sync")
ROUND = 20


@pytest.fixture(scope="module")
async def platform(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Platform]:
    platform = Platform(ns, tmp_path_factory.mktemp("fault-logs"))
    try:
        for name in SERVICES:
            platform.procs[name] = [platform.new(name)]
        await platform.healthy()
        yield platform
    finally:
        platform.stop()


@pytest.fixture(scope="module")
async def case_events(ns: Namespace, platform: Platform) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as reader:
        yield reader

async def run_round(platform: Platform, events: TopicReader, tag: str, victim: str | None,
                    fault: Any = None) -> list[str]:
    """Send ROUND submissions and resolve each case; `fault()` runs a third of the way into the phase where the
    victim works. Returns this round's submission ids once every case was resolved and synced."""
    ns = platform.ns
    bodies = [submission(f"{tag}-{i}", source_ref=f"TICKET-{tag}-{i}") for i in range(ROUND)]
    sent = {b["submission_id"] for b in bodies}
    platform.sent.extend(sorted(sent))
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for i, body in enumerate(bodies):
            await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
            if i == ROUND // 3 and victim not in RESOLVE_PHASE:
                await fault()
    await platform.healthy()
    values = await events.wait_for(lambda v: len(assigned(v, sent)) >= ROUND, timeout=150,
                                   what=f"{ROUND} assignments ({tag})")
    cases = list(assigned(values, sent).items())
    # a third of the cases, then the fault, then the rest
    await resolve_all(platform, cases[:ROUND // 3])
    if victim in RESOLVE_PHASE:
        await fault()
    await resolve_all(platform, cases[ROUND // 3:])
    await platform.healthy()
    await events.wait_for(lambda v: count_of(v, "case.synced", {c for c, _ in cases}) >= ROUND, timeout=420,
                          what=f"{ROUND} hotline results synced ({tag})")
    return sorted(sent)


@pytest.mark.parametrize("victim", SERVICES)
async def test_kill_9_each_service_mid_stream(victim: str, platform: Platform, case_events: TopicReader) -> None:
    async def kill_and_restart() -> None:
        await platform.restart(victim)

    await run_round(platform, case_events, f"kill-{victim}", victim, kill_and_restart)
    await check_views(platform, case_events)


@pytest.mark.parametrize("how", ["sigterm", "kill-9"])
async def test_two_instances_each_then_one_stops(how: str, platform: Platform, case_events: TopicReader) -> None:
    for name in SERVICES:
        if len(platform.procs[name]) < 2:
            platform.procs[name].append(platform.new(name))
    await platform.healthy()

    async def stop_one_of_each() -> None:
        for name in SERVICES:
            # the older instance goes: it holds partitions and has work in flight
            victim = platform.procs[name][0]
            victim.stop() if how == "sigterm" else victim.kill()
            platform.procs[name] = platform.procs[name][1:] + [victim]

    # the victims are chosen across both phases: stop in the submission phase, restart before the next round
    await run_round(platform, case_events, f"pair-{how}", None, stop_one_of_each)
    await check_views(platform, case_events)
    for name in SERVICES:
        platform.procs[name] = [p for p in platform.procs[name] if p.proc and p.proc.poll() is None]
