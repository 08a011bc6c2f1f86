"""intake: every channel into one stream.

The ingress topic and POST /api/v1/submissions, plus each channel's own way in (the hotline's webhook,
liaison visits, named reporters one by one or in a batch, Open311) -> one case per submission id ->
`case.registered`; the case-events topic -> the case view behind GET /api/v1/cases/{case_id}; the
enterprise's own pages under /e/ (see pages.py)."""

import hmac
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from pymongo.errors import DuplicateKeyError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.intake import channels, domain, enterprises, open311, pages
from services.intake.settings import IntakeSettings
from services.intake.tracking import EnterpriseAccess, idempotency_hash
from services.intake.store import IntakeStore
from shared.auth import AuthError, require_role
from shared.contracts import topics
from shared.contracts.dead_letter import DeadLetter
from shared.contracts.envelope import CaseEvent
from shared.contracts.submissions import Submission, SubmissionBody, parse_submission
from shared.http import HttpError, endpoint, field_errors, int_query, json_response, read_body, read_json, staff_of
from shared.masking import mask_name, mask_phone
from shared.messaging import BadMessage
from shared.runtime import Parts, ServiceContext

NAME = "intake"
IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,128}$")  # 1-128 printable characters (CONTRACT.md section 1)
TRACKING_NUMBER_ATTEMPTS = 5
STAFF_ROLES = ("triage_officer", "unit_handler", "leader", "supervisor", "admin")
# Roles that need an enterprise's full contact data (to call it back); others see it masked.
CONTACT_ROLES = ("triage_officer", "admin")
# Who may read one case's full contact: the platform's own services (rating's SMS invitations and revisit
# calls) and the staff roles that call enterprises back (triage, revisits by leaders and admins).
CASE_CONTACT_ROLES = ("service", "triage_officer", "leader", "admin")


class SubmissionConflict(Exception):
    """A submission id sent again with different content: not a retry. The first case stands."""


REUSED_ID = "submission_id reused with different content: not a retry; the first case stands"


