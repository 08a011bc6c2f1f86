"""rating: 好差评 by the enterprise, revisits, supervision of unhappy cases, appeals, and the figures.

Case events -> the case file (`case_files`), revisit tasks, supervisions; the enterprise's signed one-time link
(or its tracking page) -> `case.rated`; revisit staff -> `case.revisited`; a dissatisfied rating or an unsolved
revisit -> `case.referred` + `case.reopened`; supervisors -> `case.supervised`; appeals -> `case.rating_appealed`,
`case.rating_reviewed`.
"""

import asyncio
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from weakref import WeakValueDictionary

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import Counter, Gauge
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from services.rating import domain, evaluations, figures, links
from services.rating.contacts import ContactLookup, ContactUnavailable, ProofRefused, ServiceToken
from services.rating.links import LinkRefused
from services.rating.notifier import Invitation, make_notifier
from services.rating.settings import RatingSettings
from services.rating.store import RatingStore
from shared.auth import Staff, require_role
from shared.contracts import case_events as ce
from shared.contracts.envelope import CaseEvent
from shared.track_links import verify_track_token
from shared.http import (HttpError, client_address, endpoint, int_query, json_response, read_body, read_json,
                         staff_of)
from shared.runtime import Parts, ServiceContext
from shared.store import CaseDocuments

NAME = "rating"
COUNTY_ROLES = ("leader", "supervisor", "admin")
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class RatingBody(_Body):
    token: str = Field(min_length=1, max_length=4000)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class TrackedRatingBody(_Body):
    """The tracking page's rating: a proof of the enterprise (the tracking number with the last four phone
    digits or a one-time code, or the token the tracking page got for its proof) opens the case."""
    tracking_no: str | None = Field(default=None, min_length=1, max_length=64)
    phone_last4: str | None = Field(default=None, pattern=r"^\d{4}$")
    code: str | None = Field(default=None, pattern=r"^\d{6}$")
    token: str | None = Field(default=None, min_length=1, max_length=2048)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class ResendBody(_Body):
    tracking_no: str = Field(min_length=1, max_length=64)


class RevisitBody(_Body):
    said: str = Field(min_length=1, max_length=2000)  # what the enterprise said
    solved: bool  # whether the problem is really solved
    visited_at: AwareDatetime | None = None  # when the call or visit took place; default: now
    note: str | None = Field(default=None, max_length=2000)


class SupervisionBody(_Body):
    note: str = Field(min_length=1, max_length=2000)
    findings: list[str] = Field(default_factory=list, max_length=20)


class AppealBody(_Body):
    case_id: str = Field(min_length=1, max_length=64)
    round: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=2000)
    evidence: list[str] = Field(default_factory=list, max_length=20)


class EvaluationBody(_Body):
    """营商办's own evaluation of a resolution round (the current one when `round` is left out)."""
    case_id: str = Field(min_length=1, max_length=64)
    round: int | None = Field(default=None, ge=1)
    level: str = Field(min_length=1, max_length=64)
    comment: str | None = Field(default=None, max_length=1000)


class ReviewBody(_Body):
    decision: str = Field(pattern="^(upheld|excluded)$")
    reason: str = Field(min_length=1, max_length=2000)


def oversight_of(ctx: ServiceContext, settings: RatingSettings) -> tuple[str, str]:
    """The oversight unit that receives referrals: configured, or the first in the organisation file."""
    if not ctx.org.oversight:
        raise ValueError("the organisation file names no oversight unit to refer dissatisfied cases to")
    code = settings.oversight_unit or ctx.org.oversight[0].code
    unit = next((o for o in ctx.org.oversight if o.code == code), None)
    if unit is None:
        raise ValueError(f"QHWY_RATING_OVERSIGHT_UNIT={code!r} is not an oversight unit of the organisation file")
    return unit.code, unit.name


