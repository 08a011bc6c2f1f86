"""insight's HTTP API (/api/v1/insight): figures, rankings, reports, problem groups, warnings, the case library
and the register of long-term mechanisms. Any signed-in staff member unless a route names its roles; a unit
handler sees their own unit's figures only (Call.unit_scope)."""

import uuid
from datetime import datetime
from typing import Any

from starlette.responses import Response

from services.insight import domain, jobs, library
from services.insight.deps import Deps
from services.insight.store import stored_instant
from shared.auth import require_role
from shared.http import Call, RouteTable, int_query, read_json
from shared.jsonable import plain
from shared.refusal import Refusal

COUNTY_ROLES = ("leader", "admin", "supervisor", "triage_officer")  # see every unit's figures
REPORT_ROLES = ("leader", "admin", "supervisor")
REGISTER_ROLES = ("leader", "admin", "supervisor")  # keep the register of long-term mechanisms
REPORT_PAGE_HEADERS = {
    "content-security-policy": "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'self'",
    "x-content-type-options": "nosniff",
}

ROUTES = RouteTable("/api/v1/insight")


def period_param(call: Call[Deps], default_kind: str = "month") -> str:
    """The period asked for: `period` (checked), else the current one of `kind`."""
    label = call.query("period")
    if not label:
        kind = call.query("kind", default_kind)
        if kind not in domain.PERIOD_KINDS:
            raise Refusal(422, "参数 kind 应为 week、month、quarter 或 year", detail=[{"field": "kind"}])
        return domain.period_of(kind, call.deps.ctx.clock(), call.deps.tz)
    try:
        domain.period_days(label)
    except ValueError:
        raise Refusal(422, "参数 period 格式不正确（如 2026-W10、2026-03、2026-Q1、2026）",
                      detail=[{"field": "period", "msg": "not a period label"}])
    return label


def limit_param(call: Call[Deps], default: int, highest: int) -> int:
    """`limit` of a listing that has no `offset` (an offset given is ignored, as it always was)."""
    return int_query(call.request, "limit", default, 1, highest)


