"""服务企业报告: the weekly and monthly report for county leadership, as an HTML page and a PDF.

`assemble` is pure (facts, groups, warnings -> the report's content); `render_html` (jinja2) and `render_pdf`
(reportlab, pure Python) lay out the same content with the same charts (charts.py).

Enterprise names, complaint text, problem-group labels and keywords are typed by the public: they are shown
literally. The HTML template escapes them (autoescape); in the PDF every string goes through `pdf_text`
before it becomes a reportlab Paragraph, whose text is markup (an unescaped `<` failed the whole report,
`<font>` and `<a href>` rendered, `<img src=...>` made the server open a local file).
"""

import base64
import io
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.insight import charts, domain
from shared.org import Organisation

RATE_FIGURES = ("on_time_rate", "resolution_rate", "satisfaction_rate")
SOURCE_COLUMNS = (("enterprise", "企业评价"), ("business_office", "营商办评价"), ("third_party", "第三方评价"))
TEMPLATES = Path(__file__).parent / "templates"


def period_title(label: str) -> str:
    first, after = domain.period_days(label)
    last = after - timedelta(days=1)
    kind = domain.period_kind(label)
    span = f"{first.month}月{first.day}日—{last.month}月{last.day}日"
    if kind == "week":
        return f"{first.isocalendar()[0]}年第{first.isocalendar()[1]}周（{span}）"
    if kind == "month":
        return f"{first.year}年{first.month}月"
    if kind == "quarter":
        return f"{first.year}年第{(first.month - 1) // 3 + 1}季度"
    return f"{first.year}年"


def rate_text(figure: dict[str, Any]) -> str:
    value = figure.get("value")
    shown = "—" if value is None else f"{value * 100:.1f}%"
    return f"{shown}（{figure['n']}件）"


def names(org: Organisation) -> dict[str, dict[str, str]]:
    return {"unit": {d.code: d.name for d in org.departments},
            "region": {r.code: r.name for r in org.regions},
            "rating": {r.code: r.name for r in org.rating_levels}}


def _named(brief: dict[str, Any], lookup: dict[str, dict[str, str]]) -> dict[str, Any]:
    return {**brief, "department_name": lookup["unit"].get(brief.get("department") or "", brief.get("department")),
            "region_name": lookup["region"].get(brief.get("region") or "", brief.get("region"))}


