"""HTTP helpers shared by the services' routes: JSON answers, 422s that name each bad field (in Chinese), auth."""

import json
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse

from shared.auth import AuthError, Staff, verify_token
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


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message)
        self.status, self.message, self.extra, self.headers = status, message, extra, headers or {}


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type="application/json; charset=utf-8", headers=headers)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """One entry per bad field: its dotted path, the developer message and the message for people."""
    out = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(p) for p in error["loc"]]
        detail = error["msg"].removeprefix("Value error, ")
        message = _MESSAGES.get(error["type"], "取值无效")
        out.append({"field": ".".join(loc) or "body", "loc": loc, "type": error["type"], "msg": detail,
                    "message": f"{'.'.join(loc) or '请求体'}: {message}"})
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


def endpoint(handler: Handler) -> Callable[[Request], Awaitable[JSONResponse]]:
    """Turn a handler that returns a body (or raises HttpError/ValidationError/AuthError) into a Starlette endpoint."""

    async def run(request: Request) -> JSONResponse:
        try:
            result = await handler(request)
        except ValidationError as exc:
            return validation_response(exc)
        except AuthError as exc:
            return json_response({"error": exc.message}, exc.status)
        except HttpError as exc:
            return json_response({"error": exc.message, **exc.extra}, exc.status, exc.headers or None)
        if isinstance(result, JSONResponse):
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
