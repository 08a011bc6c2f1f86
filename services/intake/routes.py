"""intake's JSON API, each route declaring who may call it (shared.http.RouteTable).

CASE_ROUTES (CONTRACT.md sections 1 and 3): submitting a case, and reading it with a proof or as staff
    POST /api/v1/submissions                        anyone (a channel system with its X-Channel-Key)
    GET  /api/v1/cases?tracking_no=&phone_last4=    the enterprise's view (or &code=, or ?token= the receipt's link)
    POST /api/v1/cases/codes {"tracking_no"}        a one-time code to the contact phone (same answer either way)
    POST /api/v1/cases/supplements                  补充说明, with a proof
    GET  /api/v1/cases/{case_id}                    staff, within role and unit; anyone else 404
    POST /api/v1/internal/proofs                    rating checks an enterprise's proof here (one guessing budget)
DEV_ROUTES: GET /dev/sms, the SMS simulator's inbox (development only)
ROUTES: staff reads of cases, enterprises and contacts; the hotline's webhook; liaison officers and visits; named
    reporters one by one or in a batch.
Open311 is in open311_routes.py, the enterprise's pages in pages.py.
"""

import hashlib
import hmac
import re
import uuid
from typing import Any

from starlette.responses import JSONResponse

from services.intake import access, channels, domain
from services.intake.access import aware
from services.intake.deps import Deps
from services.intake.registration import SubmissionConflict, receipt, register, register_many, register_or_refuse
from services.intake.sms import SimulatedSms
from services.intake.tracking import Proof
from shared.auth import Staff
from shared.contracts.submissions import Submission, SubmissionBody, parse_submission
from shared.http import Call, RouteTable, field_errors, json_response, read_body, read_json, staff_of
from shared.jsonable import iso
from shared.masking import mask_name, mask_phone
from shared.refusal import Refusal

IDEMPOTENCY_KEY = re.compile(r"^[\x20-\x7e]{1,128}$")  # 1-128 printable characters (CONTRACT.md section 1)
STAFF_ROLES = ("triage_officer", "unit_handler", "leader", "supervisor", "admin")
# Roles that need an enterprise's full contact data (to call it back); others see it masked.
CONTACT_ROLES = ("triage_officer", "admin")
# Who may read one case's full contact besides the platform's own services (rating's SMS invitations and revisit
# calls): the staff roles that call enterprises back (triage, revisits by leaders and admins).
CASE_CONTACT_ROLES = ("triage_officer", "leader", "admin")
NOT_FOUND = "未找到该问题件"

CASE_ROUTES = RouteTable()
DEV_ROUTES = RouteTable()
ROUTES = RouteTable()


# ---------------------------------------------------------------- submitting a case (CONTRACT section 1)


def idempotency_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def channel_prefix(call: Call[Deps]) -> str | None:
    """The submission-id prefix a channel credential (X-Channel-Key) owns; None for an anonymous caller."""
    sent = call.request.headers.get("x-channel-key")
    if not sent:
        return None
    for prefix, key in call.deps.settings.channel_credentials.items():
        if hmac.compare_digest(sent.encode(), key.get_secret_value().encode()):
            return f"{prefix}-"
    raise Refusal(401, "渠道凭证无效")


