"""Charts for the reports, drawn by matplotlib (Agg, no display) with a CJK font the project installs
(deploy/fonts.sh: Debian's fonts-wqy-microhei). Each function returns PNG bytes."""

import io
import re
from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

# TrueType outlines only: reportlab embeds TrueType, not the CFF outlines of Noto CJK's OpenType files.
FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class FontMissing(RuntimeError):
    pass


@cache
def cjk_font_file(configured: str = "") -> str:
    """The font file used for Chinese text in charts and PDFs."""
    for candidate in ([configured] if configured else []) + list(FONT_CANDIDATES):
        if candidate and Path(candidate).is_file():
            return candidate
    raise FontMissing("no CJK TrueType font found: run deploy/fonts.sh or set QHWY_INSIGHT_FONT_FILE")


@cache
def _font_name(path: str) -> str:
    font_manager.fontManager.addfont(path)
    return font_manager.FontProperties(fname=path).get_name()


def _figure(font_file: str, width: float = 7.5, height: float = 3.2):  # type: ignore[no-untyped-def]
    plt.rcParams["font.family"] = [_font_name(font_file)]
    plt.rcParams["axes.unicode_minus"] = False
    return plt.subplots(figsize=(width, height), dpi=110)


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _plain(label: str) -> str:
    """A label from user text (a problem group's label) drawn as it is: parse_math=False keeps `$...$` from
    being read as mathtext (a bad formula failed the whole report); control characters have no glyph."""
    return _CONTROL.sub("", str(label))


def _percent(value: float | None) -> float:
    return float("nan") if value is None else value * 100


def trend_chart(font_file: str, labels: list[str], received: list[int], rates: dict[str, list[float | None]]) -> bytes:
    """Cases received per period (bars) and rates in percent (lines)."""
    fig, axis = _figure(font_file)
    axis.bar(labels, received, color="#9ecae1", label="受理问题数")
    axis.set_ylabel("件")
    axis.tick_params(axis="x", labelrotation=30, labelsize=8)
    right = axis.twinx()
    for (name, values), colour in zip(rates.items(), ("#d62728", "#2ca02c", "#ff7f0e")):
        right.plot(labels, [_percent(v) for v in values], marker="o", color=colour, label=name)
    right.set_ylim(0, 105)
    right.set_ylabel("%")
    handles = axis.get_legend_handles_labels()[0] + right.get_legend_handles_labels()[0]
    names = axis.get_legend_handles_labels()[1] + right.get_legend_handles_labels()[1]
    axis.legend(handles, names, loc="lower left", fontsize=8, ncols=4)
    axis.set_title("问题受理量与办理质量趋势")
    return _png(fig)


def unit_rates_chart(font_file: str, units: list[str], rates: dict[str, list[float | None]]) -> bytes:
    """Rates by unit, horizontal grouped bars."""
    height = max(2.5, 0.32 * len(units) * max(len(rates), 1) / 1.5 + 1)
    fig, axis = _figure(font_file, height=min(height, 9))
    bar = 0.8 / max(len(rates), 1)
    for index, ((name, values), colour) in enumerate(zip(rates.items(), ("#d62728", "#2ca02c", "#ff7f0e"))):
        axis.barh([i + index * bar for i in range(len(units))], [_percent(v) for v in values], height=bar,
                  color=colour, label=name)
    axis.set_yticks([i + bar * (len(rates) - 1) / 2 for i in range(len(units))], [_plain(u) for u in units],
                    fontsize=8, parse_math=False)
    axis.invert_yaxis()
    axis.set_xlim(0, 105)
    axis.set_xlabel("%")
    axis.legend(fontsize=8, loc="lower right")
    axis.set_title("各单位办理情况")
    return _png(fig)


def themes_chart(font_file: str, themes: list[str], sizes: list[int]) -> bytes:
    fig, axis = _figure(font_file, height=max(2.2, 0.35 * len(themes) + 1))
    axis.barh(range(len(themes)), sizes, color="#6baed6")
    axis.set_yticks(range(len(themes)), [_plain(t) for t in themes], fontsize=8, parse_math=False)
    axis.invert_yaxis()
    axis.set_xlabel("件")
    axis.set_title("高频共性问题")
    return _png(fig)
