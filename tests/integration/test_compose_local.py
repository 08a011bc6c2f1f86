"""The compose topology as local processes (deploy/compose-local.sh, make run-compose-local): every service its own
process on its own port behind Debian's nginx with deploy/nginx/nginx.conf, configured by deploy/platform.env.

Everything goes through the front (nginx on a free port), as an enterprise's phone and the staff's browsers would:
an anonymous submission, the enterprise's tracking view, the unit's handling, the rating link (whose origin is the
public front, not rating's own port), the rating from the tracking page (rating checks the proof at intake over
QHWY_RATING_PROOF_URL), and the phone revisit with the full contact (asked of intake over
QHWY_RATING_CONTACT_LOOKUP_URL). In the all-in-one run those URLs default to the one origin; here they must cross
processes, as between compose's containers.
"""

import asyncio
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.harness import REPO, Namespace, TopicReader, free_port, staff_headers, submission, types_of
from tests.integration.test_case_access import until

pytestmark = pytest.mark.integration
SERVICES = ("intake", "triage", "sla", "rating", "sync", "insight", "console")
PHONE = "13600005678"


class ComposeLocal:
    def __init__(self, ns: Namespace, data_dir: Path):
        self.front = free_port()
        self.ports = {name: free_port() for name in SERVICES}
        self.base_url = f"http://127.0.0.1:{self.front}"
        self.data_dir = data_dir
        self.run_dir = data_dir / "run" / f"compose-local-{self.front}"
        self.output = data_dir / "compose-local.out"
        env = ns.env(QHWY_DATA_DIR=str(data_dir), QHWY_FRONT_PORT=str(self.front),
                     QHWY_RATING_SCAN_INTERVAL_SECONDS="0.5",
                     **{f"QHWY_PORT_{name.upper()}": str(port) for name, port in self.ports.items()})
        for key in ("QHWY_HTTP_PORT", "QHWY_RATING_PUBLIC_BASE_URL", "QHWY_RATING_CONTACT_LOOKUP_URL",
                    "QHWY_RATING_PROOF_URL", "QHWY_STAFF_FILE", "QHWY_ORG_FILE", "QHWY_ENV"):
            env.pop(key, None)  # what the topology decides (platform.env and the script), not this test
        self.started = time.monotonic()
        self.proc = subprocess.Popen([str(REPO / "deploy/compose-local.sh")], cwd=REPO, env=env,
                                     stdout=self.output.open("wb"), stderr=subprocess.STDOUT)

    def log(self, name: str) -> str:
        return (self.run_dir / f"{name}.log").read_text(encoding="utf-8", errors="replace")

    async def wait_up(self, timeout: float = 300) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.output.read_text()
            if "all services up behind" in self.output.read_text():
                return time.monotonic() - self.started
            await asyncio.sleep(0.3)
        raise AssertionError(f"compose-local not up in {timeout}s: {self.output.read_text()}")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(90)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@pytest.fixture(scope="module")
async def stack(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[ComposeLocal]:
    stack = ComposeLocal(ns, tmp_path_factory.mktemp("compose-local"))
    try:
        print(f"compose-local up in {await stack.wait_up():.1f} s")
        yield stack
    finally:
        assert stack.stop() == 0, stack.output.read_text()
        ports = [stack.front, *stack.ports.values()]
        listening = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True).stdout
        assert not [p for p in ports if f"127.0.0.1:{p} " in listening], "a port was left listening"


@pytest.fixture(scope="module")
async def events(ns: Namespace, stack: ComposeLocal) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as reader:
        yield reader


def test_each_service_is_its_own_process_with_platform_env(stack: ComposeLocal) -> None:
    """Seven processes on their own ports, and rating told where intake and the public front are."""
    for name, port in stack.ports.items():
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.status_code == 200, name
    config = stack.data_dir / "config"
    assert (config / "org.yaml").is_file() and (config / "staff.yaml").is_file()  # the config volume, seeded
    conf = (stack.run_dir / "nginx.conf").read_text()
    assert f"listen  127.0.0.1:{stack.front};" in conf and "intake:8000" not in conf
    # the front is the compose front: no metrics, the API and the staff pages routed
    assert httpx.get(f"{stack.base_url}/metrics").status_code == 404
    assert httpx.get(f"{stack.base_url}/api/v1/intake/metrics").status_code == 404
    assert httpx.get(f"{stack.base_url}/console/").status_code == 200
    assert httpx.get(f"{stack.base_url}/e/track").status_code == 200


