"""Every topic the platform writes, as an AsyncAPI document generated from the code (the pydantic models in
shared/contracts): the ingress topic, the case events, insight's events and the dead-letter topics
(shared/contracts/topics.py's ALL; tests/unit/test_asyncapi.py keeps the two lists equal).
`faststream docs gen services.sync.asyncapi:app` needs an application object; this module is only that: a broker
that is never started, with the topics declared on it.

    make docs-asyncapi   # writes docs/asyncapi.yaml
"""

from datetime import datetime
from typing import Annotated, Any, Literal, Union

from faststream import FastStream
from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI, Tag
from pydantic import BaseModel, ConfigDict, Field, create_model

from shared.contracts import topics
from shared.contracts.case_events import DATA_MODELS
from shared.contracts.dead_letter import DeadLetter
from shared.contracts.insight_events import DATA_MODELS as INSIGHT_DATA_MODELS
from shared.contracts.submissions import Submission

DESCRIPTION = (
    "Every fact about a case, in order per case (key = `case_id`). Consumers dedupe on `event_id` (a redelivery "
    "carries the same id), skip a `type` they do not know or a `version` higher than they understand, and read "
    "`data` by `type`. Phones and contact names in `data` are masked.")


def _event_model(type_name: str, version: int, data_model: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in type_name.removeprefix("case.").split("_")) + "Event"
    return create_model(  # type: ignore[call-overload,no-any-return]
        name,
        __config__=ConfigDict(title=f"{type_name} v{version}"),
        event_id=(str, Field(description="unique; derived from its cause, so a redelivery has the same id")),
        type=(Literal[type_name], ...),  # type: ignore[valid-type]
        version=(int, Field(default=version, ge=1)),
        case_id=(str, ...),
        occurred_at=(datetime, ...),
        data=(data_model, ...),
    )


EVENT_MODELS = [_event_model(t, v, m) for t, (v, m) in DATA_MODELS.items()]

INSIGHT_DESCRIPTION = (
    "What insight finds in the case stream (key = the theme's key): `insight.warning`, a problem theme rising in a "
    "region or an industry faster than its normal rate (苗头性问题预警). The event id derives from the theme, the "
    "scope and the window, so a repeated detection is the same event.")
DEAD_LETTER_DESCRIPTION = (
    "Messages of {source} that could not be accepted, with the reason (each bad field named), the original topic, "
    "partition and offset, and the original value with personal data masked; kept for people to inspect and replay.")


def _insight_model(type_name: str, version: int, data_model: type[BaseModel]) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in type_name.replace(".", "_").split("_")) + "Event"
    return create_model(  # type: ignore[call-overload,no-any-return]
        name,
        __config__=ConfigDict(title=name, json_schema_extra={"description": f"{type_name} v{version}"}),
        event_id=(str, Field(description="unique; derived from the theme, the scope and the window")),
        type=(Literal[type_name], ...),  # type: ignore[valid-type]
        version=(int, Field(default=version, ge=1)),
        key=(str, Field(description="the theme's key (also the message key)")),
        occurred_at=(datetime, ...),
        data=(data_model, ...),
    )


INSIGHT_MODELS = [_insight_model(t, v, m) for t, (v, m) in INSIGHT_DATA_MODELS.items()]


def build_app() -> FastStream:
    broker = KafkaBroker("127.0.0.1:9092", description="The county platform's Kafka cluster")
    case_events = broker.publisher(
        topics.CASE_EVENTS, title=topics.CASE_EVENTS, description=DESCRIPTION,
        schema=Annotated[Union[tuple(EVENT_MODELS)], Field(discriminator="type")])  # type: ignore[valid-type]

    @broker.subscriber(topics.SUBMISSIONS, title=topics.SUBMISSIONS,
                       description="Ingress: a channel reports a problem (key = submission_id); the same "
                                   "submission_id twice yields one case.")
    @case_events
    async def register(submission: Submission) -> dict[str, Any]:  # pragma: no cover - documentation only
        raise NotImplementedError

    insight_events = broker.publisher(
        topics.INSIGHT_EVENTS, title=topics.INSIGHT_EVENTS, description=INSIGHT_DESCRIPTION,
        schema=Union[tuple(INSIGHT_MODELS)] if len(INSIGHT_MODELS) > 1 else INSIGHT_MODELS[0])  # type: ignore[valid-type]
    submissions_dlq = broker.publisher(
        topics.SUBMISSIONS_DLQ, title=topics.SUBMISSIONS_DLQ, schema=DeadLetter,
        description=DEAD_LETTER_DESCRIPTION.format(source=f"`{topics.SUBMISSIONS}` (and HTTP submissions refused "
                                                          "as a reused submission_id)"))
    case_events_dlq = broker.publisher(
        topics.CASE_EVENTS_DLQ, title=topics.CASE_EVENTS_DLQ, schema=DeadLetter,
        description=DEAD_LETTER_DESCRIPTION.format(source=f"`{topics.CASE_EVENTS}` that a service could not apply"))
    del insight_events, submissions_dlq, case_events_dlq  # declared for the document only

    return FastStream(broker, specification=AsyncAPI(
        broker, title="企呼我应 (qhwy) topics", version="1.1.0",
        description="Every topic the county platform writes (docs/contract.md): the ingress topic, the case events, "
                    "insight's events and the dead-letter topics.",
        tags=[Tag(name="qhwy")]))


app = build_app()


def document() -> dict[str, Any]:
    """The AsyncAPI document as JSON-ready data (served at GET /api/v1/sync/asyncapi.json)."""
    import json

    return json.loads(app.schema.to_specification().to_json())  # type: ignore[union-attr]
