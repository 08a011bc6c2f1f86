"""Hostile text (tests/hostile.py) through every place insight, rating and the console show user text.

The report: enterprise names, complaint text, problem-group labels and keywords, warning labels typed by the
public go into the PDF (reportlab Paragraphs are markup), the HTML page (Jinja) and the charts (matplotlib
mathtext). Each must come out literally, and the PDF must never open a file named in the text.
"""

import re
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from services.insight import domain, report, similarity
from services.insight.settings import InsightSettings
from services.insight.synthetic import generate
from shared.masking import mask_text
from tests import hostile

TZ = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 4, 2, 10, tzinfo=TZ)
ROOT = Path(__file__).resolve().parents[2]

# ------------------------------------------------------------------ files opened while a report is drawn

_opened: list[str] | None = None


def _audit(event: str, args: tuple) -> None:
    if _opened is not None and event == "open" and isinstance(args[0], (str, bytes)):
        _opened.append(args[0].decode(errors="replace") if isinstance(args[0], bytes) else args[0])


sys.addaudithook(_audit)  # audit hooks cannot be removed; this one records only while `_opened` is a list


@pytest.fixture()
def opened() -> list[str]:
    global _opened
    _opened = []
    try:
        yield _opened
    finally:
        _opened = None


# ------------------------------------------------------------------ a report full of hostile text

TEXTS = list(hostile.HOSTILE.values())


def _content(org, extra: list[str] = ()) -> dict:
    """March's report where every overdue and every dissatisfied case has a hostile enterprise name and text,
    and the first problem group and the warning have hostile labels and keywords."""
    facts = list(domain.fold_all(generate(org, 600, datetime(2026, 1, 1, tzinfo=TZ), days=90)).values())
    start, end = domain.period_range("2026-03", TZ)
    march = sorted((f for f in facts if start <= f["received_at"] < end), key=lambda f: f["_id"])
    texts = TEXTS + list(extra)
    shown = [f for f in march if domain.overdue_days(f, NOW) is not None or domain.COUNTS["dissatisfied"](f)]
    assert len(shown) >= len(texts)
    for i, f in enumerate(shown):
        f["enterprise"] = texts[i % len(texts)]
        f["content"] = texts[(i + 1) % len(texts)]
    groups = domain.group_documents(similarity.group_texts([domain.case_text(f) for f in march], 0.35), march, NOW, TZ)
    groups[0]["label"], groups[0]["keywords"] = hostile.MATHTEXT, [hostile.RL_UNCLOSED, hostile.XSS_SCRIPT]
    groups[1]["label"], groups[1]["keywords"] = hostile.RL_IMAGE_PASSWD, [hostile.FORMULA_HYPERLINK]
    warning = {"theme": groups[0]["_id"], "label": hostile.XSS_ATTRIBUTE, "scope": "region", "scope_code": "majin",
               "window_start": NOW, "window_end": NOW, "count": 5, "baseline": 1.0, "ratio": 5.0, "case_ids": []}
    return report.assemble(label="2026-03", facts=march, trend=[("2026-03", march)], groups=groups, warnings=[warning],
                           rules=InsightSettings().ranking_rules, org=org, now=NOW, tz=TZ, list_limit=200)


@pytest.fixture(scope="module")
def font() -> str:
    from services.insight import charts

    return charts.cjk_font_file()


def test_the_pdf_shows_every_hostile_text_literally(org, font, opened) -> None:
    content = _content(org)
    html, pdf = report.generate(content, font)  # today: ValueError (a $ in a chart label; <b in a cell)
    assert pdf.startswith(b"%PDF")
    text = hostile.squeeze(hostile.pdf_text(pdf))
    for name, hostile_text in hostile.HOSTILE.items():
        assert hostile.squeeze(hostile_text) in text, name
    # not rendered as markup: the tags are there as text, and no link annotation was made of <a href>
    assert hostile.squeeze('<a href="http://evil.example/">点我领补贴</a>') in text
    assert b"/URI" not in pdf
    assert hostile.pdf_images(pdf) == 3  # the three charts, nothing else
    assert "/etc/passwd" not in opened


def test_the_pdf_never_opens_a_file_named_in_user_text(org, font, opened) -> None:
    import shutil
    import tempfile

    from PIL import Image

    folder = tempfile.mkdtemp(prefix="q", dir="/tmp")  # short: the whole tag fits in a 40-character cell
    canary = Path(folder) / "c.png"
    Image.new("RGB", (8, 8), "red").save(canary)
    tag = hostile.image_tag(str(canary))
    assert len(tag) < 40
    content = _content(org, extra=[tag])
    opened.clear()
    pdf = report.render_pdf(content, report.draw_charts(content, font), font)
    assert str(canary) not in opened and "/etc/passwd" not in opened
    assert hostile.pdf_images(pdf) == 3  # today: 4, the canary embedded
    assert hostile.squeeze(tag) in hostile.squeeze(hostile.pdf_text(pdf))
    shutil.rmtree(folder)


