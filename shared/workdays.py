"""The working-day calendar and deadline arithmetic, pure.

Working days are Monday to Friday, minus China's public holidays, plus the weekend days that the State Council's
yearly schedule makes working days (调休). The holidays come from the maintained `chinese_calendar` package for
the years it knows, and from data files (one YAML per year, `shared/data/holidays/`) for the years after; a file
overrides the package for its year. On top of both, the years an administrator applied from the console (the
calendar file, `QHWY_CALENDAR_FILE`, default `<QHWY_DATA_DIR>/calendar.yaml`): every calendar built from the settings
looks at that file again every `QHWY_CALENDAR_RELOAD_SECONDS` and takes a changed file without a restart, in every
service and instance that reads it. A year nobody loaded falls back to Monday-Friday: the calendar remembers it
(`missing_years`, a metric) and tells its `on_missing_year` callback once (a log line). `next_year_status` says from
1 November whether next year's schedule is still missing (the yearly task: docs/operations.md).

Office hours (e.g. 08:30-12:00 and 14:00-17:30) give "working time": reminders at a fraction of a window, the end
of the office day ("一般不过夜"), time to accept or resolve in working hours.

Every function takes the instants it works on; none reads the clock (the file check is paced by a monotonic timer).
"""

import contextlib
import os
import threading
import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_HOLIDAYS_DIR = Path(__file__).resolve().parent / "data" / "holidays"
DEFAULT_OFFICE_HOURS = "08:30-12:00,14:00-17:30"


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: public holidays (any weekday) and 调休 working days (on weekends)."""

    year: int
    holidays: frozenset[date]
    workdays: frozenset[date]
    source: str = ""

    def __post_init__(self) -> None:
        for day in self.holidays | self.workdays:
            if day.year != self.year:
                raise ValueError(f"{day} is not in {self.year}")
        both = self.holidays & self.workdays
        if both:
            raise ValueError(f"days both holiday and working day: {sorted(both)}")


@dataclass(frozen=True)
class OfficeHours:
    """The office periods of a working day, in local time, sorted and not overlapping."""

    periods: tuple[tuple[time, time], ...]

    def __post_init__(self) -> None:
        if not self.periods:
            raise ValueError("office hours need at least one period")
        previous_end = time.min
        for index, (start, end) in enumerate(self.periods):
            if not start < end:
                raise ValueError(f"office period {start}-{end} ends before it starts")
            if index and start < previous_end:
                raise ValueError("office periods must be sorted and must not overlap")
            previous_end = end

    @classmethod
    def parse(cls, text: str) -> "OfficeHours":
        """'08:30-12:00,14:00-17:30' -> two periods."""
        periods = []
        for part in text.split(","):
            start, _, end = part.strip().partition("-")
            try:
                periods.append((time.fromisoformat(start.strip()), time.fromisoformat(end.strip())))
            except ValueError:
                raise ValueError(f"office period {part.strip()!r} is not HH:MM-HH:MM") from None
        return cls(tuple(periods))

    @property
    def opens(self) -> time:
        return self.periods[0][0]

    @property
    def closes(self) -> time:
        return self.periods[-1][1]

    @property
    def seconds_per_day(self) -> float:
        return sum(_seconds(end) - _seconds(start) for start, end in self.periods)


def _seconds(t: time) -> float:
    return t.hour * 3600 + t.minute * 60 + t.second + t.microsecond / 1e6


@dataclass
class WorkCalendar:
    """Which days are working days, and working-time arithmetic within office hours, in one time zone."""

    schedules: dict[int, YearSchedule]
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    hours: OfficeHours = field(default_factory=lambda: OfficeHours.parse(DEFAULT_OFFICE_HOURS))
    on_missing_year: Callable[[int], None] | None = None
    missing_years: set[int] = field(default_factory=set)
    # the administrator's applied years (the calendar file), looked at again now and then; None: schedules only
    overrides: "CalendarOverrides | None" = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._periods: dict[date, tuple[tuple[float, float], ...]] = {}
        self._effective: dict[int, YearSchedule] = self.schedules
        self._generation = -1
        self._refresh()

    def _refresh(self) -> None:
        """Take the calendar file's years if it changed since last looked at (cheap when it did not)."""
        if self.overrides is None:
            return
        generation = self.overrides.generation()
        if generation == self._generation:
            return
        with self._lock:
            years = self.overrides.years
            self._effective = {**self.schedules, **years}
            self._periods = {}
            self.missing_years.difference_update(years)
            self._generation = generation

    def known_schedules(self) -> dict[int, YearSchedule]:
        """Every year the calendar knows now (package, year files, the administrator's applied years)."""
        self._refresh()
        return dict(self._effective)

    # ------------------------------------------------------------------ days

    def is_working_day(self, day: date) -> bool:
        self._refresh()
        schedule = self._effective.get(day.year)
        if schedule is None:
            self._missing(day.year)
            return day.weekday() < 5
        if day in schedule.holidays:
            return False
        if day in schedule.workdays:
            return True
        return day.weekday() < 5

    def _missing(self, year: int) -> None:
        with self._lock:
            if year in self.missing_years:
                return
            self.missing_years.add(year)
        if self.on_missing_year is not None:
            self.on_missing_year(year)

    def next_working_day(self, day: date) -> date:
        """The first working day after `day`."""
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """The moment `days` working days after `start`, at the same local time of day.

        A start on a non-working day (a weekend, a holiday) counts from 00:00 of the next working day: a case
        assigned on Saturday with one working day is due at 00:00 on Tuesday, i.e. by the end of Monday.
        """
        if days < 0:
            raise ValueError("days must be >= 0")
        local = start.astimezone(self.tz)
        if not self.is_working_day(local.date()):
            local = datetime.combine(self.next_working_day(local.date()), time.min, tzinfo=self.tz)
        day = local.date()
        for _ in range(days):
            day = self.next_working_day(day)
        return datetime.combine(day, local.timetz()).astimezone(self.tz)

    # ------------------------------------------------------------------ working time

    def _office_periods(self, day: date) -> tuple[tuple[float, float], ...]:
        """The office periods of `day` as Unix timestamps (cached: deadline arithmetic walks the same days often)."""
        self._refresh()
        cached = self._periods.get(day)
        if cached is None:
            cached = () if not self.is_working_day(day) else tuple(
                (datetime.combine(day, start, tzinfo=self.tz).timestamp(),
                 datetime.combine(day, end, tzinfo=self.tz).timestamp()) for start, end in self.hours.periods)
            if len(self._periods) > 20_000:
                self._periods.clear()
            self._periods[day] = cached
        return cached

    def working_seconds_between(self, start: datetime, end: datetime) -> float:
        """Office time in [start, end) on working days, in seconds (0 when end <= start)."""
        if end <= start:
            return 0.0
        total = 0.0
        begin_ts, end_ts = start.timestamp(), end.timestamp()
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            for opens, closes in self._office_periods(day):
                overlap = min(closes, end_ts) - max(opens, begin_ts)
                if overlap > 0:
                    total += overlap
            day += timedelta(days=1)
        return total

    def add_working_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant at which `seconds` of office time have passed since `start` (start itself for 0)."""
        if seconds < 0:
            raise ValueError("seconds must be >= 0")
        if seconds == 0:
            return start.astimezone(self.tz)
        remaining = seconds
        start_ts = start.timestamp()
        day = start.astimezone(self.tz).date()
        for _ in range(366 * 20):  # a bound, not a limit anyone reaches: 20 years of days
            for opens, closes in self._office_periods(day):
                begin = max(opens, start_ts)
                if closes <= begin:
                    continue
                available = closes - begin
                if remaining <= available:
                    return datetime.fromtimestamp(round((begin + remaining) * 1e6) / 1e6, self.tz)
                remaining -= available
            day += timedelta(days=1)
        raise ValueError("no office time within 20 years")

    def at_fraction(self, start: datetime, end: datetime, fraction: float) -> datetime:
        """The instant `fraction` of the way through the office time of [start, end).

        A window with no office time in it (e.g. set on a holiday for the same holiday) is split by wall-clock time.
        """
        total = self.working_seconds_between(start, end)
        if total <= 0:
            return (start + (end - start) * fraction).astimezone(self.tz)
        return min(self.add_working_seconds(start, total * fraction), end.astimezone(self.tz))

    def end_of_office_day(self, at: datetime) -> datetime | None:
        """When the office day of `at` closes, if `at` is on a working day before closing time; else None."""
        local = at.astimezone(self.tz)
        if not self.is_working_day(local.date()):
            return None
        closes = datetime.combine(local.date(), self.hours.closes, tzinfo=self.tz)
        return closes if local < closes else None

    def is_office_time(self, at: datetime) -> bool:
        ts = at.timestamp()
        return any(opens <= ts < closes for opens, closes in self._office_periods(at.astimezone(self.tz).date()))


# ---------------------------------------------------------------------- loading


def _days(entries: Iterable[object] | None, what: str) -> set[date]:
    """A list of dates, or of {from, to} ranges (both ends included)."""
    out: set[date] = set()
    for entry in entries or ():
        if isinstance(entry, date):
            out.add(entry)
        elif isinstance(entry, dict) and "from" in entry:
            first, last = entry["from"], entry.get("to", entry["from"])
            if not isinstance(first, date) or not isinstance(last, date) or last < first:
                raise ValueError(f"{what}: bad range {entry}")
            out.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        else:
            raise ValueError(f"{what}: {entry!r} is neither a date nor a {{from, to}} range")
    return out


def parse_year_file(text: str) -> YearSchedule:
    """One year's schedule as published by the State Council (format: shared/data/holidays/README.md)."""
    return year_schedule(yaml.safe_load(text))


