"""shared/http.py RouteTable (routes that declare who may call them), the one refusal type, paging; shared/locks.py;
shared/jsonable.py."""

import asyncio
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from shared.auth import issue_token
from shared.http import Call, RouteTable
from shared.jsonable import plain
from shared.locks import KeyedLocks
from shared.refusal import Refusal, unprocessable

SECRET = "a-test-secret-that-is-long-enough-for-hs256"
routes = RouteTable("/api/v1/demo")


@routes.get("/figures", roles=("leader", "unit_handler"))
async def figures(call: Call[dict[str, Any]]) -> Any:
    limit, offset = call.page(default=20, highest=100)
    return {"unit": call.unit_scope(call.query("unit")), "limit": limit, "offset": offset, "deps": call.deps["n"]}


@routes.post("/things/{thing_id}", public=True)
async def thing(call: Call[dict[str, Any]]) -> Any:
    if call.path("thing_id") == "gone":
        raise Refusal(410, "已撤回", reason="withdrawn")
    raise unprocessable("数量应为正整数", "count")


@routes.get("/internal", service=True, roles=("admin",))
async def internal(call: Call[dict[str, Any]]) -> Any:
    return {"role": call.caller.role}


@routes.get("/configured", roles=lambda deps: deps["reviewers"])
async def configured(call: Call[dict[str, Any]]) -> Any:
    return {"role": call.caller.role}


@pytest.fixture(scope="module", autouse=True)
def _staff_outside_directory() -> Any:
    import os
    before = os.environ.get("QHWY_STAFF_TOKENS_FROM_DIRECTORY")
    os.environ["QHWY_STAFF_TOKENS_FROM_DIRECTORY"] = "false"
    import shared.http
    shared.http._staff_settings = None
    yield
    shared.http._staff_settings = None
    if before is None:
        os.environ.pop("QHWY_STAFF_TOKENS_FROM_DIRECTORY", None)
    else:
        os.environ["QHWY_STAFF_TOKENS_FROM_DIRECTORY"] = before


def client(reviewers: tuple[str, ...] = ("leader",)) -> TestClient:
    return TestClient(Starlette(routes=routes.bind({"n": 7, "reviewers": reviewers}, SECRET)))


def bearer(role: str, unit: str | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {issue_token(SECRET, sub='u1', role=role, unit=unit)}"}


def test_roles_are_declared_on_the_route_and_unit_scope_is_enforced() -> None:
    http = client()
    assert http.get("/api/v1/demo/figures").status_code == 401
    assert http.get("/api/v1/demo/figures", headers=bearer("supervisor")).status_code == 403
    ok = http.get("/api/v1/demo/figures?limit=500&offset=3", headers=bearer("leader"))
    assert ok.json() == {"unit": None, "limit": 100, "offset": 3, "deps": 7}
    own = http.get("/api/v1/demo/figures", headers=bearer("unit_handler", "fagai"))
    assert own.json()["unit"] == "fagai" and own.json()["limit"] == 20
    other = http.get("/api/v1/demo/figures?unit=jingxin", headers=bearer("unit_handler", "fagai"))
    assert other.status_code == 403 and other.json() == {"error": "只能查看本单位的数据"}
    bad = http.get("/api/v1/demo/figures?limit=ten", headers=bearer("leader"))
    assert bad.status_code == 422 and bad.json()["error"] == "参数 limit 应为整数"


def test_a_refusal_is_answered_once_with_its_status_and_extra_fields() -> None:
    http = client()
    gone = http.post("/api/v1/demo/things/gone")
    assert gone.status_code == 410 and gone.json() == {"error": "已撤回", "reason": "withdrawn"}
    bad = http.post("/api/v1/demo/things/x")
    assert bad.status_code == 422 and bad.json()["detail"] == [{"field": "count", "message": "数量应为正整数"}]


def test_service_tokens_only_where_declared() -> None:
    http = client()
    assert http.get("/api/v1/demo/internal", headers=bearer("service")).json() == {"role": "service"}
    assert http.get("/api/v1/demo/internal", headers=bearer("leader")).status_code == 403
    assert http.get("/api/v1/demo/figures", headers=bearer("service")).status_code == 403


def test_roles_read_from_the_dependencies_when_bound() -> None:
    """A county configures who reviews (rating's reviewer_roles): the route reads them from its deps."""
    assert client(("leader",)).get("/api/v1/demo/configured", headers=bearer("leader")).status_code == 200
    assert client(("leader",)).get("/api/v1/demo/configured", headers=bearer("admin")).status_code == 403
    assert client(("admin",)).get("/api/v1/demo/configured", headers=bearer("admin")).status_code == 200


def test_keyed_locks_serialise_one_key_and_are_forgotten_when_free() -> None:
    locks, order = KeyedLocks(), []

    async def work(key: str, n: int) -> None:
        async with locks(key):
            order.append((key, n, "in"))
            await asyncio.sleep(0.01)
            order.append((key, n, "out"))

    async def main() -> None:
        await asyncio.gather(work("a", 1), work("a", 2), work("b", 3))

    asyncio.run(main())
    a = [o for o in order if o[0] == "a"]
    assert a == [("a", 1, "in"), ("a", 1, "out"), ("a", 2, "in"), ("a", 2, "out")]
    assert order[:2] == [("a", 1, "in"), ("b", 3, "in")]  # another key does not wait
    assert len(locks) == 0


def test_plain_turns_datetimes_into_iso_text_however_deep() -> None:
    at = datetime(2026, 3, 2, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert plain({"a": [at, {"b": at}], "c": 1}) == {"a": ["2026-03-02T09:30:00+08:00",
                                                          {"b": "2026-03-02T09:30:00+08:00"}], "c": 1}


def test_plain_can_answer_in_the_county_zone() -> None:
    from zoneinfo import ZoneInfo
    at = datetime(2026, 3, 2, 1, 30, tzinfo=timezone.utc)
    assert plain([at], ZoneInfo("Asia/Shanghai")) == ["2026-03-02T09:30:00+08:00"]


def test_a_periodic_job_bound_to_its_deps_is_named_by_its_function() -> None:
    from functools import partial
    from shared.runtime import _job_name

    async def regroup(deps: object) -> None:
        pass

    assert _job_name(partial(regroup, object())).endswith("regroup")
