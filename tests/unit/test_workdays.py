"""shared.workdays: the holiday calendar, working-day deadlines and working time within office hours."""

from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest

from shared import workdays
from shared.workdays import (OfficeHours, WorkCalendar, YearSchedule, add_working_days, build_calendar,
                             is_working_day, library_schedules, load_schedules, parse_year_file, CalendarSettings)

SHANGHAI = ZoneInfo("Asia/Shanghai")
UTC = ZoneInfo("UTC")
LIBRARY = library_schedules()


def cal(**kw) -> WorkCalendar:
    return WorkCalendar(schedules=LIBRARY, tz=kw.pop("tz", SHANGHAI), **kw)


def at(y, m, d, hh=0, mm=0, tz=SHANGHAI):
    return datetime(y, m, d, hh, mm, tzinfo=tz)


def days_between(first: date, last: date):
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


# ---------------------------------------------------------------- which days are working days

def test_every_day_the_library_knows_agrees_with_the_library():
    calendar = cal()
    for day in days_between(date(2004, 1, 1), date(2026, 12, 31)):
        assert calendar.is_working_day(day) is chinese_calendar.is_workday(day), day
    assert calendar.missing_years == set()


@pytest.mark.parametrize("day, working", [
    (date(2025, 10, 1), False), (date(2025, 10, 8), False),       # Golden Week 2025 (National Day + Mid-Autumn)
    (date(2025, 9, 28), True), (date(2025, 10, 11), True),        # its 调休 Sunday and Saturday
    (date(2026, 2, 16), False), (date(2026, 2, 23), False),       # Spring Festival 2026 (Mon, Mon)
    (date(2026, 2, 14), True), (date(2026, 2, 28), True),         # its 调休 Saturdays
    (date(2026, 1, 1), False), (date(2026, 1, 4), True),          # New Year's Day 2026, 调休 Sunday
    (date(2026, 3, 7), False), (date(2026, 3, 9), True),          # an ordinary weekend and Monday
])
def test_known_days(day, working):
    assert cal().is_working_day(day) is working


def test_module_level_functions_use_the_real_calendar():
    assert is_working_day(date(2025, 10, 1)) is False
    assert is_working_day(date(2025, 10, 11)) is True
    assert add_working_days(at(2025, 9, 30, 10), 1, SHANGHAI) == at(2025, 10, 9, 10)


def test_a_missing_year_falls_back_to_monday_to_friday_and_tells_once():
    told = []
    calendar = cal(on_missing_year=told.append)
    week = days_between(date(2099, 3, 2), date(2099, 3, 8))  # 2099-03-02 is a Monday
    assert [calendar.is_working_day(d) for d in week] == [True] * 5 + [False] * 2
    assert [calendar.is_working_day(d) for d in week] == [True] * 5 + [False] * 2
    calendar.is_working_day(date(2098, 1, 1))
    assert told == [2099, 2098]
    assert calendar.missing_years == {2098, 2099}


def test_default_calendar_logs_a_missing_year(monkeypatch):
    lines = []
    monkeypatch.setattr(workdays, "_log_missing_year", lines.append)
    calendar = build_calendar(CalendarSettings(), on_missing_year=workdays._log_missing_year)
    # the default callback was bound at definition time; a fresh one is what a service gets
    calendar.on_missing_year = lines.append
    calendar.is_working_day(date(2101, 5, 5))
    calendar.is_working_day(date(2101, 5, 6))
    assert lines == [2101]


# ---------------------------------------------------------------- data files for later years

YEAR_FILE = """
year: 2027
source: test schedule
holidays:
  - {from: 2027-01-01, to: 2027-01-03, name: 元旦}
  - 2027-02-10
workdays:
  - 2027-01-09
"""


def test_parse_year_file():
    schedule = parse_year_file(YEAR_FILE)
    assert schedule.year == 2027
    assert schedule.holidays == {date(2027, 1, 1), date(2027, 1, 2), date(2027, 1, 3), date(2027, 2, 10)}
    assert schedule.workdays == {date(2027, 1, 9)}
    assert schedule.source == "test schedule"


