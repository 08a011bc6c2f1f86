"""The broker and the store restarted under load (issue 10, "Faults").

These start their own Kafka and FerretDB with the project's scripts (deploy/infra.sh) on free ports and a
temporary data directory, so the shared servers other tests use are never touched. The platform (all six
services in one process) runs against them while a stream of submissions goes in; the broker is stopped and
started again (SIGTERM, then kill -9), then the store is killed (kill -9) and started again; every submission
must come out as exactly one case with each event once.

Select with `-m infra_restart`.
"""

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from tests.integration.faults import check_stream
from tests.integration.harness import REPO, Namespace, PlatformProcess, Producer, TopicReader, free_port, submission

pytestmark = [pytest.mark.integration, pytest.mark.infra_restart]

BATCH = 15


class PrivateInfra:
    """A broker and a store of this test's own: deploy/*.sh with other ports and a temp data dir."""

    def __init__(self, data_dir: Path):
        kafka_port, controller_port, mongo_port = free_port(), free_port(), free_port()
        self.endpoints = {"QHWY_KAFKA_BOOTSTRAP": f"127.0.0.1:{kafka_port}",
                          "QHWY_MONGO_URL": f"mongodb://127.0.0.1:{mongo_port}"}
        self.env = {**os.environ, **self.endpoints, "QHWY_KAFKA_CONTROLLER_PORT": str(controller_port),
                    "QHWY_DATA_DIR": str(data_dir)}

    def run(self, script: str, action: str) -> None:
        subprocess.run([str(REPO / "deploy" / script), action], check=True, env=self.env, timeout=180,
                       stdout=subprocess.DEVNULL)

    def kill_9(self, server: str) -> None:
        """A crash: kill -9 the server the script started (its pid file), no shutdown of any kind."""
        pidfile = Path(self.env["QHWY_DATA_DIR"]) / "run" / f"{server}.pid"
        pid = int(pidfile.read_text())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
            time.sleep(0.05)

    async def restart(self, server: str, how: str, down_for: float) -> None:
        """Stop one server (SIGTERM as an operator would, or kill -9), leave it down a while, start it on the
        same data."""
        script = f"{server}.sh"
        if how == "kill-9":
            await asyncio.to_thread(self.kill_9, server)
        else:
            await asyncio.to_thread(self.run, script, "stop")
        await asyncio.sleep(down_for)
        await asyncio.to_thread(self.run, script, "start")


@pytest.fixture(scope="module")
def private_infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateInfra]:
    infra = PrivateInfra(tmp_path_factory.mktemp("private-infra"))
    try:
        infra.run("infra.sh", "up")
        yield infra
    finally:
        subprocess.run([str(REPO / "deploy/infra.sh"), "down"], env=infra.env, check=False, timeout=120,
                       stdout=subprocess.DEVNULL)


@pytest.fixture(scope="module")
async def private_platform(private_infra: PrivateInfra,
                           tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    ns = Namespace(private_infra.endpoints)
    proc = PlatformProcess(ns, "services", tmp_path_factory.mktemp("infra-logs")).start()
    try:
        await proc.wait_healthy(timeout=150)
        yield proc
    finally:
        proc.stop()


async def send_batch(ns: Namespace, tag: str) -> list[str]:
    bodies = [submission(f"{tag}-{i}") for i in range(BATCH)]
    async with Producer(ns.infra["QHWY_KAFKA_BOOTSTRAP"]) as producer:
        for body in bodies:
            await producer.send(ns.topic("qhwy.submissions.v1"), body, key=body["submission_id"])
    return [b["submission_id"] for b in bodies]


def assignments(values: list[dict], sent: list[str]) -> int:
    wanted = set(sent)
    cases = {e["case_id"] for e in values if e["type"] == "case.registered" and e["data"]["submission_id"] in wanted}
    return len({e["case_id"] for e in values if e["type"] == "case.assigned" and e["case_id"] in cases})


@pytest.mark.parametrize(("server", "how"), [("kafka", "sigterm"), ("kafka", "kill-9"), ("ferretdb", "kill-9")])
async def test_server_restart_under_load(server: str, how: str, private_infra: PrivateInfra,
                                         private_platform: PlatformProcess) -> None:
    ns = private_platform.ns
    tag = f"{server}-{how}"
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as events:
        sent = await send_batch(ns, f"{tag}-before")
        # the stream is under way (some cases through, others in flight) when the server goes down
        await events.wait_for(lambda v: len(v) >= 5, timeout=60, what="the stream to start")
        await private_infra.restart(server, how, down_for=3.0)
        sent += await send_batch(ns, f"{tag}-after")
        await events.wait_for(lambda v: assignments(v, sent) >= len(sent), timeout=180,
                              what=f"{len(sent)} assignments after the {tag} restart")
        await asyncio.sleep(2)  # more consumer rounds: nothing else may come
        assert private_platform.proc and private_platform.proc.poll() is None, "the platform died"
        check_stream(sent, events.values())
