"""The dispatcher's in-memory due queue (services/sync/due.py)."""

from datetime import UTC, datetime, timedelta

from services.sync.due import DueQueue

T0 = datetime(2026, 11, 27, 8, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_takes_due_keys_earliest_first_up_to_the_limit_and_they_leave_the_queue():
    queue = DueQueue()
    for key, s in (("c", 3), ("a", 1), ("b", 2), ("later", 60)):
        queue.note(key, at(s))
    assert queue.take_due(at(10), 2) == ["a", "b"]
    assert queue.take_due(at(10), 10) == ["c"]
    assert queue.take_due(at(10), 10) == []
    assert queue.keys() == ["later"] and len(queue) == 1


def test_a_new_time_replaces_the_old_one_and_none_removes_the_key():
    queue = DueQueue()
    queue.note("a", at(1))
    queue.note("a", at(30))  # rescheduled: the stale heap entry must not make it due at 1
    queue.note("b", at(2))
    queue.note("b", None)  # nothing pending any more
    assert queue.take_due(at(10), 10) == []
    assert queue.take_due(at(30), 10) == ["a"]
    assert len(queue) == 0


def test_merge_only_adds_or_brings_forward():
    queue = DueQueue()
    queue.note("a", at(5))
    queue.merge({"a": at(50), "b": at(7)})  # a scan older than the write noted for a
    assert queue.take_due(at(7), 10) == ["a", "b"]
    queue.note("c", at(50))
    queue.merge({"c": at(1)})
    assert queue.take_due(at(1), 10) == ["c"]


def test_many_reschedules_do_not_grow_the_heap_without_bound():
    queue = DueQueue()
    for i in range(10_000):
        queue.note("a", at(i))
        queue.take_due(at(-1), 1)
    assert len(queue._heap) < 2000
    assert queue.take_due(at(10_000), 10) == ["a"]