@pytest.mark.parametrize("text, message", [
    ("holidays: []", "needs a 'year'"),
    ("year: 2027\nholidays: [2026-05-01]", "not in 2027"),
    ("year: 2027\nholidays: [2027-05-01]\nworkdays: [2027-05-01]", "both holiday and working day"),
    ("year: 2027\nholidays: [{from: 2027-05-05, to: 2027-05-01}]", "bad range"),
    ("year: 2027\nholidays: [may day]", "neither a date"),
])
def test_bad_year_files_are_refused(text, message):
    with pytest.raises(ValueError, match=message):
        parse_year_file(text)


def test_files_add_years_and_override_the_library(tmp_path: Path):
    (tmp_path / "2027.yaml").write_text(YEAR_FILE, encoding="utf-8")
    (tmp_path / "2026.yaml").write_text("year: 2026\nholidays: [2026-03-02]\n", encoding="utf-8")
    told = []
    calendar = WorkCalendar(schedules=load_schedules(tmp_path), tz=SHANGHAI, on_missing_year=told.append)
    assert calendar.is_working_day(date(2027, 1, 1)) is False
    assert calendar.is_working_day(date(2027, 1, 4)) is True
    assert calendar.is_working_day(date(2027, 1, 9)) is True   # a Saturday made a working day
    assert calendar.is_working_day(date(2026, 3, 2)) is False  # the file's 2026 replaces the library's
    assert calendar.is_working_day(date(2026, 10, 1)) is True  # ...entirely
    assert calendar.is_working_day(date(2025, 10, 1)) is False  # other years still from the library
    assert told == []


def test_shipped_data_directory_loads():
    schedules = load_schedules()
    assert set(LIBRARY) <= set(schedules)


# ---------------------------------------------------------------- working-day deadlines

# Independent brute force over the library: list the working days, pick by index.
LIBRARY_WORKING_DAYS = [d for d in days_between(date(2024, 1, 1), date(2026, 12, 31)) if chinese_calendar.is_workday(d)]
LIBRARY_INDEX = {d: i for i, d in enumerate(LIBRARY_WORKING_DAYS)}


def reference(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    local = start.astimezone(tz)
    if local.date() in LIBRARY_INDEX:
        base, clock = LIBRARY_INDEX[local.date()], local.time()
    else:  # a non-working start counts from 00:00 of the first working day after it
        day = local.date()
        while day not in LIBRARY_INDEX:
            day += timedelta(days=1)
        base, clock = LIBRARY_INDEX[day], time(0, 0)
    return datetime.combine(LIBRARY_WORKING_DAYS[base + days], clock, tzinfo=tz)


@pytest.mark.parametrize("year", [2024, 2025, 2026])
def test_every_start_day_of_three_years_matches_brute_force(year):
    calendar = cal()
    for day in days_between(date(year, 1, 1), date(year, 12, 20)):
        for clock in (time(0, 0), time(9, 15), time(23, 59, 59, 999999)):
            start = datetime.combine(day, clock, tzinfo=SHANGHAI)
            for days in range(4):
                result = calendar.add_working_days(start, days)
                assert result == reference(start, days, SHANGHAI), (start, days)
                assert calendar.is_working_day(result.date()) and result >= start
                assert result.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("start, days, expected", [
    # weekday starts keep their time of day, also at night
    (at(2026, 3, 2, 9, 15), 0, at(2026, 3, 2, 9, 15)),
    (at(2026, 3, 2, 9, 15), 1, at(2026, 3, 3, 9, 15)),
    (at(2026, 3, 2, 22, 40), 1, at(2026, 3, 3, 22, 40)),
    (at(2026, 3, 6, 17, 30), 1, at(2026, 3, 9, 17, 30)),
    # weekend starts count from 00:00 of the next working day
    (at(2026, 3, 7, 10), 1, at(2026, 3, 10)),
    (at(2026, 3, 8, 23, 59), 1, at(2026, 3, 10)),
    # Golden Week 2025: Tue 30 Sep + 1 -> Thu 9 Oct; a start inside the holiday counts from Thu 9 Oct
    (at(2025, 9, 30, 10), 1, at(2025, 10, 9, 10)),
    (at(2025, 9, 30, 10), 3, at(2025, 10, 11, 10)),  # Saturday 11 Oct is a 调休 working day
    (at(2025, 10, 3, 10), 1, at(2025, 10, 10)),
    (at(2025, 9, 28, 15), 1, at(2025, 9, 29, 15)),  # submitted on the 调休 Sunday: a working day
    # Spring Festival 2026 (15-23 Feb): Fri 13 + 1 -> Sat 14 (调休); + 2 -> Tue 24
    (at(2026, 2, 13, 16), 1, at(2026, 2, 14, 16)),
    (at(2026, 2, 13, 16), 2, at(2026, 2, 24, 16)),
    (at(2026, 2, 17, 11), 2, at(2026, 2, 26)),  # from inside the holiday: 00:00 Tue 24, +2
    (at(2026, 2, 27, 9), 1, at(2026, 2, 28, 9)),  # Saturday 28 Feb is a 调休 working day
    # New Year 2026: Wed 31 Dec + 3 -> Sun 4 Jan (调休), Mon 5, Tue 6
    (at(2025, 12, 31, 16), 3, at(2026, 1, 6, 16)),
])
def test_literal_deadlines(start, days, expected):
    result = cal().add_working_days(start, days)
    assert result == expected
    assert (result.hour, result.minute) == (expected.hour, expected.minute)


@pytest.mark.parametrize("start, tz, days, expected", [
    # Fri 2026-03-06 16:30 UTC = Sat 00:30 in Shanghai: the weekend rule applies there, not in UTC
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), SHANGHAI, 1, at(2026, 3, 10)),
    (datetime(2026, 3, 6, 16, 30, tzinfo=timezone.utc), UTC, 1, datetime(2026, 3, 9, 16, 30, tzinfo=UTC)),
    # Tue 2025-09-30 17:00 UTC = Wed 1 Oct 01:00 in Shanghai: inside Golden Week there
    (datetime(2025, 9, 30, 17, 0, tzinfo=timezone.utc), SHANGHAI, 1, at(2025, 10, 10)),
])
def test_works_in_the_given_time_zone(start, tz, days, expected):
    result = add_working_days(start, days, tz)
    assert result == expected
    assert result.utcoffset() == expected.utcoffset()