def year_schedule(data: Any) -> YearSchedule:
    """One year's schedule from its parsed YAML mapping (a year file, or one year of the calendar file)."""
    if not isinstance(data, dict) or not isinstance(data.get("year"), int) or isinstance(data.get("year"), bool):
        raise ValueError("a holiday file needs a 'year'")
    year = data["year"]
    return YearSchedule(year=year, holidays=frozenset(_days(data.get("holidays"), f"{year} holidays")),
                        workdays=frozenset(_days(data.get("workdays"), f"{year} workdays")),
                        source=str(data.get("source", "")))


def library_schedules() -> dict[int, YearSchedule]:
    """The years the `chinese_calendar` package knows."""
    import chinese_calendar

    holidays: dict[int, set[date]] = {}
    workdays: dict[int, set[date]] = {}
    for day in chinese_calendar.holidays:
        holidays.setdefault(day.year, set()).add(day)
    for day in chinese_calendar.workdays:
        workdays.setdefault(day.year, set()).add(day)
    return {year: YearSchedule(year, frozenset(holidays[year]), frozenset(workdays.get(year, set())),
                               source="chinese_calendar")
            for year in holidays}


def load_schedules(directory: Path | None = DEFAULT_HOLIDAYS_DIR) -> dict[int, YearSchedule]:
    """The library's years, then every `*.yaml` in `directory` (a file wins over the library for its year)."""
    schedules = library_schedules()
    if directory is not None and Path(directory).is_dir():
        for path in sorted(Path(directory).glob("*.yaml")):
            schedule = parse_year_file(path.read_text(encoding="utf-8"))
            schedules[schedule.year] = schedule
    return schedules