def assemble(*, label: str, facts: list[dict[str, Any]], trend: list[tuple[str, list[dict[str, Any]]]],
             groups: list[dict[str, Any]], warnings: list[dict[str, Any]], rules: list[Any], org: Organisation,
             now: datetime, tz: ZoneInfo, list_limit: int = 20, recurrences: dict[str, list[str]] | None = None,
             officers: dict[str, str] | None = None) -> dict[str, Any]:
    """The content of one report. `trend`: (period, its facts) for the periods ending with `label`;
    `recurrences`: 回头件 of the period by the unit that closed the earlier case; `officers`: liaison names."""
    lookup = names(org)
    weights = org.evaluation_weights.as_dict()
    overall = domain.figures(facts, now, weights=weights)
    by_unit = domain.figures_by(facts, "unit", now, weights=weights)
    domain.add_recurrences(by_unit, recurrences or {})
    overall["closed_recurrences"] = {"value": sum(len(v) for v in (recurrences or {}).values()), "n": 0}
    units = [{"code": code, "name": lookup["unit"].get(code, code), "figures": figs}
             for code, figs in by_unit.items()]
    units.sort(key=lambda u: (-u["figures"]["received"]["value"], u["code"]))
    regions = [{"code": code, "name": lookup["region"].get(code, code), "figures": figs}
               for code, figs in domain.figures_by(facts, "region", now, weights=weights).items()]
    regions.sort(key=lambda r: (-r["figures"]["received"]["value"], r["code"]))
    late = sorted(((days, f) for f in facts if (days := domain.overdue_days(f, now)) is not None),
                  key=lambda item: (-item[0], item[1]["_id"]))
    unhappy = sorted((f for f in facts if domain.COUNTS["dissatisfied"](f, domain.record_of(f))),
                     key=lambda f: f["_id"])
    in_period = {f["_id"] for f in facts}
    themes = []
    for group in groups:
        ids = set(group.get("case_ids", []))
        themes.append({"id": group["_id"], "label": group["label"], "keywords": group.get("keywords", []),
                       "size": group["size"], "in_period": len(ids & in_period), "solved": group.get("solved", 0),
                       "units": [lookup["unit"].get(u, u) for u in sorted(group.get("units", {}),
                                                                          key=lambda u: -group["units"][u])][:3]})
    themes.sort(key=lambda t: (-t["in_period"], -t["size"], t["id"]))
    ranked = domain.rankings(rules, facts, now)
    for side in ranked.values():
        for board in side:
            for entry in board["entries"]:
                entry["name"] = lookup.get(board["dimension"], {}).get(entry["key"], entry["key"]) \
                    if board["kind"] != "overdue_cases" else entry["cases"][0].get("tracking_no") or entry["key"]
    return {
        "id": label, "period": label, "kind": domain.period_kind(label),
        "title": f"{org.county.name}服务企业报告", "period_title": period_title(label),
        "generated_at": now.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
        "overall": overall,
        "trend": [{"period": p, "figures": domain.figures(fs, now, weights=weights)} for p, fs in trend],
        "weights": weights,
        "liaison": domain.liaison_board(facts, officers or {})[:30],
        "units": units, "regions": regions,
        "overdue": [_named(domain.case_brief(f, now), lookup) for _, f in late[:list_limit]],
        "overdue_total": len(late),
        "dissatisfied": [_named({**domain.case_brief(f, now),
                                 "rating": lookup["rating"].get(f.get("rating_level") or "", f.get("rating_level"))},
                                lookup) for f in unhappy[:list_limit]],
        "dissatisfied_total": len(unhappy),
        "themes": themes[:10],
        "warnings": [{**w, "scope_name": lookup["region"].get(w["scope_code"], w["scope_code"])
                      if w["scope"] == "region" else w["scope_code"]} for w in warnings],
        "rankings": ranked,
    }


def draw_charts(content: dict[str, Any], font_file: str) -> dict[str, bytes]:
    rate_names = {domain.FIGURE_NAMES[name]: name for name in RATE_FIGURES}
    out = {"trend": charts.trend_chart(
        font_file, [t["period"] for t in content["trend"]],
        [t["figures"]["received"]["value"] for t in content["trend"]],
        {shown: [t["figures"][name]["value"] for t in content["trend"]] for shown, name in rate_names.items()})}
    units = content["units"][:15]
    if units:
        out["units"] = charts.unit_rates_chart(
            font_file, [u["name"] for u in units],
            {shown: [u["figures"][name]["value"] for u in units] for shown, name in rate_names.items()})
    if content["themes"]:
        out["themes"] = charts.themes_chart(font_file, [_short(t["label"], 18) for t in content["themes"]],
                                            [t["size"] for t in content["themes"]])
    return out


