"""insight's figures for issue 17: one definition with rating's (shared/figures.py), an excluded rating counting
nowhere (rankings included), 回头件 against the unit that closed the earlier case, each evaluation source and the
combined one, and the 助企联络员 ranking. Expected values are worked out by hand in the comments."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from services.insight import domain
from services.insight.settings import RankingRule
from shared.contracts.envelope import CaseEvent

TZ = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=TZ)  # a Monday


def ev(case: str, kind: str, at: datetime, **data) -> CaseEvent:
    return CaseEvent(event_id=f"{case}-{kind}-{at.isoformat()}", type=kind, case_id=case, occurred_at=at, data=data)


def handled(case: str, department: str = "gongdian", at: datetime = T0, accept_after: timedelta = timedelta(hours=1),
            **registered) -> list[CaseEvent]:
    return [
        ev(case, "case.registered", at, submission_id=case, channel="liaison", tracking_no=f"QH-{case}",
           received_at=at.isoformat(), enterprise={"name": "开化县某某公司", "contact_phone": "138****0000"},
           content="电力增容没有答复", **registered),
        ev(case, "case.assigned", at + timedelta(minutes=1), department=department, region="majin",
           complexity="simple", escalation_level=1, due_at=(at + timedelta(days=1)).isoformat()),
        ev(case, "case.accepted", at + accept_after, department=department, by="h1"),
    ]


def resolved(case: str, at: datetime, on_time: bool = True) -> CaseEvent:
    return ev(case, "case.resolved", at, resolution="已解决", on_time=on_time, by="h1", resolved_at=at.isoformat())


def rated(case: str, at: datetime, satisfied: bool, number: int) -> CaseEvent:
    return ev(case, "case.rated", at, level="satisfied" if satisfied else "dissatisfied", satisfied=satisfied,
              round=number)


def rectified_case(case: str = "c1") -> list[CaseEvent]:
    """Rated 不满意, reopened, resolved again and rated 满意: the issue's example (0.5 vs 1.0)."""
    return [*handled(case), resolved(case, T0 + timedelta(hours=3)), rated(case, T0 + timedelta(hours=4), False, 1),
            ev(case, "case.reopened", T0 + timedelta(hours=5), reason="不满意",
               due_at=(T0 + timedelta(days=5)).isoformat()),
            resolved(case, T0 + timedelta(days=1), on_time=False),
            rated(case, T0 + timedelta(days=1, hours=1), True, 2)]


def test_every_rating_counts_as_in_rating() -> None:
    figs = domain.figures(domain.fold_all(rectified_case()).values())
    # two ratings of one case: 1 satisfied of 2, as rating's figures say (was 1.0 here: the latest rating only)
    assert figs["satisfaction_rate"] == {"value": 0.5, "n": 2, "hits": 1}
    assert figs["dissatisfied"]["value"] == 1 and figs["rated"]["value"] == 2
    assert figs["on_time_rate"] == {"value": 0.5, "n": 2, "hits": 1}


def test_an_excluded_rating_counts_nowhere_not_even_in_rankings() -> None:
    events = [*handled("c2"), resolved("c2", T0 + timedelta(hours=3)), rated("c2", T0 + timedelta(hours=4), False, 1),
              ev("c2", "case.rating_appealed", T0 + timedelta(hours=5), round=1, department="gongdian", by="h1",
                 reason="台风"),
              ev("c2", "case.rating_reviewed", T0 + timedelta(hours=6), round=1, decision="excluded", by="li.si",
                 reason="证据充分")]
    facts = list(domain.fold_all(events).values())
    figs = domain.figures(facts)
    assert figs["satisfaction_rate"]["value"] is None and figs["satisfaction_rate"]["n"] == 0
    assert figs["dissatisfied"]["value"] == 0 and figs["rated"]["value"] == 0 and figs["excluded"]["value"] == 1
    assert figs["unrated_rate"]["n"] == 0
    rule = RankingRule(code="low", name="满意率低", polarity="negative", metric="satisfaction_rate", op="lt",
                       threshold=0.98)
    assert domain.rank(rule, facts, T0 + timedelta(days=2)) == []


def test_an_upheld_rating_still_counts() -> None:
    events = [*handled("c3"), resolved("c3", T0 + timedelta(hours=3)), rated("c3", T0 + timedelta(hours=4), False, 1),
              ev("c3", "case.rating_reviewed", T0 + timedelta(hours=6), round=1, decision="upheld", by="li.si",
                 reason="评价属实")]
    figs = domain.figures(domain.fold_all(events).values())
    assert figs["satisfaction_rate"] == {"value": 0.0, "n": 1, "hits": 0}