# ---------------------------------------------------------------------- the administrator's applied years

CALENDAR_FILE_HEADER = ("# 工作日历：管理员在工作台校验并应用的年度节假日安排（由工作台写入，请勿手工编辑）。\n"
                        "# The years an administrator applied from the console; every service rereads this file when\n"
                        "# it changes (QHWY_CALENDAR_FILE, QHWY_CALENDAR_RELOAD_SECONDS). "
                        "Format: docs/operations.md.\n")


def read_calendar_file(path: Path) -> dict[int, dict[str, Any]]:
    """The calendar file's years: year -> {schedule: YearSchedule, applied_by, applied_at, audit_id}. No file: {}."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = yaml.safe_load(text) or {}
    if not isinstance(data, dict) or not isinstance(data.get("years") or {}, dict):
        raise ValueError(f"{path}: the calendar file needs a mapping 'years'")
    out: dict[int, dict[str, Any]] = {}
    for key, entry in (data.get("years") or {}).items():
        schedule = year_schedule(entry)
        if str(schedule.year) != str(key):
            raise ValueError(f"{path}: year {key} holds the schedule of {schedule.year}")
        out[schedule.year] = {"schedule": schedule,
                              **{k: entry.get(k) for k in ("applied_by", "applied_at", "audit_id")}}
    return out


def apply_year(path: Path, text: str, *, applied_by: str, applied_at: datetime, audit_id: str) -> YearSchedule:
    """Put one checked year schedule (the State Council's YAML) into the calendar file, replacing that year.

    Under an exclusive lock (two administrators at once lose nothing) and by rename (a reader never sees half a
    file); the file's other years are kept. Every calendar that reads the file takes it at its next look."""
    schedule = parse_year_file(text)
    entry = yaml.safe_load(text)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a+") as lock:
        with contextlib.suppress(ImportError):
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX)
        current = {} if not path.exists() else (yaml.safe_load(path.read_text(encoding="utf-8")) or {})
        years = dict(current.get("years") or {}) if isinstance(current, dict) else {}
        years = {str(k): v for k, v in years.items()}
        years[str(schedule.year)] = {**entry, "applied_by": applied_by, "applied_at": applied_at.isoformat(),
                                     "audit_id": audit_id}
        body = yaml.safe_dump({"years": dict(sorted(years.items()))}, allow_unicode=True, sort_keys=False)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(CALENDAR_FILE_HEADER + body, encoding="utf-8")
        os.replace(temporary, path)
    return schedule