def _short(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


CELL_LIMIT = 200  # characters of one table cell in the PDF: a cell taller than a page cannot be laid out
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def pdf_text(value: Any, limit: int | None = None) -> str:
    """Any value as the text of a reportlab Paragraph that shows it literally: cut to `limit` characters (then
    escaped, so an entity is never cut), control characters (no glyph, no meaning in a report) dropped, and
    & < > escaped, so nothing in it is ever taken for markup."""
    text = _CONTROL.sub("", str(value))
    return escape(_short(text, limit) if limit else text)


_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
_env.filters["rate"] = rate_text
_env.filters["short"] = _short



def _setup_env() -> None:
    _env.filters["percent"] = percent
    _env.globals["evaluation_note"] = evaluation_note
    _env.globals["source_columns"] = SOURCE_COLUMNS


def render_html(content: dict[str, Any], images: dict[str, bytes]) -> str:
    encoded = {name: base64.b64encode(png).decode() for name, png in images.items()}
    return _env.get_template("report.html").render(r=content, images=encoded, names=domain.FIGURE_NAMES,
                                                   rate_figures=RATE_FIGURES)


def render_pdf(content: dict[str, Any], images: dict[str, bytes], font_file: str) -> bytes:
    pdf = _PdfStory(images, font_file)
    _pdf_overview(pdf, content)
    _pdf_units(pdf, content)
    _pdf_problems(pdf, content)
    _pdf_themes(pdf, content)
    _pdf_boards(pdf, content)
    return pdf.build(content)


class _PdfStory:
    """The PDF's flowables in order, with its styles, text width and chart images (reportlab is imported here, when
    a PDF is first made)."""

    def __init__(self, images: dict[str, bytes], font_file: str):
        from reportlab.lib import colors
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.styles import ParagraphStyle
        from reportlab.lib.units import mm
        from reportlab.pdfbase import pdfmetrics
        from reportlab.pdfbase.ttfonts import TTFont

        if "QhwyCJK" not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(TTFont("QhwyCJK", font_file, subfontIndex=0))
        self.body = ParagraphStyle("body", fontName="QhwyCJK", fontSize=9.5, leading=14, wordWrap="CJK")
        self.small = ParagraphStyle("small", parent=self.body, fontSize=8, leading=11)
        self.h1 = ParagraphStyle("h1", parent=self.body, fontSize=18, leading=24, alignment=1, spaceAfter=4)
        self.h2 = ParagraphStyle("h2", parent=self.body, fontSize=12.5, leading=18, spaceBefore=8, spaceAfter=4,
                                 textColor=colors.HexColor("#08306b"))
        self.sub = ParagraphStyle("sub", parent=self.body, alignment=1)
        self.width = A4[0] - 36 * mm
        self.images = images
        self.items: list[Any] = []

    def para(self, text: Any, style: Any = None) -> Any:
        from reportlab.platypus import Paragraph

        return Paragraph(pdf_text(text), style or self.body)

    def table(self, rows: list[list[Any]], widths: list[float]) -> Any:
        from reportlab.lib import colors
        from reportlab.platypus import Paragraph, Table, TableStyle

        cells = [[Paragraph(pdf_text(c, CELL_LIMIT), self.small) for c in row] for row in rows]
        t = Table(cells, colWidths=[w * self.width for w in widths], repeatRows=1)
        t.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                               ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#deebf7")),
                               ("VALIGN", (0, 0), (-1, -1), "TOP")]))
        return t

    def table_or(self, header: list[str], rows: list[list[Any]], widths: list[float], empty: str) -> Any:
        """A table of `rows` under `header`, or the sentence `empty` when there are none."""
        return self.table([header] + rows, widths) if rows else self.para(empty)

    def image(self, name: str) -> Any:
        from reportlab.lib.utils import ImageReader
        from reportlab.platypus import Image

        png = self.images[name]
        w, h = ImageReader(io.BytesIO(png)).getSize()
        return Image(io.BytesIO(png), width=self.width, height=self.width * h / w)

    def build(self, content: dict[str, Any]) -> bytes:
        """The PDF of the story, each page with the report's title and its page number at the foot."""
        from reportlab.lib.pagesizes import A4
        from reportlab.lib.units import mm
        from reportlab.platypus import SimpleDocTemplate

        def footer(canvas: Any, doc: Any) -> None:
            canvas.setFont("QhwyCJK", 8)
            canvas.drawCentredString(A4[0] / 2, 10 * mm,
                                     f"{content['title']} · {content['period_title']} · 第{doc.page}页")

        buffer = io.BytesIO()
        SimpleDocTemplate(buffer, pagesize=A4, leftMargin=18 * mm, rightMargin=18 * mm, topMargin=16 * mm,
                          bottomMargin=16 * mm, title=f"{content['title']} {content['period_title']}",
                          author="企呼我应").build(self.items, onFirstPage=footer, onLaterPages=footer)
        return buffer.getvalue()