@pytest.mark.parametrize("days", [-1, -100])
def test_negative_days_raise(days):
    with pytest.raises(ValueError, match="days must be >= 0"):
        cal().add_working_days(at(2026, 3, 2, 9), days)


# ---------------------------------------------------------------- office hours and working time

def test_office_hours_parse_and_validate():
    hours = OfficeHours.parse("08:30-12:00, 14:00-17:30")
    assert hours.periods == ((time(8, 30), time(12)), (time(14), time(17, 30)))
    assert hours.seconds_per_day == 7 * 3600
    assert (hours.opens, hours.closes) == (time(8, 30), time(17, 30))
    for bad in ("9-17", "12:00-08:00", "08:00-12:00,11:00-13:00", "14:00-17:00,08:00-12:00"):
        with pytest.raises(ValueError):
            OfficeHours.parse(bad)


@pytest.mark.parametrize("start, end, hours", [
    (at(2026, 3, 2, 9), at(2026, 3, 3, 9), 7),           # Mon 09:00 -> Tue 09:00: 3 + 3.5 + 0.5
    (at(2026, 3, 2, 12), at(2026, 3, 2, 14), 0),         # lunch
    (at(2026, 3, 2, 18), at(2026, 3, 3, 8, 30), 0),      # night
    (at(2026, 3, 6, 17), at(2026, 3, 9, 9), 1),          # over a weekend: 0.5 + 0.5
    (at(2025, 9, 30, 17), at(2025, 10, 9, 9), 1),        # over Golden Week
    (at(2025, 10, 10, 9), at(2025, 10, 12, 9), 6.5 + 7),  # Fri and the 调休 Saturday
    (at(2026, 3, 3, 9), at(2026, 3, 2, 9), 0),           # backwards
])
def test_working_seconds_between(start, end, hours):
    assert cal().working_seconds_between(start, end) == hours * 3600


