"""GET /openapi.json and /docs (shared/openapi/), from the apps `python -m services` and `python -m services.<name>`
serve (built, not started: nothing is connected). Every real route is described with a summary in Chinese, every
described operation exists, a service alone describes only its own routes, and the docs page needs nothing from
outside the package."""

import re
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.registry import SERVICES
from shared import openapi
from shared.runtime import Runtime

CHINESE = re.compile(r"[\u4e00-\u9fff]")
ALWAYS = {("get", "/healthz"), ("get", "/metrics"), ("get", "/openapi.json"), ("get", "/docs"), ("get", "/docs/{path}")}


@pytest.fixture(autouse=True)
def every_optional_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QHWY_CITY_SIMULATOR", "1")  # the simulator's mount too (what `make run` serves)
    monkeypatch.setenv("QHWY_ENV", "development")


def app_of(builders: dict[str, Any]) -> Starlette:
    return Runtime(builders).asgi()


def operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, ops in doc["paths"].items() for method in ops}


def test_the_all_in_one_document_describes_every_route_and_nothing_else() -> None:
    app = app_of(SERVICES)
    doc = TestClient(app).get("/openapi.json").json()
    assert doc["openapi"].startswith("3.1")
    served = set(openapi.served_operations(app.routes))
    assert operations(doc) == served
    undescribed = sorted((m, p) for p, ops in doc["paths"].items() for m, o in ops.items() if o.get("x-undescribed"))
    assert not undescribed, f"routes without a description in shared/openapi/*.yaml: {undescribed}"
    described = operations(openapi.described())
    assert not described - served, f"described operations that nothing serves: {sorted(described - served)}"
    for path, ops in doc["paths"].items():
        for method, operation in ops.items():
            assert CHINESE.search(operation.get("summary") or ""), f"{method.upper()} {path}: no Chinese summary"
    ids = [o["operationId"] for ops in doc["paths"].values() for o in ops.values()]
    assert len(ids) == len(set(ids))
    assert {"/open311/discovery.{fmt}", "/open311/v2/requests.{fmt}", "/healthz", "/metrics"} <= set(doc["paths"])


def test_every_reference_resolves() -> None:
    doc = TestClient(app_of(SERVICES)).get("/openapi.json").json()
    refs: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("$ref"), str):
                refs.add(value["$ref"])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(doc)
    for ref in refs:
        target: Any = doc
        for part in ref.removeprefix("#/").split("/"):
            assert isinstance(target, dict) and part in target, f"unresolved {ref}"
            target = target[part]


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_a_service_alone_describes_its_own_routes(name: str) -> None:
    app = app_of({name: SERVICES[name]})
    doc = TestClient(app).get("/openapi.json").json()
    assert operations(doc) == set(openapi.served_operations(app.routes))
    assert ALWAYS <= operations(doc)
    assert name in doc["info"]["title"]
    assert not any(o.get("x-undescribed") for ops in doc["paths"].values() for o in ops.values())
    others = {f"/api/v1/{n}/" for n in SERVICES if n != name} - {"/api/v1/intake/"}
    assert not [p for p in doc["paths"] if any(p.startswith(o) for o in others)]


def test_the_docs_page_is_self_contained() -> None:
    client = TestClient(app_of({"intake": SERVICES["intake"]}))
    page = client.get("/docs")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "接口文档" in page.text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and not [s for s in sources if re.match(r"^(https?:)?//", s) or s.startswith("/")]
    for source in sources:
        if source.startswith("docs/"):
            asset = client.get(f"/{source}")
            assert asset.status_code == 200 and asset.content, source
            assert not re.search(rb"https?://(?!www\.w3\.org)", asset.content), source  # nothing from a CDN
    assert client.get("/docs/../pyproject.toml").status_code == 404
    missing = client.get("/docs/nothing.js")
    assert missing.status_code == 404 and CHINESE.search(missing.json()["error"])
