"""The served API description: GET /openapi.json (OpenAPI 3.1) and a page at /docs, for whatever one process runs
(the all-in-one app or one service alone).

The document is built from the routes the process really serves: each one's operation is taken from the
hand-written descriptions shipped in this package (platform.openapi.yaml: the JSON API, also fuzzed by
tests/integration/test_api_fuzz.py; extra.openapi.yaml: Open311, pages, health, metrics, these documents), so a
service alone describes only its own routes and a route nobody described shows up marked `x-undescribed` (a
test keeps that list empty). The /docs page is plain HTML, CSS and JavaScript from this package: no CDN."""

import copy
import re
from collections.abc import Callable, Iterable
from functools import cache
from importlib import resources
from typing import Any

import yaml
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route

DOCUMENTS = ("platform.openapi.yaml", "extra.openapi.yaml")
ASSETS = {"docs.js": "text/javascript; charset=utf-8", "docs.css": "text/css; charset=utf-8"}
METHODS = ("get", "put", "post", "delete", "patch")
DESCRIPTION = (
    "企呼我应平台的 HTTP 接口：本进程实际提供的全部接口（JSON 接口、Open311 GeoReport v2、企业端与工作台页面、"
    "健康检查与指标）。拒绝请求时以 JSON 返回 `error`（中文原因）；422 还逐项指出有误的字段。工作人员接口需要 "
    "`Authorization: Bearer <令牌>`（`qhwy-token` 或工作台登录）。\n\n"
    "The platform's HTTP API as this process serves it, built from its real routes (shared/openapi/).")
_CONVERTOR = re.compile(r"\{([^}:]+):[^}]+\}")


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    document: dict[str, Any] = yaml.safe_load(text)
    return document


@cache
def described() -> dict[str, Any]:
    """Both hand-written documents merged: paths, components, tags (a name defined twice is an error)."""
    main, extra = (_read(name) for name in DOCUMENTS)
    merged = copy.deepcopy(main)
    for path, operations in extra.get("paths", {}).items():
        for method, operation in operations.items():
            if method in merged["paths"].get(path, {}):
                raise ValueError(f"{method.upper()} {path} is described twice")
            merged["paths"].setdefault(path, {})[method] = operation
    for section, entries in extra.get("components", {}).items():
        target = merged.setdefault("components", {}).setdefault(section, {})
        for name, value in entries.items():
            if name in target:
                raise ValueError(f"components.{section}.{name} is defined twice")
            target[name] = value
    merged["tags"] = [*merged.get("tags", []), *extra.get("tags", [])]
    return merged


def path_of(path: str) -> str:
    """A Starlette route path as OpenAPI writes it: {round:int} -> {round}."""
    return _CONVERTOR.sub(r"{\1}", path)


def served_operations(routes: Iterable[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every operation the routes answer, in route order; a mount serves GET {mount}/{path}."""
    found: list[tuple[str, str]] = []
    for route in routes:
        if isinstance(route, Route):
            methods = sorted(m.lower() for m in (route.methods or {"GET"}) if m != "HEAD")
            found.extend((m, path_of(route.path)) for m in methods if (m, path_of(route.path)) not in found)
        elif isinstance(route, Mount):
            found.append(("get", route.path.rstrip("/") + "/{path}"))
    return found


def document(routes: Iterable[BaseRoute], title: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of exactly these routes."""
    source = described()
    paths: dict[str, dict[str, Any]] = {}
    for method, path in served_operations(routes):
        operation = source["paths"].get(path, {}).get(method)
        if operation is None:
            operation = {"summary": "（未说明的接口）", "x-undescribed": True,
                         "responses": {"200": {"description": ""}}}
        paths.setdefault(path, {})[method] = operation
    info = {**source["info"], "description": DESCRIPTION}
    if title:
        info["title"] = title
    used_tags = {t for ops in paths.values() for op in ops.values() for t in op.get("tags", [])}
    return {"openapi": source["openapi"], "info": info, "tags": [t for t in source["tags"] if t["name"] in used_tags],
            "paths": paths, "components": source["components"]}


def routes(served: Callable[[], list[BaseRoute]], title: str | None = None) -> list[BaseRoute]:
    """GET /openapi.json, /docs and its assets; `served` gives the process's final route list (these included)."""
    built: dict[str, Any] = {}

    async def openapi_json(_: Request) -> JSONResponse:
        if "doc" not in built:
            built["doc"] = document(served(), title)
        return JSONResponse(built["doc"])

    async def docs_page(_: Request) -> Response:
        page = resources.files(__package__).joinpath("docs.html").read_text(encoding="utf-8")
        return Response(page, media_type="text/html; charset=utf-8")

    async def asset(request: Request) -> Response:
        name = request.path_params["path"]
        if name not in ASSETS:
            return JSONResponse({"error": "未找到该文件"}, status_code=404)
        body = resources.files(__package__).joinpath(name).read_bytes()
        return Response(body, media_type=ASSETS[name], headers={"cache-control": "max-age=300"})

    return [Route("/openapi.json", openapi_json, methods=["GET"]), Route("/docs", docs_page, methods=["GET"]),
            Route("/docs/{path}", asset, methods=["GET"])]
