"""A simulator of the city platform's API (docs/city-api.openapi.yaml) and of the 12345 hotline's result
callback, with fault injection, for the tests, the benchmark and the local run (mounted at /sim).

Each side checks signatures, honours Idempotency-Key (a repeat gets the stored answer and changes nothing) and
counts what it received, so a test can tell that nothing was lost and nothing applied twice.

Operator endpoints of the simulator itself (unsigned, under /_sim): faults, state, creating city assignments and
messages, forgetting records (to exercise reconciliation), reset.
"""

import asyncio
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route

from services.sync.signing import verify


@dataclass
class Faults:
    down: bool = False  # every API request answers 503
    errors: int = 0  # the next n API requests answer 503 (a burst)
    timeouts: int = 0  # the next n API requests are carried out, but answered only after `timeout_delay`
    timeout_delay: float = 10.0
    reject: int = 0  # the next n deliveries (POST) are refused with 422
    duplicate_feed: bool = False  # feed pages list every item twice
    out_of_order: bool = False  # feed pages come newest first, and the newest item is held back once


@dataclass
class Side:
    """One remote side's memory."""

    name: str
    faults: Faults = field(default_factory=Faults)
    received: dict[str, dict[str, Any]] = field(default_factory=dict)  # idempotency key -> record
    requests: int = 0
    repeats: int = 0  # deliveries that came again with a known key (answered from memory)
    rejected: int = 0
    withheld: set[int] = field(default_factory=set)


@dataclass
class CityState(Side):
    escalations: dict[str, str] = field(default_factory=dict)  # county case id -> city escalation id
    assignments: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    case_messages: dict[str, int] = field(default_factory=dict)
    auto_reply: bool = True
    figures: dict[str, dict[str, Any]] = field(default_factory=dict)  # period -> the county's latest report


def _now() -> datetime:
    return datetime.now(UTC)


def _relative_path(request: Request) -> str:
    """The path below the API's base URL, as the client signed it (with its query)."""
    path = request.scope["path"]
    root = request.scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root):]
    query = request.scope.get("query_string", b"").decode()
    return f"{path}?{query}" if query else path


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _missing(body: Any, *fields: str) -> JSONResponse | None:
    if not isinstance(body, dict):
        return _error(422, "body must be a JSON object")
    absent = [f for f in fields if body.get(f) in (None, "")]
    return _error(422, f"missing fields: {', '.join(absent)}") if absent else None


