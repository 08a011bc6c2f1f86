"""Fuzz the platform's HTTP API from its OpenAPI document (schemathesis) against the all-in-one process (issue 10).

Every operation of docs/platform.openapi.yaml gets generated requests (valid and invalid by its schemas) with an
admin's token: no answer is a 5xx, and every 4xx carries a reason in Chinese (shared/http.py's error format).
The document is also checked against the running routes, so a new JSON route without a description fails here.
"""

import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from starlette.routing import Route

from services.registry import SERVICES
from shared.auth import issue_token
from tests.integration.harness import TEST_SECRET, PlatformProcess

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "platform.openapi.yaml"
EXAMPLES_PER_OPERATION = 4
# Not JSON APIs, described elsewhere or not at all: the HTML pages, Open311 (its own specification)
UNDESCRIBED = re.compile(r"^/(e/|e$|console(/|$)|open311/)")
CHINESE = re.compile(r"[\u4e00-\u9fff]")


def served_routes() -> set[tuple[str, str]]:
    from shared.runtime import Runtime

    runtime = Runtime(SERVICES)  # builds the parts only; connects to nothing
    found = set()
    for parts in runtime.parts.values():
        for route in parts.routes:
            if isinstance(route, Route) and not UNDESCRIBED.match(route.path):
                found |= {(m.lower(), route.path.replace("{round:int}", "{round}"))
                          for m in route.methods or () if m != "HEAD"}
    return found


def test_the_document_describes_every_json_route() -> None:
    doc = yaml.safe_load(DOC.read_text(encoding="utf-8"))
    described = {(method, path) for path, ops in doc["paths"].items() for method in ops}
    served = served_routes()
    assert not served - described, f"routes missing from {DOC.name}: {sorted(served - described)}"
    assert not described - served, f"operations in {DOC.name} that nothing serves: {sorted(described - served)}"
    contract = {("post", "/api/v1/submissions"), ("get", "/api/v1/cases/{case_id}")}
    for method, path in contract:
        assert "contract" in doc["paths"][path][method]["tags"]
    submit = doc["paths"]["/api/v1/submissions"]["post"]
    assert set(submit["responses"]) >= {"202", "422"}
    receipt = doc["components"]["schemas"]["Receipt"]
    assert set(receipt["required"]) == {"case_id", "tracking_no", "status"}  # CONTRACT.md: 202 {case_id, ...}
    # the example is the contract's own ingress example, without submission_id (HTTP assigns one)
    contract = (DOC.parent / "contract.md").read_text(encoding="utf-8")
    ingress = json.loads(re.search(r"## 1\..*?```json\n(.*?)```", contract, re.S).group(1))
    example = submit["requestBody"]["content"]["application/json"]["example"]
    assert example == {k: v for k, v in ingress.items() if k != "submission_id"}
    schema = doc["components"]["schemas"]["SubmissionBody"]
    required = {"channel", "submitted_at", "enterprise", "content"}  # CONTRACT.md's required fields, less the id
    assert set(schema["required"]) == required
    enterprise = doc["components"]["schemas"]["Enterprise"]
    assert set(enterprise["required"]) == {"name", "contact_phone"}


def problem_with(response: requests.Response) -> str | None:
    """Why an answer breaks the rules, or None when it keeps them."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if 400 <= response.status_code < 500:
        try:
            body = response.json()
        except ValueError:
            return f"{response.status_code} without a JSON body: {response.text[:200]!r}"
        reason = body.get("error") if isinstance(body, dict) else None
        if not isinstance(reason, str) or not CHINESE.search(reason):
            return f"{response.status_code} without a reason in Chinese: {response.text[:200]}"
        if response.status_code == 422 and isinstance(body.get("detail"), list):
            if not all(isinstance(d, dict) and d.get("field") for d in body["detail"]):
                return f"422 that does not name each field: {response.text[:200]}"
    return None


def test_fuzz_every_operation(platform: PlatformProcess) -> None:
    schema = schemathesis.openapi.from_path(str(DOC))
    headers = {"Authorization": f"Bearer {issue_token(TEST_SECRET, sub='fuzz.admin', role='admin')}"}
    problems: list[str] = []
    calls = 0
    started = time.monotonic()
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            nonlocal calls
            response = case.call(base_url=platform.base_url, headers=headers, session=session, timeout=60)
            calls += 1
            problem = problem_with(response)
            if problem:
                sent = case.body if not isinstance(case.body, bytes) else case.body[:100]
                shown = json.dumps(sent, ensure_ascii=False, default=str)[:200]
                problems.append(f"{case.method} {case.formatted_path} {shown} -> {problem}")

        run()
    assert calls >= len(list(schema.get_all_operations())), calls
    assert not problems, f"{len(problems)} of {calls} answers break the rules:\n" + "\n".join(problems[:40])
    print(f"fuzzed {calls} requests in {time.monotonic() - started:.1f}s")  # noqa: T201
