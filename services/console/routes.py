"""The console's HTTP side: its one page (with the static files) and the few JSON endpoints only the console has
(sign-in, who-am-I, search, case briefs and timeline from its own read model, and the admin's organisation file,
working-day calendar and rule settings). Each API route declares who may call it on `ROUTES`."""

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from services.console import domain
from services.console.deps import Deps
from services.console.jobs import known_schedules, refresh_calendar_status
from services.console.names import SERVICE_NAMES
from services.console.settings import ConsoleSettings
from shared import error_pages
from shared.auth import issue_token
from shared.http import Call, RouteTable, read_json
from shared.jsonable import iso
from shared.refusal import Refusal
from shared.settings import Settings
from shared.workdays import CalendarSettings, apply_year, next_year_status

HERE = Path(__file__).parent
STAFF_ROLES = ("triage_officer", "unit_handler", "leader", "supervisor", "admin")
ADMIN = ("admin",)
MAX_OFFSET = 100_000  # the furthest page of a search or an audit trail
# what a case's row keeps to itself: the read model's bookkeeping and what only filters by
HIDDEN_FIELDS = ("enterprise_key", "units", "timeline", "rev", "pending_since", "outbox", "processed", "status_at",
                 "due_set_at")

ROUTES = RouteTable("/api/v1/console")
PAGE = RouteTable()  # the page inside the /console mount


class OrgCheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=2_000_000)
    note: str = Field(default="", max_length=2000)


class YearApplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    audit_id: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)


class YearCheckBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=200_000)
    note: str = Field(default="", max_length=2000)


def local(value: Any, tz: ZoneInfo) -> Any:
    """A stored time as the county reads it: ISO text in its time zone (other values unchanged)."""
    return iso(value, tz)


