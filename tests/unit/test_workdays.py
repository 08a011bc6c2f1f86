"""shared.workdays: Monday-Friday working-day deadlines, computed in the given time zone."""

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from shared.workdays import add_working_days, is_working_day

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")

# 2026-03-02 is a Monday; the week runs to Sunday 2026-03-08.
MONDAY = date(2026, 3, 2)
WEEK = [MONDAY + timedelta(days=i) for i in range(7)]
WEEKDAY_NAMES = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
TIMES = [time(0, 0), time(9, 15, 30), time(23, 59, 59, 999999)]


def reference(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """Independent brute force: list the calendar, keep Mon-Fri (isoweekday 1..5), pick by index."""
    local = start.astimezone(tz)
    calendar = [local.date() + timedelta(days=i) for i in range(0, 60)]
    working = [d for d in calendar if d.isoweekday() <= 5]
    if local.date() in working:
        base_index, clock = working.index(local.date()), local.time()
    else:  # a weekend start counts from 00:00 of the first working day after it
        base_index, clock = 0, time(0, 0)
    target = working[base_index + days]
    return datetime(target.year, target.month, target.day, clock.hour, clock.minute, clock.second,
                    clock.microsecond, tzinfo=tz)


def test_week_fixture_is_monday_to_sunday():
    assert [d.strftime("%a") for d in WEEK] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]


@pytest.mark.parametrize("day", WEEK, ids=WEEKDAY_NAMES)
def test_is_working_day(day):
    assert is_working_day(day) is (day.isoweekday() <= 5)


@pytest.mark.parametrize("tz", [SHANGHAI, UTC], ids=["shanghai", "utc"])
@pytest.mark.parametrize("clock", TIMES, ids=["midnight", "morning", "last-microsecond"])
@pytest.mark.parametrize("days", range(6))
@pytest.mark.parametrize("day", WEEK, ids=WEEKDAY_NAMES)
def test_matches_brute_force_reference(day, days, clock, tz):
    start = datetime.combine(day, clock, tzinfo=tz)
    result = add_working_days(start, days, tz)
    expected = reference(start, days, tz)
    assert result == expected
    # same wall clock in the same zone, not merely the same instant
    assert result.astimezone(tz).replace(tzinfo=None) == expected.replace(tzinfo=None)
    assert result.utcoffset() == expected.utcoffset()
    assert is_working_day(result.astimezone(tz).date())
    assert result >= start


@pytest.mark.parametrize("days", range(6))
@pytest.mark.parametrize("day", WEEK[:5], ids=WEEKDAY_NAMES[:5])
def test_weekday_start_keeps_time_of_day_and_counts_whole_working_days(day, days):
    start = datetime.combine(day, time(9, 15), tzinfo=SHANGHAI)
    result = add_working_days(start, days, SHANGHAI)
    assert result.timetz() == time(9, 15, tzinfo=SHANGHAI)
    # the number of working days in (start date, result date] is exactly `days`
    between = [start.date() + timedelta(days=i) for i in range(1, (result.date() - start.date()).days + 1)]
    assert sum(1 for d in between if d.weekday() < 5) == days


@pytest.mark.parametrize("start, days, expected", [
    # weekday starts keep their time of day
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 0, datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 1, datetime(2026, 3, 3, 9, 15, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 2, 9, 15, tzinfo=SHANGHAI), 3, datetime(2026, 3, 5, 9, 15, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 4, 14, 0, tzinfo=SHANGHAI), 3, datetime(2026, 3, 9, 14, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 6, 17, 30, tzinfo=SHANGHAI), 1, datetime(2026, 3, 9, 17, 30, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 6, 17, 30, tzinfo=SHANGHAI), 5, datetime(2026, 3, 13, 17, 30, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 5, 8, 0, tzinfo=SHANGHAI), 2, datetime(2026, 3, 9, 8, 0, tzinfo=SHANGHAI)),
    # weekend starts count from 00:00 of the next Monday
    (datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI), 0, datetime(2026, 3, 9, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 7, 10, 0, tzinfo=SHANGHAI), 1, datetime(2026, 3, 10, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 8, 23, 59, tzinfo=SHANGHAI), 1, datetime(2026, 3, 10, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 8, 0, 0, tzinfo=SHANGHAI), 5, datetime(2026, 3, 16, 0, 0, tzinfo=SHANGHAI)),
    # across a month end (2026-02-27 is a Friday)
    (datetime(2026, 2, 27, 9, 0, tzinfo=SHANGHAI), 2, datetime(2026, 3, 3, 9, 0, tzinfo=SHANGHAI)),
    # across a year end (2025-12-31 is a Wednesday)
    (datetime(2025, 12, 31, 16, 0, tzinfo=SHANGHAI), 3, datetime(2026, 1, 5, 16, 0, tzinfo=SHANGHAI)),
])
def test_literal_cases(start, days, expected):
    result = add_working_days(start, days, SHANGHAI)
    assert result == expected
    assert result.utcoffset() == timedelta(hours=8)
    assert (result.year, result.month, result.day, result.hour, result.minute) == (
        expected.year, expected.month, expected.day, expected.hour, expected.minute)


