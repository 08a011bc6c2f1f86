"""Integration fixtures: a whole platform (all-in-one process) per test module, on fresh topics and databases."""

from collections.abc import AsyncIterator

import pytest

from tests.integration.harness import Namespace, PlatformProcess, TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(infra: dict[str, str]) -> Namespace:
    return Namespace(infra)


@pytest.fixture(scope="module")
async def platform(ns: Namespace, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services", tmp_path_factory.mktemp("logs")).start()
    try:
        await proc.wait_healthy()
        yield proc
    finally:
        assert proc.stop() == 0, f"the platform did not stop cleanly; see {proc.log_path}"


@pytest.fixture(scope="module")
async def case_events(ns: Namespace, platform: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as reader:
        yield reader
