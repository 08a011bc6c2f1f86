"""Open311 GeoReport v2 over HTTP under /open311/v2 (the pure mapping is open311.py): every method in .json and
.xml, the jurisdiction checked, refusals in the specification's error shape (not the platform's JSON refusals,
hence plain Starlette routes rather than a RouteTable)."""

import hmac
import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from services.intake import open311
from services.intake.deps import Deps
from services.intake.registration import register
from shared.contracts.submissions import Submission
from shared.http import field_errors, read_body
from shared.refusal import Refusal

Open311Handler = Callable[[Request, str, Deps], Awaitable[Response]]


def answer(kind: str, body: Any, fmt: str, status: int = 200) -> Response:
    if fmt == "xml":
        return Response(open311.to_xml(kind, body), status_code=status, media_type=open311.FORMATS["xml"])
    return JSONResponse(body, status_code=status, media_type=open311.FORMATS["json"])


def error(fmt: str, status: int, description: str) -> Response:
    return answer("errors", open311.error(status, description), fmt, status)


def format_of(request: Request) -> str | None:
    fmt = request.path_params.get("fmt", "json")
    return fmt if fmt in open311.FORMATS else None


def unknown_jurisdiction(fmt: str, deps: Deps) -> Response:
    return error(fmt, 404, open311.ERRORS["jurisdiction"].format(county=deps.org.county.name))


def bound(handler: Open311Handler, deps: Deps) -> Callable[[Request], Awaitable[Response]]:
    """The format from the path (.json / .xml), the jurisdiction checked, refusals as Open311 errors."""

    async def run(request: Request) -> Response:
        fmt = format_of(request)
        if fmt is None:
            return error("json", 404, open311.ERRORS["format"])
        if request.query_params.get("jurisdiction_id") not in (None, "", deps.org.county.code):
            return unknown_jurisdiction(fmt, deps)
        try:
            return await handler(request, fmt, deps)
        except Refusal as exc:
            return error(fmt, exc.status, exc.message)

    run.__name__ = handler.__name__
    return run


async def discovery(request: Request, fmt: str, deps: Deps) -> Response:
    url = str(request.base_url).rstrip("/") + "/open311/v2"
    return answer("discovery", open311.discovery(url, deps.org.county.name,
                                                 keys_required=bool(deps.settings.open311_api_keys)), fmt)


async def services(request: Request, fmt: str, deps: Deps) -> Response:
    return answer("services", open311.services(deps.org), fmt)


async def definition(request: Request, fmt: str, deps: Deps) -> Response:
    found = open311.service_definition(deps.org, request.path_params["code"])
    if found is None:
        return error(fmt, 404, open311.ERRORS["service_code"])
    return answer("service_definition", found, fmt)


def json_form(raw: bytes) -> dict[str, str]:
    """A flat JSON object as a form; {"": ""} when it is not one (a nested value, not an object, not JSON)."""
    try:
        parsed = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        parsed = None
    form: dict[str, str] = {}
    for key, value in (parsed.items() if isinstance(parsed, dict) else [("", [])]):
        if isinstance(value, (int, float, bool)):
            value = str(value).lower() if isinstance(value, bool) else str(value)
        if isinstance(value, str):
            form[str(key)] = value
        elif value is not None:
            form[""] = ""
    return form


async def read_form(request: Request) -> dict[str, str]:
    """The create form: url-encoded as the specification says (or a JSON object), query parameters too."""
    raw = await read_body(request, 1_000_000, open311.ERRORS["too_large"])
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    form: dict[str, str] = {}
    if content_type.endswith("json"):
        form = json_form(raw)
    elif raw:
        try:
            form = dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError):
            form = {"": ""}
    return {**dict(request.query_params), **form}


