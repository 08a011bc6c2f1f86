"""sla's firings through the real broker and store: a firing is an insert of its own record (the clock record is not
updated), a firing stored but not published before a crash is published at the next start (same event ids) and not
fired again, a case event folds the firings into the clock record and they are deleted; and a case sent back to
triage by a unit gets triage's 1-working-day clock again. Time is moved by restarting with a frozen clock."""

import asyncio
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from tests.integration.harness import Namespace, PlatformProcess, Producer, TopicReader

pytestmark = pytest.mark.integration

CLOCK_CASE, RETURNED_CASE = "fr-clock", "fr-returned"


def sla(ns: Namespace, log_dir: Path, at: str, **env: str) -> PlatformProcess:
    return PlatformProcess(ns, "services.sla", log_dir, QHWY_CLOCK_START=at, QHWY_CLOCK_SPEED="0",
                           QHWY_SLA_TIMER_INTERVAL_SECONDS="0.3", **env)


def ev(case_id: str, type_: str, at: str, data: dict) -> dict:
    return {"event_id": f"{type_}-{case_id}", "type": type_, "version": 1, "case_id": case_id, "occurred_at": at,
            "data": data}


def assigned(case_id: str, at: str, due: str) -> dict:
    return ev(case_id, "case.assigned", at, {"department": "gongdian", "co_departments": [], "region": "majin",
                                             "complexity": "simple", "escalation_level": 1, "due_at": due})


def of(reader: TopicReader, case_id: str, type_: str) -> list[dict]:
    return [e for e in reader.values() if e["case_id"] == case_id and e["type"] == type_]