def case_row(doc: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """A case of the read model as search and the timeline answer it: `case_id`, its listed fields, its status
    in words."""
    return {**{("case_id" if k == "_id" else k): local(v, tz) for k, v in doc.items() if k not in HIDDEN_FIELDS},
            "status_name": domain.status_name(doc)}


def listing_page(call: Call[Deps]) -> tuple[int, int]:
    limit, offset = call.page(default=20, highest=100)
    return limit, min(offset, MAX_OFFSET)


# ---------------------------------------------------------------------- the page

async def home(_: Request) -> Response:
    return RedirectResponse("/console/", status_code=302)


@PAGE.get("/", public=True)
async def console_page(call: Call[Deps]) -> HTMLResponse:
    deps = call.deps
    html = deps.templates.get_template("console.html").render(county=deps.ctx.org.county.name, version=deps.version,
                                                              tz=deps.ctx.settings.timezone)
    return HTMLResponse(html, headers={"cache-control": "no-store"})


def pages(deps: Deps, secret: str) -> list[BaseRoute]:
    """`/console` and the console's page and static files, with its 404 and 500 in Chinese."""
    return [Route("/console", home, methods=["GET"]),
            Mount("/console", app=Starlette(routes=[
                *PAGE.bind(deps, secret),
                Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
            ], exception_handlers=error_pages.HANDLERS))]


# ---------------------------------------------------------------------- sign-in, who am I

@ROUTES.post("/login", public=True)
async def login(call: Call[Deps]) -> Any:
    """Sign-in against the staff directory: the platform's token, or 401; 429 after too many failures."""
    deps, log = call.deps, call.deps.ctx.log
    body = domain.LoginRequest.model_validate(await read_json(call.request, max_bytes=4096))
    client = call.request.client
    keys = domain.sign_in_keys(body.username, client.host if client and deps.settings.login_limit_by_address else None)
    wait = deps.attempts.retry_after(keys, time.monotonic())
    if wait is not None:
        log.info("console_login_throttled", user=body.username[:64])
        raise Refusal(429, domain.too_many_attempts_message(wait), retry_after=round(wait))
    user = await asyncio.to_thread(deps.directory.authenticate, body.username, body.password)  # scrypt: ~50 ms
    if user is None:
        deps.attempts.failed(keys, time.monotonic())
        log.info("console_login_refused", user=body.username[:64])
        raise Refusal(401, "用户名或密码错误，或账号已停用")
    deps.attempts.succeeded(keys[0])
    jti = uuid.uuid4().hex
    token = issue_token(deps.ctx.jwt_secret, sub=user.id, role=user.role, unit=user.unit, name=user.name,
                        ttl_seconds=deps.settings.token_ttl_seconds, jti=jti)
    log.info("console_login", user=user.id, role=user.role, jti=jti)
    return {"token": token, "expires_in": deps.settings.token_ttl_seconds,
            **domain.who(user.id, user.name, user.role, user.unit, deps.ctx.org)}


@ROUTES.get("/me")
async def me(call: Call[Deps]) -> Any:
    deps, staff = call.deps, call.caller
    user = deps.directory.get(staff.sub)
    who = domain.who(staff.sub, (user.name if user else None) or staff.name, staff.role, staff.unit, deps.ctx.org)
    if staff.role in ("admin", "leader"):
        status = deps.calendar.status or await refresh_calendar_status(deps)
        banner = domain.calendar_banner(status, staff.role)
        if banner:
            who["banner"] = banner
    return who


@ROUTES.get("/options")
async def options(call: Call[Deps]) -> Any:
    """The organisation's code lists and colleagues by name: pages show names where the services answer codes."""
    org = call.deps.ctx.org
    return {"departments": [{"code": d.code, "name": d.name} for d in org.departments],
            "regions": [{"code": r.code, "name": r.name} for r in org.regions],
            "complexity": [{"code": c.code, "name": c.name} for c in org.complexity],
            "channels": [{"code": c.code, "name": c.name} for c in org.channels],
            "screening": [{"code": c.code, "name": c.name} for c in org.screening],
            "rating_levels": [{"code": c.code, "name": c.name} for c in org.rating_levels],
            "oversight": [{"code": c.code, "name": c.name} for c in org.oversight],
            "escalation_levels": [{"code": str(c.level), "name": c.name} for c in org.escalation_levels],
            "people": {u.id: u.name for u in call.deps.directory.users() if u.name}}


# ---------------------------------------------------------------------- search, briefs, timeline

@ROUTES.get("/search", roles=STAFF_ROLES)
async def search(call: Call[Deps]) -> Any:
    """A tracking number, an enterprise or words of the text, newest first; a unit sees only its own cases."""
    deps = call.deps
    query = domain.search_query((call.query("q", "") or "")[:200])
    limit, skip = listing_page(call)
    unit = call.unit_scope()
    if deps.index.loaded:
        docs = deps.index.search(query, unit, limit, skip)
    else:  # until the rows are read at start, the store answers (slowly on FerretDB, but rightly)
        docs = await deps.store.search(query, unit, limit, skip)
    return {"q": query, "items": [case_row(d, deps.tz) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/cases/brief", roles=STAFF_ROLES)
async def briefs(call: Call[Deps]) -> Any:
    """What the lists of other services lack to be read by people: for each case id their page holds, the
    tracking number, enterprise, title or first words and status (a unit handler: only its own cases)."""
    deps = call.deps
    ids = [i for i in dict.fromkeys((call.query("ids", "") or "").split(",")) if i][:200]
    if deps.index.loaded:
        rows = [deps.index.rows[i] for i in ids if i in deps.index.rows]
    else:
        rows = await deps.store.rows(ids)
    unit = call.unit_scope()
    return {"items": {r["_id"]: domain.brief(r) | {"status_name": domain.status_name(r),
                                                   "due_at": local(r.get("due_at"), deps.tz)}
                      for r in rows if unit is None or unit in (r.get("units") or [])}}


@ROUTES.get("/cases/{case_id}/timeline", roles=STAFF_ROLES)
async def case_timeline(call: Call[Deps]) -> Any:
    """Every event of a case in words, oldest first (a unit: the cases it leads or helps with)."""
    deps, staff = call.deps, call.caller
    doc = await deps.store.case(call.path("case_id"))
    if doc is None:
        raise Refusal(404, "未找到该案件")
    if staff.role == "unit_handler" and staff.unit not in (doc.get("units") or []):
        raise Refusal(403, "只能查看本单位承办或协办的案件")
    return {**case_row(doc, deps.tz), "timeline": [{**e, "at": local(e["at"], deps.tz)}
                                                   for e in domain.timeline(doc.get("timeline", []), deps.names())]}


# ---------------------------------------------------------------------- the organisation file (admin)

@ROUTES.get("/org", roles=ADMIN)
async def org_view(call: Call[Deps]) -> Any:
    settings = call.deps.ctx.settings
    return {"source": str(settings.org_file or "shared/data/kaihua.yaml"), **domain.org_overview(call.deps.ctx.org)}


@ROUTES.post("/org/check", roles=ADMIN)
async def org_check(call: Call[Deps]) -> Any:
    """Check an edited organisation file; every check is kept in the audit trail with its diff. A valid file
    is applied by putting it at QHWY_ORG_FILE and restarting the services (they read it at start)."""
    deps, staff, current = call.deps, call.caller, call.deps.ctx.org
    body = OrgCheckBody.model_validate(await read_json(call.request, max_bytes=2_100_000))
    org, errors = domain.validate_org(body.text)
    changes = domain.org_changes(current, org) if org is not None else []
    entry = {"_id": uuid.uuid4().hex, "at": deps.ctx.clock(), "by": staff.sub, "note": body.note,
             "valid": org is not None, "errors": errors, "changes": changes, "text": body.text}
    await deps.store.add_audit(entry)
    deps.ctx.log.info("org_checked", by=staff.sub, valid=org is not None, changes=len(changes), errors=len(errors))
    result = {"audit_id": entry["_id"], "valid": org is not None, "errors": errors, "changes": changes,
              "changes_text": [domain.org_change_text(c, current, org) for c in changes], "applied": False,
              "how_to_apply": "将该文件保存为 QHWY_ORG_FILE 指向的文件并重启各服务后生效"}
    if errors:
        raise Refusal(422, "组织配置文件校验未通过", **{k: v for k, v in result.items() if k != "valid"},
                      detail=errors, fields=[e["field"] for e in errors])
    return result


@ROUTES.get("/org/audit", roles=ADMIN)
async def org_audit(call: Call[Deps]) -> Any:
    deps = call.deps
    limit, skip = listing_page(call)
    items = await deps.store.audit_trail(limit, skip)
    return {"items": [{**{("audit_id" if k == "_id" else k): local(v, deps.tz) for k, v in e.items()},
                       "by_name": deps.person(e.get("by")),
                       "changes_text": [domain.org_change_text(c, deps.ctx.org) for c in e.get("changes") or []]}
                      for e in items],
            "limit": limit, "offset": skip}


@ROUTES.get("/org/audit/{audit_id}/file", roles=ADMIN)
async def org_audit_file(call: Call[Deps]) -> Response:
    entry = await call.deps.store.audit_entry(call.path("audit_id"))
    if entry is None:
        raise Refusal(404, "未找到该记录")
    return PlainTextResponse(entry["text"], media_type="application/yaml; charset=utf-8")


# ---------------------------------------------------------------------- the working-day calendar (admin)

@ROUTES.get("/calendar", roles=ADMIN)
async def calendar_view(call: Call[Deps]) -> Any:
    """The years the calendar knows (who applied each from this page), those it lacks, and the broken files."""
    deps = call.deps
    known = await asyncio.to_thread(known_schedules, deps)
    today = deps.ctx.clock().astimezone(deps.tz).date()
    view = domain.calendar_years(known["schedules"], today)
    for row in view["years"]:
        entry = known["applied"].get(row["year"])
        if entry:
            row.update(applied_by=deps.person(entry.get("applied_by")), applied_at=entry.get("applied_at"))
    settings = deps.calendar.settings
    return {"directory": str(settings.holidays_dir), "calendar_file": str(deps.calendar.file),
            "broken": known["broken"], **view, "next_year": next_year_status(known["schedules"], today),
            "how_to_apply": "校验通过后点击“应用”：写入工作日历文件，各服务在 "
                            f"{settings.calendar_reload_seconds:g} 秒内自动生效，无需重启"}


@ROUTES.post("/calendar/check", roles=ADMIN)
async def calendar_check(call: Call[Deps]) -> Any:
    """Check one year's State Council schedule with the calendar's own loader; every check is kept."""
    deps, staff = call.deps, call.caller
    body = YearCheckBody.model_validate(await read_json(call.request, max_bytes=210_000))
    schedule, errors = domain.validate_year_file(body.text)
    summary = None
    if schedule is not None:
        known = await asyncio.to_thread(known_schedules, deps)
        summary = domain.year_changes(known["schedules"].get(schedule.year), schedule)
    entry = {"_id": uuid.uuid4().hex, "at": deps.ctx.clock(), "by": staff.sub, "note": body.note,
             "action": "check", "valid": schedule is not None, "year": schedule.year if schedule else None,
             "errors": errors, "summary": summary, "text": body.text}
    await deps.store.add_audit(entry, "calendar")
    deps.ctx.log.info("calendar_year_checked", by=staff.sub, valid=schedule is not None, year=entry["year"])
    if errors:
        raise Refusal(422, "节假日安排文件校验未通过", audit_id=entry["_id"], errors=errors, detail=errors,
                      fields=[e["field"] for e in errors])
    return {"audit_id": entry["_id"], "valid": True, "year": schedule.year, "summary": summary, "applied": False,
            "how_to_apply": "点击“应用”即写入工作日历文件，各服务自动生效，无需重启"}


@ROUTES.post("/calendar/apply", roles=ADMIN)
async def calendar_apply(call: Call[Deps]) -> Any:
    """Apply a year the administrator checked on this page: it goes into the calendar file every service reads
    (and rereads when it changes); the application is audited like the check, with who and when."""
    deps, staff, file = call.deps, call.caller, call.deps.calendar.file
    body = YearApplyBody.model_validate(await read_json(call.request, max_bytes=10_000))
    checked = await deps.store.audit_entry(body.audit_id, "calendar")
    if checked is None or checked.get("action", "check") != "check":
        raise Refusal(404, "未找到该校验记录")
    if not checked.get("valid"):
        raise Refusal(422, "该文件未通过校验，不能应用")
    now, entry_id = deps.ctx.clock(), uuid.uuid4().hex
    schedule = await asyncio.to_thread(apply_year, file, checked["text"], applied_by=staff.sub,
                                       applied_at=now.astimezone(deps.tz), audit_id=entry_id)
    known = await asyncio.to_thread(known_schedules, deps)
    entry = {"_id": entry_id, "at": now, "by": staff.sub, "note": body.note, "action": "apply", "valid": True,
             "year": schedule.year, "checked": body.audit_id, "errors": [], "text": checked["text"],
             "summary": domain.year_changes(None, schedule) | {"file": str(file)}}
    await deps.store.add_audit(entry, "calendar")
    deps.ctx.log.info("calendar_year_applied", by=staff.sub, year=schedule.year, file=str(file))
    await refresh_calendar_status(deps)
    return {"audit_id": entry_id, "applied": True, "year": schedule.year, "known": schedule.year in known["schedules"],
            "message": f"{schedule.year} 年节假日安排已应用，各服务在 "
                       f"{deps.calendar.settings.calendar_reload_seconds:g} 秒内生效"}


@ROUTES.get("/calendar/audit", roles=ADMIN)
async def calendar_audit(call: Call[Deps]) -> Any:
    deps = call.deps
    limit, skip = listing_page(call)
    items = await deps.store.audit_trail(limit, skip, "calendar")
    return {"items": [{**{("audit_id" if k == "_id" else k): local(v, deps.tz) for k, v in e.items()},
                       "action": e.get("action", "check"), "by_name": deps.person(e.get("by"))} for e in items],
            "limit": limit, "offset": skip}


@ROUTES.get("/calendar/audit/{audit_id}/file", roles=ADMIN)
async def calendar_audit_file(call: Call[Deps]) -> Response:
    entry = await call.deps.store.audit_entry(call.path("audit_id"), "calendar")
    if entry is None:
        raise Refusal(404, "未找到该记录")
    name = f"{entry['year']}.yaml" if entry.get("year") else "holidays.yaml"
    return PlainTextResponse(entry["text"], media_type="application/yaml; charset=utf-8",
                             headers={"content-disposition": f'attachment; filename="{name}"'})


# ---------------------------------------------------------------------- the settings that steer the rules (admin)

def _steering_settings(platform: Settings) -> list[tuple[str, Any, dict[str, str]]]:
    """The settings that steer the rules, as the admin's read-only page lists them: (service, settings, fields).
    Only names and labels live here; the values are read from the classes (i.e. from the environment) at request."""
    from services.intake.settings import IntakeSettings
    from services.sla.settings import SlaSettings
    from services.triage.settings import TriageSettings

    return [
        ("platform", platform, {"triage_review_threshold": "研判置信度低于此值转人工复核", "timezone": "时区",
                                  "sla_scan_interval_seconds": "时限扫描间隔（秒）"}),
        ("calendar", CalendarSettings(), {"office_hours": "办公时间（工作时间计算）",
                                          "holidays_dir": "节假日安排文件目录",
                                          "calendar_file": "工作台应用的年度安排文件（空：数据目录下 calendar.yaml）",
                                          "calendar_reload_seconds": "各服务检查年度安排文件的间隔（秒）"}),
        ("triage", TriageSettings(), {"duplicate_window_days": "重复件比对时间窗（天）",
                                      "duplicate_candidates": "重复件最多比对案件数",
                                      "cross_enterprise_duplicates": "跨企业合并重复件",
                                      "claim_minutes": "研判认领时长（分钟）"}),
        ("sla", SlaSettings(), {"reminder_fractions": "时限提醒点（占工作时间比例）",
                                "end_of_day_reminder_minutes": "下班前提醒（分钟，一般不过夜）",
                                "escalation_window_hours": "各督办层级处置时间窗（工作小时）",
                                "due_soon_working_hours": "临期判定（工作小时）"}),
        ("intake", IntakeSettings(), {"reporter_channels": "代企业反映的渠道", "batch_max_rows": "批量导入最多行数"}),
        ("console", ConsoleSettings(), {"token_ttl_seconds": "登录有效期（秒）"}),
    ]


@ROUTES.get("/settings", roles=ADMIN)
async def settings_view(call: Call[Deps]) -> Any:
    return {"items": [{**r, "service_name": SERVICE_NAMES.get(r["service"], "其他")}
                      for r in domain.settings_rows(_steering_settings(call.deps.ctx.settings))],
            "how_to_change": "设置对应的环境变量并重启相关服务后生效"}
