"""Prometheus metrics common to every service, registered once per registry (one registry per process)."""

from dataclasses import dataclass
from weakref import WeakKeyDictionary

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass(frozen=True)
class PlatformMetrics:
    messages_processed: Counter
    dead_letters: Counter
    handler_duration: Histogram
    events_published: Counter
    cases_registered: Counter
    cases_open: Gauge
    cases_overdue: Gauge
    consumer_ready: Gauge
    consumer_lag: Gauge


_BY_REGISTRY: "WeakKeyDictionary[CollectorRegistry, PlatformMetrics]" = WeakKeyDictionary()


def platform_metrics(registry: CollectorRegistry) -> PlatformMetrics:
    existing = _BY_REGISTRY.get(registry)
    if existing is not None:
        return existing
    metrics = PlatformMetrics(
        messages_processed=Counter(
            "qhwy_messages_processed", "Messages consumed, by outcome (ok, duplicate, skipped, dead_lettered, retried)",
            ["service", "topic", "outcome"], registry=registry),
        dead_letters=Counter(
            "qhwy_dead_letters", "Messages sent to a dead-letter topic", ["service", "topic"], registry=registry),
        handler_duration=Histogram(
            "qhwy_handler_duration_seconds", "Time to handle one message, effects included",
            ["service", "topic"], registry=registry),
        events_published=Counter(
            "qhwy_case_events_published", "Case events published", ["service", "type"], registry=registry),
        cases_registered=Counter(
            "qhwy_cases_registered", "Cases registered (first time only)", ["service", "channel"], registry=registry),
        cases_open=Gauge(
            "qhwy_cases_open", "Assigned cases not yet resolved", ["service", "department"], registry=registry),
        cases_overdue=Gauge(
            "qhwy_cases_overdue", "Open cases past their deadline", ["service", "department"], registry=registry),
        consumer_ready=Gauge(
            "qhwy_consumer_ready", "1 once the consumer has joined its group", ["service", "topic"], registry=registry),
        # Each instance exports the partitions it owns (a partition belongs to one instance of a group at a time):
        # sum by (group) is the group's backlog. shared.messaging.LagReporter updates it periodically.
        consumer_lag=Gauge(
            "qhwy_consumer_lag", "Records of a partition not yet handled by the group: end offset minus the "
            "group's committed offset", ["service", "group", "topic", "partition"], registry=registry),
    )
    _BY_REGISTRY[registry] = metrics
    return metrics
