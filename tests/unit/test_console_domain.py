"""The console's pure core: who-am-I and menus, the case read model, search parsing, the organisation check."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import yaml

from services.console import domain
from shared.org import load_organisation

ORG = load_organisation()
ORG_FILE = Path(__file__).resolve().parents[2] / "shared" / "data" / "kaihua.yaml"
T0 = datetime(2026, 3, 2, 9, 15, tzinfo=timezone(timedelta(hours=8)))


def test_who_names_role_and_unit_in_words_and_gives_the_role_its_menu() -> None:
    department = ORG.departments[1]
    me = domain.who("wang.wu", "王五", "unit_handler", department.code, ORG)
    assert me["role_name"] == "承办单位经办人" and me["unit_name"] == department.name
    assert [m["page"] for m in me["menu"]][0] == "inbox"
    assert "triage" not in [m["page"] for m in me["menu"]] and "admin" not in [m["page"] for m in me["menu"]]
    assert domain.who("li.si", None, "leader", None, ORG)["name"] == "li.si"
    for role in domain.MENU:
        pages = [m["page"] for m in domain.menu_for(role)]
        assert "search" in pages and all(p in domain.PAGES for p in pages)
        assert ("admin" in pages) == (role == "admin")


def test_registered_then_assigned_fills_the_search_fields_and_units() -> None:
    fields, entry = domain.case_change(None, event_id="e1", event_type="case.registered", occurred_at=T0, data={
        "tracking_no": "QH2026030200001", "channel": "hotline", "content": "停电" * 400,
        "enterprise": {"name": "开化县某某纸业有限公司 ", "contact_phone": "138****0000"}})
    assert fields["tracking_no"] == "QH2026030200001" and fields["enterprise_key"] == "开化县某某纸业有限公司"
    assert len(fields["content"]) == domain.CONTENT_CHARS and fields["last_event"] == "case.registered"
    assert entry["summary"] == {"channel": "hotline", "tracking_no": "QH2026030200001"}
    assert "enterprise" not in entry["summary"]  # contact data never reaches the timeline
    doc = {**fields, "updated_at": T0.astimezone(UTC).replace(tzinfo=None)}
    assigned, _ = domain.case_change(doc, event_id="e2", event_type="case.assigned",
                                     occurred_at=T0 + timedelta(seconds=2),
                                     data={"department": "fagai", "co_departments": ["jingxin"], "complexity": "simple",
                                           "due_at": "2026-03-03T09:15:00+08:00", "escalation_level": 0})
    assert assigned["units"] == ["fagai", "jingxin"] and assigned["due_at"] == "2026-03-03T09:15:00+08:00"
    assert assigned["last_event"] == "case.assigned"


def test_a_late_older_event_does_not_move_the_status_back() -> None:
    doc = {"updated_at": (T0 + timedelta(hours=1)).astimezone(UTC).replace(tzinfo=None), "last_event": "case.resolved"}
    fields, entry = domain.case_change(doc, event_id="e0", event_type="case.accepted", occurred_at=T0,
                                       data={"department": "fagai", "by": "wang.wu"})
    assert "last_event" not in fields and entry["type"] == "case.accepted"


def test_timeline_is_oldest_first_with_labels_whatever_the_arrival_order() -> None:
    entries = [{"event_id": "b", "type": "case.assigned", "at": T0 + timedelta(minutes=1), "summary": {}},
               {"event_id": "a", "type": "case.registered", "at": T0.astimezone(UTC).replace(tzinfo=None),
                "summary": {}},
               {"event_id": "c", "type": "case.future", "at": T0 + timedelta(minutes=2), "summary": {}}]
    out = domain.timeline(entries)
    assert [e["event_id"] for e in out] == ["a", "b", "c"]
    assert [e["label"] for e in out] == ["受理登记", "交办", "其他记录"]  # never a raw event code


def test_search_reads_a_tracking_number_exactly_and_anything_else_as_text() -> None:
    assert domain.search_query(" qh2026030200001 ") == {"kind": "tracking_no", "value": "QH2026030200001"}
    assert domain.search_query("")["kind"] == "recent"
    text = domain.search_query("纸业(开化)")
    assert text["kind"] == "text" and text["pattern"] == r"纸业\(开化\)"  # typed text is never a regex


def org_text(**changes: object) -> str:
    raw = yaml.safe_load(ORG_FILE.read_text(encoding="utf-8"))
    raw.update(changes)
    return yaml.safe_dump(raw, allow_unicode=True)


def test_an_edited_organisation_file_is_checked_and_its_changes_listed() -> None:
    base = yaml.safe_load(org_text())
    regions = base["regions"] + [{"code": "newtown", "name": "新设镇", "kind": "town"}]
    departments = [dict(d, name=d["name"] + "（新）") if i == 0 else d for i, d in enumerate(base["departments"])]
    org, errors = domain.validate_org(org_text(regions=regions, departments=departments))
    assert errors == [] and org is not None
    changes = domain.org_changes(ORG, org)
    assert {"section": "regions", "code": "newtown", "change": "added"} in changes
    assert {"section": "departments", "code": base["departments"][0]["code"], "change": "changed",
            "fields": ["name"]} in changes
    assert domain.org_changes(ORG, ORG) == []


def test_a_broken_organisation_file_is_refused_naming_each_problem() -> None:
    base = yaml.safe_load(org_text())
    duplicated = base["regions"] + [base["regions"][0]]
    org, errors = domain.validate_org(org_text(regions=duplicated))
    assert org is None and any("duplicate codes in regions" in e["message"] for e in errors)
    org, errors = domain.validate_org(org_text(departments=[{"code": "x"}]))
    assert org is None and any(e["field"].startswith("departments.0") for e in errors)
    assert domain.validate_org("regions: [")[1][0]["field"] == "yaml"
    assert domain.validate_org("- just a list")[1][0]["field"] == "yaml"
