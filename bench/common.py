"""What the benchmarks share: stopping the service they started and removing everything a run created."""

import subprocess

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


async def delete_namespace(bootstrap: str, mongo_url: str, namespace: str) -> None:
    """Remove every topic and database of the run."""
    from pymongo import AsyncMongoClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith(f"{namespace}.")]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    client: AsyncMongoClient = AsyncMongoClient(mongo_url, directConnection=True)
    try:
        for name in await client.list_database_names():
            if name.startswith(f"{namespace}_"):
                await client.drop_database(name)
    finally:
        await client.close()