def build(ctx: ServiceContext) -> Parts:
    store = IntakeStore(ctx.db, ctx.clock, ctx.settings.tz)
    own = IntakeSettings()
    enterprise_access = EnterpriseAccess(ctx, store, own)
    if own.hotline_token is None:
        ctx.development_default("QHWY_INTAKE_HOTLINE_TOKEN is unset: the hotline webhook would accept anyone")
    tz = ctx.settings.tz
    for code in (own.qrcode_channel, own.liaison_channel, own.open311_channel, ctx.settings.hotline_channel,
                 *own.reporter_channels):
        if code not in ctx.org.channel_codes:
            ctx.log.warning("channel_not_in_organisation", channel=code)

    async def enterprise_id_of(submission: Submission) -> str:
        e = submission.enterprise
        key = enterprises.identity_key(e)
        return await store.resolve_enterprise(
            key, enterprises.enterprise_id_for(key), enterprises.alias_key(e),
            {"name": e.name, "uscc": e.uscc, "contact_name": e.contact_name, "contact_phone": e.contact_phone})

    async def register(submission: Submission) -> tuple[dict[str, Any], bool]:
        """Register a submission once; a repeat returns the existing case (and republishes what never went out)."""
        case_id = domain.case_id_for(submission.submission_id)
        cause = f"submission:{submission.submission_id}"
        for _ in range(TRACKING_NUMBER_ATTEMPTS):
            existing = await store.registrations.get(case_id)
            if existing and domain.registration_fingerprint(existing) != domain.submission_fingerprint(submission):
                ctx.log.warning("submission_id_reused", submission_id=submission.submission_id, case_id=case_id)
                raise SubmissionConflict(REUSED_ID)
            if existing:
                tracking, enterprise_id = existing["tracking_no"], existing.get("enterprise_id")
            else:
                now = ctx.clock()
                tracking = domain.tracking_no(now, await store.next_sequence(now), tz)
                enterprise_id = await enterprise_id_of(submission)
            try:
                applied = await store.registrations.apply(
                    case_id, cause, lambda doc: domain.register(submission, tracking=tracking, now=ctx.clock(),
                                                                enterprise_id=enterprise_id))
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

    def receipt(doc: dict[str, Any], submission: Submission, duplicate: bool) -> dict[str, Any]:
        """The submitter's answer, with the signed link that lets it follow the case without other proof."""
        token = enterprise_access.receipt_token(doc["_id"], doc["tracking_no"])
        return {"case_id": doc["_id"], "tracking_no": doc["tracking_no"], "status": doc["status"],
                "submission_id": submission.submission_id, "enterprise_id": doc.get("enterprise_id"),
                "duplicate": duplicate, "track_token": token, "track_url": f"/e/track?token={token}"}

    async def register_or_refuse(submission: Submission) -> tuple[dict[str, Any], bool]:
        """register() for HTTP callers: a reused submission id with other content is 409 (and dead-lettered,
        as on the topic, so the refused text is kept with the reason)."""
        try:
            return await register(submission)
        except SubmissionConflict:
            await dead_letter_http(submission)
            raise HttpError(409, "该提交编号已用于另一份内容不同的提交，本次提交未被受理（原问题件不受影响）",
                            reason="submission_id_reused")

    async def dead_letter_http(submission: Submission) -> None:
        letter = DeadLetter(service=NAME, topic="http:/api/v1/submissions", key=submission.submission_id,
                            reason=REUSED_ID, failed_at=ctx.clock(),
                            payload=submission.model_dump_json())
        await ctx.broker.publish(letter.model_dump_json().encode(), topic=ctx.settings.topic(topics.SUBMISSIONS_DLQ),
                                 key=submission.submission_id.encode())

    def channel_prefix(request: Request) -> str | None:
        """The submission-id prefix a channel credential (X-Channel-Key) owns; None for an anonymous caller."""
        sent = request.headers.get("x-channel-key")
        if not sent:
            return None
        for prefix, key in own.channel_credentials.items():
            if hmac.compare_digest(sent.encode(), key.get_secret_value().encode()):
                return f"{prefix}-"
        raise HttpError(401, "渠道凭证无效")

    async def anonymous_submission_id(request: Request, body: SubmissionBody) -> str:
        """An anonymous caller never chooses a submission id: its Idempotency-Key (24 hours) names one."""
        key = request.headers.get("idempotency-key")
        if key is None:
            return f"web-{uuid.uuid4()}"
        if not IDEMPOTENCY_KEY.match(key):
            raise HttpError(422, "Idempotency-Key 请求头应为1至128个可打印字符",
                            detail=[{"field": "Idempotency-Key", "msg": "1-128 printable characters"}],
                            fields=["Idempotency-Key"])
        print_ = domain.fingerprint(body.channel, body.enterprise.name, body.enterprise.contact_phone, body.content)
        now, hashed = ctx.clock(), idempotency_hash(key)
        record = await store.idempotency_key(hashed)
        window = own.idempotency_window_hours * 3600
        fresh = record is not None and (now - _aware(record["at"])).total_seconds() < window
        if record is None:  # first use; a request racing this one with the same key may have recorded it first
            record = await store.idempotent_submission(hashed, f"web-{uuid.uuid4()}", print_, now)
        elif not fresh:  # used more than the window ago: a new submission
            record = {"_id": hashed, "submission_id": f"web-{uuid.uuid4()}", "fingerprint": print_, "at": now}
            await store.replace_idempotency_key(record)
        if record["fingerprint"] != print_:
            raise HttpError(422, "该 Idempotency-Key 已用于另一份内容不同的提交，请为新的提交使用新的键",
                            detail=[{"field": "Idempotency-Key", "msg": "reused with different content"}],
                            fields=["Idempotency-Key"])
        return str(record["submission_id"])

    # --- Kafka: the ingress topic (every channel, and the city platform through sync)
    def decode_submission(raw: bytes) -> Submission:
        try:
            return parse_submission(raw, ctx.org)
        except ValidationError as exc:
            raise BadMessage("invalid submission: " + "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()),
                exc.errors(include_url=False, include_input=False))

    async def on_submission(submission: Submission) -> str:
        try:
            _, duplicate = await register(submission)
        except SubmissionConflict as exc:
            raise BadMessage(str(exc), [{"type": "submission_id_reused", "loc": ["submission_id"], "msg": str(exc)}])
        return "duplicate" if duplicate else "ok"

    ctx.consume(topics.SUBMISSIONS, topics.SUBMISSIONS_DLQ, decode_submission, on_submission)

    # --- Kafka: the case view
    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed
        applied = await store.cases.apply(event.case_id, event.event_id, lambda doc: domain.project(doc, event))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # --- HTTP: the generic submission API (CONTRACT section 1)
    async def post_submission(request: Request) -> Any:
        # ?strict=true (the enterprise's page: a person typed it): a credit code with a wrong check character
        # or an unknown place is refused so that they can correct it; machine channels keep them
        strict = request.query_params.get("strict") == "true"
        prefix = channel_prefix(request)
        body = SubmissionBody.model_validate(await read_json(request), context={"org": ctx.org, "strict": strict})
        if prefix is None:
            if body.submission_id is not None:
                raise HttpError(422, "匿名提交不能指定 submission_id，请改用 Idempotency-Key 请求头防止重复提交",
                                detail=[{"field": "submission_id", "msg": "only channel systems choose ids"}],
                                fields=["submission_id"])
            submission_id = await anonymous_submission_id(request, body)
        elif body.submission_id is None:
            submission_id = f"{prefix}{uuid.uuid4()}"
        elif not body.submission_id.startswith(prefix):
            raise HttpError(422, f"submission_id 应以本渠道的前缀 {prefix} 开头",
                            detail=[{"field": "submission_id", "msg": f"must start with {prefix}"}],
                            fields=["submission_id"])
        else:
            submission_id = body.submission_id
        submission = Submission.model_validate({**body.model_dump(), "submission_id": submission_id})
        doc, duplicate = await register_or_refuse(submission)
        return json_response(receipt(doc, submission, duplicate), 202)

    async def staff_cases(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *STAFF_ROLES)
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if not staff.unit:
                raise HttpError(403, "承办单位账号未指定单位")
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的问题件")
            department = staff.unit
        limit = int_query(request, "limit", 50, 1, 200)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.list_cases(department=department, status=request.query_params.get("status"),
                                      limit=limit, skip=skip)
        return {"items": [domain.case_view(d) for d in docs], "limit": limit, "offset": skip}

    async def staff_enterprise(request: Request) -> Any:
        """One enterprise across channels and its history (for triage). Contacts in full only to roles that call."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "leader", "supervisor", "admin")
        record = await store.enterprise(request.path_params["enterprise_id"])
        if record is None:
            raise HttpError(404, "未找到该企业")
        full = staff.role in CONTACT_ROLES
        if full:
            await audit(staff, "enterprise_contact", enterprise_id=record["_id"])
        cases = [{"case_id": r["_id"], "tracking_no": r["tracking_no"], "channel": r["channel"],
                  "received_at": domain._iso(r.get("received_at")), "source_ref": r.get("source_ref"),
                  "content": (r.get("submission") or {}).get("content")}
                 for r in await store.registrations_of(record["_id"])]
        return {"enterprise_id": record["_id"], "name": record.get("name"), "uscc": record.get("uscc"),
                "contact_name": record.get("contact_name") if full else mask_name(record.get("contact_name")),
                "contact_phone": record.get("contact_phone") if full else mask_phone(record.get("contact_phone")),
                "first_seen": domain._iso(record.get("first_seen")), "last_seen": domain._iso(record.get("last_seen")),
                "channels": sorted({c["channel"] for c in cases}), "cases": cases}

    async def staff_case_contact(request: Request) -> Any:
        """One case's full contact from the private registration record; every disclosure is logged."""
        staff = staff_of(request, ctx.jwt_secret, allow_service=True)
        require_role(staff, *CASE_CONTACT_ROLES)
        case_id = request.path_params["case_id"]
        registration = await store.registrations.get(case_id)
        if registration is None:
            raise HttpError(404, "未找到该问题件")
        enterprise = (registration.get("submission") or {}).get("enterprise") or {}
        ctx.log.info("contact_disclosed", case_id=case_id, by=staff.sub, role=staff.role)
        await audit(staff, "case_contact", case_id=case_id, enterprise_id=registration.get("enterprise_id"))
        return {"case_id": case_id, "tracking_no": registration.get("tracking_no"),
                "enterprise_name": enterprise.get("name"), "contact_name": enterprise.get("contact_name"),
                "contact_phone": enterprise.get("contact_phone")}

    async def audit(staff: Any, what: str, **subject: Any) -> None:
        """PIPL: a staff read of personal data is recorded (who, what, whose, when), not only logged."""
        await store.audit_personal_data({"_id": str(uuid.uuid4()), "by": staff.sub, "role": staff.role,
                                         "unit": staff.unit, "what": what, "at": ctx.clock(), **subject})

    async def personal_data_reads(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "admin", "supervisor")
        limit = int_query(request, "limit", 50, 1, 500)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.personal_data_reads_of(case_id=request.query_params.get("case_id"),
                                                  staff=request.query_params.get("by"), limit=limit, skip=skip)
        return {"items": [{"id": d["_id"], **{k: domain._iso(v) for k, v in d.items() if k != "_id"}} for d in docs],
                "limit": limit, "offset": skip}

    # --- HTTP: the hotline's webhook
    async def hotline_ticket(request: Request) -> Any:
        if own.hotline_token is not None:
            sent = request.headers.get("x-hotline-token", "")
            if not hmac.compare_digest(sent.encode(), own.hotline_token.get_secret_value().encode()):
                raise HttpError(401, "热线接口凭证无效")
        ticket = channels.HotlineTicket.model_validate(await read_json(request))
        try:
            body = channels.hotline_submission(ticket, channel=ctx.settings.hotline_channel, org=ctx.org, tz=tz)
        except ValueError:
            raise HttpError(422, "来电时间格式不正确", detail=[{"field": "call_time", "msg": "not a time"}],
                            fields=["call_time"])
        submission = parse_submission(body, ctx.org)
        doc, duplicate = await register_or_refuse(submission)
        return json_response({**receipt(doc, submission, duplicate), "ticket_no": ticket.ticket_no}, 202)

    # --- HTTP: liaison officers and their visits
    async def put_officer(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "admin")
        officer = channels.Officer.model_validate({**await read_json(request),
                                                   "officer_id": request.path_params["officer_id"]},
                                                  context={"org": ctx.org})
        record = {"_id": officer.officer_id, **officer.model_dump(exclude={"officer_id"}), "updated_by": staff.sub}
        await store.save_officer(record)
        return officer_view(record, full=True)

    def officer_view(record: dict[str, Any], *, full: bool) -> dict[str, Any]:
        return {"officer_id": record["_id"], "name": record["name"],
                "phone": record["phone"] if full else mask_phone(record["phone"]),
                "units": record.get("units", []), "enterprises": record.get("enterprises", [])}

    async def list_officers(request: Request) -> Any:
        # services read it too (insight names officers in its scheduled reports; phones stay masked for them)
        staff = staff_of(request, ctx.jwt_secret, allow_service=True)
        require_role(staff, *STAFF_ROLES, "service")
        unit = staff.unit if staff.role == "unit_handler" else request.query_params.get("unit")
        limit = int_query(request, "limit", 100, 1, 500)
        skip = int_query(request, "offset", 0, 0, 10_000_000)
        docs = await store.list_officers(unit, limit, skip)
        return {"items": [officer_view(d, full=staff.role in CONTACT_ROLES) for d in docs], "limit": limit,
                "offset": skip}

    async def post_visit(request: Request) -> Any:
        """One visit, several problems: one case each, all linked to the visit and the officer."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "admin", "unit_handler")
        visit = channels.Visit.model_validate(await read_json(request))
        officer = await store.officer(visit.officer_id)
        if officer is None:
            raise HttpError(422, "联络员未登记", detail=[{"field": "officer_id", "msg": "unknown officer"}],
                            fields=["officer_id"])
        if staff.role == "unit_handler" and staff.unit not in officer.get("units", []):
            raise AuthError(403, "只能为本单位的联络员登记走访")
        bodies = channels.visit_submissions(visit, officer, channel=own.liaison_channel)
        try:
            submissions = [Submission.model_validate(b, context={"org": ctx.org}) for b in bodies]
        except ValidationError as exc:
            raise _renamed(exc, bodies)
        results = []
        for submission in submissions:
            doc, duplicate = await register(submission)
            results.append(receipt(doc, submission, duplicate))
        visit_id = channels.visit_id_of(visit)
        await store.record_visit({"_id": visit_id, "officer_id": officer["_id"], "officer_name": officer["name"],
                                  "visited_at": visit.visited_at, "enterprise_name": visit.enterprise.name,
                                  "enterprise_id": results[0]["enterprise_id"], "notes": visit.notes,
                                  "case_ids": [r["case_id"] for r in results], "recorded_by": staff.sub})
        return json_response({"visit_id": visit_id, "officer_id": officer["_id"], "cases": results}, 202)

    def _renamed(exc: ValidationError, bodies: list[dict[str, Any]]) -> HttpError:
        errors = field_errors(exc)
        return HttpError(422, "请求内容有误", detail=errors, fields=[e["field"] for e in errors])

    async def get_visit(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *STAFF_ROLES)
        visit = await store.visit(request.path_params["visit_id"])
        if visit is None:
            raise HttpError(404, "未找到该走访记录")
        return {"visit_id": visit["_id"], **{k: domain._iso(v) for k, v in visit.items() if k != "_id"}}

    # --- HTTP: named reporters (forum, deputies, CPPCC members, chambers, industry chains)
    def reporter_channel(request: Request) -> str:
        channel = request.path_params["channel"]
        if channel not in own.reporter_channels or channel not in ctx.org.channel_codes:
            raise HttpError(404, "该渠道不接受代为反映的问题")
        return channel

    async def post_reported(request: Request) -> Any:
        channel = reporter_channel(request)
        raw = await read_json(request)
        if not isinstance(raw, dict):
            raise HttpError(422, "请求内容应为对象", detail=[{"field": "body", "msg": "not an object"}])
        if raw.get("submission_id") is not None:
            raise HttpError(422, "代为反映的问题不能指定 submission_id（由平台按内容生成，同一问题不会重复受理）",
                            detail=[{"field": "submission_id", "msg": "chosen by the platform"}],
                            fields=["submission_id"])
        raw = {**raw, "channel": channel}
        reporter = raw.get("reporter") if isinstance(raw.get("reporter"), dict) else {}
        raw["reporter"] = {**reporter, "kind": channel}
        raw["submission_id"] = channels.reporter_submission_id(channel, raw)
        submission = Submission.model_validate(raw, context={"org": ctx.org})
        if not submission.reporter or not submission.reporter.name:
            raise HttpError(422, "请填写反映人姓名", detail=[{"field": "reporter.name", "msg": "required",
                                                        "message": "reporter.name: 缺少必填字段"}],
                            fields=["reporter.name"])
        doc, duplicate = await register_or_refuse(submission)
        return json_response(receipt(doc, submission, duplicate), 202)

    async def post_batch(request: Request) -> Any:
        """A CSV or xlsx file of problems collected at an event; a report per row; nothing accepted twice."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "triage_officer", "admin")
        channel = reporter_channel(request)
        content_type = request.headers.get("content-type", "")
        kind = "xlsx" if "spreadsheetml" in content_type or request.query_params.get("format") == "xlsx" else "csv"
        raw = await read_body(request, 10_000_000, "文件过大")
        try:
            rows = channels.read_batch(raw, kind)
        except channels.BatchFileError as exc:
            raise HttpError(422, str(exc), detail=[{"field": "file", "msg": str(exc)}], fields=["file"])
        if len(rows) > own.batch_max_rows:
            raise HttpError(413, f"一次最多{own.batch_max_rows}行")
        outcomes, valid = channels.validate_rows(
            rows, channel=channel, default_reporter=request.query_params.get("reporter"),
            received=ctx.clock().astimezone(tz), org=ctx.org,
            messages=lambda exc: [{"field": e["field"], "message": e["message"]} for e in field_errors(exc)])
        for outcome in outcomes:
            submission = valid.get(outcome.row)
            if submission is None or outcome.status != "pending":
                continue
            doc, duplicate = await register(submission)
            outcome.status = "duplicate" if duplicate else "accepted"
            outcome.case_id, outcome.tracking_no = doc["_id"], doc["tracking_no"]
        counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
        ctx.log.info("batch_received", channel=channel, by=staff.sub, **counts)
        return {"channel": channel, **counts, "rows": [o.as_dict() for o in outcomes]}

    # --- HTTP: Open311 GeoReport v2 (every method in .json and .xml; errors in the specification's shape)
    def o311_answer(kind: str, body: Any, fmt: str, status: int = 200) -> Response:
        if fmt == "xml":
            return Response(open311.to_xml(kind, body), status_code=status, media_type=open311.FORMATS["xml"])
        return JSONResponse(body, status_code=status, media_type=open311.FORMATS["json"])

    def o311_error(fmt: str, status: int, description: str) -> Response:
        return o311_answer("errors", open311.error(status, description), fmt, status)

    def o311_format(request: Request) -> str | None:
        fmt = request.path_params.get("fmt", "json")
        return fmt if fmt in open311.FORMATS else None

    def o311(handler: Callable[[Request, str], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The format from the path (.json / .xml), the jurisdiction checked, refusals as Open311 errors."""

        async def run(request: Request) -> Response:
            fmt = o311_format(request)
            if fmt is None:
                return o311_error("json", 404, open311.ERRORS["format"])
            if request.query_params.get("jurisdiction_id") not in (None, "", ctx.org.county.code):
                return o311_error(fmt, 404, open311.ERRORS["jurisdiction"].format(county=ctx.org.county.name))
            try:
                return await handler(request, fmt)
            except HttpError as exc:
                return o311_error(fmt, exc.status, exc.message)

        run.__name__ = handler.__name__
        return run

    async def o311_discovery(request: Request, fmt: str) -> Response:
        url = str(request.base_url).rstrip("/") + "/open311/v2"
        return o311_answer("discovery", open311.discovery(url, ctx.org.county.name,
                                                          keys_required=bool(own.open311_api_keys)), fmt)

    async def o311_services(request: Request, fmt: str) -> Response:
        return o311_answer("services", open311.services(ctx.org), fmt)

    async def o311_definition(request: Request, fmt: str) -> Response:
        definition = open311.service_definition(ctx.org, request.path_params["code"])
        if definition is None:
            return o311_error(fmt, 404, open311.ERRORS["service_code"])
        return o311_answer("service_definition", definition, fmt)

    async def o311_form(request: Request) -> dict[str, str]:
        """The create form: url-encoded as the specification says (or a JSON object), query parameters too."""
        raw = await read_body(request, 1_000_000, open311.ERRORS["too_large"])
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        form: dict[str, Any] = {}
        if content_type.endswith("json"):
            try:
                parsed = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
                parsed = None
            for key, value in (parsed.items() if isinstance(parsed, dict) else [("", [])]):
                if isinstance(value, (int, float, bool)):
                    value = str(value).lower() if isinstance(value, bool) else str(value)
                if isinstance(value, str):
                    form[str(key)] = value
                elif value is not None:
                    form[""] = ""  # a nested value or not an object: not a form
        elif raw:
            try:
                form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
            except (UnicodeDecodeError, ValueError):
                form = {"": ""}
        return {**dict(request.query_params), **form}

    async def o311_create(request: Request, fmt: str) -> Response:
        """The api_key (when the county issues keys) is checked first, whatever the body and its content type."""
        form = await o311_form(request)  # {"": ""}: a body that is not a form (or a flat JSON object)
        sent = form.get("api_key") or ""
        if own.open311_api_keys and not any(hmac.compare_digest(sent.encode(), key.encode())
                                            for key in own.open311_api_keys):
            return o311_error(fmt, 403, open311.ERRORS["api_key"])
        if "" in form:
            return o311_error(fmt, 400, open311.ERRORS["body"])
        if form.get("jurisdiction_id") not in (None, "", ctx.org.county.code):
            return o311_error(fmt, 404, open311.ERRORS["jurisdiction"].format(county=ctx.org.county.name))
        if not form.get("service_code"):
            return o311_error(fmt, 400, open311.ERRORS["service_code_missing"])
        body = open311.submission_body(form, channel=own.open311_channel, now=ctx.clock())
        body["submission_id"] = f"open311-{uuid.uuid4()}"
        try:
            submission = Submission.model_validate(body, context={"org": ctx.org})
        except ValidationError as exc:
            problems = [f"{open311.PARAMETER_OF.get(e['field'], e['field'])}: {e['message'].split(': ', 1)[-1]}"
                        for e in field_errors(exc)]
            return o311_answer("errors", [{"code": 400, "description": p} for p in problems], fmt, 400)
        doc, _ = await register(submission)
        return o311_answer("service_requests", [{"service_request_id": doc["tracking_no"],
                                                 "service_notice": "已受理，请凭查询编号跟踪办理进度",
                                                 "account_id": None}], fmt, 201)

    async def o311_request(request: Request, fmt: str) -> Response:
        tracking = request.path_params["request_id"]
        doc = await store.view_by_tracking_no(tracking) or await store.registration_by_tracking_no(tracking)
        if doc is None:
            return o311_error(fmt, 404, open311.ERRORS["request"])
        if "content" not in doc and "submission" in doc:
            doc = {**doc, "content": None}
        return o311_answer("service_requests",
                           [open311.service_request(doc, ctx.org, tz, public_text=own.open311_public_text)], fmt)

    async def o311_requests(request: Request, fmt: str) -> Response:
        q = request.query_params
        ids = [s for s in (q.get("service_request_id") or "").split(",") if s]
        try:
            start = datetime.fromisoformat(q["start_date"].replace("Z", "+00:00")) if q.get("start_date") else None
            end = datetime.fromisoformat(q["end_date"].replace("Z", "+00:00")) if q.get("end_date") else None
        except ValueError:
            return o311_error(fmt, 400, open311.ERRORS["dates"])
        if any(d is not None and d.tzinfo is None for d in (start, end)):
            start, end = (d if d is None or d.tzinfo else d.replace(tzinfo=tz) for d in (start, end))
        if not ids:  # the specification: the most recent 90 days unless told otherwise, never a longer span
            window = timedelta(days=open311.MAX_DAYS)
            if start is None:
                start = (end or ctx.clock()) - window
            if end is not None and end - start > window:
                return o311_error(fmt, 400, open311.ERRORS["range"])
        wanted = {s for s in (q.get("status") or "").split(",") if s}
        if wanted - {"open", "closed"}:
            return o311_error(fmt, 400, open311.ERRORS["status"])
        closed = sorted(open311.CLOSED_STATUSES)
        status = None if len(wanted) != 1 else ({"$in": closed} if wanted == {"closed"} else {"$nin": closed})
        try:
            page = int(q.get("page", "1"))
            page_size = int(q.get("page_size", "50"))
        except ValueError:
            return o311_error(fmt, 400, open311.ERRORS["page"])
        page, page_size = max(page, 1), min(max(page_size, 1), 200)
        codes = [s for s in (q.get("service_code") or "").split(",") if s]
        docs = await store.find_requests(tracking_nos=ids or None, categories=None if ids else codes or None,
                                         status=None if ids else status, start=None if ids else start,
                                         end=None if ids else end, limit=page_size, skip=(page - 1) * page_size)
        return o311_answer("service_requests", [open311.service_request(d, ctx.org, tz,
                                                                        public_text=own.open311_public_text)
                                                for d in docs], fmt)

    async def sweep() -> None:
        await ctx.sweep_outbox(store.registrations)
        await enterprise_access.forget()

    open311_routes: list[BaseRoute] = [
        Route("/open311/discovery.{fmt}", o311(o311_discovery), methods=["GET"]),
        Route("/open311/v2/discovery.{fmt}", o311(o311_discovery), methods=["GET"]),
        Route("/open311/v2/services.{fmt}", o311(o311_services), methods=["GET"]),
        Route("/open311/v2/services/{code}.{fmt}", o311(o311_definition), methods=["GET"]),
        Route("/open311/v2/requests.{fmt}", o311(o311_create), methods=["POST"]),
        Route("/open311/v2/requests.{fmt}", o311(o311_requests), methods=["GET"]),
        Route("/open311/v2/requests/{request_id}.{fmt}", o311(o311_request), methods=["GET"]),
    ]
    return Parts(
        routes=[
            Route("/api/v1/submissions", endpoint(post_submission), methods=["POST"]),
            *enterprise_access.routes(),
            Route("/api/v1/staff/audit/personal-data", endpoint(personal_data_reads), methods=["GET"]),
            Route("/api/v1/staff/cases", endpoint(staff_cases), methods=["GET"]),
            Route("/api/v1/staff/enterprises/{enterprise_id}", endpoint(staff_enterprise), methods=["GET"]),
            Route("/api/v1/staff/cases/{case_id}/contact", endpoint(staff_case_contact), methods=["GET"]),
            Route("/api/v1/channels/hotline/tickets", endpoint(hotline_ticket), methods=["POST"]),
            Route("/api/v1/liaison/officers", endpoint(list_officers), methods=["GET"]),
            Route("/api/v1/liaison/officers/{officer_id}", endpoint(put_officer), methods=["PUT"]),
            Route("/api/v1/liaison/visits", endpoint(post_visit), methods=["POST"]),
            Route("/api/v1/liaison/visits/{visit_id}", endpoint(get_visit), methods=["GET"]),
            Route("/api/v1/channels/{channel}/submissions", endpoint(post_reported), methods=["POST"]),
            Route("/api/v1/channels/{channel}/batches", endpoint(post_batch), methods=["POST"]),
            *open311_routes,
            *pages.routes(ctx.org, own),
        ],
        on_start=[store.ensure_indexes],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )


def _aware(value: datetime) -> datetime:
    from datetime import UTC

    return value if value.tzinfo else value.replace(tzinfo=UTC)
