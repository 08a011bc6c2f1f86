"""The wheel as a county's IT staff would install it: built with `pip wheel --no-deps`, installed into a fresh
virtualenv outside the checkout, `python -m services.insight` started from it in a directory that is not the
checkout, and a PDF report produced through its API (the report template, fonts and charts come from the
installed package). The wheel also holds every non-Python file of the packages (templates, static, data).

The new virtualenv gets the dependencies from the project's own virtualenv (a .pth line to its site-packages,
whose own .pth files - the checkout's editable install - are not read), so nothing is downloaded but the
build backend the first time."""

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.integration.harness import REPO, Namespace, PlatformProcess, staff_headers

pytestmark = pytest.mark.integration

SKIP_PARTS = {"__pycache__"}


def data_files() -> set[str]:
    """Every file of the packages (shared, services) that is not Python source, as the checkout has it."""
    found = set()
    for top in ("shared", "services"):
        for path in (REPO / top).rglob("*"):
            if path.is_file() and path.suffix not in (".py", ".pyc") and not SKIP_PARTS & set(path.parts):
                found.add(path.relative_to(REPO).as_posix())
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(REPO)],
                   check=True, cwd=out, timeout=600)
    (built,) = out.glob("qhwy-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv outside the checkout with the wheel installed; returns its python."""
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               check=True, capture_output=True, text=True).stdout.strip())
    (site / "qhwy-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--quiet",
                    str(wheel)], check=True, cwd=venv, timeout=300)
    return python


def test_the_wheel_holds_every_template_static_and_data_file(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(data_files() - names)
    assert not missing, f"files the wheel lacks (pyproject.toml [tool.setuptools.package-data]): {missing}"
    assert "services/insight/templates/report.html" in names
    assert "shared/openapi/platform.openapi.yaml" in names


async def test_the_installed_insight_service_makes_a_pdf_report(installed: Path, ns: Namespace,
                                                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    found = subprocess.run([str(installed), "-c", "import services.insight, shared; print(services.insight.__file__)"],
                           check=True, capture_output=True, text=True, cwd=elsewhere,
                           env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}).stdout
    assert str(REPO) not in found and "site-packages" in found, found
    proc = PlatformProcess(ns, "services.insight", tmp_path_factory.mktemp("logs"))
    proc.env = {k: v for k, v in proc.env.items() if k != "PYTHONPATH"} | {"QHWY_DATA_DIR": str(elsewhere)}
    log = proc.log_path.open("ab")
    proc.proc = subprocess.Popen([str(installed), "-m", "services.insight"], cwd=elsewhere, env=proc.env,
                                 stdout=log, stderr=subprocess.STDOUT)
    try:
        await proc.wait_healthy(120)
        headers = staff_headers("leader")
        async with httpx.AsyncClient(base_url=proc.base_url, timeout=120) as http:
            made = await http.post("/api/v1/insight/reports", json={"period": "2026-03"}, headers=headers)
            assert made.status_code == 200, made.text
            pdf = await http.get("/api/v1/insight/reports/2026-03.pdf", headers=headers)
            assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf", pdf.text[:300]
            assert pdf.content.startswith(b"%PDF") and len(pdf.content) > 5000
            html = await http.get("/api/v1/insight/reports/2026-03.html", headers=headers)
            assert html.status_code == 200 and "<html" in html.text.lower()
            described = (await http.get("/openapi.json")).json()
            assert "/api/v1/insight/reports" in described["paths"]
            assert (await http.get("/docs")).status_code == 200
    finally:
        assert proc.stop() == 0, proc.logs()[-3000:]