async def anonymous_submission_id(call: Call[Deps], body: SubmissionBody) -> str:
    """An anonymous caller never chooses a submission id: its Idempotency-Key (24 hours) names one."""
    key = call.request.headers.get("idempotency-key")
    if key is None:
        return f"web-{uuid.uuid4()}"
    if not IDEMPOTENCY_KEY.match(key):
        raise Refusal(422, "Idempotency-Key 请求头应为1至128个可打印字符",
                      detail=[{"field": "Idempotency-Key", "msg": "1-128 printable characters"}],
                      fields=["Idempotency-Key"])
    store = call.deps.store
    print_ = domain.fingerprint(body.channel, body.enterprise.name, body.enterprise.contact_phone, body.content)
    now, hashed = call.deps.ctx.clock(), idempotency_hash(key)
    record = await store.idempotency_key(hashed)
    window = call.deps.settings.idempotency_window_hours * 3600
    fresh = record is not None and (now - aware(record["at"])).total_seconds() < window
    if record is None:  # first use; a request racing this one with the same key may have recorded it first
        record = await store.idempotent_submission(hashed, f"web-{uuid.uuid4()}", print_, now)
    elif not fresh:  # used more than the window ago: a new submission
        record = {"_id": hashed, "submission_id": f"web-{uuid.uuid4()}", "fingerprint": print_, "at": now}
        await store.replace_idempotency_key(record)
    if record["fingerprint"] != print_:
        raise Refusal(422, "该 Idempotency-Key 已用于另一份内容不同的提交，请为新的提交使用新的键",
                      detail=[{"field": "Idempotency-Key", "msg": "reused with different content"}],
                      fields=["Idempotency-Key"])
    return str(record["submission_id"])


async def submission_id_of(call: Call[Deps], prefix: str | None, body: SubmissionBody) -> str:
    """A channel system may choose ids under its own prefix; an anonymous caller never does."""
    if prefix is None:
        if body.submission_id is not None:
            raise Refusal(422, "匿名提交不能指定 submission_id，请改用 Idempotency-Key 请求头防止重复提交",
                          detail=[{"field": "submission_id", "msg": "only channel systems choose ids"}],
                          fields=["submission_id"])
        return await anonymous_submission_id(call, body)
    if body.submission_id is None:
        return f"{prefix}{uuid.uuid4()}"
    if not body.submission_id.startswith(prefix):
        raise Refusal(422, f"submission_id 应以本渠道的前缀 {prefix} 开头",
                      detail=[{"field": "submission_id", "msg": f"must start with {prefix}"}],
                      fields=["submission_id"])
    return body.submission_id


@CASE_ROUTES.post("/api/v1/submissions", public=True)
async def post_submission(call: Call[Deps]) -> JSONResponse:
    # ?strict=true (the enterprise's page: a person typed it): a credit code with a wrong check character
    # or an unknown place is refused so that they can correct it; machine channels keep them
    strict = call.query("strict") == "true"
    prefix = channel_prefix(call)
    body = SubmissionBody.model_validate(await read_json(call.request),
                                         context={"org": call.deps.org, "strict": strict})
    submission_id = await submission_id_of(call, prefix, body)
    submission = Submission.model_validate({**body.model_dump(), "submission_id": submission_id})
    doc, duplicate = await register_or_refuse(call.deps, submission)
    return json_response(receipt(call.deps, doc, submission, duplicate), 202)


# ---------------------------------------------------------------- reading a case (CONTRACT section 3)


@CASE_ROUTES.get("/api/v1/cases", public=True)
async def track(call: Call[Deps]) -> Any:
    deps = call.deps
    proof = Proof.of(call.request.query_params)
    proof.refuse_if_incomplete()
    registration = await deps.proofs.prove(proof, deps.proofs.address(call.request))
    doc = await deps.store.cases.get(registration["_id"]) or registration
    return {**access.enterprise_view(doc, deps.org, deps.tz), "proof_token": deps.proofs.proof_token(registration)}


@CASE_ROUTES.post("/api/v1/cases/codes", public=True)
async def send_code(call: Call[Deps]) -> Any:
    raw = await read_json(call.request, max_bytes=4096)
    tracking = access.normalise_tracking_no(raw.get("tracking_no") if isinstance(raw, dict) else None)
    if not tracking:
        raise Refusal(422, "请提供查询编号", detail=[{"field": "tracking_no", "msg": "required"}],
                      fields=["tracking_no"])
    return {"message": await call.deps.proofs.send_code(tracking, call.deps.proofs.address(call.request))}


