"""Shared fixtures for the unit tests: pure cores only (no Kafka, no MongoDB, no network)."""

import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

# Make the project importable however pytest is started (the project is not installed in the venv).
ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from shared.org import Organisation, load_organisation  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="session")
def org() -> Organisation:
    return load_organisation()


@pytest.fixture(scope="session")
def tz() -> ZoneInfo:
    return SHANGHAI
