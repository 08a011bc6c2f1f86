"""console: the staff's pages under /console/ (one page + a little vanilla JavaScript, no build step) and the
few JSON endpoints only the console has: sign-in against the staff directory, who-am-I, case search and the
case timeline (from its own read model of the case events), and the organisation file's check with an audit
trail. Everything else the pages show or do goes to the owning service's API with the signed-in token."""

import asyncio
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import Gauge
from pydantic import BaseModel, ConfigDict, Field
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from services.console import domain
from services.console.names import ORG_CHANGES, ORG_SECTIONS, SERVICE_NAMES, Names
from services.console.search_index import SearchIndex
from services.console.settings import ConsoleSettings
from services.console.store import ConsoleStore
from shared import error_pages
from shared.auth import AuthError, issue_token, require_role
from shared.contracts.envelope import CaseEvent
from shared.http import HttpError, endpoint, int_query, json_response, read_json, staff_of
from shared.runtime import Parts, ServiceContext
from shared.staff import default_directory
from shared.settings import Settings
from shared.store import Change
from shared.workdays import (CalendarSettings, apply_year, library_schedules, next_year_status, parse_year_file,
                             read_calendar_file)

NAME = "console"
HERE = Path(__file__).parent
STAFF_ROLES = ("triage_officer", "unit_handler", "leader", "supervisor", "admin")


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


# The settings that steer the rules, as the admin's read-only page lists them: (service, settings class, fields).
# Only names and labels live here; the values are read from the classes (i.e. from the environment) at request.
def _steering_settings(platform: Settings) -> list[tuple[str, Any, dict[str, str]]]:
    from services.intake.settings import IntakeSettings
    from services.sla.settings import SlaSettings
    from services.triage.settings import TriageSettings

    return [
        ("platform", platform, {"triage_review_threshold": "研判置信度低于此值转人工复核", "timezone": "时区",
                                  "sla_scan_interval_seconds": "时限扫描间隔（秒）"}),
        ("calendar", CalendarSettings(), {"office_hours": "办公时间（工作时间计算）", "holidays_dir": "节假日安排文件目录",
                                          "calendar_file": "工作台应用的年度安排文件（空：数据目录下 calendar.yaml）",
                                          "calendar_reload_seconds": "各服务检查年度安排文件的间隔（秒）"}),
        ("triage", TriageSettings(), {"duplicate_window_days": "重复件比对时间窗（天）",
                                      "duplicate_candidates": "重复件最多比对案件数",
                                      "cross_enterprise_duplicates": "跨企业合并重复件", "claim_minutes": "研判认领时长（分钟）"}),
        ("sla", SlaSettings(), {"reminder_fractions": "时限提醒点（占工作时间比例）",
                                "end_of_day_reminder_minutes": "下班前提醒（分钟，一般不过夜）",
                                "escalation_window_hours": "各督办层级处置时间窗（工作小时）",
                                "due_soon_working_hours": "临期判定（工作小时）"}),
        ("intake", IntakeSettings(), {"reporter_channels": "代企业反映的渠道", "batch_max_rows": "批量导入最多行数"}),
        ("console", ConsoleSettings(), {"token_ttl_seconds": "登录有效期（秒）"}),
    ]