def supplement_text(raw: Any) -> str:
    """The 补充说明 of a request body: present, not blank, not too long."""
    if not isinstance(raw, dict):
        raise Refusal(422, "请求内容应为对象")
    content = raw.get("content")
    if not isinstance(content, str) or not content.strip():
        raise Refusal(422, "请填写补充说明", detail=[{"field": "content", "msg": "required"}], fields=["content"])
    if len(content) > domain.SUPPLEMENT_MAX_CHARS:
        raise Refusal(422, f"补充说明最多{domain.SUPPLEMENT_MAX_CHARS}字",
                      detail=[{"field": "content", "msg": "too long"}], fields=["content"])
    return content.strip()


@CASE_ROUTES.post("/api/v1/cases/supplements", public=True)
async def add_supplement(call: Call[Deps]) -> JSONResponse:
    """补充说明: the enterprise, with a proof, adds detail to a case screened unclear -> case.supplemented."""
    deps = call.deps
    raw = await read_json(call.request, max_bytes=64_000)
    content = supplement_text(raw)
    proof = Proof.of(raw)
    proof.refuse_if_incomplete()
    registration = await deps.proofs.prove(proof, deps.proofs.address(call.request))
    view = await deps.store.cases.get(registration["_id"])
    case_id = registration["_id"]
    applied = await deps.store.registrations.apply(  # domain.SupplementRefused: 409
        case_id, f"supplement:{case_id}:{len(registration.get('supplements') or []) + 1}",
        lambda doc: domain.supplement(view, doc or registration, content, now=deps.ctx.clock()))
    await deps.ctx.emit(deps.store.registrations, case_id, applied.events)
    deps.ctx.log.info("case_supplemented", case_id=case_id, round=len(applied.doc.get("supplements") or []))
    return json_response({"message": "补充说明已提交，将在1个工作日内重新研判", "tracking_no":
                          registration["tracking_no"]}, 202)


@CASE_ROUTES.get("/api/v1/cases/{case_id}", public=True)
async def staff_case(call: Call[Deps]) -> Any:
    """Public so that an anonymous caller gets 404, the same answer whether or not the case exists."""
    if not call.request.headers.get("authorization"):
        raise Refusal(404, NOT_FOUND)
    staff = staff_of(call.request, call.deps.ctx.jwt_secret)
    doc = await call.deps.store.case(call.path("case_id"))
    if doc is None or not access.staff_may_read(staff, doc):
        raise Refusal(404, NOT_FOUND)
    return access.staff_view(staff, domain.case_view(doc))


@CASE_ROUTES.post("/api/v1/internal/proofs", service=True, roles=("service",))
async def internal_proof(call: Call[Deps]) -> Any:
    """rating asks here, passing on its caller's address, so both share one budget."""
    raw = await read_json(call.request, max_bytes=8192)
    if not isinstance(raw, dict):
        raise Refusal(422, "请求内容应为对象")
    proof = Proof.of(raw)
    proof.refuse_if_incomplete(name_fields=False)
    registration = await call.deps.proofs.prove(proof, str(raw.get("address") or "unknown")[:64])
    return {"case_id": registration["_id"], "tracking_no": registration["tracking_no"],
            "proof_token": call.deps.proofs.proof_token(registration)}


@DEV_ROUTES.get("/dev/sms", public=True)
async def sms_inbox(call: Call[Deps]) -> Any:
    sms = call.deps.proofs.sms
    assert isinstance(sms, SimulatedSms)
    return {"note": "开发环境短信模拟器：以下短信未真正发出", "messages": sms.inbox()}


# ---------------------------------------------------------------- staff reads (personal data is audited)


async def audit(deps: Deps, staff: Staff, what: str, **subject: Any) -> None:
    """PIPL: a staff read of personal data is recorded (who, what, whose, when), not only logged."""
    await deps.store.audit_personal_data({"_id": str(uuid.uuid4()), "by": staff.sub, "role": staff.role,
                                          "unit": staff.unit, "what": what, "at": deps.ctx.clock(), **subject})