def _pdf_overview(pdf: _PdfStory, content: dict[str, Any]) -> None:
    from reportlab.platypus import Spacer

    o = content["overall"]
    pdf.items += [
        pdf.para(content["title"], pdf.h1),
        pdf.para(f"{content['period_title']}　　生成时间：{content['generated_at']}", pdf.sub),
        Spacer(1, 6),
        pdf.para("一、总体情况", pdf.h2),
        pdf.para(summary_text(content)),
        pdf.table([["指标", "数值（依据件数）"]] + [[domain.FIGURE_NAMES[k], figure_text(k, o[k])]
                                                for k in SUMMARY_FIGURES], [0.4, 0.6]),
        Spacer(1, 4), pdf.image("trend"),
    ]


def _pdf_units(pdf: _PdfStory, content: dict[str, Any]) -> None:
    pdf.items.append(pdf.para("二、各单位办理情况", pdf.h2))
    if "units" in pdf.images:
        pdf.items.append(pdf.image("units"))
    header = ["单位", "受理", "签收", "按期办结率", "解决率", "满意率", "超期", "不满意", "回头件"]
    pdf.items.append(pdf.table([header] + [
        [u["name"], u["figures"]["received"]["value"], u["figures"]["accepted"]["value"],
         rate_text(u["figures"]["on_time_rate"]), rate_text(u["figures"]["resolution_rate"]),
         rate_text(u["figures"]["satisfaction_rate"]), u["figures"]["overdue"]["value"],
         u["figures"]["dissatisfied"]["value"], u["figures"]["closed_recurrences"]["value"]] for u in content["units"]],
        [0.2, 0.07, 0.07, 0.14, 0.14, 0.14, 0.08, 0.08, 0.08]))
    pdf.items.append(pdf.para(evaluation_note(content), pdf.small))
    pdf.items.append(pdf.table([["单位", *(name for _, name in SOURCE_COLUMNS), "综合满意率"]] + [
        [u["name"], *(rate_text(u["figures"]["evaluation"][s]) for s, _ in SOURCE_COLUMNS),
         percent(u["figures"]["evaluation"]["combined"])] for u in content["units"]],
        [0.24, 0.19, 0.19, 0.19, 0.19]))


def _pdf_problems(pdf: _PdfStory, content: dict[str, Any]) -> None:
    """Sections three and four: the overdue cases and the ones rated unsatisfied."""
    pdf.items.append(pdf.para(f"三、超期问题（共{content['overdue_total']}件）", pdf.h2))
    pdf.items.append(pdf.table_or(["受理编号", "单位", "企业", "问题", "超期天数"], [
        [c["tracking_no"] or c["case_id"], c["department_name"] or "", _short(c["enterprise"] or "", 60),
         _short(c["content"], 40), c["overdue_days"]] for c in content["overdue"]], [0.18, 0.17, 0.2, 0.35, 0.1],
        "本期无超期问题。"))
    pdf.items.append(pdf.para(f"四、不满意问题（共{content['dissatisfied_total']}件）", pdf.h2))
    pdf.items.append(pdf.table_or(["受理编号", "单位", "企业", "问题", "评价"], [
        [c["tracking_no"] or c["case_id"], c["department_name"] or "", _short(c["enterprise"] or "", 60),
         _short(c["content"], 40), c["rating"] or ""] for c in content["dissatisfied"]],
        [0.18, 0.17, 0.2, 0.33, 0.12], "本期无不满意问题。"))


def _pdf_themes(pdf: _PdfStory, content: dict[str, Any]) -> None:
    """Sections five and six: the common problems (举一反三) and the early warnings."""
    from reportlab.platypus import PageBreak

    pdf.items += [PageBreak(), pdf.para("五、高频共性问题（举一反三）", pdf.h2)]
    if "themes" in pdf.images:
        pdf.items.append(pdf.image("themes"))
    pdf.items.append(pdf.table_or(["共性问题", "关键词", "累计件数", "本期件数", "已解决", "主要单位"], [
        [_short(t["label"], 40), _short("、".join(t["keywords"]), 60), t["size"], t["in_period"], t["solved"],
         "、".join(t["units"])] for t in content["themes"]], [0.32, 0.2, 0.1, 0.1, 0.1, 0.18], "暂无共性问题。"))
    pdf.items.append(pdf.para("六、苗头性问题预警", pdf.h2))
    pdf.items.append(pdf.table_or(["共性问题", "范围", "近期件数", "常态件数", "倍数"], [
        [_short(w.get("label", w["theme"]), 40), w["scope_name"], w["count"], w["baseline"], w["ratio"]]
        for w in content["warnings"]], [0.4, 0.2, 0.13, 0.13, 0.14], "本期无预警。"))