def build(ctx: ServiceContext) -> Parts:
    settings = ConsoleSettings()
    store = ConsoleStore(ctx.db, ctx.clock)
    directory = default_directory()
    index = SearchIndex()
    tz = ctx.settings.tz
    templates = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    started = str(int(time.time()))  # cache-busts the static files on each start
    attempts = domain.SignInLimiter(limit=settings.login_attempts, window_seconds=settings.login_window_seconds)
    calendar_settings = CalendarSettings()
    calendar_file = calendar_settings.calendar_path
    next_year_missing = Gauge("qhwy_calendar_next_year_missing",
                              "1 from 1 November while next year's holiday schedule is missing (apply it from the "
                              "console's 工作日历 page), else 0", ["year"], registry=ctx.registry)
    next_year_days_left = Gauge("qhwy_calendar_next_year_days_left", "Days until 1 January of next year",
                                registry=ctx.registry)
    calendar_state: dict[str, Any] = {}  # the last next-year status (banner, gauges)

    def names() -> Names:
        return Names.of(ctx.org, ((u.id, u.name) for u in directory.users() if u.name), tz)

    def person(user_id: str | None) -> str:
        return names().person(user_id)

    def iso(value: Any) -> Any:
        return value.astimezone(tz).isoformat() if isinstance(value, datetime) else value

    def plain(doc: dict[str, Any]) -> dict[str, Any]:
        return {**{("case_id" if k == "_id" else k): iso(v) for k, v in doc.items()
                   if k not in ("enterprise_key", "units", "timeline", "rev", "pending_since", "outbox", "processed",
                                "status_at", "due_set_at")},
                "status_name": domain.status_name(doc)}

    # ------------------------------------------------------------------ the read model

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed

        def apply(doc: dict[str, Any] | None) -> Any:
            fields, entry = domain.case_change(doc, event_id=event.event_id, event_type=event.type,
                                               occurred_at=event.occurred_at, data=event.data)
            return Change(set=fields, push={"timeline": entry})

        applied = await store.cases.apply(event.case_id, event.event_id, apply)
        # also on a repeat: the slim copy may be what a crash left unwritten (rewriting it is harmless)
        index.put(await store.index(applied.doc))
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # ------------------------------------------------------------------ pages

    async def home(_: Request) -> Response:
        return RedirectResponse("/console/", status_code=302)

    async def console_page(_: Request) -> HTMLResponse:
        html = templates.get_template("console.html").render(county=ctx.org.county.name, version=started, tz=ctx.settings.timezone)
        return HTMLResponse(html, headers={"cache-control": "no-store"})

    # ------------------------------------------------------------------ sign-in

    async def login(request: Request) -> Any:
        body = domain.LoginRequest.model_validate(await read_json(request, max_bytes=4096))
        client = request.client.host if request.client and settings.login_limit_by_address else None
        keys = domain.sign_in_keys(body.username, client)
        wait = attempts.retry_after(keys, time.monotonic())
        if wait is not None:
            ctx.log.info("console_login_throttled", user=body.username[:64])
            raise HttpError(429, domain.too_many_attempts_message(wait), retry_after=round(wait))
        user = await asyncio.to_thread(directory.authenticate, body.username, body.password)  # scrypt: ~50 ms
        if user is None:
            attempts.failed(keys, time.monotonic())
            ctx.log.info("console_login_refused", user=body.username[:64])
            raise HttpError(401, "用户名或密码错误，或账号已停用")
        attempts.succeeded(keys[0])
        jti = uuid.uuid4().hex
        token = issue_token(ctx.jwt_secret, sub=user.id, role=user.role, unit=user.unit, name=user.name,
                            ttl_seconds=settings.token_ttl_seconds, jti=jti)
        ctx.log.info("console_login", user=user.id, role=user.role, jti=jti)
        return {"token": token, "expires_in": settings.token_ttl_seconds,
                **domain.who(user.id, user.name, user.role, user.unit, ctx.org)}

    async def me(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        user = directory.get(staff.sub)
        who = domain.who(staff.sub, (user.name if user else None) or staff.name, staff.role, staff.unit, ctx.org)
        if staff.role in ("admin", "leader"):
            status = calendar_state or await refresh_calendar_status()
            banner = domain.calendar_banner(status, staff.role)
            if banner:
                who["banner"] = banner
        return who

    async def options(request: Request) -> Any:
        staff_of(request, ctx.jwt_secret)
        org = ctx.org
        return {"departments": [{"code": d.code, "name": d.name} for d in org.departments],
                "regions": [{"code": r.code, "name": r.name} for r in org.regions],
                "complexity": [{"code": c.code, "name": c.name} for c in org.complexity],
                "channels": [{"code": c.code, "name": c.name} for c in org.channels],
                "screening": [{"code": c.code, "name": c.name} for c in org.screening],
                "rating_levels": [{"code": c.code, "name": c.name} for c in org.rating_levels],
                "oversight": [{"code": c.code, "name": c.name} for c in org.oversight],
                "escalation_levels": [{"code": str(c.level), "name": c.name} for c in org.escalation_levels],
                # colleagues by name: pages show names where the services answer login ids
                "people": {u.id: u.name for u in directory.users() if u.name}}

    # ------------------------------------------------------------------ search + timeline

    async def search(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *STAFF_ROLES)
        query = domain.search_query(request.query_params.get("q", "")[:200])
        limit = int_query(request, "limit", 20, 1, 100)
        skip = int_query(request, "offset", 0, 0, 100_000)
        unit = staff.unit if staff.role == "unit_handler" else None  # a unit sees only its own cases
        if index.loaded:
            docs = index.search(query, unit, limit, skip)
        else:  # until the rows are read at start, the store answers (slowly on FerretDB, but rightly)
            docs = await store.search(query, unit, limit, skip)
        return {"q": query, "items": [plain(d) for d in docs], "limit": limit, "offset": skip}

    async def case_timeline(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *STAFF_ROLES)
        doc = await store.case(request.path_params["case_id"])
        if doc is None:
            raise HttpError(404, "未找到该案件")
        if staff.role == "unit_handler" and staff.unit not in (doc.get("units") or []):
            raise HttpError(403, "只能查看本单位承办或协办的案件")
        return {**plain(doc), "timeline": [{**e, "at": iso(e["at"])}
                                           for e in domain.timeline(doc.get("timeline", []), names())]}

    async def briefs(request: Request) -> Any:
        """What the lists of other services lack to be read by people: for each case id their page holds, the
        tracking number, enterprise, title or first words and status (a unit handler: only its own cases)."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *STAFF_ROLES)
        ids = [i for i in dict.fromkeys(request.query_params.get("ids", "").split(",")) if i][:200]
        if index.loaded:
            rows = [index.rows[i] for i in ids if i in index.rows]
        else:
            rows = await store.rows(ids)
        unit = staff.unit if staff.role == "unit_handler" else None
        return {"items": {r["_id"]: domain.brief(r) | {"status_name": domain.status_name(r),
                                                       "due_at": iso(r.get("due_at"))}
                          for r in rows if unit is None or unit in (r.get("units") or [])}}

    # ------------------------------------------------------------------ the organisation file (admin)

    def admin(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, "admin")
        return staff

    async def org_view(request: Request) -> Any:
        admin(request)
        return {"source": str(ctx.settings.org_file or "shared/data/kaihua.yaml"), **domain.org_overview(ctx.org)}

    async def org_check(request: Request) -> Any:
        """Check an edited organisation file; every check is kept in the audit trail with its diff. A valid file
        is applied by putting it at QHWY_ORG_FILE and restarting the services (they read it at start)."""
        staff = admin(request)
        body = OrgCheckBody.model_validate(await read_json(request, max_bytes=2_100_000))
        org, errors = domain.validate_org(body.text)
        changes = domain.org_changes(ctx.org, org) if org is not None else []
        entry = {"_id": uuid.uuid4().hex, "at": ctx.clock(), "by": staff.sub, "note": body.note,
                 "valid": org is not None, "errors": errors, "changes": changes, "text": body.text}
        await store.add_audit(entry)
        ctx.log.info("org_checked", by=staff.sub, valid=org is not None, changes=len(changes), errors=len(errors))
        result = {"audit_id": entry["_id"], "valid": org is not None, "errors": errors, "changes": changes,
                  "changes_text": [org_change_text(c, org) for c in changes], "applied": False, "how_to_apply": "将该文件保存为 QHWY_ORG_FILE 指向的文件并重启各服务后生效"}
        if errors:
            raise HttpError(422, "组织配置文件校验未通过", **{k: v for k, v in result.items() if k != "valid"},
                            detail=errors, fields=[e["field"] for e in errors])
        return result

    async def org_audit(request: Request) -> Any:
        admin(request)
        limit = int_query(request, "limit", 20, 1, 100)
        skip = int_query(request, "offset", 0, 0, 100_000)
        items = await store.audit_trail(limit, skip)
        return {"items": [{**{("audit_id" if k == "_id" else k): iso(v) for k, v in e.items()},
                           "by_name": person(e.get("by")),
                           "changes_text": [org_change_text(c) for c in e.get("changes") or []]} for e in items],
                "limit": limit, "offset": skip}

    def org_change_text(change: dict[str, Any], checked: Any = None) -> dict[str, str]:
        """One change of the organisation file in words: its section, the item by its name, what changed (an item
        only the file knows is named by the code the administrator wrote in it)."""
        section = change.get("section", "")
        code = change.get("code", "")
        item = ""
        for org in (checked, ctx.org) if checked is not None else (ctx.org,):
            for i in getattr(org, section, ()) if section != "county" else (org.county,):
                if str(getattr(i, "code", None) or getattr(i, "level", "")) == str(code):
                    item = i.name
        return {"section": ORG_SECTIONS.get(section, "其他"), "item": item or f"编码 {code}",
                "change": ORG_CHANGES.get(change.get("change", ""), "修改")
                + (f"（{len(change['fields'])} 处）" if change.get("fields") else "")}

    async def org_audit_file(request: Request) -> Response:
        try:
            admin(request)
        except AuthError as exc:
            return json_response({"error": exc.message}, exc.status)  # refusals in the API's error format
        entry = await store.audit_entry(request.path_params["audit_id"])
        if entry is None:
            return json_response({"error": "未找到该记录"}, 404)
        return PlainTextResponse(entry["text"], media_type="application/yaml; charset=utf-8")

    # ------------------------------------------------------------------ the working-day calendar (admin)

    def known_schedules() -> dict[str, Any]:
        """What every service's calendar knows now: the package's years, then each file in the directory, then the
        years applied from this page (the calendar file). A broken file is reported, not fatal here: this page is
        where it gets fixed."""
        schedules = library_schedules()
        directory_ = Path(calendar_settings.holidays_dir)
        broken = []
        if directory_.is_dir():
            for path in sorted(directory_.glob("*.yaml")):
                try:
                    schedule = parse_year_file(path.read_text(encoding="utf-8"))
                except Exception as exc:  # noqa: BLE001 - any reason the loader refuses it
                    broken.append({"file": path.name, "message": str(exc)})
                    continue
                schedules[schedule.year] = schedule
        applied: dict[int, dict[str, Any]] = {}
        try:
            applied = read_calendar_file(calendar_file)
        except Exception as exc:  # noqa: BLE001
            broken.append({"file": str(calendar_file), "message": str(exc)})
        for year, entry in applied.items():
            schedules[year] = entry["schedule"]
        return {"schedules": schedules, "broken": broken, "applied": applied}

    async def refresh_calendar_status() -> dict[str, Any]:
        """Next year's schedule: the gauges Prometheus alerts on, and the banner admins and leaders see."""
        known = await asyncio.to_thread(known_schedules)
        status = next_year_status(known["schedules"], ctx.clock().astimezone(tz).date())
        next_year_missing.clear()
        next_year_missing.labels(str(status["year"])).set(1 if status["warning"] else 0)
        next_year_days_left.set(status["days_left"])
        calendar_state.clear()
        calendar_state.update(status)
        return status

    async def calendar_view(request: Request) -> Any:
        admin(request)
        known = await asyncio.to_thread(known_schedules)
        today = ctx.clock().astimezone(tz).date()
        view = domain.calendar_years(known["schedules"], today)
        for row in view["years"]:
            entry = known["applied"].get(row["year"])
            if entry:
                row.update(applied_by=person(entry.get("applied_by")), applied_at=entry.get("applied_at"))
        return {"directory": str(calendar_settings.holidays_dir), "calendar_file": str(calendar_file),
                "broken": known["broken"], **view, "next_year": next_year_status(known["schedules"], today),
                "how_to_apply": "校验通过后点击“应用”：写入工作日历文件，各服务在 "
                                f"{calendar_settings.calendar_reload_seconds:g} 秒内自动生效，无需重启"}

    async def calendar_apply(request: Request) -> Any:
        """Apply a year the administrator checked on this page: it goes into the calendar file every service reads
        (and rereads when it changes); the application is audited like the check, with who and when."""
        staff = admin(request)
        body = YearApplyBody.model_validate(await read_json(request, max_bytes=10_000))
        checked = await store.audit_entry(body.audit_id, "calendar")
        if checked is None or checked.get("action", "check") != "check":
            raise HttpError(404, "未找到该校验记录")
        if not checked.get("valid"):
            raise HttpError(422, "该文件未通过校验，不能应用")
        now = ctx.clock()
        entry_id = uuid.uuid4().hex
        schedule = await asyncio.to_thread(apply_year, calendar_file, checked["text"], applied_by=staff.sub,
                                           applied_at=now.astimezone(tz), audit_id=entry_id)
        known = await asyncio.to_thread(known_schedules)
        entry = {"_id": entry_id, "at": now, "by": staff.sub, "note": body.note, "action": "apply", "valid": True,
                 "year": schedule.year, "checked": body.audit_id, "errors": [], "text": checked["text"],
                 "summary": domain.year_changes(None, schedule) | {"file": str(calendar_file)}}
        await store.add_audit(entry, "calendar")
        ctx.log.info("calendar_year_applied", by=staff.sub, year=schedule.year, file=str(calendar_file))
        await refresh_calendar_status()
        return {"audit_id": entry_id, "applied": True, "year": schedule.year,
                "known": schedule.year in known["schedules"],
                "message": f"{schedule.year} 年节假日安排已应用，各服务在 {calendar_settings.calendar_reload_seconds:g} 秒内生效"}

    async def calendar_check(request: Request) -> Any:
        """Check one year's State Council schedule with the calendar's own loader; every check is kept."""
        staff = admin(request)
        body = YearCheckBody.model_validate(await read_json(request, max_bytes=210_000))
        schedule, errors = domain.validate_year_file(body.text)
        summary = None
        if schedule is not None:
            known = await asyncio.to_thread(known_schedules)
            summary = domain.year_changes(known["schedules"].get(schedule.year), schedule)
        entry = {"_id": uuid.uuid4().hex, "at": ctx.clock(), "by": staff.sub, "note": body.note,
                 "action": "check", "valid": schedule is not None, "year": schedule.year if schedule else None, "errors": errors,
                 "summary": summary, "text": body.text}
        await store.add_audit(entry, "calendar")
        ctx.log.info("calendar_year_checked", by=staff.sub, valid=schedule is not None, year=entry["year"])
        if errors:
            raise HttpError(422, "节假日安排文件校验未通过", audit_id=entry["_id"], errors=errors, detail=errors,
                            fields=[e["field"] for e in errors])
        return {"audit_id": entry["_id"], "valid": True, "year": schedule.year, "summary": summary, "applied": False,
                "how_to_apply": "点击“应用”即写入工作日历文件，各服务自动生效，无需重启"}

    async def calendar_audit(request: Request) -> Any:
        admin(request)
        limit = int_query(request, "limit", 20, 1, 100)
        skip = int_query(request, "offset", 0, 0, 100_000)
        items = await store.audit_trail(limit, skip, "calendar")
        return {"items": [{**{("audit_id" if k == "_id" else k): iso(v) for k, v in e.items()},
                           "action": e.get("action", "check"), "by_name": person(e.get("by"))} for e in items],
                "limit": limit, "offset": skip}

    async def calendar_audit_file(request: Request) -> Response:
        try:
            admin(request)
        except AuthError as exc:
            return json_response({"error": exc.message}, exc.status)
        entry = await store.audit_entry(request.path_params["audit_id"], "calendar")
        if entry is None:
            return json_response({"error": "未找到该记录"}, 404)
        name = f"{entry['year']}.yaml" if entry.get("year") else "holidays.yaml"
        return PlainTextResponse(entry["text"], media_type="application/yaml; charset=utf-8",
                                 headers={"content-disposition": f'attachment; filename="{name}"'})

    async def settings_view(request: Request) -> Any:
        admin(request)
        return {"items": [{**r, "service_name": SERVICE_NAMES.get(r["service"], "其他")}
                          for r in domain.settings_rows(_steering_settings(ctx.settings))],
                "how_to_change": "设置对应的环境变量并重启相关服务后生效"}

    async def sweep() -> None:
        await ctx.sweep_outbox(store.cases)

    loading: list[asyncio.Task[None]] = []

    async def load_index() -> None:
        started = time.perf_counter()
        try:
            index.load(await store.slim_rows())
        except Exception:  # the store answers searches until a restart loads the rows
            ctx.log.exception("search_index_load_failed")
            return
        ctx.log.info("search_index_loaded", cases=len(index), seconds=round(time.perf_counter() - started, 2))

    async def start_loading() -> None:
        loading.append(asyncio.create_task(load_index()))  # in the background: the store answers meanwhile

    async def refresh_index() -> None:
        for row in await store.slim_rows(since=ctx.clock() - timedelta(seconds=settings.search_refresh_seconds * 3)):
            index.put(row)

    async def calendar_status_job() -> None:
        await refresh_calendar_status()

    base = "/api/v1/console"
    return Parts(
        routes=[
            Route("/console", home, methods=["GET"]),
            # the console's pages, with its 404 and 500 in Chinese
            Mount("/console", app=Starlette(routes=[
                Route("/", console_page, methods=["GET"]),
                Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
            ], exception_handlers=error_pages.HANDLERS)),
            Route(f"{base}/login", endpoint(login), methods=["POST"]),
            Route(f"{base}/me", endpoint(me), methods=["GET"]),
            Route(f"{base}/options", endpoint(options), methods=["GET"]),
            Route(f"{base}/search", endpoint(search), methods=["GET"]),
            Route(f"{base}/cases/brief", endpoint(briefs), methods=["GET"]),
            Route(f"{base}/cases/{{case_id}}/timeline", endpoint(case_timeline), methods=["GET"]),
            Route(f"{base}/org", endpoint(org_view), methods=["GET"]),
            Route(f"{base}/org/check", endpoint(org_check), methods=["POST"]),
            Route(f"{base}/org/audit", endpoint(org_audit), methods=["GET"]),
            Route(f"{base}/org/audit/{{audit_id}}/file", org_audit_file, methods=["GET"]),
            Route(f"{base}/calendar", endpoint(calendar_view), methods=["GET"]),
            Route(f"{base}/calendar/check", endpoint(calendar_check), methods=["POST"]),
            Route(f"{base}/calendar/apply", endpoint(calendar_apply), methods=["POST"]),
            Route(f"{base}/calendar/audit", endpoint(calendar_audit), methods=["GET"]),
            Route(f"{base}/calendar/audit/{{audit_id}}/file", calendar_audit_file, methods=["GET"]),
            Route(f"{base}/settings", endpoint(settings_view), methods=["GET"]),
        ],
        on_start=[store.ensure_indexes, start_loading, calendar_status_job],
        periodic=[(ctx.settings.outbox_sweep_interval_seconds, sweep), (settings.calendar_check_seconds, calendar_status_job),
                  *([(settings.search_refresh_seconds, refresh_index)] if settings.search_refresh_seconds else [])],
    )