def test_response_rate_by_the_close_of_the_office_day() -> None:
    closes = lambda at: at.replace(hour=17, minute=30)  # noqa: E731 - the office day of the test
    on_time = handled("r1", accept_after=timedelta(hours=2))  # 11:00
    late = handled("r2", accept_after=timedelta(hours=10))  # 19:00
    figs = domain.figures(domain.fold_all([*on_time, *late]).values(), T0 + timedelta(days=1), closes=closes)
    assert figs["response_rate"] == {"value": 0.5, "n": 2, "hits": 1}


def test_recurrences_count_against_the_unit_that_closed_the_earlier_case() -> None:
    earlier = [*handled("old", department="gongdian"), resolved("old", T0 + timedelta(hours=3)),
               ev("old", "case.closed", T0 + timedelta(days=1), closed_at=(T0 + timedelta(days=1)).isoformat())]
    later = T0 + timedelta(days=20)
    new = [*handled("new", department="fagai", at=later),
           ev("new", "case.triaged", later + timedelta(minutes=1), screening="accepted", department="fagai",
              decided_by="auto", needs_review=False, recurrence_of="old")]
    cases = domain.fold_all([*earlier, *new])
    assert cases["old"]["closed_unit"] == "gongdian" and cases["new"]["recurrence_of"] == "old"
    found = domain.closed_recurrences([cases["new"]], {"old": cases["old"]})
    assert found == {"gongdian": ["new"]}
    groups = domain.figures_by([cases["new"]], "unit")
    domain.add_recurrences(groups, found)
    # the new case is fagai's now; the 回头件 is gongdian's, which closed the old one
    assert groups["gongdian"]["closed_recurrences"]["value"] == 1
    assert groups["fagai"]["closed_recurrences"]["value"] == 0 and groups["fagai"]["recurrences"]["value"] == 1


def test_evaluation_sources_and_combined() -> None:
    events = [*rectified_case("e1"),
              ev("e1", "case.evaluated", T0 + timedelta(days=2), source="business_office", round=2, satisfied=True),
              ev("e1", "case.evaluated", T0 + timedelta(days=3), source="third_party", round=1, satisfied=False),
              # a second third-party evaluation of round 1 (another import) changes nothing
              ev("e1", "case.evaluated", T0 + timedelta(days=4), source="third_party", round=1, satisfied=True)]
    evaluation = domain.figures(domain.fold_all(events).values(),
                                weights={"enterprise": 0.6, "business_office": 0.2, "third_party": 0.2})["evaluation"]
    assert evaluation["enterprise"]["value"] == 0.5
    assert evaluation["business_office"] == {"value": 1.0, "n": 1, "hits": 1}
    assert evaluation["third_party"] == {"value": 0.0, "n": 1, "hits": 0}
    # 0.6 * 0.5 + 0.2 * 1.0 + 0.2 * 0.0 = 0.5
    assert evaluation["combined"] == 0.5


def test_liaison_officers_ranked_with_names() -> None:
    events = []
    # lo1: visit v1 found two problems, visit v2 one; two solved, ratings: yes, no
    for case, visit in (("l1", "v1"), ("l2", "v1"), ("l3", "v2")):
        events += handled(case, liaison_officer="lo1", visit_id=visit)
    events += [resolved("l1", T0 + timedelta(hours=3)), rated("l1", T0 + timedelta(hours=4), True, 1),
               resolved("l2", T0 + timedelta(hours=3)), rated("l2", T0 + timedelta(hours=4), False, 1)]
    # lo2: one visit, one problem, solved and rated satisfied
    events += [*handled("m1", liaison_officer="lo2", visit_id="v9"), resolved("m1", T0 + timedelta(hours=3)),
               rated("m1", T0 + timedelta(hours=4), True, 1)]
    facts = domain.fold_all(events).values()
    board = domain.liaison_board(facts, {"lo1": "王联络"}, by="solved")
    assert [(e["officer_id"], e["name"], e["visits"], e["found"], e["solved"], e["satisfaction"]["value"])
            for e in board] == [("lo1", "王联络", 2, 3, 2, 0.5), ("lo2", "lo2", 1, 1, 1, 1.0)]
    assert board[0]["ranks"] == {"visits": 1, "found": 1, "solved": 1, "satisfaction": 2}
    assert [e["officer_id"] for e in domain.liaison_board(facts, {}, by="satisfaction")] == ["lo2", "lo1"]
