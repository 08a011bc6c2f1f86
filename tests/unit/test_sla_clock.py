"""shared.clock: real, frozen, shifted and accelerated clocks, and their settings."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.clock import Clock, ClockSettings

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class FakeMonotonic:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_real_clock_is_now():
    clock = Clock()
    assert clock.is_real
    assert abs((clock() - datetime.now(UTC)).total_seconds()) < 1


def test_frozen_clock_moves_only_when_told():
    clock = Clock.frozen(START)
    assert clock() == START and clock() == START and not clock.is_real
    clock.advance(timedelta(hours=3))
    assert clock() == START + timedelta(hours=3)


@pytest.mark.parametrize("speed", [1.0, 60.0, 3600.0])
def test_accelerated_clock(speed):
    real = FakeMonotonic()
    clock = Clock(start=START, speed=speed, monotonic=real)
    assert clock() == START
    real.now += 2.5
    assert clock() == START + timedelta(seconds=2.5 * speed)


def test_settings(monkeypatch):
    monkeypatch.setenv("QHWY_CLOCK_START", "2026-03-02T17:00:00+08:00")
    monkeypatch.setenv("QHWY_CLOCK_SPEED", "0")
    clock = Clock.from_settings()
    assert clock() == datetime(2026, 3, 2, 9, tzinfo=UTC)
    monkeypatch.delenv("QHWY_CLOCK_START")
    monkeypatch.setenv("QHWY_CLOCK_SPEED", "1")
    assert Clock.from_settings().is_real


def test_bad_settings():
    with pytest.raises(ValueError):
        ClockSettings(speed=-1)
    with pytest.raises(ValueError):
        ClockSettings(start="2026-03-02T09:00:00")  # no zone
    with pytest.raises(ValueError):
        Clock(start=datetime(2026, 3, 2, 9))
