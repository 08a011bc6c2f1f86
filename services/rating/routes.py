"""rating's HTTP routes, each declaring who may call it (shared.http.RouteTable):

- the enterprise (public; it proves itself with its link or its tracking page's proof): the rating page
  `/e/rate/<token>`, ratings by link or tracking page, the rating status, a link sent again;
- units and county staff: ratings awaited, the unit's inbox, the case file, the figures;
- revisit staff, supervisors (the oversight unit), appeals and their reviewers, 营商办's evaluations and surveys.

Roles that come from rating's settings (revisits, reviews, evaluations) are checked in the handler, first.
"""

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.responses import HTMLResponse

from services.rating import domain, evaluations, figures, links
from services.rating.bodies import (AppealBody, EvaluationBody, RatingBody, ResendBody, ReviewBody, RevisitBody,
                                    SupervisionBody, TrackedRatingBody)
from services.rating.contacts import ContactUnavailable, ProofRefused
from services.rating.deps import Deps
from services.rating.follow_ups import follow_up, invite
from services.rating.links import LinkRefused
from shared.auth import require_role
from shared.http import Call, RouteTable, client_address, json_response, read_body, read_json
from shared.jsonable import iso, plain
from shared.refusal import Refusal
from shared.store import Applied
from shared.track_links import verify_track_token

COUNTY_ROLES = ("leader", "supervisor", "admin")
UNIT_OR_COUNTY = ("unit_handler", *COUNTY_ROLES)
TEMPLATES = Environment(loader=FileSystemLoader(Path(__file__).parent / "templates"),
                        autoescape=select_autoescape(["html"]))
# what the tracking page is told when its rating is refused, by the reason the rules give
TRACKED_MESSAGES = {
    "replayed": (409, "该次办理已评价，感谢您的评价"),
    "superseded": (409, "问题已重新办理，请刷新页面后评价最新的办理结果"),
    "not_awaiting": (409, "该问题目前不在待评价状态"),
    "unknown_case": (409, "该问题目前不在待评价状态"),
    "forged": (409, "问题已重新办理，请刷新页面后评价最新的办理结果"),
}
NOT_AWAITING = "该问题目前不在待评价状态"
SURVEY_MAX_BYTES = 10 * 1024 * 1024
SUPERVISION_ACTIONS: dict[str, domain.SupervisionAction] = {"findings": "finding", "press": "pressed",
                                                             "close": "closed"}  # path -> action

PAGES = RouteTable()
ROUTES = RouteTable("/api/v1/rating")


def unknown_level() -> Refusal:
    return Refusal(422, "请选择有效的评价等级", detail=[{"field": "level", "msg": "unknown rating level"}],
                   fields=["level"])


# ------------------------------------------------------------------ the enterprise rates

def page(title: str, code: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.get_template("rate.html").render(title=title, **values), status_code=code)


@PAGES.get("/e/rate/{token}", public=True)
async def rate_page(call: Call[Deps]) -> HTMLResponse:
    deps, token = call.deps, call.path("token")
    try:
        claim = links.verify(deps.link_secret, token, deps.ctx.clock())
        doc = await deps.store.case(claim.case_id)
        status = domain.rating_status(doc, deps.policy)
        if doc is None:
            raise LinkRefused("unknown_case")
        if claim.round < status["round"]:
            raise LinkRefused("superseded")
        if status["rating"] is not None:
            raise LinkRefused("replayed")
        if not status["awaiting"]:
            raise LinkRefused("not_awaiting")
    except LinkRefused as exc:
        refuse_link(deps, exc)
        return page("企业评价", exc.status, message=exc.message, error=True)
    status.update(case_id=claim.case_id, tracking_no=doc.get("tracking_no"))
    return page("企业评价", form=True, status=status, action=f"/e/rate/{token}")


