"""What every fault-injection test checks at its end: what was sent against what the case-events topic holds.

- every submission sent became exactly one case (one `case.registered` per submission id);
- each expected event type with effects appears exactly once per case, both by event id (a redelivered event may
  sit on the topic twice, but only as an identical copy) and by meaning (no second `case.assigned` for one case
  under a fresh id, which would be a replay applied twice);
- a case's events are in the order the pipeline makes them;
- every due timer fired once per (case, timer).
"""

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

# The pipeline's order for one case; types not listed here are not ordered against each other.
PIPELINE = ("case.registered", "case.triaged", "case.assigned", "case.accepted", "case.resolved")
TIMER_TYPES = ("case.reminded", "case.overdue", "case.escalated")


def unique_events(values: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The topic's events with redelivered copies (same event id) dropped, first copy kept, topic order kept."""
    seen: set[str] = set()
    out = []
    for event in values:
        if event["event_id"] not in seen:
            seen.add(event["event_id"])
            out.append(event)
    return out


def timer_key(event: dict[str, Any]) -> tuple[str, str, str]:
    """What makes a timer event itself: its case, its type and which step (reminder kind, level reached)."""
    data = event["data"]
    if event["type"] == "case.reminded":
        step = f"{data.get('kind')}/{data.get('level')}"
    elif event["type"] == "case.overdue":
        step = f"{data.get('escalation_level')}/{data.get('due_at')}"
    else:
        step = f"{data.get('from_level')}->{data.get('to_level')}"
    return event["case_id"], event["type"], step


@dataclass
class Verdict:
    """The cases found, by submission id, and each case's unique events in topic order."""

    case_of: dict[str, str]
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def types(self, case_id: str) -> list[str]:
        return [e["type"] for e in self.events[case_id]]


def check_stream(sent: list[str], values: list[dict[str, Any]], *, once: tuple[str, ...] = PIPELINE[:3],
                 at_most_once: tuple[str, ...] = ()) -> Verdict:
    """Assert the topic `values` hold, for the submission ids `sent`, exactly one case each with each type of
    `once` exactly once (and each of `at_most_once` at most once), in pipeline order, and no event id twice
    with different contents. Returns what it found, for further checks."""
    by_id: dict[str, dict[str, Any]] = {}
    for event in values:
        first = by_id.setdefault(event["event_id"], event)
        assert first == event, f"event id {event['event_id']} appears with two different contents"
    unique = unique_events(values)

    registered = [e for e in unique if e["type"] == "case.registered" and e["data"]["submission_id"] in set(sent)]
    per_submission = Counter(e["data"]["submission_id"] for e in registered)
    lost = sorted(set(sent) - set(per_submission))
    assert not lost, f"{len(lost)} submissions never became a case: {lost[:5]}"
    doubled = sorted(s for s, n in per_submission.items() if n > 1)
    assert not doubled, f"submissions that became more than one case: {doubled[:5]}"
    case_of = {e["data"]["submission_id"]: e["case_id"] for e in registered}
    assert len(set(case_of.values())) == len(sent), "two submissions share one case id"

    verdict = Verdict(case_of)
    for case_id in case_of.values():
        verdict.events[case_id] = [e for e in unique if e["case_id"] == case_id]
    for submission_id, case_id in case_of.items():
        counts = Counter(verdict.types(case_id))
        for type_ in once:
            assert counts[type_] == 1, (f"{submission_id} ({case_id}): {type_} {counts[type_]} times, "
                                        f"events {verdict.types(case_id)}")
        for type_ in at_most_once:
            assert counts[type_] <= 1, (f"{submission_id} ({case_id}): {type_} {counts[type_]} times, "
                                        f"events {verdict.types(case_id)}")
        ordered = [t for t in verdict.types(case_id) if t in PIPELINE]
        assert ordered == sorted(ordered, key=PIPELINE.index), f"{case_id}: out of order {ordered}"
        timers = Counter(timer_key(e) for e in verdict.events[case_id] if e["type"] in TIMER_TYPES)
        twice = [k for k, n in timers.items() if n > 1]
        assert not twice, f"{case_id}: timers fired more than once: {twice}"
    return verdict


def check_timers(values: list[dict[str, Any]], expected: Counter[tuple[str, str]]) -> None:
    """Every due timer fired exactly once: `expected` counts (case, type) pairs; no (case, type, step) twice."""
    unique = unique_events(values)
    timers = [e for e in unique if e["type"] in TIMER_TYPES and e["case_id"] in {c for c, _ in expected}]
    steps = Counter(timer_key(e) for e in timers)
    twice = [k for k, n in steps.items() if n > 1]
    assert not twice, f"timers fired more than once: {twice}"
    found = Counter((e["case_id"], e["type"]) for e in timers)
    assert found == expected, f"missing {dict(expected - found)}, unexpected {dict(found - expected)}"
