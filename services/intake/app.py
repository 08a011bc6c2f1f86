"""intake: the ingress topic and POST /api/v1/submissions -> one case per submission id -> `case.registered`;
the case-events topic -> the case view behind GET /api/v1/cases/{case_id}."""

import uuid
from typing import Any

from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.routing import Route

from services.intake import domain
from services.intake.store import IntakeStore
from shared.auth import require_role
from shared.contracts import topics
from shared.contracts.envelope import CaseEvent
from shared.contracts.submissions import Submission, SubmissionBody, parse_submission
from shared.http import HttpError, endpoint, int_query, json_response, read_json, staff_of
from shared.messaging import BadMessage
from shared.runtime import Parts, ServiceContext

NAME = "intake"
TRACKING_NUMBER_ATTEMPTS = 5


def build(ctx: ServiceContext) -> Parts:
    store = IntakeStore(ctx.db, ctx.clock, ctx.settings.tz)

    async def register(submission: Submission) -> tuple[dict[str, Any], bool]:
        """Register a submission once; a repeat returns the existing case (and republishes what never went out)."""
        case_id = domain.case_id_for(submission.submission_id)
        cause = f"submission:{submission.submission_id}"
        for _ in range(TRACKING_NUMBER_ATTEMPTS):
            existing = await store.registrations.get(case_id)
            if existing:
                tracking = existing["tracking_no"]
            else:
                now = ctx.clock()
                tracking = domain.tracking_no(now, await store.next_sequence(now), ctx.settings.tz)
            try:
                applied = await store.registrations.apply(
                    case_id, cause, lambda doc: domain.register(submission, tracking=tracking, now=ctx.clock()))
                break
            except DuplicateKeyError:  # another instance drew the same number: draw again
                ctx.log.warning("tracking_number_collision", tracking_no=tracking)
        else:
            raise RuntimeError("could not allocate a unique tracking number")
        await ctx.emit(store.registrations, case_id, applied.events)
        if not applied.duplicate:
            ctx.metrics.cases_registered.labels(NAME, submission.channel).inc()
            ctx.log.info("case_registered", case_id=case_id, channel=submission.channel, tracking_no=tracking)
        return applied.doc, applied.duplicate

    # --- Kafka: the ingress topic
    def decode_submission(raw: bytes) -> Submission:
        try:
            return parse_submission(raw, ctx.org)
        except ValidationError as exc:
            raise BadMessage("invalid submission: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()),
                exc.errors(include_url=False, include_input=False))

    async def on_submission(submission: Submission) -> str:
        _, duplicate = await register(submission)
        return "duplicate" if duplicate else "ok"

    ctx.consume(topics.SUBMISSIONS, topics.SUBMISSIONS_DLQ, decode_submission, on_submission)

    # --- Kafka: the case view
    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        applied = await store.cases.apply(event.case_id, event.event_id, lambda doc: domain.project(doc, event))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # --- HTTP
    async def post_submission(request: Request) -> Any:
        body = SubmissionBody.model_validate(await read_json(request), context={"org": ctx.org})
        if body.submission_id is None:
            body = body.model_copy(update={"submission_id": f"web-{uuid.uuid4()}"})
        submission = Submission.model_validate(body.model_dump())
        doc, _ = await register(submission)
        return json_response({"case_id": doc["_id"], "tracking_no": doc["tracking_no"], "status": doc["status"],
                              "submission_id": submission.submission_id}, 202)

    async def get_case(request: Request) -> Any:
        doc = await store.case(request.path_params["case_id"])
        if doc is None:
            raise HttpError(404, "未找到该问题件")
        return domain.case_view(doc)

    async def track(request: Request) -> Any:
        tracking = request.query_params.get("tracking_no")
        if not tracking:
            raise HttpError(422, "请提供查询编号", detail=[{"field": "tracking_no", "msg": "required"}])
        doc = await store.find_by_tracking_no(tracking)
        if doc is None:
            raise HttpError(404, "未找到该查询编号对应的问题件")
        return domain.case_view(doc)

    async def staff_cases(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "unit_handler", "leader", "supervisor", "admin")
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的问题件")
            department = staff.unit
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.list_cases(department=department, status=request.query_params.get("status"),
                                      limit=limit, skip=skip)
        return {"items": [domain.case_view(d) for d in docs], "limit": limit, "offset": skip}

    async def sweep() -> None:
        await ctx.sweep_outbox(store.registrations)

    return Parts(
        routes=[
            Route("/api/v1/submissions", endpoint(post_submission), methods=["POST"]),
            Route("/api/v1/cases", endpoint(track), methods=["GET"]),
            Route("/api/v1/cases/{case_id}", endpoint(get_case), methods=["GET"]),
            Route("/api/v1/staff/cases", endpoint(staff_cases), methods=["GET"]),
        ],
        on_start=[store.ensure_indexes],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )
