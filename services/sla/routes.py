"""sla's HTTP API: the clocks (deadlines, figures) and the units' handling of their cases (inbox, problem list,
one case, the actions)."""

import uuid
from datetime import datetime
from typing import Any

from services.sla import domain, handling
from services.sla.deps import Deps
from shared.contracts.envelope import derived_id
from shared.http import Call, RouteTable, json_response, read_json
from shared.refusal import Refusal

ROUTES = RouteTable("/api/v1")
FIGURE_ROLES = ("unit_handler", "triage_officer", "leader", "admin", "supervisor")

FIGURE_DEFINITIONS = {
    "assignments_decided": "交办后响应结果已确定的次数：已签收（或已办结），或已过响应时限；在响应时限内退回的不计",
    "responded_on_time": "在响应时限（一般不过夜、最多过一夜）内签收的次数",
    "response_rate": "响应率 = 按时签收次数 / 响应结果已确定的交办次数",
    "unanswered": "在办且已过响应时限仍未签收的案件数",
    "urges": "营商办或领导催办次数",
}
INBOX_STATES = {"open": list(domain.OPEN_STATES), "resolved": ["resolved"], "closed": ["closed"],
                "returned": ["returned"], "all": list(domain.STATES)}


def department_scope(call: Call[Deps], refusal: str) -> str | None:
    """The `department` a caller may list: a unit handler only their own (403 `refusal` for another), the
    county-wide roles the one asked for, or all (None). Call.unit_scope with sla's own wording of the refusal."""
    staff, department = call.caller, call.query("department")
    if staff.role == "unit_handler":
        if department and department != staff.unit:
            raise Refusal(403, refusal)
        return staff.unit
    return department


