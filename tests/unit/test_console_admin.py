"""The console's admin core: the sign-in limiter, the calendar's years and a year file's check, the settings rows."""

from datetime import date

from services.console import domain
from services.console.routes import _steering_settings
from services.triage.settings import TriageSettings
from shared.settings import Settings
from shared.workdays import YearSchedule, library_schedules

GOOD_YEAR = """year: 2031
source: 国务院办公厅关于2031年部分节假日安排的通知
holidays:
  - {from: 2031-01-01, to: 2031-01-03, name: 元旦}
  - 2031-04-05
workdays:
  - 2031-02-08
"""


def test_five_failures_for_a_user_refuse_the_sixth_until_the_window_passes() -> None:
    limiter = domain.SignInLimiter(limit=5, window_seconds=300)
    keys = domain.sign_in_keys("Wang.Wu ", "10.0.0.1")
    for second in range(5):
        assert limiter.retry_after(keys, 100 + second) is None
        limiter.failed(keys, 100 + second)
    assert limiter.retry_after(keys, 105) == 295  # the first failure (t=100) leaves the window at 400
    assert limiter.retry_after(domain.sign_in_keys("wang.wu", None), 399.5) is not None  # names match case-blind
    assert limiter.retry_after(keys, 400) is None
    assert "分钟后再试" in domain.too_many_attempts_message(295) and "5 分钟" in domain.too_many_attempts_message(295)


def test_one_client_address_guessing_many_names_is_refused_too() -> None:
    limiter = domain.SignInLimiter()
    for i in range(5):
        limiter.failed(domain.sign_in_keys(f"user{i}", "10.0.0.9"), 10.0 + i)
    assert limiter.retry_after(domain.sign_in_keys("someone.else", "10.0.0.9"), 20) is not None
    assert limiter.retry_after(domain.sign_in_keys("someone.else", "10.0.0.8"), 20) is None


def test_failures_spread_beyond_the_window_never_block_and_success_clears_the_name() -> None:
    limiter = domain.SignInLimiter(limit=5, window_seconds=300)
    keys = domain.sign_in_keys("li.si", None)
    for i in range(20):
        assert limiter.retry_after(keys, i * 61.0) is None
        limiter.failed(keys, i * 61.0)
    limiter.succeeded(keys[0])
    assert keys[0] not in limiter.failures


def test_the_limiter_forgets_the_oldest_keys_beyond_its_bound() -> None:
    limiter = domain.SignInLimiter(max_keys=3)
    for i in range(10):
        limiter.failed([f"user:{i}"], 1.0)
    assert len(limiter.failures) == 3 and "user:9" in limiter.failures


def test_calendar_years_lists_the_known_years_and_flags_the_current_and_next_when_missing() -> None:
    schedules = library_schedules()
    last = max(schedules)
    view = domain.calendar_years(schedules, date(last, 11, 27))
    assert view["missing"] == [last + 1]
    assert view["years"][-1]["year"] == last and view["years"][-1]["source"] == "chinese_calendar"
    assert domain.calendar_years(schedules, date(last + 3, 1, 2))["missing"] == [last + 3, last + 4]


def test_a_good_year_file_is_read_by_the_calendars_loader_and_summarised_against_the_old_year() -> None:
    schedule, errors = domain.validate_year_file(GOOD_YEAR)
    assert errors == [] and schedule is not None and schedule.year == 2031
    summary = domain.year_changes(None, schedule)
    assert summary["holidays"] == 4 and summary["workdays"] == 1 and summary["replaces"] is None
    old = YearSchedule(2031, frozenset({date(2031, 1, 1), date(2031, 5, 1)}), frozenset(), source="2031.yaml")
    summary = domain.year_changes(old, schedule)
    assert summary["holidays_removed"] == ["2031-05-01"] and "2031-04-05" in summary["holidays_added"]
    assert summary["workdays_added"] == ["2031-02-08"] and summary["replaces"] == "2031.yaml"


def test_a_bad_year_file_is_refused_with_the_problem_in_words() -> None:
    cases = {
        "year: [": "YAML",
        "holidays: [2031-01-01]": "year",
        "year: 2031\nholidays: [2030-12-31]": "2030-12-31",
        "year: 2031\nholidays: [2031-01-01]\nworkdays: [2031-01-01]": "both",
        "year: 2031\nholidays: [{from: 2031-01-05, to: 2031-01-01}]": "bad range",
        "year: 2031\nholidays: [tomorrow]": "neither a date",
    }
    for text, words in cases.items():
        schedule, errors = domain.validate_year_file(text)
        assert schedule is None and len(errors) == 1, text
        message = errors[0]["message"]
        assert words in message and ("有误" in message or "错误" in message), errors


def test_settings_rows_read_the_values_from_the_classes_with_their_variables(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("QHWY_TRIAGE_DUPLICATE_WINDOW_DAYS", "12")
    monkeypatch.setenv("QHWY_TRIAGE_REVIEW_THRESHOLD", "0.75")
    rows = {r["env"]: r for r in domain.settings_rows(_steering_settings(Settings()))}
    assert rows["QHWY_TRIAGE_DUPLICATE_WINDOW_DAYS"]["value"] == 12 == TriageSettings().duplicate_window_days
    assert rows["QHWY_TRIAGE_REVIEW_THRESHOLD"]["value"] == 0.75
    assert rows["QHWY_OFFICE_HOURS"]["service"] == "calendar"
    assert isinstance(rows["QHWY_SLA_ESCALATION_WINDOW_HOURS"]["value"], dict)
    assert all(r["label"] for r in rows.values())


def test_the_admin_menu_reaches_the_new_pages() -> None:
    pages = [m["page"] for m in domain.menu_for("admin")]
    assert {"calendar", "settings", "officers"} <= set(pages)
    assert "calendar" not in [m["page"] for m in domain.menu_for("unit_handler")]