async def board(deps: Deps, facts: list[dict[str, Any]], start: datetime, end: datetime, dimension: str,
                unit: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The overall figures and those per group of `dimension`, with 回头件 against the closing unit."""
    now = deps.ctx.clock()
    overall = domain.figures(facts, now, weights=deps.weights)
    groups = domain.figures_by(facts, dimension, now, weights=deps.weights)
    recurrences = await deps.store.closed_recurrences(start, end)
    if unit:
        recurrences = {k: v for k, v in recurrences.items() if k == unit}
    ids = sorted(i for v in recurrences.values() for i in v)
    overall["closed_recurrences"] = {"value": len(ids), "n": len(ids), "case_ids": ids}
    if dimension == "unit":
        domain.add_recurrences(groups, recurrences)
    return overall, groups


# ------------------------------------------------------------------ figures and rankings

@ROUTES.get("/figures")
async def figures(call: Call[Deps]) -> Any:
    deps = call.deps
    label = period_param(call)
    dimension = call.query("dimension", "unit")
    if dimension not in domain.DIMENSIONS:
        raise Refusal(422, "参数 dimension 无效", detail=[{"field": "dimension"}])
    unit = call.unit_scope(call.query("unit"))
    start, end = domain.period_range(label, deps.tz)
    facts = await deps.store.facts_between(start, end, unit)
    overall, groups = await board(deps, facts, start, end, dimension, unit)
    return {"period": label, "start": start.isoformat(), "end": end.isoformat(), "unit": unit,
            "dimension": dimension, "weights": deps.weights, "overall": overall, "groups": groups}


@ROUTES.get("/trend")
async def trend(call: Call[Deps]) -> Any:
    deps = call.deps
    label = period_param(call)
    count = int_query(call.request, "periods", 8, 1, 60)
    unit = call.unit_scope(call.query("unit"))
    items = []
    for period in domain.periods_before(label, count):
        start, end = domain.period_range(period, deps.tz)
        facts = await deps.store.facts_between(start, end, unit)
        items.append({"period": period, "figures": domain.figures(facts, deps.ctx.clock(), weights=deps.weights)})
    return {"unit": unit, "items": items}


@ROUTES.get("/rankings", roles=COUNTY_ROLES)
async def rankings(call: Call[Deps]) -> Any:
    deps = call.deps
    label = period_param(call)
    start, end = domain.period_range(label, deps.tz)
    facts = await deps.store.facts_between(start, end)
    return {"period": label, "rules": [r.model_dump() for r in deps.settings.ranking_rules],
            **domain.rankings(deps.settings.ranking_rules, facts, deps.ctx.clock())}


@ROUTES.get("/liaison", roles=COUNTY_ROLES)
async def liaison(call: Call[Deps]) -> Any:
    """助企联络员晾晒: officers by visits, problems found, solved and the 满意率 of their cases, with names."""
    deps = call.deps
    label = period_param(call)
    by = call.query("by", "solved")
    if by not in domain.LIAISON_MEASURES:
        raise Refusal(422, "参数 by 应为 visits、found、solved 或 satisfaction", detail=[{"field": "by"}])
    start, end = domain.period_range(label, deps.tz)
    # names asked with the caller's own token, so intake's rules for this caller apply
    bearer = call.request.headers.get("authorization", "").partition(" ")[2].strip() or None
    names = await deps.officers.names(bearer, deps.ctx.log)
    items = domain.liaison_board(await deps.store.facts_between(start, end), names, by)
    return {"period": label, "by": by, "measures": domain.LIAISON_MEASURES, "items": items}


# ------------------------------------------------------------------ 举一反三: groups and warnings

@ROUTES.get("/groups")
async def groups(call: Call[Deps]) -> Any:
    unit = call.unit_scope(call.query("unit"))
    limit = limit_param(call, 20, 200)
    return {"items": [plain(g) for g in await call.deps.store.list_groups(limit, unit)]}


@ROUTES.post("/groups/refresh", roles=("admin", "leader"))
async def refresh_groups(call: Call[Deps]) -> Any:
    return await jobs.regroup(call.deps)


@ROUTES.get("/groups/{group_id}")
async def group(call: Call[Deps]) -> Any:
    store = call.deps.store
    doc = await store.group(call.path("group_id"))
    if doc is None:
        raise Refusal(404, "没有这个共性问题")
    facts = await store.facts_by_ids(doc["case_ids"][:200])
    now = call.deps.ctx.clock()
    mechanisms = await store.list_mechanisms(doc["_id"])
    return {**plain({k: v for k, v in doc.items() if k != "case_ids"}), "case_ids": doc["case_ids"],
            "cases": [domain.case_brief(f, now) for f in facts.values()],
            "mechanisms": [plain(m) for m in mechanisms]}


@ROUTES.get("/warnings")
async def warnings(call: Call[Deps]) -> Any:
    label = period_param(call)
    start, end = domain.period_range(label, call.deps.tz)
    return {"period": label, "items": [plain(w) for w in await call.deps.store.warnings_between(start, end)]}


# ------------------------------------------------------------------ the case library and long-term mechanisms

@ROUTES.get("/library")
async def library_search(call: Call[Deps]) -> Any:
    query = (call.query("q") or "").strip()
    limit = limit_param(call, 10, 50)
    entries = await call.deps.store.library_entries()
    items = library.search_library(query, entries, limit) if query else entries[:limit]
    return {"q": query, "items": [plain(e) for e in items]}


@ROUTES.post("/library")
async def library_mark(call: Call[Deps]) -> Any:
    """Mark a case typical: a unit handler only a case of their unit; only a solved case (NotTypical, 409)."""
    store, staff = call.deps.store, call.caller
    body = library.LibraryEntryBody.model_validate(await read_json(call.request))
    facts = await store.fact(body.case_id)
    if facts is None:
        raise Refusal(404, "没有这个问题")
    if not staff.can_see_unit(facts.get("department")):
        raise Refusal(403, "只能将本单位办理的问题列为典型案例")
    entry = library.library_entry(body, facts, staff.sub, stored_instant(call.deps.ctx.clock()))
    await store.put_library_entry(entry)
    return plain(entry)


@ROUTES.get("/mechanisms")
async def mechanisms(call: Call[Deps]) -> Any:
    return {"items": [plain(m) for m in await call.deps.store.list_mechanisms(call.query("group"))]}


async def save_mechanism(call: Call[Deps], mechanism_id: str, created: datetime | None) -> dict[str, Any]:
    """Check the body (its problem groups and lead unit must exist) and store the mechanism."""
    deps = call.deps
    body = library.MechanismBody.model_validate(await read_json(call.request))
    unknown = sorted(set(body.group_ids) - await deps.store.existing_group_ids(body.group_ids))
    if unknown:
        raise Refusal(422, "关联的共性问题不存在", detail=[{"field": "group_ids", "msg": f"unknown {unknown}"}])
    if body.unit and body.unit not in deps.ctx.org.department_codes:
        raise Refusal(422, "牵头单位不存在", detail=[{"field": "unit", "msg": "unknown unit"}])
    now = stored_instant(deps.ctx.clock())
    doc = {"_id": mechanism_id, **body.model_dump(), "created_at": created or now, "updated_at": now,
           "updated_by": call.caller.sub}
    await deps.store.put_mechanism(doc)
    return plain(doc)


@ROUTES.post("/mechanisms", roles=REGISTER_ROLES)
async def mechanism_create(call: Call[Deps]) -> Any:
    return await save_mechanism(call, uuid.uuid4().hex, None)


@ROUTES.put("/mechanisms/{mechanism_id}")
async def mechanism_update(call: Call[Deps]) -> Any:
    # an unknown mechanism is 404 to any signed-in caller, before the role check (as it always was)
    existing = await call.deps.store.mechanism(call.path("mechanism_id"))
    if existing is None:
        raise Refusal(404, "没有这个长效机制")
    require_role(call.caller, *REGISTER_ROLES)
    return await save_mechanism(call, existing["_id"], existing["created_at"])


# ------------------------------------------------------------------ reports

@ROUTES.get("/reports", roles=REPORT_ROLES)
async def reports(call: Call[Deps]) -> Any:
    return {"items": [plain(r) for r in await call.deps.store.list_reports(limit_param(call, 20, 200))]}


@ROUTES.post("/reports", roles=REPORT_ROLES)
async def report_create(call: Call[Deps]) -> Any:
    body = await read_json(call.request)
    label = body.get("period") if isinstance(body, dict) else None
    try:
        domain.period_days(label or "")
    except ValueError:
        raise Refusal(422, "period 格式不正确（如 2026-W10、2026-03）",
                      detail=[{"field": "period", "msg": "not a period label"}])
    return plain(await jobs.generate_report(call.deps, label))


@ROUTES.get("/reports/{report_id}.{fmt}", roles=REPORT_ROLES)
async def report_file(call: Call[Deps]) -> Response:
    doc = await call.deps.store.report(call.path("report_id"))
    fmt = call.path("fmt")
    if doc is None or fmt not in ("html", "pdf"):
        raise Refusal(404, "没有这份报告")
    if fmt == "pdf":
        return Response(bytes(doc["pdf"]), media_type="application/pdf", headers={
            "content-disposition": f"inline; filename=qhwy-report-{doc['_id']}.pdf",
            "x-content-type-options": "nosniff"})
    # the page is self-contained (inline style, charts as data: images): nothing else may load or run in it,
    # should user text in it ever escape its escaping
    return Response(doc["html"], media_type="text/html; charset=utf-8", headers=REPORT_PAGE_HEADERS)