async def test_submit_track_resolve_rate_and_revisit_through_the_front(stack: ComposeLocal,
                                                                        events: TopicReader) -> None:
    body = submission(f"cl-{uuid.uuid4().hex[:6]}")
    body.pop("submission_id")
    body["enterprise"]["contact_phone"] = PHONE
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=60) as client:
        receipt = await client.post("/api/v1/submissions", json=body, headers={"idempotency-key": uuid.uuid4().hex})
        assert receipt.status_code == 202, receipt.text
        case_id, tracking = receipt.json()["case_id"], receipt.json()["tracking_no"]
        assert receipt.headers["x-request-id"]  # nginx's request id
        values = await events.wait_for(lambda v: "case.assigned" in types_of(v, case_id), timeout=120,
                                       what="case.assigned")
        department = next(v["data"]["department"] for v in values
                          if v.get("case_id") == case_id and v["type"] == "case.assigned")

        # the enterprise follows its case: tracking number + last four digits (intake, through the front)
        mine = await client.get("/api/v1/cases", params={"tracking_no": tracking, "phone_last4": PHONE[-4:]})
        assert mine.status_code == 200, mine.text
        wrong = await client.get("/api/v1/cases", params={"tracking_no": tracking, "phone_last4": "0000"})
        assert wrong.status_code == 404

        # the unit takes it up and resolves it (sla)
        unit = staff_headers("unit_handler", "wang.wu", department)
        url = f"/api/v1/units/cases/{case_id}"

        async def accepted() -> bool:
            answer = await client.post(f"{url}/accept", headers=unit, json={"request_id": f"a-{case_id}"})
            return answer.status_code in (200, 201, 409)

        await until(accepted, "the unit to accept")
        resolved = await client.post(f"{url}/resolve", headers=unit,
                                     json={"resolution": "已完成电力增容", "request_id": f"r-{case_id}"})
        assert resolved.status_code == 201, resolved.text

        # rating invites the enterprise with a link on the public origin (platform.env), never rating's own port
        async def invitation() -> Any:
            lines = [json.loads(line) for line in stack.log("rating").splitlines()
                     if '"rating_invitation"' in line and case_id in line]
            return lines[0] if lines else None

        link = (await until(invitation, "the rating invitation"))["link"]
        assert link.startswith(f"{stack.base_url}/e/rate/"), link
        page = await client.get(link.removeprefix(stack.base_url))
        assert page.status_code == 200 and "评价" in page.text

        # the enterprise rates from its tracking page: rating checks the four digits at intake (proof URL)
        async def awaiting() -> Any:
            answer = await client.get("/api/v1/rating/status", params={"tracking_no": tracking,
                                                                       "phone_last4": PHONE[-4:]})
            return answer.status_code == 200 and answer.json()["awaiting"]

        await until(awaiting, "the case to await its rating")
        wrong = await client.post("/api/v1/rating/tracked-ratings", json={
            "tracking_no": tracking, "phone_last4": "0000", "level": "satisfied"})
        assert wrong.status_code == 404
        rated = await client.post("/api/v1/rating/tracked-ratings", json={
            "tracking_no": tracking, "phone_last4": PHONE[-4:], "level": "satisfied", "comment": "很及时"})
        assert rated.status_code == 201, rated.text
        await events.wait_for(lambda v: "case.rated" in types_of(v, case_id), what="case.rated")

        # the phone revisit shows the full contact, asked of intake (contact lookup URL) with the leader's token
        leader = staff_headers("leader", "sun.huifang")
        task = f"{case_id}:1:phone"

        async def revisit() -> Any:
            answer = await client.get(f"/api/v1/rating/revisits/{task}", headers=leader)
            return answer.json() if answer.status_code == 200 else None

        view = await until(revisit, "the phone revisit task")
        assert view["contact"]["phone"] == PHONE
        recorded = await client.post(f"/api/v1/rating/revisits/{task}/record", headers=leader,
                                     json={"said": "企业表示已解决", "solved": True})
        assert recorded.status_code == 200, recorded.text
        await events.wait_for(lambda v: "case.revisited" in types_of(v, case_id), what="case.revisited")
    assert PHONE not in stack.log("rating")  # the full number only ever in intake's answers, never logged
    assert os.path.getsize(stack.run_dir / "nginx-access.log") > 0