@pytest.mark.parametrize("start, hours, expected", [
    (at(2026, 3, 2, 9), 0, at(2026, 3, 2, 9)),
    (at(2026, 3, 2, 9), 3, at(2026, 3, 2, 12)),           # ends exactly at the lunch break
    (at(2026, 3, 2, 9), 3.5, at(2026, 3, 2, 14, 30)),
    (at(2026, 3, 2, 20), 1, at(2026, 3, 3, 9, 30)),       # submitted at night
    (at(2026, 3, 7, 10), 1, at(2026, 3, 9, 9, 30)),       # on a Saturday
    (at(2025, 9, 30, 17), 1, at(2025, 10, 9, 9)),         # across Golden Week
    (at(2026, 2, 13, 17), 1, at(2026, 2, 14, 9)),         # into the 调休 Saturday
])
def test_add_working_seconds(start, hours, expected):
    assert cal().add_working_seconds(start, hours * 3600) == expected


def test_add_working_seconds_inverts_working_seconds_between():
    calendar = cal()
    for day in days_between(date(2025, 9, 25), date(2025, 10, 14)):
        for clock in (time(0), time(8, 30), time(11, 59), time(12, 30), time(17, 29), time(21)):
            start = datetime.combine(day, clock, tzinfo=SHANGHAI)
            for hours in (0.25, 1, 3.5, 7, 13):
                end = calendar.add_working_seconds(start, hours * 3600)
                assert calendar.working_seconds_between(start, end) == pytest.approx(hours * 3600)
                assert calendar.is_office_time(end - timedelta(seconds=1))


def test_at_fraction():
    calendar = cal()
    start, due = at(2026, 3, 2, 9), at(2026, 3, 3, 9)  # 7 office hours
    assert calendar.at_fraction(start, due, 0.5) == at(2026, 3, 2, 14, 30)
    assert calendar.at_fraction(start, due, 0.8) == at(2026, 3, 2, 16, 36)  # 5.6 h: 3 + 2.6
    assert calendar.at_fraction(start, due, 1.0) == due
    assert calendar.at_fraction(at(2026, 3, 2, 9), at(2026, 3, 2, 23), 1.0) == at(2026, 3, 2, 17, 30)
    # a window without office time is split by the wall clock
    assert calendar.at_fraction(at(2026, 3, 7, 10), at(2026, 3, 7, 12), 0.5) == at(2026, 3, 7, 11)


@pytest.mark.parametrize("moment, expected", [
    (at(2026, 3, 2, 9), at(2026, 3, 2, 17, 30)),
    (at(2026, 3, 2, 17, 29), at(2026, 3, 2, 17, 30)),
    (at(2026, 3, 2, 17, 30), None),
    (at(2026, 3, 2, 20), None),
    (at(2026, 3, 7, 9), None),                     # Saturday
    (at(2026, 2, 14, 9), at(2026, 2, 14, 17, 30)),  # 调休 Saturday
    (at(2025, 10, 2, 9), None),                    # Golden Week
])
def test_end_of_office_day(moment, expected):
    assert cal().end_of_office_day(moment) == expected


def test_year_schedule_validates():
    with pytest.raises(ValueError):
        YearSchedule(2027, frozenset({date(2026, 1, 1)}), frozenset())


# ---------------------------------------------------------------------- the administrator's applied years (issue 17)

YEAR_2027 = """year: 2027
source: 测试用2027年节假日安排
holidays:
  - {from: 2027-10-01, to: 2027-10-07}
workdays:
  - 2027-10-09
"""


def overridden(path: Path, interval: float = 0.0, **kw) -> WorkCalendar:
    return WorkCalendar(schedules=LIBRARY, tz=kw.pop("tz", SHANGHAI),
                        overrides=workdays.CalendarOverrides(path, interval), **kw)


def test_a_year_applied_to_the_calendar_file_is_taken_without_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    missing: list[int] = []
    calendar = overridden(path, on_missing_year=missing.append)
    other_service = overridden(path)  # another service (or instance) reading the same file
    assert 2027 not in LIBRARY
    assert calendar.is_working_day(date(2027, 10, 4)) and not calendar.is_working_day(date(2027, 10, 9))
    assert missing == [2027] and calendar.missing_years == {2027}
    # a deadline set before: Monday 4 October 2027 counts as a working day
    assert calendar.add_working_days(at(2027, 9, 30, 10), 1) == at(2027, 10, 1, 10)

    workdays.apply_year(path, YEAR_2027, applied_by="zhang.admin", applied_at=at(2026, 11, 3, 9), audit_id="a1")

    for cal_ in (calendar, other_service):
        assert not cal_.is_working_day(date(2027, 10, 4))  # a holiday now
        assert cal_.is_working_day(date(2027, 10, 9))  # Saturday, 调休上班
        assert cal_.add_working_days(at(2027, 9, 30, 10), 1) == at(2027, 10, 8, 10)
    assert calendar.missing_years == set()  # the metric stops saying it is missing
    assert calendar.known_schedules()[2027].source == "测试用2027年节假日安排"
    stored = workdays.read_calendar_file(path)[2027]
    assert stored["applied_by"] == "zhang.admin" and stored["audit_id"] == "a1"