async def effective_all(deps: Deps, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Listed clock records with their unabsorbed firings folded in (escalation level, next timer)."""
    return [(await deps.store.effective(d["_id"], d, deps.policy))[0] for d in docs]


def lacks_solution(deps: Deps, doc: dict[str, Any]) -> bool:
    """A resolved complex case whose resolution named no agreed solution: listed on the problem list, flagged."""
    return doc.get("state") in ("resolved", "closed") and doc.get("complexity") == deps.listed_complexity \
        and not doc.get("solution")


def case_view(deps: Deps, doc: dict[str, Any], handling_doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """One case as a unit sees it: its clock, where it stands, and the working time left."""
    now, iso = deps.ctx.clock(), deps.iso
    due_at = doc.get("due_at")
    status = handling.status_of(handling_doc, doc)
    running = status in domain.OPEN_STATES and due_at is not None
    return {
        "case_id": doc["_id"], "status": status, "department": doc.get("department"),
        "co_departments": doc.get("co_departments", []), "region": doc.get("region"),
        "complexity": doc.get("complexity"), "escalation_level": doc.get("escalation_level"),
        "assigned_at": iso(doc.get("started_at")), "due_at": iso(due_at), "accepted_at": iso(doc.get("accepted_at")),
        "resolved_at": iso(doc.get("resolved_at")), "on_time": doc.get("on_time"),
        "overdue": running and due_at <= now,
        "working_seconds_left": deps.policy.calendar.working_seconds_between(now, due_at) if running else None,
        "next_timer": doc.get("next_timer"), "next_fire_at": iso(doc.get("next_fire_at")),
        "problem_list": doc.get("problem_list", False), "solution": doc.get("solution"),
        "follow_up_at": doc.get("follow_up_at", []), "closed_at": iso(doc.get("closed_at")),
        "response_due_at": iso(doc.get("response_due_at")),
        "responded": domain.response_outcome(doc, now),
        "parts_accepted": {unit: iso(at) for unit, at in (doc.get("parts_accepted") or {}).items()},
        "urges": doc.get("urges", 0),
        "lacks_solution": lacks_solution(deps, doc),
    }


def deadline_row(deps: Deps, doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """One open case on the deadlines board (超期督办)."""
    return {"case_id": doc["_id"], "department": doc.get("department"), "complexity": doc.get("complexity"),
            "due_at": deps.iso(doc["due_at"]), "escalation_level": doc.get("escalation_level"),
            "escalated": doc.get("escalation_level", 1) >= 2,
            "status": doc.get("state"), "next_timer": doc.get("next_timer"),
            "overdue": doc["due_at"] <= now, "response_due_at": deps.iso(doc.get("response_due_at")),
            "unanswered": domain.unanswered(doc, now)}


@ROUTES.get("/sla/deadlines")
async def open_deadlines(call: Call[Deps]) -> Any:
    """Open cases by deadline; `flagged`: 超期督办, escalated above the unit or past the deadline."""
    deps = call.deps
    department = department_scope(call, "只能查看本单位的办理时限")
    limit, skip = call.page()
    flagged = (call.query("flagged") or "").lower() in ("1", "true", "yes")
    now = deps.ctx.clock()
    extra: dict[str, Any] = {"department": department} if department else {}
    if flagged:  # escalated above the unit (level 1 is the unit itself) or past the deadline
        extra["$or"] = [{"escalation_level": {"$gte": 2}}, {"due_at": {"$lte": now}}]
    docs = await effective_all(deps, await deps.store.list_cases(unit=None, states=list(domain.OPEN_STATES),
                                                                 limit=limit, skip=skip, extra=extra or None))
    if flagged:  # unabsorbed firings are folded in above; the store's due_at test ran at `now` already
        docs = [d for d in docs if d.get("escalation_level", 1) >= 2 or d["due_at"] <= now]
    return {"items": [deadline_row(deps, d, now) for d in docs], "limit": limit, "offset": skip, "flagged": flagged}


@ROUTES.get("/sla/figures", roles=FIGURE_ROLES)
async def figures(call: Call[Deps]) -> Any:
    """sla's figures per unit: 响应率 (response rate), assignments past their response deadline unanswered,
    催办 received (docs/services/sla.md has the definitions)."""
    department = call.unit_scope(call.query("department"))
    now = call.deps.ctx.clock()
    units: dict[str, dict[str, Any]] = {}

    def unit(code: str | None) -> dict[str, Any]:
        return units.setdefault(code or "", {"assignments_decided": 0, "responded_on_time": 0,
                                             "response_rate": None, "unanswered": 0, "urges": 0})

    for doc in await call.deps.store.figure_records(department):
        for code, met in domain.response_outcomes(doc, now):
            row = unit(code)
            row["assignments_decided"] += 1
            row["responded_on_time"] += int(met)
        if domain.unanswered(doc, now):
            unit(doc.get("department"))["unanswered"] += 1
        if doc.get("urges"):
            unit(doc.get("department"))["urges"] += doc["urges"]
    if department:
        units = {department: unit(department)}
    for row in units.values():
        if row["assignments_decided"]:
            row["response_rate"] = round(row["responded_on_time"] / row["assignments_decided"], 4)
    total = {k: sum(r[k] for r in units.values())
             for k in ("assignments_decided", "responded_on_time", "unanswered", "urges")}
    total["response_rate"] = round(total["responded_on_time"] / total["assignments_decided"], 4) \
        if total["assignments_decided"] else None
    return {"as_of": call.deps.iso(now), "department": department, "units": units, "overall": total,
            "definitions": FIGURE_DEFINITIONS}


@ROUTES.get("/units/inbox", roles=handling.READING_ROLES)
async def inbox(call: Call[Deps]) -> Any:
    """My unit's cases (lead or co-department): open ones by default, earliest deadline first."""
    unit = department_scope(call, "只能查看本单位的案件")
    states = INBOX_STATES.get(call.query("state", "open") or "")
    if states is None:
        raise Refusal(422, "参数 state 应为 open、resolved、closed、returned 或 all",
                      detail=[{"field": "state", "msg": "unknown state"}])
    limit, skip = call.page()
    docs = await effective_all(call.deps, await call.deps.store.list_cases(unit=unit, states=states, limit=limit,
                                                                           skip=skip))
    return {"items": [case_view(call.deps, d) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/units/problem-list", roles=handling.READING_ROLES)
async def problem_list(call: Call[Deps]) -> Any:
    """Resolved cases with an agreed solution, followed up until closed (问题清单), and resolved complex cases
    without one (listed, flagged `lacks_solution`: the policy wants them on the list with their solution)."""
    unit = department_scope(call, "只能查看本单位的案件")
    limit, skip = call.page()
    listed: dict[str, Any] = {"$or": [{"problem_list": True}, {"complexity": call.deps.listed_complexity}]}
    if unit:  # list_cases puts the unit into "$or" too: both must hold
        listed = {"$and": [listed]}
    docs = await effective_all(call.deps, await call.deps.store.list_cases(unit=unit, states=["resolved"],
                                                                           limit=limit, skip=skip, extra=listed))
    return {"items": [case_view(call.deps, d) for d in docs], "limit": limit, "offset": skip}


@ROUTES.get("/units/cases/{case_id}", roles=handling.READING_ROLES)
async def case_detail(call: Call[Deps]) -> Any:
    """One case with the units' actions on it, for a unit that leads or co-handles it (or county-wide roles)."""
    deps, case_id = call.deps, call.path("case_id")
    doc, _ = await deps.store.effective(case_id, await deps.store.deadlines.get(case_id), deps.policy)
    if doc is None:
        raise Refusal(404, "案件不存在或尚未交办")
    if not handling.can_read(call.caller, doc):
        raise Refusal(403, "只能查看本单位承办或协办的案件")
    handling_doc = await deps.store.handling.get(case_id)
    actions = [{**a, "at": deps.iso(a.get("at"))} for a in (handling_doc or {}).get("actions", [])]
    return {**case_view(deps, doc, handling_doc), "actions": actions}


@ROUTES.post("/units/cases/{case_id}/{action}")
async def act(call: Call[Deps]) -> Any:
    """One unit action (签收, progress, coordination, 退回, 办结, 销号, 催办): 201 when done, 200 for a repeat."""
    deps, request, staff = call.deps, call.request, call.caller
    case_id, action = call.path("case_id"), call.path("action")
    body_model = handling.BODIES.get(action)
    if body_model is None:
        raise Refusal(404, "未知的办理操作")
    raw = await request.body()
    body = body_model.model_validate(await read_json(request) if raw.strip() else {})
    request_id = body.request_id or request.headers.get("idempotency-key") or uuid.uuid4().hex
    if len(request_id) > 64:
        raise Refusal(422, "Idempotency-Key 过长", detail=[{"field": "Idempotency-Key", "msg": "too long"}])
    # one case's actions are stored and published one after another, so they reach the topic in order
    async with deps.case_locks(case_id):
        deadline, _ = await deps.store.effective(case_id, await deps.store.deadlines.get(case_id), deps.policy)
        # a leadership coordination request's cause is the level it was made at: a second request at the same
        # level (sent while the first is being applied) is the first one again, one escalation, one event id
        cause = handling.cause_for(action, body, case_id=case_id, request_id=request_id, deadline=deadline)
        now = deps.ctx.clock()
        applied = await deps.store.handling.apply(case_id, cause, lambda doc: handling.act(  # Refused: 403/404/409
            action, body, handling=doc, deadline=deadline, staff=staff, case_id=case_id, cause=cause,
            now=now, top_level=deps.policy.top_level))
        await deps.ctx.emit(deps.store.handling, case_id, applied.events)
    if action == "urge" and not applied.duplicate and deadline is not None:
        deps.metrics.urges.labels(deadline.get("department") or "").inc()
    entry = next((a for a in reversed(applied.doc.get("actions", [])) if a.get("cause") == cause), None)
    event_id = applied.events[0].event_id if applied.events else (entry or {}).get("event_id")
    if event_id is None:  # a repeat whose record we cannot see (should not happen): derive it
        event_id = derived_id(cause, (entry or {}).get("type", ""))
    return json_response({"case_id": case_id, "action": action, "event_id": event_id,
                          "status": applied.doc.get("status"), "repeated": applied.duplicate},
                         200 if applied.duplicate else 201)