@PAGES.post("/e/rate/{token}", public=True)
async def rate_form(call: Call[Deps]) -> HTMLResponse:
    form = parse_qs((await call.request.body()).decode("utf-8", errors="replace"))
    level = (form.get("level") or [""])[0]
    comment = (form.get("comment") or [""])[0].strip()[:1000] or None
    try:
        result = await submit_rating(call.deps, call.path("token"), level, comment)
    except Refusal as exc:  # a refused link or level: said on the page
        return page("企业评价", exc.status, message=exc.message, error=True)
    follow = ("感谢您的评价，承办单位已收到。" if result["satisfied"] else
              "感谢您的评价。您的“不满意”评价已报送县纪委县监委跟踪监督，承办单位将限期整改，工作人员将上门回访。")
    return page("评价已提交", message=f"您的评价：{result['name']}。{follow}")


def refuse_link(deps: Deps, exc: LinkRefused, **context: Any) -> None:
    deps.metrics.links_refused.labels(exc.reason).inc()
    deps.ctx.log.warning("rating_link_refused", reason=exc.reason, **context)


async def submit_rating(deps: Deps, token: str, level: str, comment: str | None) -> dict[str, Any]:
    """The rating a link carries: once per resolution, and only for the current one."""
    now, policy = deps.ctx.clock(), deps.policy
    try:
        claim = links.verify(deps.link_secret, token, now)
    except LinkRefused as exc:
        refuse_link(deps, exc)
        raise
    if level not in policy.level_names:
        raise unknown_level()
    cause = f"rate:{claim.case_id}:{claim.round}"
    context = {"case_id": claim.case_id, "round": claim.round, "link_id": claim.link_id}
    try:
        applied = await deps.store.cases.apply(claim.case_id, cause, lambda doc: domain.rate(
            doc, case_id=claim.case_id, link_round=claim.round, level=level, comment=comment, now=now,
            source="link", request_id=cause, policy=policy))
    except LinkRefused as exc:
        refuse_link(deps, exc, **context)
        raise
    await deps.ctx.emit(deps.store.cases, claim.case_id, applied.events)
    if applied.duplicate:  # this round was rated through a link before
        exc = LinkRefused("superseded" if applied.doc.get("round", 0) > claim.round else "replayed")
        refuse_link(deps, exc, **context)
        raise exc
    deps.metrics.ratings_given.labels(level, "link").inc()
    deps.ctx.log.info("case_rated", case_id=claim.case_id, round=claim.round, level=level)
    await follow_up(deps, claim.case_id)
    return {"case_id": claim.case_id, "round": claim.round, "level": level,
            "name": policy.level_names[level], "satisfied": level in policy.satisfied_levels}


@ROUTES.post("/ratings", public=True)
async def post_rating(call: Call[Deps]) -> Any:
    body = RatingBody.model_validate(await read_json(call.request))
    return json_response(await submit_rating(call.deps, body.token, body.level, body.comment), 201)


@ROUTES.post("/tracked-ratings", public=True)
async def post_tracked_rating(call: Call[Deps]) -> Any:
    """The tracking page rates the current resolution: one rating per resolution, as by a link."""
    deps, policy = call.deps, call.deps.policy
    body = TrackedRatingBody.model_validate(await read_json(call.request))
    doc = await proven_case(call, body.model_dump(include={"tracking_no", "phone_last4", "code", "token"}))
    if body.level not in policy.level_names:
        raise unknown_level()
    case_id, number, now = doc["_id"], doc.get("round", 0), deps.ctx.clock()
    cause = f"rate:{case_id}:{number}"  # the link's cause too: one rating per resolution, whichever way
    try:
        applied = await deps.store.cases.apply(case_id, cause, lambda current: domain.rate(
            current, case_id=case_id, link_round=number, level=body.level, comment=body.comment, now=now,
            source="tracking_page", request_id=cause, policy=policy))
    except LinkRefused as exc:  # told as the tracking page says it, not as a link
        status, message = TRACKED_MESSAGES[exc.reason]
        deps.ctx.log.info("tracked_rating_refused", case_id=case_id, round=number, reason=exc.reason)
        raise Refusal(status, message, reason=exc.reason)
    await deps.ctx.emit(deps.store.cases, case_id, applied.events)
    if applied.duplicate:
        raise Refusal(409, TRACKED_MESSAGES["replayed"][1], reason="replayed")
    deps.metrics.ratings_given.labels(body.level, "tracking_page").inc()
    deps.ctx.log.info("case_rated", case_id=case_id, round=number, level=body.level, source="tracking_page")
    await follow_up(deps, case_id)
    return json_response({"case_id": case_id, "tracking_no": doc["tracking_no"], "round": number,
                          "level": body.level, "name": policy.level_names[body.level],
                          "satisfied": body.level in policy.satisfied_levels}, 201)


