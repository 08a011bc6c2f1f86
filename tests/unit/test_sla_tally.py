"""The gauges' in-memory counts: the same groups the store's $group gave, kept as records change."""

from datetime import UTC, datetime, timedelta

from services.sla.tally import Tally

NOW = datetime(2026, 3, 3, 1, 0, tzinfo=UTC)


def rec(state, department="gongdian", due_in_hours=24.0, partition=0, **kw):
    return {"state": state, "department": department, "region": "majin", "complexity": "simple",
            "due_at": NOW + timedelta(hours=due_in_hours), "escalation_level": kw.pop("level", 1),
            "partition": partition, "on_time": kw.pop("on_time", None), "problem_list": kw.pop("problem_list", False)}


def as_set(rows):
    return {tuple(sorted(r.items())) for r in rows}


def test_counts_by_group_and_follows_changes():
    tally = Tally()
    tally.set("a", rec("assigned"))
    tally.set("b", rec("accepted", due_in_hours=-1, level=2))           # overdue
    tally.set("c", rec("assigned", department="fagai", due_in_hours=2))   # due soon
    tally.set("d", rec("resolved", on_time=True, problem_list=True))
    tally.set("e", rec("closed", on_time=False))
    tally.set("f", {"processed": ["x"]})                                  # a record without a clock: not counted
    counts = tally.counts(NOW, NOW + timedelta(hours=4))
    assert as_set(counts["open"]) == as_set([
        {"state": "assigned", "department": "gongdian", "region": "majin", "complexity": "simple", "n": 1},
        {"state": "accepted", "department": "gongdian", "region": "majin", "complexity": "simple", "n": 1},
        {"state": "assigned", "department": "fagai", "region": "majin", "complexity": "simple", "n": 1}])
    assert counts["overdue"] == [{"department": "gongdian", "escalation_level": 2, "n": 1}]
    assert counts["due_soon"] == [{"department": "fagai", "n": 1}]
    assert as_set(counts["resolved"]) == as_set([{"department": "gongdian", "on_time": True, "n": 1},
                                                 {"department": "gongdian", "on_time": False, "n": 1}])
    assert counts["problem_list"] == [{"department": "gongdian", "n": 1}]

    tally.set("b", rec("resolved", due_in_hours=-1, level=2, on_time=False))  # the overdue case is resolved
    tally.set("c", None)
    counts = tally.counts(NOW, NOW + timedelta(hours=4))
    assert counts["overdue"] == [] and counts["due_soon"] == []
    assert as_set(counts["resolved"]) == as_set([{"department": "gongdian", "on_time": True, "n": 1},
                                                 {"department": "gongdian", "on_time": False, "n": 2}])
    assert len(tally) == 4


def test_counts_only_the_owned_partitions():
    tally = Tally()
    tally.set("a", rec("assigned", partition=0))
    tally.set("b", rec("assigned", partition=1))
    assert sum(r["n"] for r in tally.counts(NOW, NOW, owned={1})["open"]) == 1
    assert sum(r["n"] for r in tally.counts(NOW, NOW, owned=set())["open"]) == 0
    assert sum(r["n"] for r in tally.counts(NOW, NOW)["open"]) == 2


def test_response_outcomes_and_unanswered_cases():
    tally = Tally()
    due = NOW - timedelta(hours=1)  # response deadlines an hour ago
    tally.set("met", {**rec("accepted"), "response_due_at": due, "accepted_at": due - timedelta(hours=2)})
    tally.set("late", {**rec("accepted"), "response_due_at": due, "accepted_at": due + timedelta(minutes=5)})
    tally.set("waiting", {**rec("assigned"), "response_due_at": due, "accepted_at": None})
    tally.set("fresh", {**rec("assigned", department="fagai"), "response_due_at": NOW + timedelta(hours=3),
                        "accepted_at": None})
    tally.set("reassigned", {**rec("assigned", department="fagai"), "response_due_at": NOW + timedelta(hours=3),
                             "responses": [{"department": "gongdian", "met": True}]})
    counts = tally.counts(NOW, NOW + timedelta(hours=4))
    assert as_set(counts["responses"]) == as_set([{"department": "gongdian", "met": True, "n": 2},
                                                  {"department": "gongdian", "met": False, "n": 2}])
    assert counts["unanswered"] == [{"department": "gongdian", "n": 1}]
