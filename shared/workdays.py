"""Working-day deadline arithmetic, pure. Naive for now: Monday to Friday are working days.

The holiday and 调休 calendar replaces `is_working_day` in the sla issue; every caller goes through here.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo


def is_working_day(day: date) -> bool:
    return day.weekday() < 5


def add_working_days(start: datetime, days: int, tz: ZoneInfo) -> datetime:
    """The moment `days` working days after `start`, at the same local time of day.

    A start on a non-working day counts from 00:00 of the next working day: a case assigned on Saturday
    with one working day is due at 00:00 on Tuesday, i.e. by the end of Monday.
    """
    if days < 0:
        raise ValueError("days must be >= 0")
    local = start.astimezone(tz)
    if not is_working_day(local.date()):
        day = local.date()
        while not is_working_day(day):
            day += timedelta(days=1)
        local = datetime.combine(day, datetime.min.time(), tzinfo=tz)
    day = local.date()
    remaining = days
    while remaining:
        day += timedelta(days=1)
        if is_working_day(day):
            remaining -= 1
    return datetime.combine(day, local.timetz()).astimezone(tz)