async def proven_case(call: Call[Deps], proof: dict[str, Any]) -> dict[str, Any]:
    """The case an enterprise's proof opens: its tracking page's signed token, checked here, or the tracking
    number with the phone's last four digits or a one-time code, checked by intake under the one guessing budget
    per tracking number and per address that also guards the tracking page."""
    deps = call.deps
    proof = {k: v for k, v in proof.items() if v}
    if proof.get("token"):  # the enterprise's signed link (the tracking page's token): no guessing to limit
        return await tracked_case(deps, proof["token"])
    if not (proof.get("tracking_no") and (proof.get("phone_last4") or proof.get("code"))):
        raise Refusal(404, "未找到该问题件")  # no proof: nothing to see (CONTRACT.md section 3)
    try:
        proven = await deps.contacts.prove(deps.proof_url, {**proof, "address": client_address(
            call.request, deps.ctx.settings.trusted_proxies)})
    except ProofRefused as exc:  # answered as intake refused it, Retry-After included
        deps.metrics.links_refused.labels("proof_throttled" if exc.status == 429 else "bad_proof").inc()
        raise
    except ContactUnavailable:
        deps.ctx.log.exception("proof_check_failed")
        raise Refusal(503, "暂时无法核验，请稍后再试")
    doc = await deps.store.cases.get(proven["case_id"])
    if doc is None:
        raise Refusal(409, NOT_AWAITING)
    return {**doc, "tracking_no": doc.get("tracking_no") or proven["tracking_no"]}


async def tracked_case(deps: Deps, token: str) -> dict[str, Any]:
    """The case the tracking page's signed token names."""
    claim = verify_track_token(deps.ctx.jwt_secret, token, deps.ctx.clock())
    doc = await deps.store.cases.get(claim.case_id) if claim else None
    if claim is None:
        deps.metrics.links_refused.labels("bad_proof").inc()
        raise Refusal(404, "链接无效或已过期，请用查询编号重新查询")
    if doc is None:
        raise Refusal(409, NOT_AWAITING)
    return {**doc, "tracking_no": doc.get("tracking_no") or claim.tracking_no}


@ROUTES.get("/status", public=True)
async def rating_status(call: Call[Deps]) -> Any:
    """What the tracking page shows about rating, to an enterprise that proved itself (CONTRACT.md section
    3): anyone else gets 404. Tracking numbers are sequential, so they alone open nothing."""
    proof = {k: call.query(k) for k in ("tracking_no", "phone_last4", "code", "token")}
    last4 = proof["phone_last4"]
    if last4 and not (last4.isdigit() and len(last4) == 4):
        raise Refusal(422, "联系电话后四位应为4位数字", detail=[{"field": "phone_last4", "msg": "4 digits"}],
                      fields=["phone_last4"])
    doc = await proven_case(call, proof)
    return {"tracking_no": doc["tracking_no"], **domain.rating_status(doc, call.deps.policy)}


@ROUTES.post("/resend", public=True)
async def resend(call: Call[Deps]) -> Any:
    """The tracking page asks for the link again: it goes to the enterprise's phone, never to the page. The
    answer is the same whether or not the number exists or awaits a rating (tracking numbers are sequential)."""
    deps = call.deps
    body = ResendBody.model_validate(await read_json(call.request))
    answer = json_response({"message": "如该问题正在等待评价，评价链接已发送至登记的联系电话"}, 202)
    found = await deps.store.by_tracking_no(body.tracking_no.strip().upper())
    doc = await deps.store.cases.get(found["_id"]) if found else None
    if doc is None or not domain.rating_status(doc, deps.policy)["awaiting"]:
        return answer
    if not domain.may_resend(doc, deps.ctx.clock(), deps.settings.resend_interval_seconds):
        deps.ctx.log.info("rating_resend_throttled", case_id=doc["_id"])
        return answer
    await invite(deps, doc)
    return answer