async def until(check, what: str, timeout: float = 40.0) -> None:
    for _ in range(int(timeout / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"never: {what}")


async def test_firings_are_inserts_repaired_absorbed_and_a_return_restarts_triage(ns: Namespace,
                                                                                   tmp_path: Path) -> None:
    bootstrap, topic = ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")
    mongo = AsyncMongoClient(ns.infra.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017"), tz_aware=True)
    db = mongo[f"{ns.name}_sla"]
    try:
        async with TopicReader(bootstrap, topic) as reader:
            # Monday 2 March 2026 11:30: a case assigned at 09:00 (due Tuesday 09:00, no timer due yet), and one
            # registered at 09:00, assigned at 10:00 and sent back by the unit at 11:00
            monday = sla(ns, tmp_path, "2026-03-02T11:30:00+08:00").start()
            try:
                await monday.wait_healthy()
                async with Producer(bootstrap) as producer:
                    for event in [
                        assigned(CLOCK_CASE, "2026-03-02T09:00:00+08:00", "2026-03-03T09:00:00+08:00"),
                        ev(RETURNED_CASE, "case.registered", "2026-03-02T09:00:00+08:00", {
                            "submission_id": "s-fr", "channel": "web", "tracking_no": "T-fr",
                            "received_at": "2026-03-02T09:00:00+08:00", "content": "用电报装",
                            "enterprise": {"name": "开化县某公司", "contact_phone": "138****0000"}}),
                        assigned(RETURNED_CASE, "2026-03-02T10:00:00+08:00", "2026-03-03T10:00:00+08:00"),
                        ev(RETURNED_CASE, "case.returned", "2026-03-02T11:00:00+08:00",
                           {"department": "gongdian", "by": "wang.wu", "reason": "不属于本单位职责"}),
                    ]:
                        await producer.send(topic, event, key=event["case_id"])

                async def stored() -> bool:
                    clock = await db["triage_clocks"].find_one({"_id": RETURNED_CASE})
                    returned = await db["deadlines"].find_one({"_id": RETURNED_CASE})
                    return bool(clock and clock.get("round") == 2 and returned and returned["state"] == "returned"
                                and await db["deadlines"].find_one({"_id": CLOCK_CASE}))

                await until(stored, "the events stored")
                clock = await db["triage_clocks"].find_one({"_id": RETURNED_CASE})
                assert clock["state"] == "running"  # one working day from the return: Tuesday 11:00
                assert clock["due_at"].isoformat().startswith("2026-03-03T03:00:00")
            finally:
                assert monday.stop() == 0, monday.logs()[-3000:]
            before = await db["deadlines"].find_one({"_id": CLOCK_CASE})
            triage_before = await db["triage_clocks"].find_one({"_id": RETURNED_CASE})

            # Tuesday 12:00: the clock case is overdue and climbs; the returned case was not assigned again in time
            tuesday = sla(ns, tmp_path, "2026-03-03T12:00:00+08:00").start()
            try:
                await tuesday.wait_healthy()
                await reader.wait_for(lambda _: of(reader, CLOCK_CASE, "case.overdue") and [
                    e for e in of(reader, RETURNED_CASE, "case.reminded") if e["data"]["kind"] == "triage_due"],
                    timeout=40, what="the overdue and the triage reminder")
                await asyncio.sleep(2.0)  # several more sweeps, and sla reads its own escalation back
            finally:
                assert tuesday.stop() == 0, tuesday.logs()[-3000:]
            [triage_due] = [e for e in of(reader, RETURNED_CASE, "case.reminded") if e["data"]["kind"] == "triage_due"]
            assert triage_due["data"]["due_at"].startswith("2026-03-03T03:00:00")  # Tuesday 11:00 in Shanghai
            [overdue] = of(reader, CLOCK_CASE, "case.overdue")
            assert [e["data"]["to_level"] for e in of(reader, CLOCK_CASE, "case.escalated")] == [2]
            # the firing was an insert; the clock record was not written (not even for sla's own escalation)
            after = await db["deadlines"].find_one({"_id": CLOCK_CASE})
            assert after["rev"] == before["rev"] and after["escalation_level"] == 1
            firings = [f async for f in db["firings"].find({"case_id": CLOCK_CASE})]
            assert [f for f in firings if "1/overdue" in f["fired"]] and firings[-1]["escalation_level"] == 2
            assert await db["firings_published"].count_documents({"_id": {"$in": [f["_id"] for f in firings]}}) \
                == len(firings)

            # the same for triage's clock: a firing record for the round, the clock record untouched
            assert await db["firings"].find_one({"_id": f"{RETURNED_CASE}|triage/2"}) is not None
            assert (await db["triage_clocks"].find_one({"_id": RETURNED_CASE}))["rev"] == triage_before["rev"]

            # as if sla had died between storing the firing and publishing it
            await db["firings_published"].delete_many({"_id": {"$in": [f["_id"] for f in firings]}})
            again = sla(ns, tmp_path, "2026-03-03T12:30:00+08:00", QHWY_SLA_FIRING_RETENTION_SECONDS="0",
                        QHWY_SLA_COMPACTION_INTERVAL_SECONDS="0.5").start()
            try:
                await again.wait_healthy()
                await reader.wait_for(lambda _: len(of(reader, CLOCK_CASE, "case.overdue")) >= 2, timeout=40,
                                      what="the unpublished firing published")
                republished = of(reader, CLOCK_CASE, "case.overdue")
                assert {e["event_id"] for e in republished} == {overdue["event_id"]}  # the same event, once more
                # a unit accepts: the record absorbs its firings and they are deleted
                async with Producer(bootstrap) as producer:
                    accepted = ev(CLOCK_CASE, "case.accepted", "2026-03-03T12:20:00+08:00",
                                  {"department": "gongdian", "by": "wang.wu"})
                    await producer.send(topic, accepted, key=CLOCK_CASE)
                    # and triage assigns the returned case again: its clock record learns the round fired
                    await producer.send(topic, {**assigned(RETURNED_CASE, "2026-03-03T12:25:00+08:00",
                                                           "2026-03-04T12:25:00+08:00"), "event_id": "reassigned"},
                                        key=RETURNED_CASE)

                async def compacted() -> bool:
                    return await db["firings"].count_documents({"case_id": {"$in": [CLOCK_CASE, RETURNED_CASE]}}) == 0

                await until(compacted, "the absorbed firings deleted")
                await asyncio.sleep(2.0)
            finally:
                assert again.stop() == 0, again.logs()[-3000:]
            record = await db["deadlines"].find_one({"_id": CLOCK_CASE})
            assert record["state"] == "accepted" and record["escalation_level"] == 2 and record["overdue"]
            assert "1/overdue" in record["fired"] and record["next_timer"] == "1/escalate-3"
            assert len(of(reader, CLOCK_CASE, "case.overdue")) == 2  # nothing fired again
            triage_record = await db["triage_clocks"].find_one({"_id": RETURNED_CASE})
            assert triage_record["fired"] is True and triage_record["state"] == "stopped"
            assert len([e for e in of(reader, RETURNED_CASE, "case.reminded")
                        if e["data"]["kind"] == "triage_due"]) == 1
            assert [e["data"]["to_level"] for e in of(reader, CLOCK_CASE, "case.escalated")] == [2, 2]
    finally:
        await mongo.close()
