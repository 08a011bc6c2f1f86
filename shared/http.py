"""HTTP helpers shared by the services' routes: JSON answers, 422s that name each bad field (in Chinese), auth."""

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from shared.auth import AuthError, Staff, require_role, verify_token
from shared.refusal import Refusal
from shared.staff import StaffSettings, default_directory

# pydantic error type -> the message shown to people
_MESSAGES = {
    "missing": "缺少必填字段",
    "string_too_short": "不能为空或过短",
    "string_too_long": "内容过长",
    "string_type": "应为文本",
    "string_pattern_mismatch": "格式不正确",
    "int_parsing": "应为整数",
    "datetime_parsing": "时间格式不正确",
    "datetime_from_date_parsing": "时间格式不正确",
    "timezone_aware": "时间需带时区",
    "datetime_type": "应为时间",
    "model_type": "应为对象",
    "dict_type": "应为对象",
    "bool_parsing": "应为布尔值",
    "json_invalid": "不是有效的JSON",
    "value_error": "取值无效",
}


HttpError = Refusal  # the name routes used before the one refusal type; both are shared.refusal.Refusal


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type="application/json; charset=utf-8", headers=headers)


# Developer messages of our own validators -> what people are told (what is wrong and what is expected).
_VALUE_MESSAGES = [
    (re.compile(r"must be 18 characters"), "统一社会信用代码应为18位"),
    (re.compile(r"contains characters a credit code cannot have"),
     "统一社会信用代码只能由数字和大写字母（不含I、O、Z、S、V）组成"),
    (re.compile(r"check character"), "统一社会信用代码的校验位不正确，请核对"),
    (re.compile(r"^invalid unified social credit code"), "统一社会信用代码不正确，请核对"),
    (re.compile(r"^not a phone number"), "不是有效的电话号码（手机11位，座机请带区号）"),
    (re.compile(r"^not a mobile number"), "不是有效的手机号码"),
    (re.compile(r"^unknown channel"), "渠道代码不存在（应为组织文件中的渠道代码）"),
    (re.compile(r"^unknown region"), "乡镇（街道）不存在，请从列表中选择"),
    (re.compile(r"^unknown category"), "问题类别不存在，请从列表中选择"),
    (re.compile(r"^unknown units"), "单位代码不存在（应为组织文件中的单位代码）"),
]
_PATTERNS = {
    r"^\d{4}$": "应为4位数字",
    r"^\d{6}$": "应为6位数字",
    r"^[A-Za-z0-9._:\-]+$": "只能包含英文字母、数字和 . _ : -",
}


def _message(error: Mapping[str, Any]) -> str:
    """What people read about one bad field: what is wrong and, where it can be said, what is expected."""
    kind, ctx = error["type"], error.get("ctx") or {}
    detail = error["msg"].removeprefix("Value error, ")
    if kind == "string_too_long":
        return f"内容过长（最多{ctx.get('max_length')}个字符）"
    if kind == "string_too_short":
        low = ctx.get("min_length", 1)
        return "不能为空" if low <= 1 else f"过短（至少{low}个字符）"
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(str(ctx.get("pattern")), "格式不正确")
    if kind in ("literal_error", "enum"):
        return f"取值无效，应为以下之一：{ctx.get('expected', '')}"
    if kind in ("datetime_parsing", "datetime_from_date_parsing", "datetime_type"):
        return "时间格式不正确（应如 2026-03-02T09:15:00+08:00）"
    if kind == "timezone_aware":
        return "时间需带时区（如 2026-03-02T09:15:00+08:00）"
    if kind in ("greater_than_equal", "greater_than"):
        return f"应不小于{ctx.get('ge', ctx.get('gt'))}"
    if kind in ("less_than_equal", "less_than"):
        return f"应不大于{ctx.get('le', ctx.get('lt'))}"
    if kind in ("too_long", "too_short"):
        return f"项数不符合要求（{ctx.get('min_length', 0)}至{ctx.get('max_length', '不限')}项）"
    if kind == "extra_forbidden":
        return "不接受该字段"
    if kind == "value_error":
        for pattern, text in _VALUE_MESSAGES:
            if pattern.search(detail):
                return text
    return _MESSAGES.get(kind, "取值无效")


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per bad field: its dotted path, the developer message and the message for people."""
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in error["loc"]]
        detail = error["msg"].removeprefix("Value error, ")
        out.append({"field": ".".join(loc) or "body", "loc": loc, "type": error["type"], "msg": detail,
                    "message": f"{'.'.join(loc) or '请求体'}: {_message(error)}"})
    return out


def validation_response(exc: ValidationError) -> JSONResponse:
    errors = field_errors(exc)
    return json_response({"error": "请求内容有误", "detail": errors, "fields": [e["field"] for e in errors]}, 422)


async def read_body(request: Request, max_bytes: int, message: str = "请求内容过大") -> bytes:
    """The request body, refused with 413 as soon as it passes `max_bytes` (by its declared length, or while
    it streams in): an oversized body is never read in full."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise HttpError(413, f"{message}（上限{max_bytes}字节）")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            raise HttpError(413, f"{message}（上限{max_bytes}字节）")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, max_bytes: int = 1_000_000) -> Any:
    body = await read_body(request, max_bytes)
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HttpError(422, "请求内容须为UTF-8编码的JSON", detail=[{"field": "body", "msg": "not UTF-8"}])
    except json.JSONDecodeError as exc:
        raise HttpError(422, "请求内容不是有效的JSON", detail=[{"field": "body", "msg": str(exc)}])
    except RecursionError:  # nesting deeper than the parser follows: refused, not a 500
        raise HttpError(422, "请求内容嵌套过深", detail=[{"field": "body", "msg": "nested too deeply"}])


Handler = Callable[[Request], Awaitable[Any]]


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Turn a handler that returns a body (or raises Refusal/ValidationError) into a Starlette endpoint. The one
    place a refusal becomes an HTTP answer (AuthError is a Refusal too)."""

    async def run(request: Request) -> Response:
        try:
            result = await handler(request)
        except ValidationError as exc:
            return validation_response(exc)
        except Refusal as exc:
            return json_response({"error": exc.message, **exc.extra}, exc.status, exc.headers or None)
        if isinstance(result, Response):
            return result
        return json_response(result)

    run.__name__ = handler.__name__
    return run


def client_address(request: Request, trusted_proxies: tuple[str, ...]) -> str:
    """The caller's address: the peer, or the address the platform's own front forwarded when the peer is it."""
    peer = request.client.host if request.client else "unknown"
    if peer in trusted_proxies:
        forwarded = (request.headers.get("x-real-ip") or request.headers.get("x-forwarded-for") or "")
        forwarded = forwarded.split(",")[0].strip()
        if forwarded:
            return forwarded[:64]
    return peer


_staff_settings: StaffSettings | None = None


def _tokens_from_directory() -> bool:
    global _staff_settings
    if _staff_settings is None:
        _staff_settings = StaffSettings()
    return _staff_settings.staff_tokens_from_directory


def staff_of(request: Request, secret: str, *, allow_service: bool = False) -> Staff:
    """The signed-in staff member. A `service` token (one service calling another) is refused unless the
    endpoint is one that services call, so a service credential opens nothing else."""
    staff = verify_token(secret, request.headers.get("authorization"))
    directory = default_directory()
    if directory.is_disabled(staff.sub):  # a disabled account's tokens die with it (shared/staff.py)
        raise AuthError(401, "该账号已停用")
    if staff.role != "service" and _tokens_from_directory():
        user = directory.get(staff.sub)
        if user is None:
            raise AuthError(401, "该账号不在工作人员名录中")
        if user.role != staff.role or (user.unit or None) != (staff.unit or None):
            raise AuthError(401, "登录凭证与工作人员名录不符（角色或单位已变更），请重新登录")
    if staff.role == "service" and not allow_service:
        raise AuthError(403, "服务凭证不能访问此接口")
    return staff


def int_query(request: Request, name: str, default: int, lowest: int, highest: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise HttpError(422, f"参数 {name} 应为整数", detail=[{"field": name, "msg": "not an integer"}])
    return min(max(value, lowest), highest)


def page_of(request: Request, *, default: int = 50, highest: int = 200) -> tuple[int, int]:
    """`limit` and `offset` of a listing, both checked (422 naming the parameter): (limit, offset)."""
    return int_query(request, "limit", default, 1, highest), int_query(request, "offset", 0, 0, 10_000_000)


# ---------------------------------------------------------------- routes that declare who may call them

D = TypeVar("D")


@dataclass(frozen=True)
class Call(Generic[D]):
    """One HTTP call as a route handler sees it: the request, the service's dependencies and the caller (None on
    public routes)."""

    request: Request
    deps: D
    staff: Staff | None

    @property
    def caller(self) -> Staff:
        assert self.staff is not None, "a public route has no signed-in caller"
        return self.staff

    def query(self, name: str, default: str | None = None) -> str | None:
        return self.request.query_params.get(name, default)

    def path(self, name: str) -> str:
        return str(self.request.path_params[name])

    def page(self, *, default: int = 50, highest: int = 200) -> tuple[int, int]:
        return page_of(self.request, default=default, highest=highest)

    def unit_scope(self, requested: str | None = None, refusal: str = "只能查看本单位的数据") -> str | None:
        """The unit whose data this caller may see: a unit handler only their own (403 `refusal` for another), the
        county-wide roles the unit asked for, or every unit (None)."""
        staff = self.caller
        if staff.role == "unit_handler":
            if requested and requested != staff.unit:
                raise Refusal(403, refusal)
            return staff.unit
        return requested


RouteHandler = Callable[[Call[Any]], Awaitable[Any]]
# The staff roles allowed on a route: fixed, or read from the service's dependencies when the routes are bound (a
# county configures who revisits or reviews appeals); None: any signed-in staff member.
Roles = tuple[str, ...] | Callable[[Any], tuple[str, ...]] | None


@dataclass(frozen=True)
class _Entry:
    method: str
    path: str
    handler: RouteHandler
    roles: Roles
    public: bool
    service: bool


@dataclass
class RouteTable:
    """A service's routes as module-level functions, each declaring who may call it:

        routes = RouteTable("/api/v1/insight")

        @routes.get("/figures", roles=COUNTY_ROLES + ("unit_handler",))
        async def figures(call: Call[Deps]) -> Any: ...

    `public=True`: no sign-in (the handler proves the caller itself); `service=True`: a service token may call it;
    `roles`: the staff roles allowed (None: any signed-in staff member), or a function of the dependencies that
    gives them (`roles=lambda deps: deps.settings.reviewer_roles`). `bind(deps, secret)` makes the routes."""

    prefix: str = ""
    entries: list[_Entry] = field(default_factory=list)

    def route(self, method: str, path: str, *, roles: Roles = None, public: bool = False,
              service: bool = False) -> Callable[[RouteHandler], RouteHandler]:
        def register(handler: RouteHandler) -> RouteHandler:
            self.entries.append(_Entry(method, self.prefix + path, handler, roles, public, service))
            return handler
        return register

    def get(self, path: str, **access: Any) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("GET", path, **access)

    def post(self, path: str, **access: Any) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("POST", path, **access)

    def put(self, path: str, **access: Any) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("PUT", path, **access)

    def delete(self, path: str, **access: Any) -> Callable[[RouteHandler], RouteHandler]:
        return self.route("DELETE", path, **access)

    def bind(self, deps: Any, secret: str) -> list[Route]:
        return [Route(e.path, endpoint(_bound(e, deps, secret)), methods=[e.method]) for e in self.entries]


def _bound(entry: _Entry, deps: Any, secret: str) -> Handler:
    roles = entry.roles(deps) if callable(entry.roles) else entry.roles

    async def run(request: Request) -> Any:
        staff = None
        if not entry.public:
            staff = staff_of(request, secret, allow_service=entry.service)
            if roles is not None and staff.role != "service":
                require_role(staff, *roles)
        return await entry.handler(Call(request, deps, staff))

    run.__name__ = entry.handler.__name__
    run.__doc__ = entry.handler.__doc__
    return run