def test_the_working_time_cache_is_dropped_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    calendar = overridden(path)
    week = calendar.working_seconds_between(at(2027, 10, 4), at(2027, 10, 11))
    assert week == 5 * 7 * 3600  # Monday to Friday, 7 office hours each
    workdays.apply_year(path, YEAR_2027, applied_by="a", applied_at=at(2026, 11, 3), audit_id="a")
    assert calendar.working_seconds_between(at(2027, 10, 4), at(2027, 10, 11)) == 2 * 7 * 3600  # 8th and 9th


def test_applying_keeps_the_other_years_and_replaces_the_same_year(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    workdays.apply_year(path, YEAR_2027, applied_by="a", applied_at=at(2026, 11, 3), audit_id="1")
    workdays.apply_year(path, YEAR_2027.replace("2027", "2028").replace("10-09", "10-08"), applied_by="b",
                        applied_at=at(2027, 11, 3), audit_id="2")
    workdays.apply_year(path, YEAR_2027.replace("to: 2027-10-07", "to: 2027-10-06"), applied_by="c",
                        applied_at=at(2026, 11, 5), audit_id="3")
    years = workdays.read_calendar_file(path)
    assert sorted(years) == [2027, 2028]
    assert years[2027]["applied_by"] == "c" and len(years[2027]["schedule"].holidays) == 6
    assert years[2028]["schedule"].workdays == frozenset({date(2028, 10, 8)})
    assert path.read_text(encoding="utf-8").startswith("# 工作日历")


def test_a_broken_calendar_file_keeps_the_years_read_before(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    workdays.apply_year(path, YEAR_2027, applied_by="a", applied_at=at(2026, 11, 3), audit_id="1")
    calendar = overridden(path)
    assert not calendar.is_working_day(date(2027, 10, 4))
    path.write_text("years: [", encoding="utf-8")
    assert not calendar.is_working_day(date(2027, 10, 4))
    assert calendar.overrides is not None and calendar.overrides.error


def test_the_file_is_looked_at_no_more_often_than_the_interval(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    calendar = overridden(path, interval=3600)
    assert calendar.is_working_day(date(2027, 10, 4))
    workdays.apply_year(path, YEAR_2027, applied_by="a", applied_at=at(2026, 11, 3), audit_id="1")
    assert calendar.is_working_day(date(2027, 10, 4))  # not looked at again yet
    assert not overridden(path).is_working_day(date(2027, 10, 4))


def test_build_calendar_reads_the_file_named_by_the_settings(tmp_path: Path) -> None:
    workdays.apply_year(tmp_path / "cal.yaml", YEAR_2027, applied_by="a", applied_at=at(2026, 11, 3), audit_id="1")
    calendar = build_calendar(CalendarSettings(calendar_file=tmp_path / "cal.yaml"), on_missing_year=None)
    assert not calendar.is_working_day(date(2027, 10, 4))
    assert CalendarSettings(data_dir=tmp_path).calendar_path == tmp_path / "calendar.yaml"


def test_next_years_schedule_is_warned_about_from_the_first_of_november() -> None:
    known = set(LIBRARY)  # up to 2026 here
    assert workdays.next_year_status(known, date(2026, 10, 31)) == {
        "year": 2027, "known": False, "days_left": 62, "warning": False, "current_year_missing": False}
    assert workdays.next_year_status(known, date(2026, 11, 1)) == {
        "year": 2027, "known": False, "days_left": 61, "warning": True, "current_year_missing": False}
    assert workdays.next_year_status(known, date(2026, 12, 31))["days_left"] == 1
    assert workdays.next_year_status(known | {2027}, date(2026, 11, 20))["warning"] is False
    late = workdays.next_year_status(known, date(2027, 1, 2))
    assert late["year"] == 2028 and late["current_year_missing"] is True and late["warning"] is False