def _pdf_boards(pdf: _PdfStory, content: dict[str, Any]) -> None:
    """Sections seven and eight: the 红榜 and 黑榜, and the liaison officers' ranking."""
    pdf.items.append(pdf.para("七、晾晒（红榜与黑榜）", pdf.h2))
    for side, side_name in (("positive", "红榜"), ("negative", "黑榜")):
        for board in content["rankings"][side]:
            pdf.items.append(pdf.para(f"【{side_name}】{board['name']}"))
            if board["entries"]:
                pdf.items.append(pdf.table([["对象", "数值", "依据件数", "相关问题数"]] + [
                    [e["name"], board_value(board, e), e["n"], len(e["case_ids"])] for e in board["entries"]],
                    [0.4, 0.2, 0.2, 0.2]))
            else:
                pdf.items.append(pdf.para("无。", pdf.small))
    pdf.items.append(pdf.para("八、助企联络员晾晒", pdf.h2))
    pdf.items.append(pdf.table_or(["名次", "联络员", "走访次数", "发现问题", "解决问题", "满意率"], [
        [e["place"], e["name"], e["visits"], e["found"], e["solved"], rate_text(e["satisfaction"])]
        for e in content["liaison"]], [0.08, 0.28, 0.14, 0.14, 0.14, 0.22], "本期无助企联络员发现的问题。"))


SUMMARY_FIGURES = ("received", "accepted", "response_hours", "on_time_rate", "resolution_rate", "satisfaction_rate",
                   "dissatisfied", "overdue", "reopened", "escalated", "duplicates")


def figure_text(name: str, figure: dict[str, Any]) -> str:
    if name in RATE_FIGURES:
        return rate_text(figure)
    if name == "response_hours":
        value = figure["value"]
        return f"{'—' if value is None else value}小时（中位数{figure.get('median') or '—'}小时，{figure['n']}件）"
    return f"{figure['value']}件（共{figure['n']}件）"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def evaluation_note(content: dict[str, Any]) -> str:
    w = content["weights"]
    return (f"评价来源：企业评价为主，营商办评价和第三方评价为辅；综合满意率为各来源满意率的加权平均（权重 企业"
            f"{w['enterprise']:g}、营商办{w['business_office']:g}、第三方{w['third_party']:g}，无评价的来源不计）。"
            f"回头件：销号后同一问题再次反映，计入原销号单位。")


def board_value(board: dict[str, Any], entry: dict[str, Any]) -> str:
    if board["kind"] == "overdue_cases":
        return f"超期{entry['value']}天"
    if board["metric"] in RATE_FIGURES:
        return f"{entry['value'] * 100:.1f}%"
    return str(entry["value"])


def summary_text(content: dict[str, Any]) -> str:
    o = content["overall"]
    return (f"本期共受理企业问题{o['received']['value']}件，单位已签收{o['accepted']['value']}件，"
            f"已办结{o['resolved']['value']}件；按期办结率{rate_text(o['on_time_rate'])}，"
            f"解决率{rate_text(o['resolution_rate'])}，满意率{rate_text(o['satisfaction_rate'])}；"
            f"超期{o['overdue']['value']}件，不满意评价{o['dissatisfied']['value']}次，"
            f"回头件{o['closed_recurrences']['value']}件，"
            f"提级督办{o['escalated']['value']}件，苗头性问题预警{len(content['warnings'])}条。")


def generate(content: dict[str, Any], font_file: str) -> tuple[str, bytes]:
    images = draw_charts(content, font_file)
    return render_html(content, images), render_pdf(content, images, font_file)


_setup_env()
