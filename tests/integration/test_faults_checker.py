"""The fault tests' checker itself (pure, no broker): it must fail on each kind of loss or duplication."""

from collections import Counter

import pytest

from tests.integration.faults import check_stream, check_timers


def event(event_id: str, type_: str, case_id: str, **data: object) -> dict:
    return {"event_id": event_id, "type": type_, "version": 1, "case_id": case_id,
            "occurred_at": "2026-03-02T01:00:00Z", "data": data}


def pipeline(n: int) -> list[dict]:
    case = f"c{n}"
    return [event(f"r{n}", "case.registered", case, submission_id=f"s{n}"),
            event(f"t{n}", "case.triaged", case), event(f"a{n}", "case.assigned", case, due_at="x")]


def test_a_clean_stream_passes_and_identical_redeliveries_are_allowed() -> None:
    values = pipeline(1) + pipeline(2) + [pipeline(1)[1]]
    verdict = check_stream(["s1", "s2"], values)
    assert verdict.case_of == {"s1": "c1", "s2": "c2"}
    assert verdict.types("c1") == ["case.registered", "case.triaged", "case.assigned"]


@pytest.mark.parametrize(("values", "message"), [
    (pipeline(1), "never became a case"),
    (pipeline(1) + pipeline(2) + [event("r9", "case.registered", "c9", submission_id="s2")], "more than one case"),
    (pipeline(1) + pipeline(2) + [event("a9", "case.assigned", "c2", due_at="x")], "case.assigned 2 times"),
    (pipeline(1) + pipeline(2)[:2], "case.assigned 0 times"),
    (pipeline(1) + [pipeline(2)[0], pipeline(2)[2], pipeline(2)[1]], "out of order"),
    (pipeline(1) + pipeline(2) + [{**pipeline(2)[2], "data": {"due_at": "y"}}], "two different contents"),
    (pipeline(1) + pipeline(2) + [event("o1", "case.overdue", "c1", escalation_level=1, due_at="x"),
                                  event("o2", "case.overdue", "c1", escalation_level=1, due_at="x")],
     "timers fired more than once"),
])
def test_every_kind_of_loss_or_duplicate_fails(values: list[dict], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_stream(["s1", "s2"], values)


def test_timers_each_once() -> None:
    fired = [event("o1", "case.overdue", "c1", escalation_level=1, due_at="x"),
             event("e1", "case.escalated", "c1", from_level=1, to_level=2)]
    check_timers(fired, Counter({("c1", "case.overdue"): 1, ("c1", "case.escalated"): 1}))
    with pytest.raises(AssertionError, match="missing"):
        check_timers(fired[:1], Counter({("c1", "case.overdue"): 1, ("c1", "case.escalated"): 1}))
    with pytest.raises(AssertionError, match="more than once"):
        check_timers(fired + [{**fired[1], "event_id": "e2"}], Counter({("c1", "case.overdue"): 1,
                                                                         ("c1", "case.escalated"): 2}))
