"""examples/resolution_subscriber.py: idempotent on event_id, skips unknown types and newer versions."""

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("resolution_subscriber", REPO / "examples/resolution_subscriber.py")
subscriber = importlib.util.module_from_spec(spec)
spec.loader.exec_module(subscriber)


def resolved(event_id="e1", version=1):
    return {"event_id": event_id, "type": "case.resolved", "version": version, "case_id": "c1",
            "occurred_at": "2026-03-02T09:00:00+08:00", "data": {"resolution": "已解决", "on_time": True, "by": "x"}}


def test_applies_once_per_event_id(tmp_path, capsys):
    seen = subscriber.SeenIds(tmp_path / "seen.json")
    assert subscriber.handle(resolved(), seen) == "applied"
    assert subscriber.handle(resolved(), seen) == "duplicate"
    assert capsys.readouterr().out.count("resolved") == 1
    again = subscriber.SeenIds(tmp_path / "seen.json")  # survives a restart
    assert subscriber.handle(resolved(), again) == "duplicate"


def test_skips_unknown_types_and_newer_versions(tmp_path):
    seen = subscriber.SeenIds(tmp_path / "seen.json")
    assert subscriber.handle({**resolved(), "type": "case.triaged"}, seen) == "skipped"
    assert subscriber.handle({**resolved(), "type": "case.something_new"}, seen) == "skipped"
    assert subscriber.handle(resolved("e2", version=2), seen) == "skipped"
    assert subscriber.handle({"type": "case.resolved"}, seen) == "skipped"