class Simulator:
    def __init__(self, secrets: dict[str, str], clock: Any = time.time):
        self.secrets = secrets
        self.clock = clock
        self.city = CityState("city")
        self.hotline = Side("hotline")

    # ------------------------------------------------------------ common request handling

    async def _guard(self, side: Side, request: Request) -> tuple[Any, JSONResponse | None, bool]:
        """Signature, faults. Returns (json body, early answer, answer late)."""
        raw = await request.body()
        side.requests += 1
        why = verify(self.secrets, {k.lower(): v for k, v in request.headers.items()}, request.method,
                     _relative_path(request), raw, self.clock())
        if why:
            return None, _error(401, why), False
        faults = side.faults
        if faults.down:
            return None, _error(503, f"{side.name} platform unavailable"), False
        if faults.errors > 0:
            faults.errors -= 1
            return None, _error(503, f"{side.name} platform busy"), False
        late = False
        if faults.timeouts > 0:
            faults.timeouts -= 1
            late = True
        try:
            body = await request.json() if raw else None
        except ValueError:
            return None, _error(400, "body is not JSON"), late
        if request.method == "POST" and faults.reject > 0 and "/receipts/" not in request.url.path:
            faults.reject -= 1
            side.rejected += 1
            return body, _error(422, "rejected by fault injection"), late
        return body, None, late

    async def _answer(self, answer: JSONResponse, late: bool, side: Side) -> JSONResponse:
        if late:  # carried out, but the answer comes after the client gave up
            await asyncio.sleep(side.faults.timeout_delay)
        return answer

    async def _deliver(self, side: Side, request: Request, required: tuple[str, ...], accept: Any) -> JSONResponse:
        body, early, late = await self._guard(side, request)
        if early is not None:
            return await self._answer(early, late, side)
        key = request.headers.get("idempotency-key")
        if not key:
            return await self._answer(_error(400, "Idempotency-Key header required"), late, side)
        known = side.received.get(key)
        if known is not None:
            side.repeats += 1
            known["count"] += 1
            return await self._answer(JSONResponse({"remote_id": known["remote_id"],
                                                    "received_at": known["received_at"], "duplicate": True}),
                                      late, side)
        invalid = _missing(body, *required)
        if invalid is not None:
            side.rejected += 1
            return await self._answer(invalid, late, side)
        outcome = accept(body, request)
        if isinstance(outcome, JSONResponse):
            side.rejected += 1
            return await self._answer(outcome, late, side)
        record = {"remote_id": outcome, "path": request.url.path, "body": body, "received_at": _now().isoformat(),
                  "count": 1}
        side.received[key] = record
        return await self._answer(JSONResponse({"remote_id": outcome, "received_at": record["received_at"],
                                                "duplicate": False}, status_code=201), late, side)

    async def _receipts(self, side: Side, request: Request) -> JSONResponse:
        body, early, late = await self._guard(side, request)
        if early is not None:
            return await self._answer(early, late, side)
        invalid = _missing(body, "keys")
        if invalid is not None:
            return await self._answer(invalid, late, side)
        found = [k for k in body["keys"] if k in side.received]
        return await self._answer(JSONResponse({"found": found}), late, side)

    # ------------------------------------------------------------ the city platform

    def _accept_escalation(self, body: dict[str, Any], _: Request) -> Any:
        case_id = body["county_case_id"]
        escalation_id = self.city.escalations.get(case_id) or f"CE-{uuid.uuid4().hex[:12]}"
        self.city.escalations[case_id] = escalation_id
        if self.city.auto_reply:
            self.add_message(case_id, "reply", None, "市级平台已收到，正在研判", "city-desk")
        return escalation_id

    def _accept_figures(self, body: dict[str, Any], _: Request) -> Any:
        if not all(isinstance(body[k], int) and body[k] >= 0 for k in
                   ("received", "resolved", "resolved_on_time", "rated", "satisfied")):
            return _error(422, "figures must be non-negative integers")
        self.city.figures[body["period"]] = body
        return f"CF-{body['period']}"

    def _accept_update(self, body: dict[str, Any], _: Request) -> Any:
        assigned = {a["city_case_id"] for a in self.city.assignments}
        if body["county_case_id"] not in self.city.escalations and body.get("city_case_id") not in assigned:
            return _error(404, "case unknown to the city platform")
        return f"CU-{uuid.uuid4().hex[:12]}"

    def add_assignment(self, body: dict[str, Any]) -> dict[str, Any]:
        seq = len(self.city.assignments) + 1
        item = {"city_case_id": body.get("city_case_id") or f"SJ{_now():%Y%m%d}{seq:05d}", "seq": seq,
                "assigned_at": _now().isoformat(), "enterprise": body["enterprise"], "content": body["content"],
                "title": body.get("title"), "region_hint": body.get("region_hint"), "created_at": _now().isoformat()}
        self.city.assignments.append(item)
        return item

    def add_message(self, county_case_id: str, kind: str, decision: str | None, text: str,
                    author: str) -> dict[str, Any]:
        seq = len(self.city.messages) + 1
        case_seq = self.city.case_messages.get(county_case_id, 0) + 1
        self.city.case_messages[county_case_id] = case_seq
        item = {"message_id": f"CM-{seq:06d}", "seq": seq, "county_case_id": county_case_id, "case_seq": case_seq,
                "kind": kind, "decision": decision, "author": author, "text": text, "occurred_at": _now().isoformat(),
                "created_at": _now().isoformat()}
        self.city.messages.append(item)
        return item

    async def _feed(self, items: list[dict[str, Any]], request: Request) -> JSONResponse:
        _, early, late = await self._guard(self.city, request)
        if early is not None:
            return await self._answer(early, late, self.city)
        params = request.query_params
        try:
            after, limit = int(params.get("after", "0")), min(int(params.get("limit", "100")), 500)
            since = datetime.fromisoformat(params["since"]) if params.get("since") else None
        except ValueError:
            return await self._answer(_error(422, "after, limit: integers; since: ISO date-time"), late, self.city)
        page = [i for i in items if i["seq"] > after
                and (since is None or datetime.fromisoformat(i["created_at"]) >= since)][:limit]
        next_after = page[-1]["seq"] if page else None
        faults = self.city.faults
        if faults.out_of_order and page and since is None:
            newest = page[-1]["seq"]
            if newest not in self.city.withheld:  # held back once: it shows up in a later listing
                self.city.withheld.add(newest)
                page = page[:-1]
            page = list(reversed(page))
        if faults.duplicate_feed:
            page = [i for i in page for _ in (0, 1)]
        return await self._answer(JSONResponse({"items": page, "next_after": next_after}), late, self.city)

    # ------------------------------------------------------------ operator endpoints of the simulator

    def state(self) -> dict[str, Any]:
        def side(s: Side) -> dict[str, Any]:
            return {"faults": asdict(s.faults), "requests": s.requests, "records": len(s.received),
                    "repeats": s.repeats, "rejected": s.rejected,
                    "received": {k: {"path": v["path"], "count": v["count"], "remote_id": v["remote_id"],
                                     "case": (v["body"] or {}).get("county_case_id")}
                                 for k, v in s.received.items()}}
        return {"city": {**side(self.city), "escalations": dict(self.city.escalations),
                         "assignments": len(self.city.assignments), "messages": len(self.city.messages),
                         "figures": dict(self.city.figures)},
                "hotline": side(self.hotline)}

    def asgi(self) -> Starlette:
        city = [
            Route("/v1/escalations", self._escalations, methods=["POST"]),
            Route("/v1/case-updates", self._updates, methods=["POST"]),
            Route("/v1/county-figures", self._figures, methods=["POST"]),
            Route("/v1/assignments", self._assignments, methods=["GET"]),
            Route("/v1/messages", self._messages, methods=["GET"]),
            Route("/v1/receipts/query", self._city_receipts, methods=["POST"]),
            Route("/_sim/assignments", self._new_assignment, methods=["POST"]),
            Route("/_sim/messages", self._new_message, methods=["POST"]),
            Route("/_sim/settings", self._city_settings, methods=["POST"]),
        ]
        hotline = [
            Route("/v1/tickets/{ticket_no}/results", self._hotline_result, methods=["POST"]),
            Route("/v1/receipts/query", self._hotline_receipts, methods=["POST"]),
        ]
        common = [
            Route("/_sim/state", self._state, methods=["GET"]),
            Route("/_sim/reset", self._reset, methods=["POST"]),
            Route("/_sim/{side:str}/faults", self._faults, methods=["POST"]),
            Route("/_sim/{side:str}/forget", self._forget, methods=["POST"]),
        ]
        return Starlette(routes=[*common, Mount("/city", routes=city), Mount("/hotline", routes=hotline)])

    # ------------------------------------------------------------ the endpoints

    def _side(self, request: Request) -> Side:
        return {"city": self.city, "hotline": self.hotline}[request.path_params["side"]]

    async def _faults(self, request: Request) -> JSONResponse:
        side = self._side(request)
        body = await request.json()
        side.faults = Faults(**{**asdict(side.faults), **body})
        return JSONResponse(asdict(side.faults))

    async def _state(self, _: Request) -> JSONResponse:
        return JSONResponse(self.state())

    async def _reset(self, _: Request) -> JSONResponse:
        self.city, self.hotline = CityState("city"), Side("hotline")
        return JSONResponse({"ok": True})

    async def _forget(self, request: Request) -> JSONResponse:
        side = self._side(request)
        keys = (await request.json())["keys"]
        dropped = [k for k in keys if side.received.pop(k, None) is not None]
        return JSONResponse({"forgotten": dropped})

    async def _new_assignment(self, request: Request) -> JSONResponse:
        return JSONResponse(self.add_assignment(await request.json()), status_code=201)

    async def _new_message(self, request: Request) -> JSONResponse:
        b = await request.json()
        return JSONResponse(self.add_message(b["county_case_id"], b.get("kind", "reply"), b.get("decision"),
                                             b["text"], b.get("author", "city-desk")), status_code=201)

    async def _city_settings(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.city.auto_reply = bool(body.get("auto_reply", self.city.auto_reply))
        return JSONResponse({"auto_reply": self.city.auto_reply})

    async def _escalations(self, request: Request) -> JSONResponse:
        return await self._deliver(self.city, request, ("county_case_id", "reason", "case_file"),
                                   self._accept_escalation)

    async def _updates(self, request: Request) -> JSONResponse:
        return await self._deliver(self.city, request, ("county_case_id", "type", "occurred_at"), self._accept_update)

    async def _figures(self, request: Request) -> JSONResponse:
        return await self._deliver(self.city, request, ("period", "received", "resolved", "resolved_on_time",
                                                        "rated", "satisfied"), self._accept_figures)

    async def _assignments(self, request: Request) -> JSONResponse:
        return await self._feed(self.city.assignments, request)

    async def _messages(self, request: Request) -> JSONResponse:
        return await self._feed(self.city.messages, request)

    async def _city_receipts(self, request: Request) -> JSONResponse:
        return await self._receipts(self.city, request)

    async def _hotline_result(self, request: Request) -> JSONResponse:
        ticket = request.path_params["ticket_no"]
        return await self._deliver(self.hotline, request, ("county_case_id", "kind", "occurred_at"),
                                   lambda body, _: f"HR-{ticket}-{uuid.uuid4().hex[:8]}")

    async def _hotline_receipts(self, request: Request) -> JSONResponse:
        return await self._receipts(self.hotline, request)


def build_simulator(secrets: dict[str, str]) -> Simulator:
    """A simulator that knows these app keys (app key -> signing secret)."""
    return Simulator(dict(secrets))
