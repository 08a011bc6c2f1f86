"""The backup names every service's database without asking the server for a list (FerretDB's is slow)."""

from services.registry import SERVICES
from shared.backup import SERVICE_DATABASES


def test_the_backup_knows_every_service():
    assert set(SERVICE_DATABASES) == set(SERVICES)
