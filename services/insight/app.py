"""insight: case events -> per-case facts; figures, 晾晒 rankings, reports, problem groups, warnings, case library.

Thin handlers: decode, call the pure cores (domain, similarity, library, report), store, publish.
"""

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from services.insight import domain, library
from services.insight.officers import OfficerNames
from services.insight.settings import InsightSettings
from services.insight.store import InsightStore
from shared.auth import AuthError, Staff, require_role
from shared.contracts import topics
from shared.contracts.envelope import CaseEvent
from shared.contracts.insight_events import InsightEvent, Warning
from shared.http import HttpError, endpoint, int_query, json_response, read_json, staff_of
from shared.runtime import Parts, ServiceContext
from shared.store import Change

NAME = "insight"
COUNTY_ROLES = ("leader", "admin", "supervisor", "triage_officer")  # see every unit's figures
REPORT_ROLES = ("leader", "admin", "supervisor")
REGISTER_ROLES = ("leader", "admin", "supervisor")  # keep the register of long-term mechanisms
REPORT_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'self'",
    "x-content-type-options": "nosniff",
}


def _period_param(request: Request, ctx: ServiceContext, default_kind: str = "month") -> str:
    label = request.query_params.get("period")
    if not label:
        kind = request.query_params.get("kind", default_kind)
        if kind not in domain.PERIOD_KINDS:
            raise HttpError(422, "参数 kind 应为 week、month、quarter 或 year", detail=[{"field": "kind"}])
        return domain.period_of(kind, ctx.clock(), ctx.settings.tz)
    try:
        domain.period_days(label)
    except ValueError:
        raise HttpError(422, "参数 period 格式不正确（如 2026-W10、2026-03、2026-Q1、2026）",
                        detail=[{"field": "period", "msg": "not a period label"}])
    return label


def _unit_scope(staff: Staff, requested: str | None) -> str | None:
    """A unit handler sees its own unit's figures only; county-wide roles see any unit (or all)."""
    if staff.role == "unit_handler":
        if requested and requested != staff.unit:
            raise HttpError(403, "只能查看本单位的数据")
        return staff.unit
    return requested


