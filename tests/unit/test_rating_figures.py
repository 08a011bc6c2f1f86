"""services.rating.figures: 满意率, 未评价率, rectified share, revisit coverage, sources, by unit, region and month.

A case counts in the period in which it was received and for the unit that holds it now (docs/metrics.md);
the shared figures come from shared/figures.py. Expected values are worked out by hand in the comments.
"""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from services.rating import figures

TZ = ZoneInfo("Asia/Shanghai")


def rnd(number, level=None, satisfied=None, excluded=False, revisits=0, referred=False, reopened=False,
        on_time=True, office=None, third=None):
    rating = None if level is None else {"level": level, "satisfied": satisfied, "excluded": excluded}
    evaluations = {}
    if office is not None:
        evaluations["business_office"] = {"satisfied": office}
    if third is not None:
        evaluations["third_party"] = {"satisfied": third}
    return {"number": number, "resolved_at": datetime(2026, 3, 20, 10, tzinfo=TZ), "rating": rating,
            "on_time": on_time, "revisits": [{"method": "phone"}] * revisits, "referred": referred,
            "reopened": reopened, "evaluations": evaluations}


def received(day, month=3):
    return datetime(2026, month, day, 9, tzinfo=TZ)


DOCS = [
    # unit A: satisfied; dissatisfied then rectified (2 ratings: 1 of 2 satisfied); unrated with a revisit
    {"_id": "a1", "department": "A", "region": "r1", "received_at": received(2),
     "rounds": {"1": rnd(1, "satisfied", True, revisits=1, office=True, third=False)}},
    {"_id": "a2", "department": "A", "region": "r1", "received_at": received(3), "rounds": {
        "1": rnd(1, "dissatisfied", False, referred=True, reopened=True, revisits=2, on_time=False),
        "2": rnd(2, "very_satisfied", True, third=True)}},
    {"_id": "a3", "department": "A", "region": "r2", "received_at": received(4), "rounds": {"1": rnd(1, revisits=1)}},
    # unit B: an excluded very_dissatisfied rating; a referred round not yet re-resolved
    {"_id": "b1", "department": "B", "region": "r2", "received_at": received(5),
     "rounds": {"1": rnd(1, "very_dissatisfied", False, excluded=True)}},
    {"_id": "b2", "department": "B", "region": None, "received_at": received(6), "rounds": {
        "1": rnd(1, "dissatisfied", False, referred=True, reopened=True, office=False)}},
    # no unit; received in April
    {"_id": "b3", "department": None, "region": "r1", "received_at": received(1, 4),
     "rounds": {"1": rnd(1, "satisfied", True)}},
]


def test_county_totals():
    total = figures.figures(DOCS, "county", TZ)["total"]
    # rounds: a1, a2/1, a2/2, a3, b1, b2, b3 = 7; ratings counted: a1 a2/1 a2/2 b2 b3 = 5 (b1 excluded)
    assert total["resolved"] == 7 and total["cases"] == 6
    assert total["rated"] == 5 and total["excluded"] == 1 and total["satisfied"] == 3 and total["dissatisfied"] == 2
    # unrated: a3 only, out of the 6 rounds without an excluded rating
    assert total["unrated"] == 1 and total["unrated_rate"] == 0.1667
    assert total["satisfaction_rate"] == 0.6
    assert total["on_time_rate"] == round(6 / 7, 4)
    assert total["referred"] == 2 and total["rectified"] == 1 and total["rectified_share"] == 0.5
    assert total["revisited"] == 3 and total["revisit_coverage"] == round(3 / 7, 4)
    assert total["reopened"] == 2


def test_excluded_ratings_count_nowhere():
    b1 = figures.summarise([DOCS[3]])
    assert b1["satisfaction_rate"] is None and b1["rated"] == 0 and b1["dissatisfied"] == 0
    assert b1["unrated"] == 0 and b1["unrated_rate"] is None and b1["excluded"] == 1


def test_every_rating_of_a_case_counts():
    """a2 was rated 不满意 and, after rectification, 非常满意: two ratings, one satisfied."""
    assert figures.summarise([DOCS[1]])["satisfaction_rate"] == 0.5


def test_sources_and_combined():
    unit_a = next(g for g in figures.figures(DOCS, "unit", TZ)["groups"] if g["key"] == "A")["evaluation"]
    # enterprise: a1 yes, a2/1 no, a2/2 yes = 2/3; office: a1 yes = 1/1; third party: a1 no, a2/2 yes = 1/2
    assert unit_a["enterprise"] == {"value": 0.6667, "n": 3, "hits": 2}
    assert unit_a["business_office"] == {"value": 1.0, "n": 1, "hits": 1}
    assert unit_a["third_party"] == {"value": 0.5, "n": 2, "hits": 1}
    # 0.6 * 2/3 + 0.2 * 1 + 0.2 * 0.5 = 0.4 + 0.2 + 0.1 = 0.7
    assert unit_a["combined"] == 0.7
    unit_b = next(g for g in figures.figures(DOCS, "unit", TZ, weights={
        "enterprise": 0.5, "business_office": 0.5, "third_party": 0.0})["groups"] if g["key"] == "B")["evaluation"]
    # enterprise: b2 no = 0/1; office: b2 no = 0/1; third party none: (0.5*0 + 0.5*0) / 1.0
    assert unit_b["combined"] == 0.0 and unit_b["third_party"]["value"] is None


