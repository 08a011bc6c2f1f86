"""Property tests (hypothesis) for every event and request schema (issue 10, bad input).

For every model: instances generated from its own JSON schema (constraints included) that it accepts round-trip
through JSON unchanged; any JSON value, and a valid instance with one field replaced by junk, is either accepted or
refused with a pydantic ValidationError (never another exception) whose errors name the field and that
shared/http.py turns into a Chinese message per field. Request models are found by walking the services' modules,
so a new one is covered without a new test. Last, a consumer on FastStream's in-memory broker meets poison bytes:
each is dead-lettered with a reason and the next good event is still handled.
"""

import importlib
import inspect
import json
import pkgutil
import re
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings

import services
from shared.contracts import case_events, dead_letter, envelope, insight_events, submissions
from shared.http import field_errors
from shared.org import load_organisation

ORG = load_organisation()
CONTEXT = {"org": ORG}
PROPERTY = settings(max_examples=12, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def service_request_models() -> list[type[BaseModel]]:
    """Every pydantic model defined in a service module (request bodies, messages), settings left out."""
    found: dict[str, type[BaseModel]] = {}
    for info in pkgutil.walk_packages(services.__path__, "services."):
        if info.name.endswith("__main__") or ".simulator" in info.name:
            continue
        module = importlib.import_module(info.name)
        for _, value in vars(module).items():
            if (inspect.isclass(value) and issubclass(value, BaseModel) and not issubclass(value, BaseSettings)
                    and value.__module__ == module.__name__ and not value.__name__.startswith("_")):
                found[f"{value.__module__}.{value.__qualname__}"] = value
    return [found[k] for k in sorted(found)]


EVENT_MODELS = sorted({m for _, m in case_events.DATA_MODELS.values()} | {case_events.PublicEnterprise}
                      | {m for _, m in insight_events.DATA_MODELS.values()}, key=lambda m: m.__name__)
ENVELOPES = [envelope.CaseEvent, insight_events.InsightEvent, dead_letter.DeadLetter]
REQUESTS = [submissions.SubmissionBody, submissions.Submission, submissions.Enterprise, submissions.Reporter,
            *service_request_models()]
ALL_MODELS = EVENT_MODELS + ENVELOPES + REQUESTS


def model_id(model: type[BaseModel]) -> str:
    return f"{model.__module__.split('.')[-1]}.{model.__name__}"


# ---------------------------------------------------------------- strategies from a model's JSON schema

def _text(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), min(schema.get("maxLength", 40), 40)
    if "pattern" in schema:
        pattern = schema["pattern"]
        return st.from_regex(pattern, fullmatch=True).filter(lambda s: low <= len(s) <= schema.get("maxLength", 10**9))
    if schema.get("format") == "date-time":
        return st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1),
                            timezones=st.just(UTC)).map(lambda d: d.isoformat())
    if schema.get("format") == "date":
        return st.dates().map(lambda d: d.isoformat())
    # stripped models would shorten padded text below its minimum: no surrounding blanks
    return st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Zs", "Cc")), min_size=max(low, 1)
                   if low else 0, max_size=max(high, low)).filter(lambda s: len(s.strip()) >= low)


# field name -> values the model's own validators accept (codes of the organisation file, real phone shapes)
def _special(name: str) -> st.SearchStrategy[Any] | None:
    if "phone" in name and "last4" not in name:
        return st.sampled_from(["13800001234", "0570-6012345", "+86 139 1234 5678"])
    if name in ("uscc", "company_uscc"):
        return st.sampled_from([None, "91330824MA2A00000X"])
    if name == "channel" and ORG is not None:
        return st.sampled_from(sorted(ORG.channel_codes))
    departments = st.sampled_from(sorted(ORG.department_codes))
    codes = {"department": departments, "unit": departments, "lead": departments,
             "region": st.sampled_from(sorted(ORG.region_codes)),
             "region_hint": st.sampled_from(sorted(ORG.region_codes)),
             "complexity": st.sampled_from(sorted(c.code for c in ORG.complexity)),
             "category": st.sampled_from(sorted(c.code for c in ORG.categories)),
             "co_departments": st.lists(departments, max_size=2, unique=True),
             "units": st.lists(departments, max_size=2, unique=True)}
    return codes.get(name)
    return None