class CalendarOverrides:
    """The calendar file as the calendars see it: read again when its stamp (mtime, size, inode) changed, looked at
    no more often than every `interval` seconds. A broken file is logged and the years read before are kept (the
    deadlines go on; the console's page shows the problem)."""

    def __init__(self, path: Path, interval: float = 5.0):
        self.path = Path(path)
        self.interval = interval
        self.years: dict[int, YearSchedule] = {}
        self.error: str | None = None
        self._stamp: object = object()
        self._next_look = 0.0
        self._generation = 0
        self._lock = threading.Lock()

    def generation(self) -> int:
        """A number that changes whenever the years changed."""
        now = _time.monotonic()
        if now < self._next_look:
            return self._generation
        with self._lock:
            if now < self._next_look:
                return self._generation
            self._next_look = now + self.interval
            try:
                st = os.stat(self.path)
                stamp: object = (st.st_mtime_ns, st.st_size, st.st_ino)
            except OSError:
                stamp = None
            if stamp == self._stamp:
                return self._generation
            try:
                years = {y: e["schedule"] for y, e in read_calendar_file(self.path).items()} if stamp else {}
            except Exception as exc:  # noqa: BLE001 - any reason the file cannot be read
                self.error = str(exc)
                self._stamp = stamp
                _log_calendar_file_broken(self.path, exc)
                return self._generation
            self._stamp, self.years, self.error = stamp, years, None
            self._generation += 1
            return self._generation


def next_year_status(years: Iterable[int], today: date, warn_from: tuple[int, int] = (11, 1)) -> dict[str, Any]:
    """Whether next year's schedule is known, and from `warn_from` (1 November: the State Council publishes the
    schedule in late October or November) whether to warn that it is missing; days until 1 January."""
    known = set(years)
    year = today.year + 1
    days_left = (date(year, 1, 1) - today).days
    missing = year not in known
    return {"year": year, "known": not missing, "days_left": days_left,
            "warning": missing and (today.month, today.day) >= warn_from,
            "current_year_missing": today.year not in known}


class CalendarSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QHWY_", frozen=True, extra="ignore")

    # Extra years' schedules (YAML files); default: shared/data/holidays.
    holidays_dir: Path = DEFAULT_HOLIDAYS_DIR
    # The administrator's applied years (written by the console, reread by every service when it changes);
    # default: <QHWY_DATA_DIR>/calendar.yaml. Every service and instance must see the same file.
    calendar_file: Path | None = None
    data_dir: Path = Path("var")
    # how often a calendar looks whether the calendar file changed
    calendar_reload_seconds: float = 5.0
    # Office hours of a working day, local time.
    office_hours: str = DEFAULT_OFFICE_HOURS
    timezone: str = "Asia/Shanghai"

    @property
    def calendar_path(self) -> Path:
        return self.calendar_file or self.data_dir / "calendar.yaml"


def _log_missing_year(year: int) -> None:
    from shared.logging import get_logger

    get_logger("qhwy.workdays").warning(
        "calendar_year_missing", year=year,
        hint="no holiday schedule loaded for this year; counting Monday-Friday. Add shared/data/holidays/<year>.yaml")


def _log_calendar_file_broken(path: Path, exc: Exception) -> None:
    from shared.logging import get_logger

    get_logger("qhwy.workdays").error("calendar_file_broken", file=str(path), error=str(exc),
                                      hint="the years read before stay in use; apply the year again from the console")


def build_calendar(settings: CalendarSettings | None = None,
                   on_missing_year: Callable[[int], None] | None = _log_missing_year) -> WorkCalendar:
    settings = settings or CalendarSettings()
    overrides = CalendarOverrides(settings.calendar_path, settings.calendar_reload_seconds)
    return WorkCalendar(schedules=load_schedules(settings.holidays_dir), tz=ZoneInfo(settings.timezone),
                        hours=OfficeHours.parse(settings.office_hours), on_missing_year=on_missing_year,
                        overrides=overrides)


@lru_cache(maxsize=1)
def default_calendar() -> WorkCalendar:
    """The process's calendar (from the environment), shared so a missing year is logged once."""
    return build_calendar()


def _for_zone(tz: ZoneInfo) -> WorkCalendar:
    calendar = default_calendar()
    if calendar.tz == tz:
        return calendar
    return _zoned(tz)


@lru_cache(maxsize=8)
def _zoned(tz: ZoneInfo) -> WorkCalendar:
    base = default_calendar()
    return WorkCalendar(schedules=base.schedules, tz=tz, hours=base.hours, on_missing_year=base.on_missing_year,
                        missing_years=base.missing_years, overrides=base.overrides)


def is_working_day(day: date) -> bool:
    return default_calendar().is_working_day(day)


def add_working_days(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """`WorkCalendar.add_working_days` on the process's calendar, in `tz` (what triage's deadlines use)."""
    return _for_zone(tz).add_working_days(start, days)