def test_a_megabyte_of_hostile_text_still_gives_a_report(org, font) -> None:
    big = hostile.megabyte()
    assert len(big.encode()) >= 1_000_000
    content = _content(org, extra=[big])
    html, pdf = report.generate(content, font)  # today: LayoutError, a table cell taller than the page
    assert pdf.startswith(b"%PDF")
    text = hostile.squeeze(hostile.pdf_text(pdf))
    assert hostile.squeeze(big[:59] + "…") in text  # the enterprise name, cut to 60 characters
    assert hostile.squeeze(big[:39] + "…") in text  # the complaint, cut to 40
    assert hostile.html_escaped(big[:99] + "…") in html
    assert len(html) < 2_000_000


def test_the_html_report_escapes_every_hostile_text(org, font) -> None:
    content = _content(org)
    html = report.render_html(content, report.draw_charts(content, font))
    for name, hostile_text in hostile.HOSTILE.items():
        assert hostile.html_escaped(hostile_text) in html, name
    assert "<script>alert" not in html and "<img src=x" not in html and "<font" not in html
    assert '<a href="http://evil' not in html and '<img src="/etc/passwd"' not in html
    # by hand, one of them: what the browser receives for "><img src=x onerror=alert(1)>
    assert "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in html


def test_pdf_text_escapes_markup_and_cuts_before_escaping() -> None:
    assert report.pdf_text("产值<5000万元 & 用工>200人") == "产值&lt;5000万元 &amp; 用工&gt;200人"
    assert report.pdf_text('<img src="/etc/passwd"/>') == '&lt;img src="/etc/passwd"/&gt;'
    assert report.pdf_text("拖欠<b") == "拖欠&lt;b"
    assert report.pdf_text("&nbsp;") == "&amp;nbsp;"
    assert report.pdf_text("a\x00b\x1bc\td") == "abc\td"
    assert report.pdf_text("<<<<<", 3) == "&lt;&lt;…"  # never a cut entity like "&l"
    assert report.pdf_text(42) == "42"


def test_chart_labels_from_user_text_are_not_mathtext(font) -> None:
    from services.insight import charts

    png = charts.themes_chart(font, [hostile.MATHTEXT, "$x^{$", hostile.RL_UNCLOSED], [3, 2, 1])  # today: ValueError
    assert png.startswith(b"\x89PNG")
    png = charts.unit_rates_chart(font, [hostile.MATHTEXT], {"按期办结率": [0.5]})
    assert png.startswith(b"\x89PNG")


# ------------------------------------------------------------------ rating's page, the console

def test_the_rating_page_escapes_what_staff_and_enterprises_wrote() -> None:
    from services.rating.routes import TEMPLATES

    status = {"tracking_no": hostile.XSS_ATTRIBUTE, "case_id": "c1", "rectification": False,
              "resolution": hostile.XSS_SCRIPT + hostile.RL_LINK,
              "levels": [{"code": "satisfied", "name": hostile.XSS_SCRIPT}]}
    page = TEMPLATES.get_template("rate.html").render(title=hostile.RL_FONT, message=hostile.XSS_ATTRIBUTE,
                                                      error=True, form=True, status=status, action="/e/rate/x")
    for text in (hostile.XSS_ATTRIBUTE, hostile.XSS_SCRIPT + hostile.RL_LINK, hostile.RL_FONT):
        assert hostile.html_escaped(text) in page
    assert "<script>" not in page and "<img" not in page and "<font" not in page and '<a href="http' not in page


def test_the_console_writes_user_text_as_text_never_as_html() -> None:
    script = (ROOT / "services/console/static/console.js").read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in script, sink
    # every element is made by h(), which appends strings as text nodes and sets attributes one by one
    assert "document.createTextNode(String(child))" in script
    hrefs = re.findall(r"href: `([^`]*)`", script)
    assert hrefs and all(h.startswith("#/") for h in hrefs)  # links are the console's own routes, ids encoded


def test_masking_leaves_hostile_text_as_it_was() -> None:
    for name, hostile_text in hostile.HOSTILE.items():
        assert mask_text(hostile_text) == hostile_text, name
