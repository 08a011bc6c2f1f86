"""deploy/platform.env: the one settings file of both topologies (docker-compose.yml's env_file and
deploy/compose-local.sh). rating must reach intake, never itself; the config volume holds the files it names."""

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
PLATFORM = {name: spec for name, spec in COMPOSE["services"].items()
            if spec.get("command", [])[:3] == ["python", "-m", f"services.{name}"]}


def platform_env() -> dict[str, str]:
    lines = (REPO / "deploy/platform.env").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_every_service_reads_the_shared_env_file() -> None:
    assert len(PLATFORM) == 7
    for name, spec in PLATFORM.items():
        assert spec["env_file"] == ["deploy/platform.env"], name


def test_plain_lines_without_secrets_or_interpolation() -> None:
    for key, value in platform_env().items():
        assert re.fullmatch(r"QHWY_[A-Z0-9_]+", key), key
        assert not re.search(r"PASSWORD|SECRET|TOKEN", key), key
        assert "${" not in value and not value.startswith(("'", '"')), key


def test_rating_reaches_intake_and_the_public_origin() -> None:
    env = platform_env()
    assert env["QHWY_RATING_CONTACT_LOOKUP_URL"] == "http://intake:8000/api/v1/staff/cases/{case_id}/contact"
    assert env["QHWY_RATING_PROOF_URL"] == "http://intake:8000/api/v1/internal/proofs"
    assert env["QHWY_RATING_PUBLIC_BASE_URL"] == env["QHWY_INTAKE_PUBLIC_BASE_URL"]
    for name in PLATFORM:  # nothing in a service's own environment overrides them back to the container itself
        assert not any(k.startswith("QHWY_RATING_") for k in PLATFORM[name].get("environment", {})), name


def test_the_config_volume_holds_the_files_the_console_tells_admins_to_save() -> None:
    env = platform_env()
    for spec in PLATFORM.values():
        [volume] = [v for v in spec["volumes"] if v.endswith(":/etc/qhwy:ro")]
        assert volume.startswith("${QHWY_CONFIG_DIR:?")
    assert env["QHWY_STAFF_FILE"] == "/etc/qhwy/staff.yaml"
    assert env["QHWY_ORG_FILE"] == "/etc/qhwy/org.yaml"
    assert env["QHWY_HOLIDAYS_DIR"] == "/etc/qhwy/holidays"
