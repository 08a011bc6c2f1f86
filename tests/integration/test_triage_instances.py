"""Two triage instances: a case one of them decided is known to the other as a possible original of a repeat.

Each instance keeps its duplicate index in memory; the other instance's decisions reach it through the
case-events topic (services/triage/peers.py). The test lets both run, sends an original, stops the instance that
triaged it, and sends a rewording: the survivor (started before the original existed) must take it as a repeat.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from tests.integration.harness import Namespace, PlatformProcess, Producer, TopicReader, events_of

pytestmark = pytest.mark.integration

NAME = "开化县双实例测试纸业有限公司"


def registered(case_id: str, content: str) -> dict[str, Any]:
    now = datetime.now(UTC).isoformat()
    return {"event_id": str(uuid.uuid4()), "type": "case.registered", "version": 1, "case_id": case_id,
            "occurred_at": now,
            "data": {"submission_id": case_id, "channel": "qrcode", "tracking_no": f"QH{uuid.uuid4().hex[:8]}",
                     "received_at": now, "content": content, "region_hint": None,
                     "enterprise": {"name": NAME, "contact_phone": "138****0000"}}}


async def decisions_made(proc: PlatformProcess) -> float:
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"{proc.base_url}/metrics")).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith("qhwy_triage_decisions_total{"))


@pytest.fixture
async def instances(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[list[PlatformProcess]]:
    logs = tmp_path_factory.mktemp("triage-instances")
    procs = [PlatformProcess(ns, "services.triage", logs).start() for _ in range(2)]
    try:
        await asyncio.gather(*(p.wait_healthy(120) for p in procs))
        yield procs
    finally:
        for proc in procs:
            proc.stop()


async def test_the_other_instance_knows_an_original_it_never_triaged(ns: Namespace,
                                                                    instances: list[PlatformProcess]) -> None:
    topic = ns.topic("qhwy.case-events.v1")
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], topic) as reader, \
            Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        # Both instances in the group: wait until a probe case is triaged (partitions assigned, models trained).
        original = f"orig-{uuid.uuid4().hex[:8]}"
        await producer.send(topic, registered(original, "我们在马金镇的新生产线需要电力增容，"
                                                        "报装申请提交两个月还没有答复"),
                            key=original)
        values = await reader.wait_for(lambda v: any(e["type"] == "case.triaged" for e in events_of(v, original)),
                                       timeout=120, what="the original triaged")
        decision = next(e for e in events_of(values, original) if e["type"] == "case.triaged")["data"]
        assert decision["screening"] == "accepted"
        counts = [await decisions_made(p) for p in instances]
        owner, survivor = (instances[0], instances[1]) if counts[0] > counts[1] else (instances[1], instances[0])
        assert max(counts) == 1 and min(counts) == 0, counts
        owner.stop()  # the survivor takes every partition; it knows the original only from the topic

        repeat = f"rep-{uuid.uuid4().hex[:8]}"
        await producer.send(topic, registered(repeat, "新生产线的增容报装两个月没人回复，设备装好了不能用"), key=repeat)
        values = await reader.wait_for(lambda v: any(e["type"] == "case.triaged" for e in events_of(v, repeat)),
                                       timeout=120, what="the repeat triaged by the survivor")
        decision = next(e for e in events_of(values, repeat) if e["type"] == "case.triaged")["data"]
        assert decision["screening"] == "duplicate" and decision["duplicate_of"] == original
        assert await decisions_made(survivor) == 1
