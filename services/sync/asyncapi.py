"""The case-events topic as an AsyncAPI document, generated from the code (the pydantic models in
shared/contracts). `faststream docs gen services.sync.asyncapi:app` needs an application object; this module is
only that: a broker that is never started, with the public topics declared on it.

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

    return FastStream(broker, specification=AsyncAPI(
        broker, title="企呼我应 (qhwy) case events", version="1.0.0",
        description="The public topics of the county platform (docs/contract.md).",
        tags=[Tag(name="qhwy")]))


app = build_app()


def document() -> dict[str, Any]:
    """The AsyncAPI document as JSON-ready data (served at GET /api/v1/sync/asyncapi.json)."""
    import json

    return json.loads(app.schema.to_specification().to_json())  # type: ignore[union-attr]
