"""insight's pure core: case events -> facts -> figures, periods, 晾晒 rankings, early warnings."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from services.insight import domain
from services.insight.settings import InsightSettings, RankingRule
from services.insight.synthetic import generate
from shared.contracts.envelope import CaseEvent

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)


def ev(case: str, kind: str, at: datetime, **data) -> CaseEvent:
    return CaseEvent(event_id=f"{case}-{kind}-{at.isoformat()}", type=kind, case_id=case, occurred_at=at, data=data)


def registered(case: str, at: datetime = T0, **extra) -> CaseEvent:
    return ev(case, "case.registered", at, submission_id=case, channel="hotline", tracking_no=f"QH-{case}",
              received_at=at.isoformat(), enterprise={"name": "开化县某某公司", "contact_phone": "138****0000"},
              content="电力增容没有答复", **extra)


def lifecycle(case: str, *, department="gongdian", region="majin", on_time=True, level="satisfied",
              satisfied=True, accept_after=timedelta(hours=2), at: datetime = T0, **extra) -> list[CaseEvent]:
    due = at + timedelta(days=2)
    return [
        registered(case, at, **extra),
        ev(case, "case.triaged", at + timedelta(minutes=1), screening="accepted", department=department,
           region=region, complexity="normal", decided_by="auto", needs_review=False),
        ev(case, "case.assigned", at + timedelta(minutes=1), department=department, region=region,
           complexity="normal", escalation_level=0, due_at=due.isoformat()),
        ev(case, "case.accepted", at + accept_after, department=department, by=f"{department}.h1"),
        ev(case, "case.resolved", at + timedelta(days=1), resolution="已解决", on_time=on_time, by=f"{department}.h1",
           resolved_at=(at + timedelta(days=1)).isoformat()),
        ev(case, "case.rated", at + timedelta(days=1, hours=1), level=level, satisfied=satisfied),
    ]


def test_fold_follows_a_case_through_its_life() -> None:
    facts = domain.fold_all(lifecycle("c1", liaison_officer={"code": "lo7", "name": "王某"}))["c1"]
    assert facts["state"] == "resolved" and facts["department"] == "gongdian" and facts["region"] == "majin"
    assert facts["liaison"] == "lo7"
    assert facts["accepted_at"] - facts["received_at"] == timedelta(hours=2)
    assert facts["on_time"] is True and facts["satisfied"] is True and facts["resolutions"] == 1


def test_fold_counts_reopen_escalation_overdue_referral_once_per_event_id() -> None:
    events = lifecycle("c1", on_time=False, level="dissatisfied", satisfied=False)
    extra = [
        ev("c1", "case.overdue", T0 + timedelta(days=2), due_at=(T0 + timedelta(days=2)).isoformat(),
           escalation_level=0),
        ev("c1", "case.escalated", T0 + timedelta(days=2, hours=1), from_level=0, to_level=1, reason="overdue"),
        ev("c1", "case.reopened", T0 + timedelta(days=3), reason="不满意", due_at=(T0 + timedelta(days=5)).isoformat()),
        ev("c1", "case.referred", T0 + timedelta(days=3), to="jiwei", reason="多次不满意"),
    ]
    facts = domain.fold_all(events + extra + extra)["c1"]  # every event delivered twice
    assert (facts["overdue"], facts["escalations"], facts["reopened"]) == (1, 1, 1)
    assert facts["referred"] is True and facts["state"] == "reopened" and facts["escalation_level"] == 1


def test_response_time_is_to_the_first_acceptance() -> None:
    events = lifecycle("c1", accept_after=timedelta(hours=3))
    events.append(ev("c1", "case.accepted", T0 + timedelta(hours=9), department="gongdian", by="other"))
    facts = domain.fold_all(events)["c1"]
    assert domain.response_hours(facts) == 3.0 and facts["accepted_by"] == "gongdian.h1"


def test_duplicate_screening_and_unknown_types_leave_a_plain_case() -> None:
    facts = domain.fold_all([registered("d"), ev("d", "case.triaged", T0, screening="duplicate", duplicate_of="x",
                                                  decided_by="auto", needs_review=False),
                             ev("d", "case.synced", T0, target="city", direction="out")])["d"]
    assert facts["duplicate"] is True and facts["state"] == "duplicate"


def test_figures_say_how_many_cases_they_rest_on() -> None:
    events = (lifecycle("a") + lifecycle("b", on_time=False) + lifecycle("c", level="dissatisfied", satisfied=False)
              + [registered("d")])
    figs = domain.figures(domain.fold_all(events).values())
    assert figs["received"] == {"value": 4, "n": 4}
    assert figs["accepted"]["value"] == 3
    assert figs["on_time_rate"] == {"value": round(2 / 3, 4), "n": 3, "hits": 2}
    assert figs["satisfaction_rate"]["value"] == round(2 / 3, 4) and figs["satisfaction_rate"]["n"] == 3
    assert figs["resolution_rate"] == {"value": 1.0, "n": 3, "hits": 3}
    assert figs["dissatisfied"]["value"] == 1
    assert figs["response_hours"]["value"] == 2.0 and figs["response_hours"]["n"] == 3


def test_rates_are_none_without_cases() -> None:
    figs = domain.figures([])
    assert figs["satisfaction_rate"] == {"value": None, "n": 0, "hits": 0}
    assert figs["response_hours"]["value"] is None


def test_figures_by_unit_region_and_liaison() -> None:
    cases = domain.fold_all(lifecycle("a", department="gongdian", liaison_officer="lo1")
                            + lifecycle("b", department="renshe", region="huabu")
                            + lifecycle("c", department="renshe", liaison_officer="lo1"))
    assert set(domain.figures_by(cases.values(), "unit")) == {"gongdian", "renshe"}
    assert domain.figures_by(cases.values(), "unit")["renshe"]["received"]["value"] == 2
    assert domain.figures_by(cases.values(), "region")["huabu"]["received"]["value"] == 1
    assert domain.figures_by(cases.values(), "liaison")["lo1"]["received"]["value"] == 2


@pytest.mark.parametrize(("kind", "day", "label", "first", "after"), [
    ("week", "2026-03-04", "2026-W10", "2026-03-02", "2026-03-09"),
    ("week", "2026-01-01", "2026-W01", "2025-12-29", "2026-01-05"),
    ("month", "2026-12-31", "2026-12", "2026-12-01", "2027-01-01"),
    ("quarter", "2026-05-20", "2026-Q2", "2026-04-01", "2026-07-01"),
    ("year", "2026-05-20", "2026", "2026-01-01", "2027-01-01"),
])
def test_periods(kind: str, day: str, label: str, first: str, after: str) -> None:
    assert domain.period_label(kind, datetime.fromisoformat(day).date()) == label
    start, end = domain.period_days(label)
    assert (start.isoformat(), end.isoformat()) == (first, after)
    assert domain.period_kind(label) == kind


def test_period_is_local_time() -> None:
    late_sunday_utc = datetime(2026, 3, 1, 17, 0, tzinfo=UTC)  # Monday 01:00 in Shanghai
    assert domain.period_of("week", late_sunday_utc, TZ) == "2026-W10"
    start, _ = domain.period_range("2026-03", TZ)
    assert start.utcoffset() == timedelta(hours=8)


@pytest.mark.parametrize("bad", ["", "2026-13", "2026-Q5", "2026-W60", "abc", "2026-03-01"])
def test_bad_period_labels_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        domain.period_days(bad)


def test_periods_before_and_last_complete() -> None:
    assert domain.periods_before("2026-02", 3) == ["2025-12", "2026-01", "2026-02"]
    assert domain.periods_before("2026-W02", 2) == ["2026-W01", "2026-W02"]
    assert domain.last_complete_period("month", datetime(2026, 3, 5, tzinfo=TZ), TZ) == "2026-02"
    assert domain.last_complete_period("week", datetime(2026, 3, 5, tzinfo=TZ), TZ) == "2026-W09"


def test_rankings_list_units_below_threshold_with_the_cases_behind() -> None:
    events = []
    for i in range(4):
        events += lifecycle(f"g{i}", department="gongdian")
    events += lifecycle("r1", department="renshe") + lifecycle("r2", department="renshe", level="dissatisfied",
                                                                 satisfied=False)
    facts = list(domain.fold_all(events).values())
    rule = RankingRule(code="low", name="满意率低于98%", polarity="negative", metric="satisfaction_rate", op="lt",
                       threshold=0.98)
    entries = domain.rank(rule, facts, T0 + timedelta(days=10))
    assert [e["key"] for e in entries] == ["renshe"]
    assert entries[0]["value"] == 0.5 and entries[0]["n"] == 2 and entries[0]["case_ids"] == ["r2"]
    good = RankingRule(code="full", name="满意率100%", polarity="positive", metric="satisfaction_rate", op="ge",
                       threshold=1.0, min_cases=3)
    assert [e["key"] for e in domain.rank(good, facts, T0)] == ["gongdian"]
    assert domain.rank(good.model_copy(update={"min_cases": 5}), facts, T0) == []


def test_most_solved_officers_and_long_overdue_cases() -> None:
    events = lifecycle("a", department="gongdian") + lifecycle("b", department="gongdian") \
        + lifecycle("c", department="renshe")
    events += [registered("open"),
               ev("open", "case.assigned", T0, department="renshe", complexity="normal", escalation_level=0,
                  due_at=(T0 + timedelta(days=1)).isoformat())]
    facts = list(domain.fold_all(events).values())
    most = RankingRule(code="most", name="办结最多", polarity="positive", kind="most", dimension="handler",
                       metric="resolved", top=1)
    entries = domain.rank(most, facts, T0)
    assert entries[0]["key"] == "gongdian.h1" and entries[0]["value"] == 2 and entries[0]["case_ids"] == ["a", "b"]
    late = RankingRule(code="late", name="超期3天以上", polarity="negative", kind="overdue_cases", days=3)
    assert domain.rank(late, facts, T0 + timedelta(days=3)) == []
    found = domain.rank(late, facts, T0 + timedelta(days=5))
    assert [e["key"] for e in found] == ["open"] and found[0]["value"] == 4.0


def test_default_rules_run_on_a_realistic_stream(org) -> None:
    facts = list(domain.fold_all(generate(org, 400, T0, days=30)).values())
    ranked = domain.rankings(InsightSettings().ranking_rules, facts, T0 + timedelta(days=31))
    assert {b["rule"] for b in ranked["negative"]} == {"low_satisfaction", "low_on_time", "overdue_long"}
    assert all(e["case_ids"] for side in ranked.values() for b in side for e in b["entries"])


def test_early_warning_fires_when_a_theme_rises_in_a_region() -> None:
    now = datetime(2026, 3, 20, 12, tzinfo=TZ)
    facts, members = {}, {}
    def add(case: str, at: datetime, region: str, group: str = "g1") -> None:
        facts[case] = {"_id": case, "received_at": at, "region": region, "industry": None}
        members[case] = group
    for i in range(4):  # the normal rate: one a week in majin over four weeks
        add(f"base{i}", now - timedelta(days=8 + 7 * i), "majin")
    for i in range(4):  # this week: four
        add(f"new{i}", now - timedelta(days=i), "majin")
    add("other", now, "huabu")
    found = domain.detect_warnings(members, facts, now, TZ, window_days=7, baseline_windows=4, min_count=3,
                                   ratio=2.0, floor=1.0)
    assert len(found) == 1
    w = found[0]
    assert (w["theme"], w["scope"], w["scope_code"], w["count"], w["baseline"]) == ("g1", "region", "majin", 4, 1.0)
    assert w["case_ids"] == ["new0", "new1", "new2", "new3"]
    assert domain.warning_id(w) == domain.warning_id(dict(w))  # the same detection is the same event
    calm = domain.detect_warnings(members, facts, now, TZ, window_days=7, baseline_windows=4, min_count=5,
                                  ratio=2.0, floor=1.0)
    assert calm == []


def test_insight_warning_event_schema() -> None:
    from shared.contracts.insight_events import DATA_MODELS, InsightEvent, Warning

    now = datetime(2026, 3, 20, tzinfo=TZ)
    warning = {"theme": "g-1", "label": "电力增容", "scope": "region", "scope_code": "majin", "count": 5,
               "window_start": now - timedelta(days=7), "window_end": now, "baseline": 1.0, "ratio": 5.0}
    data = Warning(**warning)
    event = InsightEvent(event_id=domain.warning_id(warning), type="insight.warning", key="g-1", occurred_at=now,
                         data=data.model_dump(mode="json"))
    again = InsightEvent.model_validate_json(event.to_json())
    assert DATA_MODELS[again.type][1].model_validate(again.data) == data
    with pytest.raises(ValueError):
        Warning(**{**warning, "scope": "planet"})
