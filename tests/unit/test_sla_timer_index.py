"""services.sla.timer_index: due timers earliest first, only on owned partitions, superseded entries ignored."""

from datetime import UTC, datetime, timedelta

from services.sla.timer_index import TimerIndex

T0 = datetime(2026, 3, 2, 1, tzinfo=UTC)


def test_due_earliest_first_and_only_once():
    index = TimerIndex()
    index.set("b", T0 + timedelta(seconds=2), 0)
    index.set("a", T0 + timedelta(seconds=1), 0)
    index.set("c", T0 + timedelta(seconds=9), 0)
    assert index.take_due(T0 + timedelta(seconds=5), frozenset({0}), 10) == [
        ("a", T0 + timedelta(seconds=1)), ("b", T0 + timedelta(seconds=2))]
    assert index.take_due(T0 + timedelta(seconds=5), frozenset({0}), 10) == []
    assert len(index) == 1


def test_moved_and_cleared_timers():
    index = TimerIndex()
    index.set("a", T0, 0)
    index.set("a", T0 + timedelta(hours=1), 0)  # rescheduled
    index.set("b", T0, 0)
    index.set("b", None, 0)                     # resolved
    assert index.take_due(T0 + timedelta(minutes=1), frozenset({0}), 10) == []
    assert index.take_due(T0 + timedelta(hours=1), frozenset({0}), 10) == [("a", T0 + timedelta(hours=1))]


def test_foreign_partitions_wait_and_limit_applies():
    index = TimerIndex()
    for i in range(5):
        index.set(f"c{i}", T0 + timedelta(seconds=i), i % 2)
    assert [c for c, _ in index.take_due(T0 + timedelta(minutes=1), frozenset({0}), 2)] == ["c0", "c2"]
    assert [c for c, _ in index.take_due(T0 + timedelta(minutes=1), frozenset({0}), 2)] == ["c4"]
    assert [c for c, _ in index.take_due(T0 + timedelta(minutes=1), frozenset({0, 1}), 9)] == ["c1", "c3"]


def test_heap_compacts():
    index = TimerIndex()
    for i in range(5000):
        index.set("a", T0 + timedelta(seconds=i), 0)
    assert len(index._heap) < 2000
    assert index.take_due(T0 + timedelta(days=1), frozenset({0}), 10) == [("a", T0 + timedelta(seconds=4999))]
