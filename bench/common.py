"""What the benchmarks share: stopping the service they started and removing everything a run created."""

import asyncio
import subprocess
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient


def stop(proc: "subprocess.Popen[bytes] | None", timeout: float = 30) -> None:
    """SIGTERM, then SIGKILL if it has not stopped in `timeout` seconds."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class TopicReader:
    """Reads topics from their start, in a task of its own, handing each record to `on_record` (group-less: it
    commits nothing)."""

    def __init__(self, bootstrap: str, *topics: str):
        self.consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=None,
                                         auto_offset_reset="earliest", enable_auto_commit=False)
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.consumer.start()
        self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task:
            self.task.cancel()
        await self.consumer.stop()

    async def _run(self) -> None:
        async for record in self.consumer:
            self.on_record(record)

    def on_record(self, record: Any) -> None:
        raise NotImplementedError


def platform_databases(prefix: str) -> list[str]:
    """The databases the platform's services use under a database prefix (`<prefix>_<service>`)."""
    from shared.backup import SERVICE_DATABASES

    return [f"{prefix}_{service}" for service in SERVICE_DATABASES]


async def delete_namespace(bootstrap: str, mongo_url: str, namespace: str,
                           databases: Iterable[str] | None = None) -> None:
    """Remove every topic of the run (`<namespace>.*`) and its databases: `databases`, by default the platform's
    under the prefix `namespace`. Dropped by name: listing the databases of a FerretDB holding many takes minutes."""
    from pymongo import AsyncMongoClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_url, directConnection=True)
    try:
        for name in platform_databases(namespace) if databases is None else databases:
            await client.drop_database(name)
    finally:
        await client.close()