@ROUTES.get("/api/v1/staff/audit/personal-data", roles=("admin", "supervisor"))
async def personal_data_reads(call: Call[Deps]) -> Any:
    limit, skip = call.page(highest=500)
    docs = await call.deps.store.personal_data_reads_of(case_id=call.query("case_id"), staff=call.query("by"),
                                                        limit=limit, skip=skip)
    return {"items": [{"id": d["_id"], **{k: iso(v) for k, v in d.items() if k != "_id"}} for d in docs],
            "limit": limit, "offset": skip}


@ROUTES.get("/api/v1/staff/cases", roles=STAFF_ROLES)
async def staff_cases(call: Call[Deps]) -> Any:
    staff, department = call.caller, call.query("department")
    if staff.role == "unit_handler":
        if not staff.unit:
            raise Refusal(403, "承办单位账号未指定单位")
        if department and department != staff.unit:
            raise Refusal(403, "只能查看本单位的问题件")
        department = staff.unit
    limit, skip = call.page()
    docs = await call.deps.store.list_cases(department=department, status=call.query("status"), limit=limit,
                                            skip=skip)
    return {"items": [domain.case_view(d) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/api/v1/staff/enterprises/{enterprise_id}", roles=("triage_officer", "leader", "supervisor", "admin"))
async def staff_enterprise(call: Call[Deps]) -> Any:
    """One enterprise across channels and its history (for triage). Contacts in full only to roles that call."""
    store = call.deps.store
    record = await store.enterprise(call.path("enterprise_id"))
    if record is None:
        raise Refusal(404, "未找到该企业")
    full = call.caller.role in CONTACT_ROLES
    if full:
        await audit(call.deps, call.caller, "enterprise_contact", enterprise_id=record["_id"])
    cases = [{"case_id": r["_id"], "tracking_no": r["tracking_no"], "channel": r["channel"],
              "received_at": iso(r.get("received_at")), "source_ref": r.get("source_ref"),
              "content": (r.get("submission") or {}).get("content")}
             for r in await store.registrations_of(record["_id"])]
    return {"enterprise_id": record["_id"], "name": record.get("name"), "uscc": record.get("uscc"),
            "contact_name": record.get("contact_name") if full else mask_name(record.get("contact_name")),
            "contact_phone": record.get("contact_phone") if full else mask_phone(record.get("contact_phone")),
            "first_seen": iso(record.get("first_seen")), "last_seen": iso(record.get("last_seen")),
            "channels": sorted({c["channel"] for c in cases}), "cases": cases}


@ROUTES.get("/api/v1/staff/cases/{case_id}/contact", service=True, roles=CASE_CONTACT_ROLES)
async def staff_case_contact(call: Call[Deps]) -> Any:
    """One case's full contact from the private registration record; every disclosure is logged."""
    staff, case_id = call.caller, call.path("case_id")
    registration = await call.deps.store.registrations.get(case_id)
    if registration is None:
        raise Refusal(404, NOT_FOUND)
    enterprise = (registration.get("submission") or {}).get("enterprise") or {}
    call.deps.ctx.log.info("contact_disclosed", case_id=case_id, by=staff.sub, role=staff.role)
    await audit(call.deps, staff, "case_contact", case_id=case_id, enterprise_id=registration.get("enterprise_id"))
    return {"case_id": case_id, "tracking_no": registration.get("tracking_no"),
            "enterprise_name": enterprise.get("name"), "contact_name": enterprise.get("contact_name"),
            "contact_phone": enterprise.get("contact_phone")}


# ---------------------------------------------------------------- the hotline's webhook


@ROUTES.post("/api/v1/channels/hotline/tickets", public=True)
async def hotline_ticket(call: Call[Deps]) -> JSONResponse:
    """Public: the hotline system proves itself with X-Hotline-Token (when one is set)."""
    deps = call.deps
    if deps.settings.hotline_token is not None:
        sent = call.request.headers.get("x-hotline-token", "")
        if not hmac.compare_digest(sent.encode(), deps.settings.hotline_token.get_secret_value().encode()):
            raise Refusal(401, "热线接口凭证无效")
    ticket = channels.HotlineTicket.model_validate(await read_json(call.request))
    body = channels.hotline_submission(ticket, channel=deps.ctx.settings.hotline_channel, org=deps.org, tz=deps.tz)
    submission = parse_submission(body, deps.org)
    doc, duplicate = await register_or_refuse(deps, submission)
    return json_response({**receipt(deps, doc, submission, duplicate), "ticket_no": ticket.ticket_no}, 202)


# ---------------------------------------------------------------- liaison officers and their visits


def officer_view(record: dict[str, Any], *, full: bool) -> dict[str, Any]:
    return {"officer_id": record["_id"], "name": record["name"],
            "phone": record["phone"] if full else mask_phone(record["phone"]),
            "units": record.get("units", []), "enterprises": record.get("enterprises", [])}


@ROUTES.get("/api/v1/liaison/officers", service=True, roles=STAFF_ROLES)
async def list_officers(call: Call[Deps]) -> Any:
    """Services read it too (insight names officers in its scheduled reports; phones stay masked for them)."""
    staff = call.caller
    unit = staff.unit if staff.role == "unit_handler" else call.query("unit")
    limit, skip = call.page(default=100, highest=500)
    docs = await call.deps.store.list_officers(unit, limit, skip)
    return {"items": [officer_view(d, full=staff.role in CONTACT_ROLES) for d in docs], "limit": limit,
            "offset": skip}


@ROUTES.put("/api/v1/liaison/officers/{officer_id}", roles=("triage_officer", "admin"))
async def put_officer(call: Call[Deps]) -> Any:
    officer = channels.Officer.model_validate({**await read_json(call.request), "officer_id": call.path("officer_id")},
                                              context={"org": call.deps.org})
    record = {"_id": officer.officer_id, **officer.model_dump(exclude={"officer_id"}), "updated_by": call.caller.sub}
    await call.deps.store.save_officer(record)
    return officer_view(record, full=True)


@ROUTES.post("/api/v1/liaison/visits", roles=("triage_officer", "admin", "unit_handler"))
async def post_visit(call: Call[Deps]) -> JSONResponse:
    """One visit, several problems: one case each, all linked to the visit and the officer."""
    deps, staff = call.deps, call.caller
    visit = channels.Visit.model_validate(await read_json(call.request))
    officer = await deps.store.officer(visit.officer_id)
    if officer is None:
        raise Refusal(422, "联络员未登记", detail=[{"field": "officer_id", "msg": "unknown officer"}],
                      fields=["officer_id"])
    if staff.role == "unit_handler" and staff.unit not in officer.get("units", []):
        raise Refusal(403, "只能为本单位的联络员登记走访")
    bodies = channels.visit_submissions(visit, officer, channel=deps.settings.liaison_channel)
    submissions = [Submission.model_validate(b, context={"org": deps.org}) for b in bodies]
    results = []
    for submission in submissions:
        doc, duplicate = await register(deps, submission)
        results.append(receipt(deps, doc, submission, duplicate))
    visit_id = channels.visit_id_of(visit)
    await deps.store.record_visit({"_id": visit_id, "officer_id": officer["_id"], "officer_name": officer["name"],
                                   "visited_at": visit.visited_at, "enterprise_name": visit.enterprise.name,
                                   "enterprise_id": results[0]["enterprise_id"], "notes": visit.notes,
                                   "case_ids": [r["case_id"] for r in results], "recorded_by": staff.sub})
    return json_response({"visit_id": visit_id, "officer_id": officer["_id"], "cases": results}, 202)


@ROUTES.get("/api/v1/liaison/visits/{visit_id}", roles=STAFF_ROLES)
async def get_visit(call: Call[Deps]) -> Any:
    visit = await call.deps.store.visit(call.path("visit_id"))
    if visit is None:
        raise Refusal(404, "未找到该走访记录")
    return {"visit_id": visit["_id"], **{k: iso(v) for k, v in visit.items() if k != "_id"}}


# ---------------------------------------------------------------- named reporters (forum, deputies, CPPCC members,
# chambers, industry chains), one by one or in a batch


def reporter_channel(call: Call[Deps]) -> str:
    channel = call.path("channel")
    if channel not in call.deps.settings.reporter_channels or channel not in call.deps.org.channel_codes:
        raise Refusal(404, "该渠道不接受代为反映的问题")
    return channel


@ROUTES.post("/api/v1/channels/{channel}/submissions", public=True)
async def post_reported(call: Call[Deps]) -> JSONResponse:
    channel = reporter_channel(call)
    raw = await read_json(call.request)
    if not isinstance(raw, dict):
        raise Refusal(422, "请求内容应为对象", detail=[{"field": "body", "msg": "not an object"}])
    if raw.get("submission_id") is not None:
        raise Refusal(422, "代为反映的问题不能指定 submission_id（由平台按内容生成，同一问题不会重复受理）",
                      detail=[{"field": "submission_id", "msg": "chosen by the platform"}], fields=["submission_id"])
    raw = {**raw, "channel": channel}
    reporter = raw.get("reporter") if isinstance(raw.get("reporter"), dict) else {}
    raw["reporter"] = {**reporter, "kind": channel}
    raw["submission_id"] = channels.reporter_submission_id(channel, raw)
    submission = Submission.model_validate(raw, context={"org": call.deps.org})
    if not submission.reporter or not submission.reporter.name:
        raise Refusal(422, "请填写反映人姓名", detail=[{"field": "reporter.name", "msg": "required",
                                                  "message": "reporter.name: 缺少必填字段"}],
                      fields=["reporter.name"])
    doc, duplicate = await register_or_refuse(call.deps, submission)
    return json_response(receipt(call.deps, doc, submission, duplicate), 202)


@ROUTES.post("/api/v1/channels/{channel}/batches", roles=("triage_officer", "admin"))
async def post_batch(call: Call[Deps]) -> Any:
    """A CSV or xlsx file of problems collected at an event; a report per row; nothing accepted twice."""
    deps = call.deps
    channel = reporter_channel(call)
    content_type = call.request.headers.get("content-type", "")
    kind = "xlsx" if "spreadsheetml" in content_type or call.query("format") == "xlsx" else "csv"
    rows = channels.read_batch(await read_body(call.request, 10_000_000, "文件过大"), kind)  # BatchFileError: 422
    if len(rows) > deps.settings.batch_max_rows:
        raise Refusal(413, f"一次最多{deps.settings.batch_max_rows}行")
    outcomes, valid = channels.validate_rows(
        rows, channel=channel, default_reporter=call.query("reporter"), received=deps.ctx.clock().astimezone(deps.tz),
        org=deps.org, messages=lambda exc: [{"field": e["field"], "message": e["message"]} for e in field_errors(exc)])
    pending = [o for o in outcomes if o.status == "pending" and o.row in valid]
    for outcome, result in zip(pending, await register_many(deps, [valid[o.row] for o in pending]), strict=True):
        if isinstance(result, SubmissionConflict):
            outcome.status = "rejected"
            outcome.errors = [{"field": "submission_id", "message": "与此前受理的问题冲突，请核对后单独提交"}]
            continue
        doc, duplicate = result
        outcome.status = "duplicate" if duplicate else "accepted"
        outcome.case_id, outcome.tracking_no = doc["_id"], doc["tracking_no"]
    counts = {s: sum(1 for o in outcomes if o.status == s) for s in ("accepted", "duplicate", "rejected")}
    deps.ctx.log.info("batch_received", channel=channel, by=call.caller.sub, **counts)
    return {"channel": channel, **counts, "rows": [o.as_dict() for o in outcomes]}