async def create(request: Request, fmt: str, deps: Deps) -> Response:
    """The api_key (when the county issues keys) is checked first, whatever the body and its content type."""
    form = await read_form(request)  # {"": ""}: a body that is not a form (or a flat JSON object)
    sent, keys = form.get("api_key") or "", deps.settings.open311_api_keys
    if keys and not any(hmac.compare_digest(sent.encode(), key.encode()) for key in keys):
        return error(fmt, 403, open311.ERRORS["api_key"])
    if "" in form:
        return error(fmt, 400, open311.ERRORS["body"])
    if form.get("jurisdiction_id") not in (None, "", deps.org.county.code):
        return unknown_jurisdiction(fmt, deps)
    if not form.get("service_code"):
        return error(fmt, 400, open311.ERRORS["service_code_missing"])
    body = open311.submission_body(form, channel=deps.settings.open311_channel, now=deps.ctx.clock())
    body["submission_id"] = f"open311-{uuid.uuid4()}"
    try:
        submission = Submission.model_validate(body, context={"org": deps.org})
    except ValidationError as exc:  # named by the Open311 parameter people sent, in the specification's shape
        problems = [f"{open311.PARAMETER_OF.get(e['field'], e['field'])}: {e['message'].split(': ', 1)[-1]}"
                    for e in field_errors(exc)]
        return answer("errors", [{"code": 400, "description": p} for p in problems], fmt, 400)
    doc, _ = await register(deps, submission)
    return answer("service_requests", [{"service_request_id": doc["tracking_no"],
                                        "service_notice": "已受理，请凭查询编号跟踪办理进度",
                                        "account_id": None}], fmt, 201)


async def one_request(request: Request, fmt: str, deps: Deps) -> Response:
    tracking = request.path_params["request_id"]
    doc = await deps.store.view_by_tracking_no(tracking) or await deps.store.registration_by_tracking_no(tracking)
    if doc is None:
        return error(fmt, 404, open311.ERRORS["request"])
    if "content" not in doc and "submission" in doc:
        doc = {**doc, "content": None}
    return answer("service_requests",
                  [open311.service_request(doc, deps.org, deps.tz, public_text=deps.settings.open311_public_text)],
                  fmt)


def date_range(query: Any, deps: Deps) -> tuple[datetime | None, datetime | None]:
    """start_date and end_date (ValueError when unreadable); without an offset they are the county's time."""
    start = datetime.fromisoformat(query["start_date"].replace("Z", "+00:00")) if query.get("start_date") else None
    end = datetime.fromisoformat(query["end_date"].replace("Z", "+00:00")) if query.get("end_date") else None
    if any(d is not None and d.tzinfo is None for d in (start, end)):
        start, end = (d if d is None or d.tzinfo else d.replace(tzinfo=deps.tz) for d in (start, end))
    return start, end


async def requests(request: Request, fmt: str, deps: Deps) -> Response:
    q = request.query_params
    ids = [s for s in (q.get("service_request_id") or "").split(",") if s]
    try:
        start, end = date_range(q, deps)
    except ValueError:
        return error(fmt, 400, open311.ERRORS["dates"])
    if not ids:  # the specification: the most recent 90 days unless told otherwise, never a longer span
        window = timedelta(days=open311.MAX_DAYS)
        if start is None:
            start = (end or deps.ctx.clock()) - window
        if end is not None and end - start > window:
            return error(fmt, 400, open311.ERRORS["range"])
    wanted = {s for s in (q.get("status") or "").split(",") if s}
    if wanted - {"open", "closed"}:
        return error(fmt, 400, open311.ERRORS["status"])
    closed = sorted(open311.CLOSED_STATUSES)
    status = None if len(wanted) != 1 else ({"$in": closed} if wanted == {"closed"} else {"$nin": closed})
    try:
        page, page_size = int(q.get("page", "1")), int(q.get("page_size", "50"))
    except ValueError:
        return error(fmt, 400, open311.ERRORS["page"])
    page, page_size = max(page, 1), min(max(page_size, 1), 200)
    codes = [s for s in (q.get("service_code") or "").split(",") if s]
    docs = await deps.store.find_requests(tracking_nos=ids or None, categories=None if ids else codes or None,
                                          status=None if ids else status, start=None if ids else start,
                                          end=None if ids else end, limit=page_size, skip=(page - 1) * page_size)
    return answer("service_requests", [open311.service_request(d, deps.org, deps.tz,
                                                               public_text=deps.settings.open311_public_text)
                                       for d in docs], fmt)


def routes(deps: Deps) -> list[BaseRoute]:
    return [
        Route("/open311/discovery.{fmt}", bound(discovery, deps), methods=["GET"]),
        Route("/open311/v2/discovery.{fmt}", bound(discovery, deps), methods=["GET"]),
        Route("/open311/v2/services.{fmt}", bound(services, deps), methods=["GET"]),
        Route("/open311/v2/services/{code}.{fmt}", bound(definition, deps), methods=["GET"]),
        Route("/open311/v2/requests.{fmt}", bound(create, deps), methods=["POST"]),
        Route("/open311/v2/requests.{fmt}", bound(requests, deps), methods=["GET"]),
        Route("/open311/v2/requests/{request_id}.{fmt}", bound(one_request, deps), methods=["GET"]),
    ]