@pytest.mark.parametrize("dimension, expected", [
    ("unit", {"A": (4, 0.6667), "B": (2, 0.0), "unknown": (1, 1.0)}),
    ("region", {"r1": (4, 0.75), "r2": (2, None), "unknown": (1, 0.0)}),
    ("month", {"2026-03": (6, 0.5), "2026-04": (1, 1.0)}),
])
def test_grouped(dimension, expected):
    groups = figures.figures(DOCS, dimension, TZ)["groups"]
    assert {g["key"]: (g["resolved"], g["satisfaction_rate"]) for g in groups} == expected


def test_period_selects_by_receipt():
    march = figures.figures(DOCS, "county", TZ, datetime(2026, 3, 3, tzinfo=TZ), datetime(2026, 4, 1, tzinfo=TZ))
    assert march["total"]["cases"] == 4 and march["total"]["resolved"] == 5  # a2 (2 rounds), a3, b1, b2


def test_unknown_dimension():
    with pytest.raises(ValueError):
        figures.figures(DOCS, "weekday", TZ)


def test_nothing_resolved_gives_no_rates():
    total = figures.figures([], "unit", TZ)["total"]
    assert total["resolved"] == 0 and total["satisfaction_rate"] is None and total["revisit_coverage"] is None
    assert total["evaluation"]["combined"] is None


async def test_the_figures_are_read_again_only_after_a_resolved_case_file_changed_or_ten_minutes() -> None:
    """refresh_figures reads every resolved case file (store-wide): a burst of new cases must not repeat it."""
    from types import SimpleNamespace
    from unittest import mock

    from prometheus_client import CollectorRegistry

    from services.rating import jobs
    from services.rating.deps import RatingMetrics

    reads = []

    async def resolved_cases() -> list:
        reads.append(1)
        return []

    cases = SimpleNamespace(watched_changes=0)
    deps = SimpleNamespace(store=SimpleNamespace(cases=cases, resolved_cases=resolved_cases),
                           ctx=SimpleNamespace(settings=SimpleNamespace(tz=ZoneInfo("Asia/Shanghai"))),
                           weights={}, metrics=RatingMetrics.register(CollectorRegistry()), figures_read=(-1, 0.0))
    with mock.patch.object(jobs.time, "monotonic", return_value=1000.0):
        await jobs.refresh_figures(deps)  # the first refresh reads
        await jobs.refresh_figures(deps)  # nothing changed: no read
    assert len(reads) == 1
    cases.watched_changes = 1  # a resolved case file changed
    with mock.patch.object(jobs.time, "monotonic", return_value=1030.0):
        await jobs.refresh_figures(deps)
        await jobs.refresh_figures(deps)
    assert len(reads) == 2
    with mock.patch.object(jobs.time, "monotonic", return_value=1630.0):  # 600 s after the last read
        await jobs.refresh_figures(deps)
    assert len(reads) == 3


async def test_the_scan_reads_the_store_when_a_window_ends_or_an_invitation_is_owed_not_every_minute() -> None:
    from datetime import UTC, timedelta
    from types import SimpleNamespace
    from unittest import mock

    from services.rating import jobs

    t0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    files = [{"_id": "a", "rating_due_at": t0 + timedelta(hours=2), "unrated_flagged": False, "invited": True}]
    reads, now = [], [t0]

    async def awaiting_rating() -> list:
        reads.append(now[0])
        return [dict(f) for f in files]

    cases = SimpleNamespace(watched_changes=0, apply=mock.AsyncMock())
    deps = SimpleNamespace(store=SimpleNamespace(cases=cases, awaiting_rating=awaiting_rating),
                           ctx=SimpleNamespace(clock=lambda: now[0]), scan_read=(-1, 0.0, None))
    with mock.patch.object(jobs, "follow_up", mock.AsyncMock()) as follow_up, \
            mock.patch.object(jobs.time, "monotonic", return_value=1000.0):
        await jobs.scan(deps)  # the first scan reads
        now[0] = t0 + timedelta(hours=1)
        await jobs.scan(deps)  # nothing changed and a's window is still open: no read
        assert len(reads) == 1 and follow_up.await_count == 0
        now[0] = t0 + timedelta(hours=2)  # a's window ends: read, flag it, follow it up
        await jobs.scan(deps)
        assert len(reads) == 2 and cases.apply.await_count == 1 and follow_up.await_args.args[1] == "a"
        files[0].update(unrated_flagged=True, invited=False)  # its invitation failed: read until it went out
        cases.watched_changes = 1
        await jobs.scan(deps)
        await jobs.scan(deps)
        assert len(reads) == 4 and follow_up.await_count == 3
        files[0]["invited"] = True
        await jobs.scan(deps)
        await jobs.scan(deps)
        assert len(reads) == 5
