"""Integration fixtures: a whole platform (all-in-one process) per test module, on fresh topics and databases."""

from collections.abc import AsyncIterator

import pytest

from tests.integration.harness import Namespace, PlatformProcess, TopicReader

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def ns(infra: dict[str, str]) -> Namespace:
    return Namespace(infra)


@pytest.fixture(scope="module")
def platform_env() -> dict[str, str]:
    """Extra environment for the module's platform; a test module overrides this fixture to set its own."""
    return {}


@pytest.fixture(scope="module")
async def platform(ns: Namespace, platform_env: dict[str, str],
                   tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[PlatformProcess]:
    proc = PlatformProcess(ns, "services", tmp_path_factory.mktemp("logs"), **platform_env).start()
    try:
        await proc.wait_healthy(150)  # returns as soon as it answers; the margin is for a loaded machine
        yield proc
    finally:
        assert proc.stop() == 0, f"the platform did not stop cleanly; see {proc.log_path}"


@pytest.fixture(scope="module")
async def case_events(ns: Namespace, platform: PlatformProcess) -> AsyncIterator[TopicReader]:
    async with TopicReader(ns.infra["QHWY_KAFKA_BOOTSTRAP"], ns.topic("qhwy.case-events.v1")) as reader:
        yield reader
