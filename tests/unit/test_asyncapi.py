"""The AsyncAPI document (services/sync/asyncapi.py -> docs/asyncapi.yaml, `make docs-asyncapi`) lists every topic
the platform writes: the ingress topic, the case events, insight's events and every dead-letter topic."""

from pathlib import Path

import yaml

from services.sync.asyncapi import app, document
from shared.contracts import topics

DOC = Path(__file__).resolve().parents[2] / "docs" / "asyncapi.yaml"


def addresses(doc: dict) -> set[str]:
    return {channel["address"] for channel in doc["channels"].values()}


def test_every_topic_the_platform_writes_is_described() -> None:
    doc = document()
    assert set(topics.ALL) == addresses(doc)
    assert {topics.INSIGHT_EVENTS, topics.SUBMISSIONS_DLQ, topics.CASE_EVENTS_DLQ} <= addresses(doc)
    assert all(name.endswith(".dlq.v1") for name in (topics.SUBMISSIONS_DLQ, topics.CASE_EVENTS_DLQ))


def test_the_dead_letters_and_insight_events_carry_their_schemas() -> None:
    schemas = document()["components"]["schemas"]
    assert {"service", "topic", "reason", "failed_at"} <= set(schemas["DeadLetter"]["properties"])
    warning = next(s for name, s in schemas.items() if name.startswith("InsightWarning"))
    assert {"event_id", "type", "key", "occurred_at", "data"} <= set(warning["properties"])


def test_the_committed_document_is_the_generated_one() -> None:
    """docs/asyncapi.yaml is what `make docs-asyncapi` writes from the code today."""
    committed = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    generated = yaml.safe_load(app.schema.to_specification().to_yaml())  # type: ignore[union-attr]
    assert committed == generated, "docs/asyncapi.yaml is stale: run `make docs-asyncapi`"
    assert set(topics.ALL) == addresses(committed)
