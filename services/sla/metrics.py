"""sla's Prometheus metrics (names per Prometheus conventions: base units, `_total` counters, `_seconds`).

The gauges are counted in memory (tally.py) over the partitions an instance owns, so with one instance they are
exact; with several, add the instances up (`sum by (...)`).
"""

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Working time, in seconds: 15 min ... 6 office days of 7 hours.
WORKING_SECONDS_BUCKETS = tuple(h * 3600 for h in (0.25, 0.5, 1, 2, 3.5, 5, 7, 10.5, 14, 21, 28, 42))
LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600)


@dataclass(frozen=True)
class SlaMetrics:
    open_cases: Gauge
    overdue_cases: Gauge
    due_soon_cases: Gauge
    resolved_cases: Gauge
    on_time_ratio: Gauge
    problem_list_cases: Gauge
    responses: Gauge
    response_rate: Gauge
    unanswered_cases: Gauge
    urges: Counter
    time_to_accept: Histogram
    time_to_resolve: Histogram
    escalations: Counter
    timers_fired: Counter
    timer_lag: Histogram
    sweep_duration: Histogram
    last_sweep: Gauge
    calendar_year_missing: Gauge


_BY_REGISTRY: "WeakKeyDictionary[CollectorRegistry, SlaMetrics]" = WeakKeyDictionary()


def sla_metrics(registry: CollectorRegistry) -> SlaMetrics:
    existing = _BY_REGISTRY.get(registry)
    if existing is not None:
        return existing
    metrics = SlaMetrics(
        open_cases=Gauge("qhwy_sla_open_cases", "Cases whose clock runs (assigned or accepted, not yet resolved)",
                         ["status", "department", "region", "complexity"], registry=registry),
        overdue_cases=Gauge("qhwy_sla_overdue_cases", "Open cases past their deadline",
                            ["department", "escalation_level"], registry=registry),
        due_soon_cases=Gauge("qhwy_sla_due_soon_cases",
                             "Open cases due within the next QHWY_SLA_DUE_SOON_WORKING_HOURS working hours",
                             ["department"], registry=registry),
        resolved_cases=Gauge("qhwy_sla_resolved_cases", "Resolutions on record, by whether they were on time",
                             ["department", "on_time"], registry=registry),
        on_time_ratio=Gauge("qhwy_sla_on_time_ratio", "Share of resolutions made by the deadline (0..1)",
                            ["department"], registry=registry),
        problem_list_cases=Gauge("qhwy_sla_problem_list_cases",
                                 "Resolved cases kept on the problem list (问题清单) until closed",
                                 ["department"], registry=registry),
        responses=Gauge("qhwy_sla_responses",
                        "Assignments whose response deadline (签收, 不过夜) is decided, by whether the 签收 met it",
                        ["department", "met"], registry=registry),
        response_rate=Gauge("qhwy_sla_response_rate",
                            "响应率: decided assignments whose 签收 came by the response deadline / decided "
                            "assignments (0..1)", ["department"], registry=registry),
        unanswered_cases=Gauge("qhwy_sla_unanswered_cases",
                               "Open assignments past their response deadline and still not accepted (签收)",
                               ["department"], registry=registry),
        urges=Counter("qhwy_sla_urges", "催办 by the business environment office or leaders, by unit pressed",
                      ["department"], registry=registry),
        time_to_accept=Histogram("qhwy_sla_time_to_accept_working_seconds",
                                 "Working time (office hours) from assignment to acceptance (签收)",
                                 ["complexity"], buckets=WORKING_SECONDS_BUCKETS, registry=registry),
        time_to_resolve=Histogram("qhwy_sla_time_to_resolve_working_seconds",
                                  "Working time (office hours) from assignment to resolution (办结)",
                                  ["complexity"], buckets=WORKING_SECONDS_BUCKETS, registry=registry),
        escalations=Counter("qhwy_sla_escalations", "Escalations, by the level reached",
                            ["level"], registry=registry),
        timers_fired=Counter("qhwy_sla_timers_fired", "Timers fired (reminder, overdue, escalate)",
                             ["kind"], registry=registry),
        timer_lag=Histogram("qhwy_sla_timer_lag_seconds", "How long after its due time a timer fired (clock time)",
                            ["kind"], buckets=LAG_BUCKETS, registry=registry),
        sweep_duration=Histogram("qhwy_sla_sweep_duration_seconds", "Duration of one timer sweep",
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
                                 registry=registry),
        last_sweep=Gauge("qhwy_sla_last_sweep_timestamp_seconds", "When the last timer sweep finished (Unix time)",
                         registry=registry),
        calendar_year_missing=Gauge("qhwy_calendar_year_missing",
                                    "1 for a year the working-day calendar has no holiday schedule for "
                                    "(counted Monday-Friday)", ["year"], registry=registry),
    )
    _BY_REGISTRY[registry] = metrics
    return metrics
