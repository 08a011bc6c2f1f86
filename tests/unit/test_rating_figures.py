"""services.rating.figures: 满意率, 未评价率, rectified share, revisit coverage, by unit, region and month."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.rating import figures

TZ = ZoneInfo("Asia/Shanghai")


def rnd(day, level=None, satisfied=None, excluded=False, revisits=0, referred=False, reopened=False, month=3):
    rating = None if level is None else {"level": level, "satisfied": satisfied, "excluded": excluded}
    return {"resolved_at": datetime(2026, month, day, 10, tzinfo=TZ), "rating": rating,
            "revisits": [{"method": "phone"}] * revisits, "referred": referred, "reopened": reopened}


DOCS = [
    # unit A: satisfied; dissatisfied then rectified; unrated with a revisit
    {"_id": "a1", "department": "A", "region": "r1", "rounds": {"1": rnd(2, "satisfied", True, revisits=1)}},
    {"_id": "a2", "department": "A", "region": "r1", "rounds": {
        "1": rnd(3, "dissatisfied", False, referred=True, reopened=True, revisits=2),
        "2": rnd(10, "very_satisfied", True)}},
    {"_id": "a3", "department": "A", "region": "r2", "rounds": {"1": rnd(4, revisits=1)}},
    # unit B: an excluded very_dissatisfied rating; a referred round not yet re-resolved; April
    {"_id": "b1", "department": "B", "region": "r2", "rounds": {"1": rnd(5, "very_dissatisfied", False, excluded=True)}},
    {"_id": "b2", "department": "B", "region": None, "rounds": {
        "1": rnd(6, "dissatisfied", False, referred=True, reopened=True)}},
    {"_id": "b3", "department": None, "region": "r1", "rounds": {"1": rnd(1, "satisfied", True, month=4)}},
]
ROWS = [row for doc in DOCS for row in figures.rows_of(doc)]


def test_rows_one_per_resolution():
    assert [(r.case_id, r.round) for r in ROWS] == [("a1", 1), ("a2", 1), ("a2", 2), ("a3", 1), ("b1", 1),
                                                   ("b2", 1), ("b3", 1)]
    a2 = ROWS[1]
    assert a2.referred and a2.rectified and a2.reopened and not ROWS[5].rectified


def test_county_totals():
    total = figures.figures(ROWS, "county", TZ)["total"]
    assert total["resolved"] == 7 and total["rated"] == 6 and total["counted"] == 5 and total["excluded"] == 1
    assert total["satisfied"] == 3 and total["dissatisfied"] == 2 and total["unrated"] == 1
    assert total["satisfaction_rate"] == 0.6 and total["unrated_rate"] == round(1 / 7, 4)
    assert total["referred"] == 2 and total["rectified"] == 1 and total["rectified_share"] == 0.5
    assert total["revisited"] == 3 and total["revisit_coverage"] == round(3 / 7, 4)
    assert total["reopened"] == 2


def test_excluded_ratings_stay_out_of_the_rates():
    b1 = [r for r in ROWS if r.case_id == "b1"]
    assert figures.summarise(b1)["satisfaction_rate"] is None and figures.summarise(b1)["unrated"] == 0


@pytest.mark.parametrize("dimension, expected", [
    ("unit", {"A": (4, 0.6667), "B": (2, 0.0), "unknown": (1, 1.0)}),
    ("region", {"r1": (4, 0.75), "r2": (2, None), "unknown": (1, 0.0)}),
    ("month", {"2026-03": (6, 0.5), "2026-04": (1, 1.0)}),
])
def test_grouped(dimension, expected):
    groups = figures.figures(ROWS, dimension, TZ)["groups"]
    assert {g["key"]: (g["resolved"], g["satisfaction_rate"]) for g in groups} == expected


def test_period_selects_by_resolution_time():
    march = figures.figures(ROWS, "county", TZ, datetime(2026, 3, 3, tzinfo=TZ), datetime(2026, 4, 1, tzinfo=TZ))
    assert march["total"]["resolved"] == 5


def test_unknown_dimension():
    with pytest.raises(ValueError):
        figures.figures(ROWS, "weekday", TZ)


def test_nothing_resolved_gives_no_rates():
    total = figures.figures([], "unit", TZ)["total"]
    assert total["resolved"] == 0 and total["satisfaction_rate"] is None and total["revisit_coverage"] is None
