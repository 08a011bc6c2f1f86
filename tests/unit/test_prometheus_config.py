"""deploy/prometheus/prometheus.yml checks outside the container: its rule files are relative (Prometheus resolves
them against the config file's directory), exist beside it in the checkout, and are mounted beside it in compose.
With promtool available (on PATH or QHWY_PROMTOOL; `go build ./cmd/promtool` in a prometheus checkout),
`promtool check config` passes from any working directory."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "deploy" / "prometheus" / "prometheus.yml"


def test_rule_files_resolve_beside_the_config_in_the_checkout_and_in_compose() -> None:
    config = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    rules = config["rule_files"]
    assert rules and all(not Path(r).is_absolute() for r in rules), rules
    for rule in rules:
        assert (CONFIG.parent / rule).is_file(), rule
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    prometheus = compose["services"]["prometheus"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in prometheus["volumes"] if v.startswith("./")}
    config_in_container = next(a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file="))
    for rule in rules:
        inside = str(Path(config_in_container).parent / rule)
        assert inside in mounts, f"{inside} is not mounted in docker-compose.yml"
        assert (REPO / mounts[inside]).resolve() == (CONFIG.parent / rule).resolve()


def test_promtool_checks_the_config_from_anywhere(tmp_path: Path) -> None:
    promtool = os.environ.get("QHWY_PROMTOOL") or shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (set QHWY_PROMTOOL)")
    result = subprocess.run([promtool, "check", "config", str(CONFIG)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "alerts.yml" in result.stdout + result.stderr
