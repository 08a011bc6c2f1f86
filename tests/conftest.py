"""Session-wide: the real Kafka broker and MongoDB-protocol store, started once (or reused when running)."""

import fcntl
import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Endpoints of a running broker and store; started here (fresh data dir) unless both already answer."""
    kafka = os.environ.get("QHWY_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    mongo = os.environ.get("QHWY_MONGO_URL", "mongodb://127.0.0.1:27017")
    kafka_host, kafka_port = kafka.rsplit(":", 1)
    mongo_hostport = mongo.removeprefix("mongodb://").split("/")[0].split("?")[0]
    mongo_host, mongo_port = mongo_hostport.rsplit(":", 1)
    endpoints = {"QHWY_KAFKA_BOOTSTRAP": kafka, "QHWY_MONGO_URL": mongo}
    # Concurrent test sessions on one machine: one of them starts the servers, the others wait and reuse them.
    with open(f"/tmp/qhwy-test-infra-{kafka_port}-{mongo_port}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _port_open(kafka_host, int(kafka_port)) and _port_open(mongo_host, int(mongo_port)):
            fcntl.flock(lock, fcntl.LOCK_UN)
            yield endpoints
            return
        env = {**os.environ, **endpoints, "QHWY_DATA_DIR": str(tmp_path_factory.mktemp("infra-data"))}
        subprocess.run([str(REPO / "deploy/infra.sh"), "up"], check=True, env=env)
    try:
        yield endpoints
    finally:
        subprocess.run([str(REPO / "deploy/infra.sh"), "down"], check=False, env=env)