# ------------------------------------------------------------------ staff: the unit's inbox, the case file

def unit_scope(call: Call[Deps]) -> str | None:
    """The unit whose ratings the caller may see (`department`): a unit handler only their own."""
    return call.unit_scope(call.query("department"), refusal="只能查看本单位的评价")


@ROUTES.get("/awaiting", roles=COUNTY_ROLES)
async def awaiting(call: Call[Deps]) -> Any:
    limit, skip = call.page()
    docs = await call.deps.store.awaiting(limit, skip)
    return {"items": [{"case_id": d["_id"], "tracking_no": d.get("tracking_no"), "department": d.get("department"),
                       "round": d["round"], "resolved_at": d["rounds"][str(d["round"])]["resolved_at"].isoformat(),
                       "rating_due_at": d["rating_due_at"].isoformat()} for d in docs],
            "limit": limit, "offset": skip}


@ROUTES.get("/inbox", roles=UNIT_OR_COUNTY)
async def inbox(call: Call[Deps]) -> Any:
    """The unit sees each rating of its cases as soon as it is given."""
    department = unit_scope(call)
    limit, skip = call.page()
    items = []
    for doc in await call.deps.store.rated_for_unit(department, limit, skip):
        for number in sorted(doc.get("rounds", {}), key=int, reverse=True):
            rating = doc["rounds"][number].get("rating")
            if rating is not None:
                items.append({"case_id": doc["_id"], "tracking_no": doc.get("tracking_no"),
                              "department": doc.get("department"), "round": int(number),
                              "rectification": doc["rounds"][number].get("rectification", False),
                              **{k: iso(v) for k, v in rating.items() if k not in ("event_id",)}})
    return {"items": items, "limit": limit, "offset": skip}


@ROUTES.get("/cases/{case_id}", roles=UNIT_OR_COUNTY)
async def get_case_file(call: Call[Deps]) -> Any:
    doc = await call.deps.store.case(call.path("case_id"))
    if doc is None:
        raise Refusal(404, "未找到该问题件")
    if not call.caller.can_see_unit(doc.get("department")):
        raise Refusal(403, "只能查看本单位的问题件")
    return {**domain.case_file(doc, doc["_id"]), "state": doc["state"]}


# ------------------------------------------------------------------ staff: revisits

def revisit_roles(deps: Deps) -> tuple[str, ...]:
    return deps.settings.revisit_roles


def task_view(doc: dict[str, Any]) -> dict[str, Any]:
    view = {k: iso(v) for k, v in doc.items() if k not in ("_id", "record")}
    view["task_id"] = doc["_id"]
    view["reason_name"] = domain.REVISIT_REASONS.get(doc.get("reason", ""), doc.get("reason"))
    if doc.get("record"):
        view["record"] = {k: iso(v) for k, v in doc["record"].items()}
    return view