def _ms(instant: datetime) -> datetime:
    """Stored datetimes have millisecond precision (BSON): answer what will be read back."""
    return instant.replace(microsecond=instant.microsecond // 1000 * 1000)


def _iso(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in doc.items()}


def build(ctx: ServiceContext) -> Parts:
    cfg = InsightSettings()
    store = InsightStore(ctx.db, ctx.clock)
    tz = ctx.settings.tz
    chart_lock = asyncio.Lock()  # pyplot keeps global state: one report at a time
    weights = ctx.org.evaluation_weights.as_dict()
    officers = OfficerNames(cfg.officers_url or f"http://127.0.0.1:{ctx.settings.http_port}/api/v1/liaison/officers",
                            ctx.jwt_secret, cfg.officers_timeout_seconds)

    def bearer_of(request: Request) -> str | None:
        return request.headers.get("authorization", "").partition(" ")[2].strip() or None

    async def closed_recurrences(start: datetime, end: datetime) -> dict[str, list[str]]:
        """回头件 received in [start, end), by the unit that closed the earlier case."""
        found = await store.recurrences_between(start, end)
        earlier = await store.facts_by_ids({f["recurrence_of"] for f in found})
        return domain.closed_recurrences(found, earlier)

    async def board(facts: list[dict[str, Any]], start: datetime, end: datetime, dimension: str,
                    unit: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The overall figures and those per group of `dimension`, with 回头件 against the closing unit."""
        now = ctx.clock()
        overall = domain.figures(facts, now, weights=weights)
        groups = domain.figures_by(facts, dimension, now, weights=weights)
        recurrences = await closed_recurrences(start, end)
        if unit:
            recurrences = {k: v for k, v in recurrences.items() if k == unit}
        ids = sorted(i for v in recurrences.values() for i in v)
        overall["closed_recurrences"] = {"value": len(ids), "n": len(ids), "case_ids": ids}
        if dimension == "unit":
            domain.add_recurrences(groups, recurrences)
        return overall, groups

    # ------------------------------------------------------------------ the projection

    async def on_case_event(parsed: tuple[CaseEvent, Any]) -> str:
        event, _ = parsed

        def decide(doc: dict[str, Any] | None) -> Change | None:
            fields = domain.fold(doc, event)
            return Change(set=fields) if fields else None

        applied = await store.facts.apply(event.case_id, event.event_id, decide)
        return "duplicate" if applied.duplicate else "ok"

    ctx.consume_case_events(on_case_event)

    # ------------------------------------------------------------------ 举一反三: groups and warnings

    async def regroup() -> dict[str, Any]:
        now = ctx.clock()
        cases = await store.facts_between(now - timedelta(days=cfg.group_window_days), now + timedelta(days=1))
        cases.sort(key=lambda f: f["received_at"], reverse=True)
        cases = cases[: cfg.group_max_cases]
        texts = [domain.case_text(f) for f in cases]
        from services.insight import similarity  # scikit-learn: imported when first needed, not at start-up

        found = await asyncio.to_thread(similarity.group_texts, texts, cfg.group_similarity)
        docs = domain.group_documents(found, cases, now, tz)
        await store.replace_groups(docs)
        members = {case_id: doc["_id"] for doc in docs for case_id in doc["case_ids"]}
        labels = {doc["_id"]: doc["label"] for doc in docs}
        found_warnings = domain.detect_warnings(
            members, {f["_id"]: f for f in cases}, now, tz, window_days=cfg.warning_window_days,
            baseline_windows=cfg.warning_baseline_windows, min_count=cfg.warning_min_count,
            ratio=cfg.warning_ratio, floor=cfg.warning_baseline_floor)
        new = 0
        for warning in found_warnings:
            new += await store.record_warning({"_id": domain.warning_id(warning), **warning,
                                               "label": labels.get(warning["theme"], ""), "found_at": now})
        await publish_warnings()
        ctx.log.info("problem_groups_refreshed", cases=len(cases), groups=len(docs), new_warnings=new)
        return {"cases": len(cases), "groups": len(docs), "warnings": len(found_warnings), "new_warnings": new}

    async def publish_warnings() -> None:
        for doc in await store.unpublished_warnings():
            data = Warning(**{k: doc[k] for k in Warning.model_fields if k in doc})
            event = InsightEvent(event_id=doc["_id"], type="insight.warning", key=doc["theme"],
                                 occurred_at=doc["found_at"], data=data.model_dump(mode="json"))
            await ctx.broker.publish(event.to_json(), topic=ctx.settings.topic(topics.INSIGHT_EVENTS),
                                     key=event.key.encode(), headers={"content-type": "application/json"})
            ctx.metrics.events_published.labels(NAME, event.type).inc()
            await store.mark_warning_published(doc["_id"])

    # ------------------------------------------------------------------ reports

    async def generate_report(label: str) -> dict[str, Any]:
        from services.insight import charts, report  # matplotlib and reportlab: imported when first needed

        now = _ms(ctx.clock())
        start, end = domain.period_range(label, tz)
        trend = []
        for period in domain.periods_before(label, cfg.report_trend_periods):
            p_start, p_end = domain.period_range(period, tz)
            trend.append((period, await store.facts_between(p_start, p_end)))
        facts = trend[-1][1]
        groups = await store.groups.find({}).sort("size", -1).limit(30).to_list()
        warnings = await store.warnings_between(start, end + timedelta(days=cfg.warning_window_days))
        content = report.assemble(label=label, facts=facts, trend=trend, groups=groups, warnings=warnings,
                                  rules=cfg.ranking_rules, org=ctx.org, now=now, tz=tz,
                                  recurrences=await closed_recurrences(start, end),
                                  officers=await officers.names(None, ctx.log))
        font = charts.cjk_font_file(cfg.font_file)
        async with chart_lock:
            html, pdf = await asyncio.to_thread(report.generate, content, font)
        doc = {"_id": label, "kind": content["kind"], "period": label, "title": content["title"],
               "period_title": content["period_title"], "generated_at": now, "cases": len(facts),
               "html": html, "pdf": pdf}
        await store.put_report(doc)
        ctx.log.info("report_generated", period=label, cases=len(facts), pdf_bytes=len(pdf))
        return {k: v for k, v in doc.items() if k not in ("html", "pdf")}

    async def scheduled_reports() -> None:
        """The weekly and monthly reports of the last complete periods, once each."""
        for kind in ("week", "month"):
            label = domain.last_complete_period(kind, ctx.clock(), tz)
            if not await store.has_report(label):
                await generate_report(label)

    # ------------------------------------------------------------------ HTTP

    async def figures(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        label = _period_param(request, ctx)
        dimension = request.query_params.get("dimension", "unit")
        if dimension not in domain.DIMENSIONS:
            raise HttpError(422, "参数 dimension 无效", detail=[{"field": "dimension"}])
        unit = _unit_scope(staff, request.query_params.get("unit"))
        start, end = domain.period_range(label, tz)
        facts = await store.facts_between(start, end, unit)
        overall, groups = await board(facts, start, end, dimension, unit)
        return {"period": label, "start": start.isoformat(), "end": end.isoformat(), "unit": unit,
                "dimension": dimension, "weights": weights, "overall": overall, "groups": groups}

    async def trend(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        label = _period_param(request, ctx)
        count = int_query(request, "periods", 8, 1, 60)
        unit = _unit_scope(staff, request.query_params.get("unit"))
        items = []
        for period in domain.periods_before(label, count):
            start, end = domain.period_range(period, tz)
            items.append({"period": period, "figures": domain.figures(await store.facts_between(start, end, unit),
                                                                      ctx.clock(), weights=weights)})
        return {"unit": unit, "items": items}

    async def rankings(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *COUNTY_ROLES)
        label = _period_param(request, ctx)
        start, end = domain.period_range(label, tz)
        facts = await store.facts_between(start, end)
        return {"period": label, "rules": [r.model_dump() for r in cfg.ranking_rules],
                **domain.rankings(cfg.ranking_rules, facts, ctx.clock())}

    async def liaison(request: Request) -> Any:
        """助企联络员晾晒: officers by visits, problems found, solved and the 满意率 of their cases, with names."""
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *COUNTY_ROLES)
        label = _period_param(request, ctx)
        by = request.query_params.get("by", "solved")
        if by not in domain.LIAISON_MEASURES:
            raise HttpError(422, "参数 by 应为 visits、found、solved 或 satisfaction", detail=[{"field": "by"}])
        start, end = domain.period_range(label, tz)
        names = await officers.names(bearer_of(request), ctx.log)
        items = domain.liaison_board(await store.facts_between(start, end), names, by)
        return {"period": label, "by": by, "measures": domain.LIAISON_MEASURES, "items": items}

    async def groups(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        unit = _unit_scope(staff, request.query_params.get("unit"))
        limit = int_query(request, "limit", 20, 1, 200)
        return {"items": [_iso(g) for g in await store.list_groups(limit, unit)]}

    async def group(request: Request) -> Any:
        staff_of(request, ctx.jwt_secret)
        doc = await store.group(request.path_params["group_id"])
        if doc is None:
            raise HttpError(404, "没有这个共性问题")
        facts = await store.facts_by_ids(doc["case_ids"][:200])
        now = ctx.clock()
        mechanisms = await store.list_mechanisms(doc["_id"])
        return {**_iso({k: v for k, v in doc.items() if k != "case_ids"}), "case_ids": doc["case_ids"],
                "cases": [domain.case_brief(f, now) for f in facts.values()],
                "mechanisms": [_iso(m) for m in mechanisms]}

    async def refresh_groups(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), "admin", "leader")
        return await regroup()

    async def warnings(request: Request) -> Any:
        staff_of(request, ctx.jwt_secret)
        label = _period_param(request, ctx)
        start, end = domain.period_range(label, tz)
        return {"period": label, "items": [_iso(w) for w in await store.warnings_between(start, end)]}

    async def library_search(request: Request) -> Any:
        staff_of(request, ctx.jwt_secret)
        query = request.query_params.get("q", "").strip()
        limit = int_query(request, "limit", 10, 1, 50)
        entries = await store.library_entries()
        items = library.search_library(query, entries, limit) if query else entries[:limit]
        return {"q": query, "items": [_iso(e) for e in items]}

    async def library_mark(request: Request) -> Any:
        staff = staff_of(request, ctx.jwt_secret)
        body = library.LibraryEntryBody.model_validate(await read_json(request))
        facts = await store.fact(body.case_id)
        if facts is None:
            raise HttpError(404, "没有这个问题")
        if not staff.can_see_unit(facts.get("department")):
            raise HttpError(403, "只能将本单位办理的问题列为典型案例")
        try:
            entry = library.library_entry(body, facts, staff.sub, _ms(ctx.clock()))
        except library.NotTypical as exc:
            raise HttpError(409, str(exc))
        await store.put_library_entry(entry)
        return _iso(entry)

    async def mechanisms(request: Request) -> Any:
        staff_of(request, ctx.jwt_secret)
        return {"items": [_iso(m) for m in await store.list_mechanisms(request.query_params.get("group"))]}

    async def _mechanism_doc(request: Request, mechanism_id: str, created: Any) -> dict[str, Any]:
        staff = staff_of(request, ctx.jwt_secret)
        require_role(staff, *REGISTER_ROLES)
        body = library.MechanismBody.model_validate(await read_json(request))
        unknown = sorted(set(body.group_ids) - await store.existing_group_ids(body.group_ids))
        if unknown:
            raise HttpError(422, "关联的共性问题不存在", detail=[{"field": "group_ids", "msg": f"unknown {unknown}"}])
        if body.unit and body.unit not in ctx.org.department_codes:
            raise HttpError(422, "牵头单位不存在", detail=[{"field": "unit", "msg": "unknown unit"}])
        now = _ms(ctx.clock())
        doc = {"_id": mechanism_id, **body.model_dump(), "created_at": created or now, "updated_at": now,
               "updated_by": staff.sub}
        await store.put_mechanism(doc)
        return _iso(doc)

    async def mechanism_create(request: Request) -> Any:
        return await _mechanism_doc(request, uuid.uuid4().hex, None)

    async def mechanism_update(request: Request) -> Any:
        existing = await store.mechanism(request.path_params["mechanism_id"])
        if existing is None:
            staff_of(request, ctx.jwt_secret)
            raise HttpError(404, "没有这个长效机制")
        return await _mechanism_doc(request, existing["_id"], existing["created_at"])

    async def reports(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), *REPORT_ROLES)
        return {"items": [_iso(r) for r in await store.list_reports(int_query(request, "limit", 20, 1, 200))]}

    async def report_create(request: Request) -> Any:
        require_role(staff_of(request, ctx.jwt_secret), *REPORT_ROLES)
        body = await read_json(request)
        label = body.get("period") if isinstance(body, dict) else None
        try:
            domain.period_days(label or "")
        except ValueError:
            raise HttpError(422, "period 格式不正确（如 2026-W10、2026-03）",
                            detail=[{"field": "period", "msg": "not a period label"}])
        return _iso(await generate_report(label))

    async def report_file(request: Request) -> Response:
        try:
            require_role(staff_of(request, ctx.jwt_secret), *REPORT_ROLES)
            doc = await store.report(request.path_params["report_id"])
            if doc is None or request.path_params["fmt"] not in ("html", "pdf"):
                raise HttpError(404, "没有这份报告")
        except (AuthError, HttpError) as exc:
            return json_response({"error": exc.message}, exc.status)
        if request.path_params["fmt"] == "pdf":
            return Response(bytes(doc["pdf"]), media_type="application/pdf", headers={
                "content-disposition": f"inline; filename=qhwy-report-{doc['_id']}.pdf",
                "x-content-type-options": "nosniff"})
        # the page is self-contained (inline style, charts as data: images): nothing else may load or run in it,
        # should user text in it ever escape its escaping
        return Response(doc["html"], media_type="text/html; charset=utf-8", headers=REPORT_PAGE_HEADERS)

    async def on_start() -> None:
        await store.ensure_indexes()

    base = "/api/v1/insight"
    return Parts(
        routes=[
            Route(f"{base}/figures", endpoint(figures), methods=["GET"]),
            Route(f"{base}/trend", endpoint(trend), methods=["GET"]),
            Route(f"{base}/rankings", endpoint(rankings), methods=["GET"]),
            Route(f"{base}/liaison", endpoint(liaison), methods=["GET"]),
            Route(f"{base}/groups", endpoint(groups), methods=["GET"]),
            Route(f"{base}/groups/refresh", endpoint(refresh_groups), methods=["POST"]),
            Route(f"{base}/groups/{{group_id}}", endpoint(group), methods=["GET"]),
            Route(f"{base}/warnings", endpoint(warnings), methods=["GET"]),
            Route(f"{base}/library", endpoint(library_search), methods=["GET"]),
            Route(f"{base}/library", endpoint(library_mark), methods=["POST"]),
            Route(f"{base}/mechanisms", endpoint(mechanisms), methods=["GET"]),
            Route(f"{base}/mechanisms", endpoint(mechanism_create), methods=["POST"]),
            Route(f"{base}/mechanisms/{{mechanism_id}}", endpoint(mechanism_update), methods=["PUT"]),
            Route(f"{base}/reports", endpoint(reports), methods=["GET"]),
            Route(f"{base}/reports", endpoint(report_create), methods=["POST"]),
            Route(f"{base}/reports/{{report_id}}.{{fmt}}", report_file, methods=["GET"]),
        ],
        on_start=[on_start],
        periodic=[(cfg.group_interval_seconds, regroup), (cfg.report_check_interval_seconds, scheduled_reports)],
    )
