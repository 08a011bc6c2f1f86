"""insight: text similarity (problem groups, case library) and the report (HTML, PDF with charts)."""

import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.insight import domain, library, report, similarity
from services.insight.settings import InsightSettings
from services.insight.synthetic import generate

TZ = ZoneInfo("Asia/Shanghai")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "insight"

TEXTS = ["我们公司申请电力增容三个月没有答复", "企业电力增容申请迟迟没有答复，影响生产", "申请电力增容一直没有答复",
         "招工困难，缺少技术工人", "企业招工难，技术工人招不到", "厂区门口道路坑洼，货车难以通行"]


def test_similar_problems_are_grouped_and_others_are_not() -> None:
    groups = similarity.group_texts(TEXTS, threshold=0.2)
    members = sorted(sorted(g.members) for g in groups)
    assert [0, 1, 2] in members and [3, 4] in members
    assert all(5 not in g.members for g in groups)
    power = next(g for g in groups if 0 in g.members)
    assert any("增容" in k or "电力" in k for k in power.keywords)


def test_grouping_degenerate_inputs() -> None:
    assert similarity.group_texts([], 0.3) == [] and similarity.group_texts(["一"], 0.3) == []
    assert similarity.group_texts(["", ""], 0.3) == []


def test_group_documents_keep_their_id_and_count_units() -> None:
    now = datetime(2026, 3, 20, tzinfo=TZ)
    cases = [{"_id": f"c{i}", "content": t, "received_at": now - timedelta(days=i), "department": "gongdian",
              "state": "resolved" if i % 2 else "assigned"} for i, t in enumerate(TEXTS)]
    found = similarity.group_texts([domain.case_text(c) for c in cases], 0.2)
    docs = domain.group_documents(found, cases, now, TZ)
    power = next(d for d in docs if "c0" in d["case_ids"])
    assert power["size"] == 3 and power["units"] == {"gongdian": 3} and power["solved"] == 1
    assert sum(p["count"] for p in power["trend"]) == 3
    again = domain.group_documents(similarity.group_texts([domain.case_text(c) for c in reversed(cases)], 0.2),
                                   list(reversed(cases)), now, TZ)
    assert power["_id"] in {d["_id"] for d in again}  # the id follows the earliest case, not the order


def test_only_resolved_cases_go_into_the_library_and_search_finds_them() -> None:
    now = datetime(2026, 3, 20, tzinfo=TZ)
    body = library.LibraryEntryBody(case_id="c1", title="电力增容快速办结",
                                    summary="供电公司上门勘察，一周内完成增容。")
    with pytest.raises(library.NotTypical):
        library.library_entry(body, {"state": "assigned"}, "li.si", now)
    power = library.library_entry(body, {"state": "resolved", "content": TEXTS[0], "resolution": "完成增容"}, "li.si",
                                  now)
    labour = library.library_entry(
        library.LibraryEntryBody(case_id="c2", title="招工专场", summary="人社局组织专场招聘会解决技术工人短缺"),
        {"state": "closed", "content": TEXTS[3]}, "li.si", now)
    found = library.search_library("工厂想申请电力增容", [labour, power], limit=5)
    assert found[0]["_id"] == "c1" and found[0]["score"] > 0
    assert library.search_library("", [power], 5) == []


def test_report_html_and_pdf(org) -> None:
    now = datetime(2026, 4, 2, 10, tzinfo=TZ)
    facts = list(domain.fold_all(generate(org, 600, datetime(2026, 1, 1, tzinfo=TZ), days=90)).values())

    def in_period(label: str) -> list[dict]:
        start, end = domain.period_range(label, TZ)
        return [f for f in facts if start <= f["received_at"] < end]

    trend = [(p, in_period(p)) for p in domain.periods_before("2026-03", 3)]
    cases = sorted(facts, key=lambda f: f["_id"])
    groups = domain.group_documents(similarity.group_texts([domain.case_text(f) for f in cases], 0.35), cases, now, TZ)
    warning = {"theme": groups[0]["_id"], "label": groups[0]["label"], "scope": "region", "scope_code": "majin",
               "window_start": now - timedelta(days=7), "window_end": now, "count": 5, "baseline": 1.0, "ratio": 5.0,
               "case_ids": []}
    content = report.assemble(label="2026-03", facts=trend[-1][1], trend=trend, groups=groups, warnings=[warning],
                              rules=InsightSettings().ranking_rules, org=org, now=now, tz=TZ)
    assert content["period_title"] == "2026年3月" and content["overall"]["received"]["n"] == len(trend[-1][1])
    assert content["themes"] and content["warnings"][0]["scope_name"] == "马金镇"
    from services.insight import charts

    html, pdf = report.generate(content, charts.cjk_font_file())
    assert "开化县服务企业报告" in html and "按期办结率" in html and "data:image/png;base64," in html
    assert "马金镇" in html and org.departments[0].name not in ("",)
    assert pdf.startswith(b"%PDF") and len(pdf) > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "report-2026-03.pdf").write_bytes(pdf)
    (ARTIFACTS / "report-2026-03.html").write_text(html, encoding="utf-8")
    if shutil.which("pdftoppm"):  # a look at the pages: test-artifacts/insight/page-*.png
        subprocess.run(["pdftoppm", "-r", "50", "-png", str(ARTIFACTS / "report-2026-03.pdf"),
                        str(ARTIFACTS / "page")], check=True)
        assert (ARTIFACTS / "page-1.png").exists()


def test_period_titles() -> None:
    assert report.period_title("2026-W10") == "2026年第10周（3月2日—3月8日）"
    assert report.period_title("2026-Q1") == "2026年第1季度" and report.period_title("2026") == "2026年"
    assert report.rate_text({"value": 0.98765, "n": 81}) == "98.8%（81件）"
    assert report.rate_text({"value": None, "n": 0}) == "—（0件）"