def from_schema(schema: dict[str, Any], defs: dict[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    if "$ref" in schema:
        return from_schema(defs[schema["$ref"].split("/")[-1]], defs, name)
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema:
        options = [s for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = len(options) < len(schema["anyOf"])
        strategy = st.one_of([from_schema(s, defs, name) for s in options]) if options else st.none()
        return st.one_of(st.none(), strategy) if nullable else strategy
    kind = schema.get("type")
    if kind == "string":
        return _text(schema)
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum", -(10**6)), max_value=schema.get("maximum", 10**6))
    if kind == "number":
        return st.floats(min_value=schema.get("minimum", -1e6), max_value=schema.get("maximum", 1e6),
                         allow_nan=False)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        items = from_schema(schema.get("items", {}), defs, name)
        return st.lists(items, min_size=schema.get("minItems", 0), max_size=min(schema.get("maxItems", 3), 3))
    if kind == "object" and "properties" in schema:
        required = set(schema.get("required", ()))
        fields = {}
        optional = {}
        for key, sub in schema["properties"].items():
            special = _special(key)
            strategy = special if special is not None else from_schema(sub, defs, key)
            (fields if key in required else optional)[key] = strategy
        return st.fixed_dictionaries(fields, optional=optional)
    if kind == "object":
        values = schema.get("additionalProperties")
        values = from_schema(values, defs, name) if isinstance(values, dict) and values else JSON_VALUES
        return st.dictionaries(st.text(max_size=5), values, max_size=3)
    return st.just("x")


def valid_inputs(model: type[BaseModel]) -> st.SearchStrategy[dict[str, Any]]:
    schema = model.model_json_schema()
    return from_schema(schema, schema.get("$defs", {}))


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
JUNK = st.sampled_from([None, 0, -1, 10**30, 1.5, True, "", " ", "x" * 10_001, [], {}, {"$gt": ""}, ["a"],
                        "2026-13-45T99:00:00", "<script>alert(1)</script>", "'; DROP TABLE cases; --"])


def validate(model: type[BaseModel], data: Any) -> BaseModel:
    return model.model_validate(data, context=CONTEXT)


# ---------------------------------------------------------------- properties

def test_every_schema_is_covered() -> None:
    """The services' request models were found (the walk works) and every event type has a data model here."""
    names = {m.__name__ for m in REQUESTS}
    assert {"DecisionRequest", "ResolveBody", "RatingBody", "Visit", "MechanismBody", "HotlineTicket"} <= names
    assert {m for _, m in case_events.DATA_MODELS.values()} <= set(EVENT_MODELS)


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_accepted_instances_round_trip_through_json(model: type[BaseModel]) -> None:
    accepted = []

    @PROPERTY
    @given(valid_inputs(model))
    def check(data: dict[str, Any]) -> None:
        try:
            instance = validate(model, data)
        except ValidationError as exc:  # a cross-field rule of the model's own; it must still name the field
            assert field_errors(exc)
            assume(False)
        again = validate(model, json.loads(instance.model_dump_json()))
        assert again.model_dump(mode="json") == instance.model_dump(mode="json")
        accepted.append(1)

    check()
    assert accepted, f"no generated instance of {model.__name__} was accepted: the strategy is wrong"


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_any_json_is_accepted_or_refused_with_a_validation_error(model: type[BaseModel]) -> None:
    @PROPERTY
    @given(JSON_VALUES)
    def check(data: Any) -> None:
        try:
            validate(model, data)
        except ValidationError as exc:
            errors = field_errors(exc)
            assert errors and all(e["message"] and e["field"] for e in errors)
        try:
            model.model_validate_json(json.dumps(data), context=CONTEXT)
        except ValidationError:
            pass

    check()


@pytest.mark.parametrize("model", ALL_MODELS, ids=model_id)
def test_a_junk_field_is_refused_naming_that_field(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    names = sorted(schema.get("properties", {}))
    if not names:
        pytest.skip("no fields")

    @PROPERTY
    @given(valid_inputs(model), st.sampled_from(names), JUNK)
    def check(data: dict[str, Any], name: str, junk: Any) -> None:
        data = {**data, name: junk}
        try:
            validate(model, data)
        except ValidationError as exc:
            errors = field_errors(exc)
            assert errors and all(re.search(r"[\u4e00-\u9fff]", e["message"]) for e in errors)
            fields = {e["loc"][0] for e in errors if e["loc"]}
            # the junk field is named, unless the valid rest broke a cross-field rule of the model
            assert name in fields or not fields or any(e["type"] == "value_error" for e in errors), (name, errors)

    check()


@given(JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64))
@PROPERTY
def test_any_bytes_on_the_case_events_topic_parse_or_are_unreadable(raw: bytes) -> None:
    try:
        case_events.parse_case_event(raw)
    except case_events.UnreadableEvent as exc:
        assert exc.reason


@given(JSON_VALUES.map(lambda v: json.dumps(v).encode()) | st.binary(max_size=64))
@PROPERTY
def test_any_bytes_on_the_ingress_topic_parse_or_name_the_problem(raw: bytes) -> None:
    try:
        submissions.parse_submission(raw, ORG)
    except ValidationError as exc:
        assert field_errors(exc)


# ---------------------------------------------------------------- a consumer meets poison (in-memory broker)

POISON = {
    "deep-array": b"[" * 100_000 + b"]" * 100_000,  # FastStream's own JSON decoding raised RecursionError on this
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "not-utf8": b"\xff\xfe\x00garbage",
    "gbk": json.dumps({"content": "停电"}, ensure_ascii=False).encode("gbk"),
    "empty": b"",
    "array": b"[1, 2, 3]",
    "wrong-types": json.dumps({"event_id": 7, "type": [], "case_id": {"$gt": ""}, "occurred_at": 1}).encode(),
}


async def test_poison_on_a_topic_is_dead_lettered_and_the_consumer_goes_on() -> None:
    import logging

    from faststream.kafka import TestKafkaBroker
    from prometheus_client import CollectorRegistry

    from shared.logging import get_logger
    from shared.messaging import BadMessage, Consumer, make_broker
    from shared.metrics import platform_metrics

    registry = CollectorRegistry()
    broker = make_broker("127.0.0.1:1", "unit", registry, logging.getLogger("faststream.unit"))
    handled: list[Any] = []
    letters: list[dict[str, Any]] = []

    def decode(raw: bytes) -> Any:  # what ServiceContext.consume_case_events does
        try:
            parsed = case_events.parse_case_event(raw)
        except case_events.UnreadableEvent as exc:
            raise BadMessage(exc.reason, exc.errors)
        return parsed

    async def handle(item: Any) -> str:
        handled.append(item)
        return "applied"

    Consumer(service="unit", broker=broker, topic="events", group_id="unit", dead_letter_topic="events.dlq",
             decode=decode, handle=handle, metrics=platform_metrics(registry), log=get_logger("qhwy.unit"))

    @broker.subscriber("events.dlq")
    async def dead_letters(letter: dict[str, Any]) -> None:
        letters.append(letter)

    good = envelope.CaseEvent(event_id="e-1", type="case.closed", case_id="c-1",
                              occurred_at=datetime(2026, 3, 2, tzinfo=UTC), data={"closed_at": "2026-03-02T10:00:00Z"})
    async with TestKafkaBroker(broker) as test_broker:
        for key, raw in POISON.items():
            await test_broker.publish(raw, topic="events", key=key.encode())
        await test_broker.publish(good.to_json(), topic="events", key=b"c-1")
    assert sorted(letter["key"] for letter in letters) == sorted(POISON)
    assert all(letter["reason"] and letter["service"] == "unit" for letter in letters)
    assert [event.event_id for event, _ in handled] == ["e-1"]