def build(ctx: ServiceContext) -> Parts:
    settings = RatingSettings()
    oversight_code, oversight_name = oversight_of(ctx, settings)
    policy = domain.Policy(
        satisfied_levels=frozenset(level.code for level in ctx.org.rating_levels if level.satisfied),
        level_names={level.code: level.name for level in ctx.org.rating_levels},
        oversight_unit=oversight_code, oversight_name=oversight_name, tz=ctx.settings.tz,
        unrated_window_working_days=settings.unrated_window_working_days,
        rectification_working_days=settings.rectification_working_days,
        phone_revisit_percent=settings.phone_revisit_percent)
    secret = settings.link_secret.get_secret_value() if settings.link_secret else ctx.jwt_secret
    store = RatingStore(ctx.db, ctx.clock)
    contacts = ContactLookup(
        settings.contact_lookup_url or
        f"http://127.0.0.1:{ctx.settings.http_port}/api/v1/staff/cases/{{case_id}}/contact",
        ServiceToken(ctx.jwt_secret), settings.contact_lookup_timeout_seconds)
    notifier = make_notifier(settings, ctx.log, contacts)
    refused = Counter("qhwy_rating_links_refused", "Rating links refused, by reason (forged, expired, replayed …)",
                      ["reason"], registry=ctx.registry)
    ratings_given = Counter("qhwy_ratings", "Ratings given by enterprises, by level and source",
                            ["level", "source"], registry=ctx.registry)
    gauges = {
        name: Gauge(f"qhwy_rating_{name}", help_text, ["scope", "code"], registry=ctx.registry)
        for name, help_text in (
            ("satisfaction_ratio", "满意率: satisfied / counted ratings (excluded ratings left out)"),
            ("unrated_ratio", "未评价率: resolutions without a rating / resolutions"),
            ("rectified_ratio", "Referred resolutions whose next resolution was rated satisfied / referred"),
            ("revisit_coverage_ratio", "Resolutions revisited at least once / resolutions"),
            ("dissatisfied", "Counted ratings that are not satisfied"),
            ("reopened", "Resolutions reopened"),
            ("on_time_ratio", "按期办结率: resolutions by their deadline / resolutions"),
        )}
    evaluation_gauge = Gauge("qhwy_rating_evaluation_ratio",
                             "满意率 by evaluation source (enterprise, business_office, third_party) and combined",
                             ["scope", "code", "source"], registry=ctx.registry)
    weights = ctx.org.evaluation_weights.as_dict()

    async def emit_applied(docs: CaseDocuments, key: str, events: list[CaseEvent]) -> None:
        await ctx.emit(docs, key, events)

    # ------------------------------------------------------------------ follow-ups of the case file

    async def invite(doc: dict[str, Any]) -> dict[str, Any]:
        """Send the enterprise a fresh one-time link for the current resolution; returns the invitation."""
        now = ctx.clock()
        number = doc["round"]
        token, claim = links.issue(secret, case_id=doc["_id"], round=number, now=now,
                                   valid=timedelta(days=settings.link_valid_days))
        current = doc["rounds"][str(number)]
        invitation = Invitation(
            case_id=doc["_id"], tracking_no=doc.get("tracking_no"), enterprise=(doc.get("enterprise") or {}).get("name"),
            contact_phone=(doc.get("enterprise") or {}).get("contact_phone"),
            link=f"{settings.public_base_url.rstrip('/')}/e/rate/{token}", round=number,
            rectification=current.get("rectification", False), expires_at=claim.expires_at)
        await notifier.send(invitation)
        await store.cases.apply(doc["_id"], f"invite:{claim.link_id}", lambda d: domain.mark_invited(d, number, now))
        return {"sent_to": invitation.contact_phone, "round": number, "expires_at": claim.expires_at.isoformat()}

    follow_up_locks: WeakValueDictionary[str, asyncio.Lock] = WeakValueDictionary()

    async def follow_up(case_id: str) -> None:
        """Make sure what the case file calls for exists: its revisit tasks, its rating invitation.

        The consumer and the periodic scan both call this; one at a time per case, so one invitation goes out.
        """
        lock = follow_up_locks.get(case_id)
        if lock is None:
            lock = follow_up_locks[case_id] = asyncio.Lock()
        async with lock:
            await _follow_up(case_id)

    async def _follow_up(case_id: str) -> None:
        doc = await store.cases.get(case_id)
        if doc is None or doc.get("round", 0) == 0:
            return
        for method, reason in domain.wanted_revisits(doc):
            key = domain.task_id(case_id, doc["round"], method)
            await store.revisits.apply(key, f"task:{key}", lambda task, m=method, r=reason: None if task else
                                       domain.new_task(doc, case_id, m, r, ctx.clock()))
        if doc["state"] == "awaiting_rating" and not doc.get("invited"):
            try:
                await invite(doc)
            except Exception:  # the periodic scan tries again; a failing gateway must not stop the stream
                ctx.log.exception("rating_invitation_failed", case_id=case_id)

    # ------------------------------------------------------------------ Kafka: the case events

    async def note_exclusion(event: CaseEvent, data: ce.RatingReviewed) -> None:
        """An excluded rating that had started a supervision (and a reopening) is recorded on that supervision."""
        key = f"{event.case_id}:{data.round}"
        if data.decision != "excluded" or await store.get(store.supervisions, key) is None:
            return  # no referral came of this round: nothing to record (and no empty supervision to create)
        case = await store.cases.get(event.case_id)
        noted: list[dict[str, Any]] = []

        def decide(doc: dict[str, Any] | None) -> Any:
            change = domain.note_rating_excluded(doc, case, data, event.occurred_at)
            noted[:] = [change.set["rating_excluded"]] if change else []
            return change

        applied = await store.supervisions.apply(key, event.event_id, decide)
        if noted and not applied.duplicate:
            ctx.log.warning("supervised_rating_excluded", supervision_id=key,
                            case_reopened=noted[0]["case_reopened"], by=data.by)

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, data = parsed
        applied = await store.cases.apply(event.case_id, event.event_id,
                                          lambda doc: domain.fold(doc, event, data, policy))
        await emit_applied(store.cases, event.case_id, applied.events)
        if event.type == "case.referred":
            assert isinstance(data, ce.Referred)
            number = data.round or applied.doc.get("round", 0)
            case = await store.cases.get(event.case_id)
            await store.supervisions.apply(f"{event.case_id}:{number}", event.event_id,
                                           lambda doc: domain.open_supervision(doc, event, data, case))
        if event.type == "case.rating_reviewed":
            assert isinstance(data, ce.RatingReviewed)
            await note_exclusion(event, data)
        if event.type in ("case.resolved", "case.rated", "case.revisited", "case.referred"):
            await follow_up(event.case_id)
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # ------------------------------------------------------------------ periodic jobs

    async def scan() -> None:
        now = ctx.clock()
        for doc in await store.unrated_due(now):
            await store.cases.apply(doc["_id"], f"unrated:{doc['_id']}:{now.isoformat()}",
                                    lambda current: domain.flag_unrated(current, now))
            await follow_up(doc["_id"])
        cursor = store.cases.collection.find({"state": "awaiting_rating", "invited": False}, {"_id": 1}).limit(200)
        for doc in await cursor.to_list():
            await follow_up(doc["_id"])

    async def refresh_figures() -> None:
        docs = await store.resolved_cases()
        for scope in ("unit", "region", "county"):
            for group in figures.figures(docs, scope, ctx.settings.tz, weights=weights)["groups"]:
                for name, key in (("satisfaction_ratio", "satisfaction_rate"), ("unrated_ratio", "unrated_rate"),
                                  ("rectified_ratio", "rectified_share"),
                                  ("revisit_coverage_ratio", "revisit_coverage"),
                                  ("dissatisfied", "dissatisfied"), ("reopened", "reopened"),
                                  ("on_time_ratio", "on_time_rate")):
                    if group[key] is not None:
                        gauges[name].labels(scope, group["key"]).set(group[key])
                evaluation = group["evaluation"]
                for source in ("enterprise", "business_office", "third_party"):
                    if evaluation[source]["value"] is not None:
                        evaluation_gauge.labels(scope, group["key"], source).set(evaluation[source]["value"])
                if evaluation["combined"] is not None:
                    evaluation_gauge.labels(scope, group["key"], "combined").set(evaluation["combined"])

    async def sweep() -> None:
        for docs in store.all:
            await ctx.sweep_outbox(docs)

    # ------------------------------------------------------------------ the enterprise rates

    def refuse_link(exc: LinkRefused, **context: Any) -> None:
        refused.labels(exc.reason).inc()
        ctx.log.warning("rating_link_refused", reason=exc.reason, **context)

    async def submit_rating(token: str, level: str, comment: str | None) -> dict[str, Any]:
        now = ctx.clock()
        try:
            claim = links.verify(secret, token, now)
        except LinkRefused as exc:
            refuse_link(exc)
            raise
        if level not in policy.level_names:
            raise HttpError(422, "请选择有效的评价等级", detail=[{"field": "level", "msg": "unknown rating level"}],
                            fields=["level"])
        cause = f"rate:{claim.case_id}:{claim.round}"
        try:
            applied = await store.cases.apply(claim.case_id, cause, lambda doc: domain.rate(
                doc, case_id=claim.case_id, link_round=claim.round, level=level, comment=comment, now=now,
                source="link", request_id=cause, policy=policy))
        except LinkRefused as exc:
            refuse_link(exc, case_id=claim.case_id, round=claim.round, link_id=claim.link_id)
            raise
        await emit_applied(store.cases, claim.case_id, applied.events)
        if applied.duplicate:  # this round was rated through a link before
            exc = LinkRefused("superseded" if applied.doc.get("round", 0) > claim.round else "replayed")
            refuse_link(exc, case_id=claim.case_id, round=claim.round, link_id=claim.link_id)
            raise exc
        ratings_given.labels(level, "link").inc()
        ctx.log.info("case_rated", case_id=claim.case_id, round=claim.round, level=level)
        await follow_up(claim.case_id)
        return {"case_id": claim.case_id, "round": claim.round, "level": level,
                "name": policy.level_names[level], "satisfied": level in policy.satisfied_levels}

    async def post_rating(request: Request) -> Any:
        body = RatingBody.model_validate(await read_json(request))
        try:
            return json_response(await submit_rating(body.token, body.level, body.comment), 201)
        except LinkRefused as exc:
            raise HttpError(exc.status, exc.message, reason=exc.reason)

    tracked_messages = {
        "replayed": (409, "该次办理已评价，感谢您的评价"),
        "superseded": (409, "问题已重新办理，请刷新页面后评价最新的办理结果"),
        "not_awaiting": (409, "该问题目前不在待评价状态"),
        "unknown_case": (409, "该问题目前不在待评价状态"),
        "forged": (409, "问题已重新办理，请刷新页面后评价最新的办理结果"),
    }

    proof_url = settings.proof_url or f"http://127.0.0.1:{ctx.settings.http_port}/api/v1/internal/proofs"

    async def proven_case(request: Request, proof: dict[str, Any]) -> dict[str, Any]:
        """The case an enterprise's proof opens. intake checks the proof, under the one guessing budget per
        tracking number and per address that also guards the tracking page."""
        proof = {k: v for k, v in proof.items() if v}
        if proof.get("token"):  # the enterprise's signed link (the tracking page's token): no guessing to limit
            claim = verify_track_token(ctx.jwt_secret, proof["token"], ctx.clock())
            doc = await store.cases.get(claim.case_id) if claim else None
            if claim is None:
                refused.labels("bad_proof").inc()
                raise HttpError(404, "链接无效或已过期，请用查询编号重新查询")
            if doc is None:
                raise HttpError(409, "该问题目前不在待评价状态")
            return {**doc, "tracking_no": doc.get("tracking_no") or claim.tracking_no}
        if not proof.get("token") and not (proof.get("tracking_no") and (proof.get("phone_last4") or proof.get("code"))):
            raise HttpError(404, "未找到该问题件")  # no proof: nothing to see (CONTRACT.md section 3)
        try:
            proven = await contacts.prove(proof_url, {**proof, "address": client_address(
                request, ctx.settings.trusted_proxies)})
        except ProofRefused as exc:
            refused.labels("proof_throttled" if exc.status == 429 else "bad_proof").inc()
            raise HttpError(exc.status, exc.message,
                            headers={"retry-after": exc.retry_after} if exc.retry_after else None)
        except ContactUnavailable:
            ctx.log.exception("proof_check_failed")
            raise HttpError(503, "暂时无法核验，请稍后再试")
        doc = await store.cases.get(proven["case_id"])
        if doc is None:
            raise HttpError(409, "该问题目前不在待评价状态")
        return {**doc, "tracking_no": doc.get("tracking_no") or proven["tracking_no"]}

    async def post_tracked_rating(request: Request) -> Any:
        """The tracking page rates the current resolution: one rating per resolution, as by a link."""
        body = TrackedRatingBody.model_validate(await read_json(request))
        doc = await proven_case(request, body.model_dump(include={"tracking_no", "phone_last4", "code", "token"}))
        tracking = doc["tracking_no"]
        if body.level not in policy.level_names:
            raise HttpError(422, "请选择有效的评价等级", detail=[{"field": "level", "msg": "unknown rating level"}],
                            fields=["level"])
        case_id, number, now = doc["_id"], doc.get("round", 0), ctx.clock()
        cause = f"rate:{case_id}:{number}"  # the link's cause too: one rating per resolution, whichever way
        try:
            applied = await store.cases.apply(case_id, cause, lambda current: domain.rate(
                current, case_id=case_id, link_round=number, level=body.level, comment=body.comment, now=now,
                source="tracking_page", request_id=cause, policy=policy))
        except LinkRefused as exc:
            status, message = tracked_messages[exc.reason]
            ctx.log.info("tracked_rating_refused", case_id=case_id, round=number, reason=exc.reason)
            raise HttpError(status, message, reason=exc.reason)
        await emit_applied(store.cases, case_id, applied.events)
        if applied.duplicate:
            raise HttpError(409, tracked_messages["replayed"][1], reason="replayed")
        ratings_given.labels(body.level, "tracking_page").inc()
        ctx.log.info("case_rated", case_id=case_id, round=number, level=body.level, source="tracking_page")
        await follow_up(case_id)
        satisfied = body.level in policy.satisfied_levels
        return json_response({"case_id": case_id, "tracking_no": tracking, "round": number, "level": body.level,
                              "name": policy.level_names[body.level], "satisfied": satisfied}, 201)

    def page(title: str, code: int = 200, **values: Any) -> HTMLResponse:
        return HTMLResponse(TEMPLATES.get_template("rate.html").render(title=title, **values), status_code=code)

    async def rate_page(request: Request) -> HTMLResponse:
        token = request.path_params["token"]
        now = ctx.clock()
        try:
            claim = links.verify(secret, token, now)
            doc = await store.case(claim.case_id)
            status = domain.rating_status(doc, policy)
            if doc is None:
                raise LinkRefused("unknown_case")
            if claim.round < status["round"]:
                raise LinkRefused("superseded")
            if status["rating"] is not None:
                raise LinkRefused("replayed")
            if not status["awaiting"]:
                raise LinkRefused("not_awaiting")
        except LinkRefused as exc:
            refuse_link(exc)
            return page("企业评价", exc.status, message=exc.message, error=True)
        status.update(case_id=claim.case_id, tracking_no=doc.get("tracking_no"))
        return page("企业评价", form=True, status=status, action=f"/e/rate/{token}")

    async def rate_form(request: Request) -> HTMLResponse:
        form = parse_qs((await request.body()).decode("utf-8", errors="replace"))
        level = (form.get("level") or [""])[0]
        comment = (form.get("comment") or [""])[0].strip()[:1000] or None
        try:
            result = await submit_rating(request.path_params["token"], level, comment)
        except LinkRefused as exc:
            return page("企业评价", exc.status, message=exc.message, error=True)
        except HttpError as exc:
            return page("企业评价", exc.status, message=exc.message, error=True)
        follow = ("感谢您的评价，承办单位已收到。" if result["satisfied"] else
                  "感谢您的评价。您的“不满意”评价已报送县纪委县监委跟踪监督，承办单位将限期整改，工作人员将上门回访。")
        return page("评价已提交", message=f"您的评价：{result['name']}。{follow}")

    async def rating_status(request: Request) -> Any:
        """What the tracking page shows about rating, to an enterprise that proved itself (CONTRACT.md section
        3): anyone else gets 404. Tracking numbers are sequential, so they alone open nothing."""
        q = request.query_params
        proof = {k: q.get(k) for k in ("tracking_no", "phone_last4", "code", "token")}
        if q.get("phone_last4") and not (q["phone_last4"].isdigit() and len(q["phone_last4"]) == 4):
            raise HttpError(422, "联系电话后四位应为4位数字", detail=[{"field": "phone_last4", "msg": "4 digits"}],
                            fields=["phone_last4"])
        doc = await proven_case(request, proof)
        status = domain.rating_status(doc, policy)
        return {"tracking_no": doc["tracking_no"], **status}

    async def resend(request: Request) -> Any:
        """The tracking page asks for the link again: it goes to the enterprise's phone, never to the page. The
        answer is the same whether or not the number exists or awaits a rating (tracking numbers are sequential)."""
        body = ResendBody.model_validate(await read_json(request))
        answer = json_response({"message": "如该问题正在等待评价，评价链接已发送至登记的联系电话"}, 202)
        found = await store.by_tracking_no(body.tracking_no.strip().upper())
        doc = await store.cases.get(found["_id"]) if found else None
        if doc is None or not domain.rating_status(doc, policy)["awaiting"]:
            return answer
        if not domain.may_resend(doc, ctx.clock(), settings.resend_interval_seconds):
            ctx.log.info("rating_resend_throttled", case_id=doc["_id"])
            return answer
        await invite(doc)
        return answer

    # ------------------------------------------------------------------ staff: the unit's inbox, the case file

    def unit_scope(staff: Staff, request: Request) -> str | None:
        department = request.query_params.get("department")
        if staff.role == "unit_handler":
            if department and department != staff.unit:
                raise HttpError(403, "只能查看本单位的评价")
            return staff.unit
        require_role(staff, *COUNTY_ROLES)
        return department

    def page_params(request: Request) -> tuple[int, int]:
        return int_query(request, "limit", 50, 1, 200), int_query(request, "offset", 0, 0, 10_000_000)

    async def awaiting(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), *COUNTY_ROLES)
        limit, skip = page_params(request)
        docs = await store.awaiting(limit, skip)
        return {"items": [{"case_id": d["_id"], "tracking_no": d.get("tracking_no"), "department": d.get("department"),
                           "round": d["round"], "resolved_at": d["rounds"][str(d["round"])]["resolved_at"].isoformat(),
                           "rating_due_at": d["rating_due_at"].isoformat()} for d in docs],
                "limit": limit, "offset": skip}

    async def inbox(request: Request) -> Any:
        """The unit sees each rating of its cases as soon as it is given."""
        staff = staff_of(request, ctx.jwt_secret)
        department = unit_scope(staff, request)
        limit, skip = page_params(request)
        items = []
        for doc in await store.rated_for_unit(department, limit, skip):
            for number in sorted(doc.get("rounds", {}), key=int, reverse=True):
                rating = doc["rounds"][number].get("rating")
                if rating is not None:
                    items.append({"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"),
                                  "department": doc.get("department"), "round": int(number),
                                  "rectification": doc["rounds"][number].get("rectification", False),
                                  **{k: domain.iso(v) for k, v in rating.items() if k not in ("event_id",)}})
        return {"items": items, "limit": limit, "offset": skip}

    async def get_case_file(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        if staff.role != "unit_handler":
            require_role(staff, *COUNTY_ROLES)
        doc = await store.case(request.path_params["case_id"])
        if doc is None:
            raise HttpError(404, "未找到该问题件")
        if not staff.can_see_unit(doc.get("department")):
            raise HttpError(403, "只能查看本单位的问题件")
        return {**domain.case_file(doc, doc["_id"]), "state": doc["state"]}

    # ------------------------------------------------------------------ staff: revisits

    def revisit_staff(request: Request) -> Staff:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *settings.revisit_roles)
        return staff

    def task_view(doc: dict[str, Any]) -> dict[str, Any]:
        view = {k: domain.iso(v) for k, v in doc.items() if k not in ("_id", "record")}
        view["task_id"] = doc["_id"]
        view["reason_name"] = domain.REVISIT_REASONS.get(doc.get("reason", ""), doc.get("reason"))
        if doc.get("record"):
            view["record"] = {k: domain.iso(v) for k, v in doc["record"].items()}
        return view

    async def list_revisits(request: Request) -> Any:
        revisit_staff(request)
        query: dict[str, Any] = {"state": request.query_params.get("state", "open")}
        for name in ("method", "department", "case_id"):
            if request.query_params.get(name):
                query[name] = request.query_params[name]
        limit, skip = page_params(request)
        docs = await store.listing(store.revisits, query, "created_at", limit, skip)
        return {"items": [task_view(d) for d in docs], "limit": limit, "offset": skip}

    async def open_revisit(request: Request) -> Any:
        """One task as the revisit staff open it to call or visit: with the enterprise's full contact, asked of
        intake with the staff member's own token (intake logs who saw it)."""
        revisit_staff(request)
        key = request.path_params["task_id"]
        doc = await store.get(store.revisits, key)
        if doc is None:
            raise HttpError(404, "未找到该回访任务")
        view = task_view({**doc, "_id": key})
        bearer = request.headers.get("authorization", "").partition(" ")[2].strip()
        try:
            contact = await contacts.contact(doc["case_id"], bearer=bearer)
        except ContactUnavailable as exc:
            ctx.log.warning("revisit_contact_unavailable", task_id=key, error=str(exc))
            contact = None
        view["contact"] = None if contact is None else {
            "name": contact.get("contact_name"), "phone": contact.get("contact_phone"),
            "enterprise_name": contact.get("enterprise_name")}
        return view

    async def record(request: Request) -> Any:
        staff = revisit_staff(request)
        body = RevisitBody.model_validate(await read_json(request))
        key = request.path_params["task_id"]
        now = ctx.clock()
        try:
            applied = await store.revisits.apply(key, f"record:{key}", lambda task: domain.record_revisit(
                task, by=staff.sub, said=body.said, solved=body.solved, visited_at=body.visited_at or now,
                note=body.note, now=now, cause=f"record:{key}"))
        except domain.Refused as exc:  # an unknown task (404) or one already recorded (409), not a 500
            raise HttpError(exc.status, exc.message, reason=exc.reason)
        await emit_applied(store.revisits, key, applied.events)
        if applied.duplicate:
            raise HttpError(409, "该回访任务已记录")
        ctx.log.info("case_revisited", task_id=key, solved=body.solved)
        return task_view({**(await store.get(store.revisits, key) or {}), "_id": key})

    # ------------------------------------------------------------------ staff: supervision (the oversight unit)

    async def list_supervisions(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "supervisor", "admin")
        limit, skip = page_params(request)
        query = {"state": request.query_params.get("state", "open")}
        docs = await store.listing(store.supervisions, query, "referred_at", limit, skip)
        return {"items": [{"supervision_id": d["_id"], **{k: domain.plain(v) for k, v in d.items()
                                                             if k not in ("_id", "actions")}} for d in docs],
                "limit": limit, "offset": skip, "findings": settings.findings}

    async def open_supervision(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "supervisor", "admin")
        key = f"{request.path_params['case_id']}:{request.path_params['round']}"
        doc = await store.get(store.supervisions, key)
        if doc is None:
            raise HttpError(404, "未找到该监督件")
        case = await store.case(doc["case_id"])
        view = {k: domain.plain(v) for k, v in doc.items() if k not in ("_id", "actions", "case_file")}
        return {**view, "supervision_id": key, "findings_catalogue": settings.findings,
                "actions": [{k: domain.iso(v) for k, v in a.items()} for a in doc.get("actions", [])],
                "case_file_at_referral": doc.get("case_file"),
                "case_file": domain.case_file(case, doc["case_id"]) if case else None}

    async def act(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "supervisor")
        action = {"findings": "finding", "press": "pressed", "close": "closed"}.get(request.path_params["action"])
        if action is None:
            raise HttpError(404, "未知的监督操作")
        body = SupervisionBody.model_validate(await read_json(request))
        key = f"{request.path_params['case_id']}:{request.path_params['round']}"
        cause = f"supervise:{uuid.uuid4()}"
        try:
            applied = await store.supervisions.apply(key, cause, lambda doc: domain.supervise(
                doc, action=action, by=staff.sub, note=body.note, findings=body.findings,
                known_findings=settings.findings, now=ctx.clock(), cause=cause))
        except domain.Refused as exc:
            raise HttpError(exc.status, exc.message, reason=exc.reason)
        await emit_applied(store.supervisions, key, applied.events)
        ctx.log.info("case_supervised", supervision_id=key, action=action)
        return await open_supervision(request)

    # ------------------------------------------------------------------ appeals

    async def post_appeal(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "unit_handler")
        body = AppealBody.model_validate(await read_json(request))
        key = f"{body.case_id}:{body.round}"
        case = await store.case(body.case_id)
        cause = f"appeal:{key}"
        try:
            applied = await store.appeals.apply(key, cause, lambda doc: domain.appeal(
                doc, case, case_id=body.case_id, number=body.round, unit=staff.unit or "", by=staff.sub,
                reason=body.reason, evidence=body.evidence, now=ctx.clock(), cause=cause))
        except domain.Refused as exc:
            raise HttpError(exc.status, exc.message, reason=exc.reason)
        await emit_applied(store.appeals, key, applied.events)
        if applied.duplicate:
            raise HttpError(409, "该次评价已提出过申诉")
        return json_response(appeal_view(await store.get(store.appeals, key) or {}, key), 201)

    def appeal_view(doc: dict[str, Any], key: str) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            return domain.iso(value)
        return {"appeal_id": key, **{k: plain(v) for k, v in doc.items() if k != "_id"}}

    async def list_appeals(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        query: dict[str, Any] = {"state": request.query_params.get("state", "pending")}
        if staff.role == "unit_handler":
            query["department"] = staff.unit
        else:
            require_role(staff, *settings.reviewer_roles, "supervisor")
        limit, skip = page_params(request)
        docs = await store.listing(store.appeals, query, "case_id", limit, skip)
        return {"items": [appeal_view(d, d["_id"]) for d in docs], "limit": limit, "offset": skip}

    async def review_appeal(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *settings.reviewer_roles)
        body = ReviewBody.model_validate(await read_json(request))
        key = f"{request.path_params['case_id']}:{request.path_params['round']}"
        cause = f"review:{key}"
        try:
            applied = await store.appeals.apply(key, cause, lambda doc: domain.review(
                doc, decision=body.decision, by=staff.sub, reason=body.reason, now=ctx.clock(), cause=cause))
        except domain.Refused as exc:
            raise HttpError(exc.status, exc.message, reason=exc.reason)
        await emit_applied(store.appeals, key, applied.events)
        if applied.duplicate:
            raise HttpError(409, "该申诉已复核")
        return appeal_view(await store.get(store.appeals, key) or {}, key)

    # ------------------------------------------------------------------ 营商办's and third-party evaluations

    def evaluation_staff(request: Request) -> Staff:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *settings.evaluation_roles)
        return staff

    async def record_evaluation(case_id: str, *, source: str, number: int | None, level: str | None,
                                score: float | None, satisfied: bool, comment: str | None, by: str) -> Any:
        """One source's evaluation of one round, once: the cause names source and round, so a repeat (a second
        click, a survey imported again) is recognised whichever request makes it."""
        doc = await store.cases.get(case_id)
        number = number or (doc or {}).get("round") or 0
        cause = f"evaluate:{source}:{case_id}:{number}"
        applied = await store.cases.apply(case_id, cause, lambda current: evaluations.evaluate(
            current, case_id=case_id, source=source, number=number or None, level=level, score=score,
            satisfied=satisfied, comment=comment, by=by, now=ctx.clock(), cause=cause))
        await emit_applied(store.cases, case_id, applied.events)
        return applied, number

    async def post_evaluation(request: Request) -> Any:
        staff = evaluation_staff(request)
        body = EvaluationBody.model_validate(await read_json(request))
        if body.level not in policy.level_names:
            raise HttpError(422, "请选择有效的评价等级", detail=[{"field": "level", "msg": "unknown rating level"}],
                            fields=["level"])
        try:
            applied, number = await record_evaluation(
                body.case_id, source="business_office", number=body.round, level=body.level, score=None,
                satisfied=body.level in policy.satisfied_levels, comment=body.comment, by=staff.sub)
        except domain.Refused as exc:
            raise HttpError(exc.status, exc.message, reason=exc.reason)
        if applied.duplicate:
            raise HttpError(409, "该次办理已有营商办评价", reason="already_evaluated")
        ctx.log.info("case_evaluated", case_id=body.case_id, round=number, source="business_office", by=staff.sub)
        return json_response({"case_id": body.case_id, "round": number, "source": "business_office",
                              "level": body.level, "name": policy.level_names[body.level],
                              "satisfied": body.level in policy.satisfied_levels}, 201)

    async def import_survey(request: Request) -> Any:
        """A survey company's xlsx file: one report line per row (Chinese), nothing imported twice."""
        staff = evaluation_staff(request)
        raw = await read_body(request, 10 * 1024 * 1024)
        try:
            rows = evaluations.read_survey(raw)
        except evaluations.SurveyFileError as exc:
            raise HttpError(422, str(exc), detail=[{"field": "file", "msg": str(exc)}])
        units = {d.code: d.name for d in ctx.org.departments}
        report: list[dict[str, Any]] = []
        counts = {"imported": 0, "duplicate": 0, "error": 0}

        def line(number: int, status: str, message: str, tracking_no: str | None = None, **more: Any) -> None:
            counts[status] += 1
            report.append({"row": number, "tracking_no": tracking_no, "status": status, "message": message, **more})

        for index, row in enumerate(rows, start=2):  # row 1 is the header
            if not any(row.values()):
                continue
            try:
                checked = evaluations.check_row(row, policy, units, settings.survey_satisfied_score)
            except evaluations.SurveyRowError as exc:
                line(index, "error", str(exc), row.get("tracking_no") or None)
                continue
            found = await store.by_tracking_no(checked.tracking_no)
            if found is None:
                line(index, "error", "未找到该查询编号的问题", checked.tracking_no)
                continue
            if checked.unit and checked.unit != found.get("department"):
                line(index, "error", f"承办单位与该问题的承办单位（{units.get(found.get('department') or '', '未交办')}）不符",
                     checked.tracking_no)
                continue
            try:
                applied, number = await record_evaluation(
                    found["_id"], source="third_party", number=None, level=checked.level, score=checked.score,
                    satisfied=checked.satisfied, comment=checked.comment, by=staff.sub)
            except domain.Refused as exc:
                if exc.reason == "already_evaluated":
                    line(index, "duplicate", "该次办理已导入过第三方评价，未重复导入", checked.tracking_no)
                else:
                    line(index, "error", exc.message, checked.tracking_no)
                continue
            if applied.duplicate:
                line(index, "duplicate", "该次办理已导入过第三方评价，未重复导入", checked.tracking_no)
                continue
            line(index, "imported", "已导入", checked.tracking_no, round=number, satisfied=checked.satisfied)
        ctx.log.info("survey_imported", by=staff.sub, **counts)
        return {**counts, "rows": report}

    # ------------------------------------------------------------------ figures for the reports

    def date_query(request: Request, name: str) -> datetime | None:
        raw = request.query_params.get(name)
        if not raw:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise HttpError(422, f"参数 {name} 应为日期（如 2026-03-01）", detail=[{"field": name, "msg": "not a date"}],
                            fields=[name])
        return value if value.tzinfo else value.replace(tzinfo=ctx.settings.tz)

    async def get_figures(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        department = unit_scope(staff, request)
        dimension = request.query_params.get("by", "unit")
        if dimension not in figures.DIMENSIONS:
            raise HttpError(422, f"参数 by 应为 {'、'.join(figures.DIMENSIONS)} 之一",
                            detail=[{"field": "by", "msg": "unknown dimension"}], fields=["by"])
        region = request.query_params.get("region")
        docs = [doc for doc in await store.resolved_cases()
                if (department is None or (doc.get("department") or figures.UNKNOWN) == department)
                and (region is None or (doc.get("region") or figures.UNKNOWN) == region)]
        start, end = date_query(request, "from"), date_query(request, "to")
        return {**figures.figures(docs, dimension, ctx.settings.tz, start, end, weights),
                "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
                "department": department, "region": region}

    return Parts(
        routes=[
            Route("/e/rate/{token}", rate_page, methods=["GET"]),
            Route("/e/rate/{token}", rate_form, methods=["POST"]),
            Route("/api/v1/rating/ratings", endpoint(post_rating), methods=["POST"]),
            Route("/api/v1/rating/tracked-ratings", endpoint(post_tracked_rating), methods=["POST"]),
            Route("/api/v1/rating/status", endpoint(rating_status), methods=["GET"]),
            Route("/api/v1/rating/resend", endpoint(resend), methods=["POST"]),
            Route("/api/v1/rating/awaiting", endpoint(awaiting), methods=["GET"]),
            Route("/api/v1/rating/inbox", endpoint(inbox), methods=["GET"]),
            Route("/api/v1/rating/cases/{case_id}", endpoint(get_case_file), methods=["GET"]),
            Route("/api/v1/rating/revisits", endpoint(list_revisits), methods=["GET"]),
            Route("/api/v1/rating/revisits/{task_id}", endpoint(open_revisit), methods=["GET"]),
            Route("/api/v1/rating/revisits/{task_id}/record", endpoint(record), methods=["POST"]),
            Route("/api/v1/rating/supervisions", endpoint(list_supervisions), methods=["GET"]),
            Route("/api/v1/rating/supervisions/{case_id}/{round:int}", endpoint(open_supervision), methods=["GET"]),
            Route("/api/v1/rating/supervisions/{case_id}/{round:int}/{action}", endpoint(act), methods=["POST"]),
            Route("/api/v1/rating/appeals", endpoint(list_appeals), methods=["GET"]),
            Route("/api/v1/rating/appeals", endpoint(post_appeal), methods=["POST"]),
            Route("/api/v1/rating/appeals/{case_id}/{round:int}/review", endpoint(review_appeal), methods=["POST"]),
            Route("/api/v1/rating/figures", endpoint(get_figures), methods=["GET"]),
            Route("/api/v1/rating/evaluations", endpoint(post_evaluation), methods=["POST"]),
            Route("/api/v1/rating/surveys", endpoint(import_survey), methods=["POST"]),
        ],
        on_start=[store.ensure_indexes, refresh_figures],
        periodic=[(settings.scan_interval_seconds, scan), (settings.figures_interval_seconds, refresh_figures),
                  (ctx.settings.outbox_sweep_interval_seconds, sweep)],
    )
