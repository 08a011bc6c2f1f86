"""shared/figures.py: each figure of docs/metrics.md defined once; values worked out by hand."""

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from shared import figures as f
from shared.org import load_organisation

TZ = ZoneInfo("Asia/Shanghai")
R = f.Round


def test_rate_of_nothing_is_none_not_zero():
    assert f.Rate(0, 0).value is None and f.Rate(0, 3).value == 0.0 and f.Rate(2, 3).value == 0.6667


def test_satisfaction_counts_each_rating_and_leaves_excluded_ones_out():
    case = f.Record("c", (R(1, rated=False), R(2, rated=True), R(3, rated=False, excluded=True), R(4)))
    assert f.satisfaction(case) == f.Rate(1, 2)
    assert f.dissatisfied(case) == 1 and f.excluded(case) == 1
    # unrated: round 4 of rounds 1, 2, 4 (round 3's excluded rating counts nowhere)
    assert f.unrated(case) == f.Rate(1, 3)


def test_on_time_per_resolution():
    case = f.Record("c", (R(1, on_time=False), R(2, on_time=True), R(3)))
    assert f.on_time(case) == f.Rate(1, 2)


def test_response_by_the_close_of_the_office_day():
    monday_9 = datetime(2026, 3, 2, 9, tzinfo=TZ)
    closes = lambda at: at.replace(hour=17, minute=30)  # noqa: E731 - one office day, for the test
    now = datetime(2026, 3, 3, 12, tzinfo=TZ)
    in_time = f.Record("a", assigned_at=monday_9, accepted_at=monday_9 + timedelta(hours=8))  # 17:00
    late = f.Record("b", assigned_at=monday_9, accepted_at=monday_9 + timedelta(hours=9))  # 18:00
    never = f.Record("c", assigned_at=monday_9)  # window closed on Monday
    waiting = f.Record("d", assigned_at=now - timedelta(hours=1))  # window still open: not counted yet
    unassigned = f.Record("e")
    rates = [f.responded(r, closes, now) for r in (in_time, late, never, waiting, unassigned)]
    assert rates == [f.Rate(1, 1), f.Rate(0, 1), f.Rate(0, 1), f.Rate(0, 0), f.Rate(0, 0)]
    assert f.total(rates).value == 0.3333


def test_combined_weights_only_the_sources_that_have_evaluations():
    rates = {"enterprise": f.Rate(9, 10), "business_office": f.Rate(0, 0), "third_party": f.Rate(1, 2)}
    # (0.6 * 0.9 + 0.2 * 0.5) / 0.8 = (0.54 + 0.1) / 0.8 = 0.8
    assert f.combined(rates, {"enterprise": 0.6, "business_office": 0.2, "third_party": 0.2}) == 0.8
    assert f.combined({s: f.Rate(0, 0) for s in f.SOURCES}) is None


def test_summary_names():
    records = [f.Record("a", (R(1, on_time=True, rated=True, office=False),)),
               f.Record("b", (R(1, on_time=False, rated=False, excluded=True, third_party=True),))]
    s = f.summary(records)
    assert s["satisfaction_rate"] == {"value": 1.0, "n": 1, "hits": 1}
    assert s["dissatisfied"] == 0 and s["excluded"] == 1 and s["rated"] == 1 and s["resolutions"] == 2
    assert s["on_time_rate"]["value"] == 0.5
    assert s["evaluation"]["business_office"]["value"] == 0.0 and s["evaluation"]["third_party"]["value"] == 1.0
    # (0.6 * 1.0 + 0.2 * 0.0 + 0.2 * 1.0) / 1.0
    assert s["evaluation"]["combined"] == 0.8 and "response_rate" not in s


def test_recurrences_count_against_the_unit_that_closed_the_earlier_case():
    found = f.recurrences([("n1", "old1"), ("n2", "old2"), ("n3", None), ("n4", "unknown"), ("n0", "old1")],
                          {"old1": "gongdian", "old2": "fagai"})
    assert found == {"fagai": ["n2"], "gongdian": ["n0", "n1"]}


def test_weights_from_the_organisation_file(tmp_path: Path):
    assert load_organisation().evaluation_weights.as_dict() == {"enterprise": 0.6, "business_office": 0.2,
                                                                "third_party": 0.2}
    data = yaml.safe_load(load_organisation.__globals__["resources"].files("shared.data").joinpath(
        "kaihua.yaml").read_text(encoding="utf-8"))
    del data["evaluation_weights"]  # an older file without the section: the default
    (tmp_path / "old.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_organisation(tmp_path / "old.yaml").evaluation_weights.enterprise == 0.6
    data["evaluation_weights"] = {"enterprise": 0.5, "business_office": 0.3, "third_party": 0.2}
    (tmp_path / "new.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert load_organisation(tmp_path / "new.yaml").evaluation_weights.business_office == 0.3
    data["evaluation_weights"] = {"enterprise": -1}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ValueError):
        load_organisation(tmp_path / "bad.yaml")


def test_the_response_deadline_is_one_definition_for_sla_and_insight():
    """一般不过夜、最多过一夜 (written by hand; office hours 08:30-12:00, 14:00-17:30, 2026 calendar)."""
    from services.sla.domain import response_due
    from shared.workdays import default_calendar

    calendar, tz = default_calendar(), ZoneInfo("Asia/Shanghai")
    cases = [
        (datetime(2026, 3, 2, 9, 0, tzinfo=tz), datetime(2026, 3, 2, 17, 30, tzinfo=tz)),  # Monday morning: same day
        (datetime(2026, 3, 2, 16, 0, tzinfo=tz), datetime(2026, 3, 3, 12, 0, tzinfo=tz)),  # 1.5 h left: next morning
        (datetime(2026, 3, 2, 20, 0, tzinfo=tz), datetime(2026, 3, 3, 12, 0, tzinfo=tz)),  # evening
        (datetime(2026, 3, 6, 16, 30, tzinfo=tz), datetime(2026, 3, 9, 12, 0, tzinfo=tz)),  # Friday late: Monday
        (datetime(2026, 3, 3, 7, 0, tzinfo=tz), datetime(2026, 3, 3, 17, 30, tzinfo=tz)),  # before opening: that day
        (datetime(2026, 9, 30, 16, 0, tzinfo=tz), datetime(2026, 10, 8, 12, 0, tzinfo=tz)),  # National Day: 1-7 Oct off
    ]
    closes = f.office_day_close(calendar)
    for assigned, due in cases:
        assert f.response_deadline(calendar, assigned) == due, assigned
        assert closes(assigned) == due and response_due(calendar, assigned, 2 * 3600) == due