# Times near midnight: the same instant is a different calendar day in Shanghai and in UTC.
@pytest.mark.parametrize("start, tz, days, expected", [
    # Fri 2026-03-06 16:30 UTC = Sat 2026-03-07 00:30 in Shanghai -> weekend rule applies in Shanghai
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), SHANGHAI, 1, datetime(2026, 3, 10, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), UTC, 1, datetime(2026, 3, 9, 16, 30, tzinfo=UTC)),
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), SHANGHAI, 0, datetime(2026, 3, 9, 0, 0, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), UTC, 0, datetime(2026, 3, 6, 16, 30, tzinfo=UTC)),
    # Fri 2026-03-06 15:59 UTC = Fri 23:59 in Shanghai: still Friday there
    (datetime(2026, 3, 6, 15, 59, tzinfo=timezone.utc), SHANGHAI, 1, datetime(2026, 3, 9, 23, 59, tzinfo=SHANGHAI)),
    # Sun 2026-03-01 23:30 UTC = Mon 2026-03-02 07:30 in Shanghai: a working day there, weekend in UTC
    (datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc), SHANGHAI, 1, datetime(2026, 3, 3, 7, 30, tzinfo=SHANGHAI)),
    (datetime(2026, 3, 1, 23, 30, tzinfo=timezone.utc), UTC, 1, datetime(2026, 3, 3, 0, 0, tzinfo=UTC)),
    # Sun 2026-03-01 16:00 UTC = Mon 00:00 in Shanghai exactly
    (datetime(2026, 3, 1, 16, 0, tzinfo=timezone.utc), SHANGHAI, 2, datetime(2026, 3, 4, 0, 0, tzinfo=SHANGHAI)),
    # a Shanghai-local input worked in UTC: Mon 2026-03-09 07:00+08:00 = Sun 23:00 UTC
    (datetime(2026, 3, 9, 7, 0, tzinfo=SHANGHAI), UTC, 1, datetime(2026, 3, 10, 0, 0, tzinfo=UTC)),
])
def test_works_in_the_given_time_zone(start, tz, days, expected):
    result = add_working_days(start, days, tz)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()
    assert result.astimezone(tz).replace(tzinfo=None) == expected.replace(tzinfo=None)


def test_result_is_expressed_in_the_given_zone():
    start = datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc)  # Mon 09:00 in Shanghai
    result = add_working_days(start, 1, SHANGHAI)
    assert result.utcoffset() == timedelta(hours=8)
    assert result.isoformat() == "2026-03-03T09:00:00+08:00"


@pytest.mark.parametrize("days", [-1, -2, -100])
@pytest.mark.parametrize("day", [WEEK[0], WEEK[5]], ids=["weekday", "weekend"])
def test_negative_days_raise(day, days):
    with pytest.raises(ValueError, match="days must be >= 0"):
        add_working_days(datetime.combine(day, time(9), tzinfo=SHANGHAI), days, SHANGHAI)


@pytest.mark.parametrize("days, expected", [(10, date(2026, 3, 16)), (20, date(2026, 3, 30)), (23, date(2026, 4, 2))])
def test_long_spans(days, expected):
    result = add_working_days(datetime(2026, 3, 2, 12, 0, tzinfo=SHANGHAI), days, SHANGHAI)
    assert result.date() == expected
    assert result.time() == time(12, 0)
