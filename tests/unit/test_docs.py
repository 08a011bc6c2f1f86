"""The README stays a newcomer's page (at most 12 KB) and no relative link in it, or in the operator and service
pages it sends readers to, points at a file or heading that does not exist."""

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
CHECKED = ["README.md", "docs/operations.md", "docs/testing.md", "docs/delivery.md", "docs/services/intake.md",
           "docs/services/sync.md"]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", path.read_text(encoding="utf-8"))
    return {slug(m[1]) for m in re.finditer(r"(?m)^#{1,6}\s+(.+?)\s*#*$", text)}


def links(doc: str) -> list[str]:
    text = re.sub(r"(?ms)^```.*?^```", "", (REPO / doc).read_text(encoding="utf-8"))
    return [t for t in LINK.findall(text) if not re.match(r"^[a-z]+:", t)]


def test_readme_is_at_most_12_kb() -> None:
    assert len((REPO / "README.md").read_bytes()) <= 12 * 1024


def test_readme_keeps_the_two_commands() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert "make run    # set up, start Kafka + FerretDB" in text and "\nmake test   # " in text


def test_the_counts_of_services_agree() -> None:
    """Six services and the staff console: what the registry runs, what the README and the Makefile say."""
    from services.registry import SERVICES

    assert len(SERVICES) == 7 and "console" in SERVICES
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "Six message-driven Python services and the staff console" in readme
    assert "the six services and the staff console" in makefile
    for text in (readme, makefile):
        assert not re.search(r"\b(five|seven) services\b", text)


@pytest.mark.parametrize("doc", CHECKED)
def test_every_relative_link_resolves(doc: str) -> None:
    found = links(doc)
    assert found or doc != "README.md"
    for target in found:
        path, _, anchor = target.partition("#")
        file = (REPO / doc).parent / path if path else REPO / doc
        assert file.exists(), f"{doc}: {target} does not exist"
        if anchor and file.suffix == ".md":
            assert anchor in anchors(file), f"{doc}: no heading #{anchor} in {file.relative_to(REPO)}"


def test_every_alert_has_a_runbook_entry() -> None:
    import yaml

    rules = yaml.safe_load((REPO / "deploy/prometheus/alerts.yml").read_text(encoding="utf-8"))
    alerts = [r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r]
    runbook = (REPO / "docs/operations.md").read_text(encoding="utf-8").split("## Alert runbook", 1)[1]
    runbook = runbook.split("\n## ", 1)[0]
    assert alerts and [a for a in alerts if f"**{a}**" not in runbook] == []