@ROUTES.get("/revisits", roles=revisit_roles)
async def list_revisits(call: Call[Deps]) -> Any:
    query: dict[str, Any] = {"state": call.query("state", "open")}
    for name in ("method", "department", "case_id"):
        if call.query(name):
            query[name] = call.query(name)
    limit, skip = call.page()
    docs = await call.deps.store.listing(call.deps.store.revisits, query, "created_at", limit, skip)
    return {"items": [task_view(d) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/revisits/{task_id}", roles=revisit_roles)
async def open_revisit(call: Call[Deps]) -> Any:
    """One task as the revisit staff open it to call or visit: with the enterprise's full contact, asked of
    intake with the staff member's own token (intake logs who saw it)."""
    deps, key = call.deps, call.path("task_id")
    doc = await deps.store.get(deps.store.revisits, key)
    if doc is None:
        raise Refusal(404, "未找到该回访任务")
    view = task_view({**doc, "_id": key})
    bearer = call.request.headers.get("authorization", "").partition(" ")[2].strip()
    try:
        contact = await deps.contacts.contact(doc["case_id"], bearer=bearer)
    except ContactUnavailable as exc:
        deps.ctx.log.warning("revisit_contact_unavailable", task_id=key, error=str(exc))
        contact = None
    view["contact"] = None if contact is None else {
        "name": contact.get("contact_name"), "phone": contact.get("contact_phone"),
        "enterprise_name": contact.get("enterprise_name")}
    return view


@ROUTES.post("/revisits/{task_id}/record", roles=revisit_roles)
async def record_revisit(call: Call[Deps]) -> Any:
    staff = call.caller
    deps, store = call.deps, call.deps.store
    body = RevisitBody.model_validate(await read_json(call.request))
    key = call.path("task_id")
    now = deps.ctx.clock()
    # an unknown task (404) or one already recorded (409) is refused by the rules, not a 500
    applied = await store.revisits.apply(key, f"record:{key}", lambda task: domain.record_revisit(
        task, by=staff.sub, said=body.said, solved=body.solved, visited_at=body.visited_at or now,
        note=body.note, now=now, cause=f"record:{key}"))
    await deps.ctx.emit(store.revisits, key, applied.events)
    if applied.duplicate:
        raise Refusal(409, "该回访任务已记录")
    deps.ctx.log.info("case_revisited", task_id=key, solved=body.solved)
    return task_view({**(await store.get(store.revisits, key) or {}), "_id": key})


# ------------------------------------------------------------------ staff: supervision (the oversight unit)

@ROUTES.get("/supervisions", roles=("supervisor", "admin"))
async def list_supervisions(call: Call[Deps]) -> Any:
    store = call.deps.store
    limit, skip = call.page()
    query = {"state": call.query("state", "open")}
    docs = await store.listing(store.supervisions, query, "referred_at", limit, skip)
    return {"items": [{"supervision_id": d["_id"], **{k: plain(v) for k, v in d.items() if k not in ("_id", "actions")}}
                      for d in docs],
            "limit": limit, "offset": skip, "findings": call.deps.settings.findings}


@ROUTES.get("/supervisions/{case_id}/{round:int}", roles=("supervisor", "admin"))
async def open_supervision(call: Call[Deps]) -> Any:
    store = call.deps.store
    key = f"{call.path('case_id')}:{call.path('round')}"
    doc = await store.get(store.supervisions, key)
    if doc is None:
        raise Refusal(404, "未找到该监督件")
    case = await store.case(doc["case_id"])
    view = {k: plain(v) for k, v in doc.items() if k not in ("_id", "actions", "case_file")}
    return {**view, "supervision_id": key, "findings_catalogue": call.deps.settings.findings,
            "actions": [{k: iso(v) for k, v in a.items()} for a in doc.get("actions", [])],
            "case_file_at_referral": doc.get("case_file"),
            "case_file": domain.case_file(case, doc["case_id"]) if case else None}


@ROUTES.post("/supervisions/{case_id}/{round:int}/{action}", roles=("supervisor",))
async def supervise(call: Call[Deps]) -> Any:
    """A supervisor records findings, presses the unit or closes the supervision; answers the supervision."""
    deps, store, staff = call.deps, call.deps.store, call.caller
    action = SUPERVISION_ACTIONS.get(call.path("action"))
    if action is None:
        raise Refusal(404, "未知的监督操作")
    body = SupervisionBody.model_validate(await read_json(call.request))
    key = f"{call.path('case_id')}:{call.path('round')}"
    cause = f"supervise:{uuid.uuid4()}"
    applied = await store.supervisions.apply(key, cause, lambda doc: domain.supervise(
        doc, action=action, by=staff.sub, note=body.note, findings=body.findings,
        known_findings=deps.settings.findings, now=deps.ctx.clock(), cause=cause))
    await deps.ctx.emit(store.supervisions, key, applied.events)
    deps.ctx.log.info("case_supervised", supervision_id=key, action=action)
    return await open_supervision(call)


# ------------------------------------------------------------------ appeals

def appeal_view(doc: dict[str, Any], key: str) -> dict[str, Any]:
    return {"appeal_id": key, **{k: plain(v) for k, v in doc.items() if k != "_id"}}


def reviewer_roles(deps: Deps) -> tuple[str, ...]:
    return deps.settings.reviewer_roles


@ROUTES.get("/appeals")
async def list_appeals(call: Call[Deps]) -> Any:
    """A unit sees its own appeals, whatever it asks; reviewers and supervisors see every unit's."""
    staff, store = call.caller, call.deps.store
    query: dict[str, Any] = {"state": call.query("state", "pending")}
    if staff.role == "unit_handler":
        query["department"] = staff.unit
    else:
        require_role(staff, *reviewer_roles(call.deps), "supervisor")
    limit, skip = call.page()
    docs = await store.listing(store.appeals, query, "case_id", limit, skip)
    return {"items": [appeal_view(d, d["_id"]) for d in docs], "limit": limit, "offset": skip}


@ROUTES.post("/appeals", roles=("unit_handler",))
async def post_appeal(call: Call[Deps]) -> Any:
    deps, store, staff = call.deps, call.deps.store, call.caller
    body = AppealBody.model_validate(await read_json(call.request))
    key = f"{body.case_id}:{body.round}"
    case = await store.case(body.case_id)
    cause = f"appeal:{key}"
    applied = await store.appeals.apply(key, cause, lambda doc: domain.appeal(
        doc, case, case_id=body.case_id, number=body.round, unit=staff.unit or "", by=staff.sub,
        reason=body.reason, evidence=body.evidence, now=deps.ctx.clock(), cause=cause))
    await deps.ctx.emit(store.appeals, key, applied.events)
    if applied.duplicate:
        raise Refusal(409, "该次评价已提出过申诉")
    return json_response(appeal_view(await store.get(store.appeals, key) or {}, key), 201)


@ROUTES.post("/appeals/{case_id}/{round:int}/review", roles=reviewer_roles)
async def review_appeal(call: Call[Deps]) -> Any:
    staff, deps, store = call.caller, call.deps, call.deps.store
    body = ReviewBody.model_validate(await read_json(call.request))
    key = f"{call.path('case_id')}:{call.path('round')}"
    cause = f"review:{key}"
    applied = await store.appeals.apply(key, cause, lambda doc: domain.review(
        doc, decision=body.decision, by=staff.sub, reason=body.reason, now=deps.ctx.clock(), cause=cause))
    await deps.ctx.emit(store.appeals, key, applied.events)
    if applied.duplicate:
        raise Refusal(409, "该申诉已复核")
    return appeal_view(await store.get(store.appeals, key) or {}, key)


# ------------------------------------------------------------------ figures for the reports

def date_query(call: Call[Deps], name: str) -> datetime | None:
    raw = call.query(name)
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise Refusal(422, f"参数 {name} 应为日期（如 2026-03-01）", detail=[{"field": name, "msg": "not a date"}],
                      fields=[name])
    return value if value.tzinfo else value.replace(tzinfo=call.deps.ctx.settings.tz)


@ROUTES.get("/figures", roles=UNIT_OR_COUNTY)
async def get_figures(call: Call[Deps]) -> Any:
    deps = call.deps
    department = unit_scope(call)
    dimension = call.query("by", "unit")
    if dimension not in figures.DIMENSIONS:
        raise Refusal(422, f"参数 by 应为 {'、'.join(figures.DIMENSIONS)} 之一",
                      detail=[{"field": "by", "msg": "unknown dimension"}], fields=["by"])
    region = call.query("region")
    docs = [doc for doc in await deps.store.resolved_cases()
            if (department is None or (doc.get("department") or figures.UNKNOWN) == department)
            and (region is None or (doc.get("region") or figures.UNKNOWN) == region)]
    start, end = date_query(call, "from"), date_query(call, "to")
    return {**figures.figures(docs, dimension, deps.ctx.settings.tz, start, end, deps.weights),
            "from": start.isoformat() if start else None, "to": end.isoformat() if end else None,
            "department": department, "region": region}


# ------------------------------------------------------------------ 营商办's and third-party evaluations

def evaluation_roles(deps: Deps) -> tuple[str, ...]:
    return deps.settings.evaluation_roles


async def record_evaluation(deps: Deps, case_id: str, *, source: str, number: int | None, level: str | None,
                            score: float | None, satisfied: bool, comment: str | None,
                            by: str) -> tuple[Applied, int]:
    """One source's evaluation of one round, once: the cause names source and round, so a repeat (a second
    click, a survey imported again) is recognised whichever request makes it."""
    doc = await deps.store.cases.get(case_id)
    number = number or (doc or {}).get("round") or 0
    cause = f"evaluate:{source}:{case_id}:{number}"
    applied = await deps.store.cases.apply(case_id, cause, lambda current: evaluations.evaluate(
        current, case_id=case_id, source=source, number=number or None, level=level, score=score,
        satisfied=satisfied, comment=comment, by=by, now=deps.ctx.clock(), cause=cause))
    await deps.ctx.emit(deps.store.cases, case_id, applied.events)
    return applied, number


@ROUTES.post("/evaluations", roles=evaluation_roles)
async def post_evaluation(call: Call[Deps]) -> Any:
    staff, policy = call.caller, call.deps.policy
    body = EvaluationBody.model_validate(await read_json(call.request))
    if body.level not in policy.level_names:
        raise unknown_level()
    applied, number = await record_evaluation(
        call.deps, body.case_id, source="business_office", number=body.round, level=body.level, score=None,
        satisfied=body.level in policy.satisfied_levels, comment=body.comment, by=staff.sub)
    if applied.duplicate:
        raise Refusal(409, "该次办理已有营商办评价", reason="already_evaluated")
    call.deps.ctx.log.info("case_evaluated", case_id=body.case_id, round=number, source="business_office",
                           by=staff.sub)
    return json_response({"case_id": body.case_id, "round": number, "source": "business_office",
                          "level": body.level, "name": policy.level_names[body.level],
                          "satisfied": body.level in policy.satisfied_levels}, 201)


@ROUTES.post("/surveys", roles=evaluation_roles)
async def import_survey(call: Call[Deps]) -> Any:
    """A survey company's xlsx file: one report line per row (Chinese), nothing imported twice."""
    staff = call.caller
    rows = evaluations.read_survey(await read_body(call.request, SURVEY_MAX_BYTES))
    units = {d.code: d.name for d in call.deps.ctx.org.departments}
    report = [await survey_line(call.deps, number, row, units, staff.sub)
              for number, row in enumerate(rows, start=2) if any(row.values())]  # row 1 is the header
    counts = {status: sum(line["status"] == status for line in report) for status in ("imported", "duplicate", "error")}
    call.deps.ctx.log.info("survey_imported", by=staff.sub, **counts)
    return {**counts, "rows": report}


async def survey_line(deps: Deps, number: int, row: dict[str, str], units: dict[str, str],
                      by: str) -> dict[str, Any]:
    """Import one row of a survey; its line of the report."""
    def line(status: str, message: str, tracking_no: str | None, **more: Any) -> dict[str, Any]:
        return {"row": number, "tracking_no": tracking_no, "status": status, "message": message, **more}

    already = "该次办理已导入过第三方评价，未重复导入"
    try:
        checked = evaluations.check_row(row, deps.policy, units, deps.settings.survey_satisfied_score)
    except evaluations.SurveyRowError as exc:
        return line("error", str(exc), row.get("tracking_no") or None)
    found = await deps.store.by_tracking_no(checked.tracking_no)
    if found is None:
        return line("error", "未找到该查询编号的问题", checked.tracking_no)
    if checked.unit and checked.unit != found.get("department"):
        holder = units.get(found.get("department") or "", "未交办")
        return line("error", f"承办单位与该问题的承办单位（{holder}）不符", checked.tracking_no)
    try:
        applied, round_number = await record_evaluation(
            deps, found["_id"], source="third_party", number=None, level=checked.level, score=checked.score,
            satisfied=checked.satisfied, comment=checked.comment, by=by)
    except domain.Refused as exc:
        if exc.reason == "already_evaluated":
            return line("duplicate", already, checked.tracking_no)
        return line("error", exc.message, checked.tracking_no)
    if applied.duplicate:
        return line("duplicate", already, checked.tracking_no)
    return line("imported", "已导入", checked.tracking_no, round=round_number, satisfied=checked.satisfied)
