"""Error pages in Chinese for people with a browser: a page that does not exist (404), a method not allowed (405),
a fault (500). A browser (it asks for text/html) gets a small HTML page; API clients keep what they had (a short
text, or the JSON the endpoints answer themselves). No user text is ever written into the page.

Use: `Starlette(..., exception_handlers=error_pages.HANDLERS)` (the console mounts its own pages with them; the
platform's front app can do the same)."""

from html import escape

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response

PAGES = {
    404: ("页面不存在", "您访问的页面不存在，可能地址有误或页面已移除。"),
    405: ("不支持此操作", "该地址不支持这种访问方式。"),
    500: ("系统出错了", "服务暂时出现问题，工作人员已收到记录。请稍后再试；如多次出现，请联系系统管理员。"),
}
# What API clients read instead (JSON, like every endpoint's own refusals).
API_ERRORS = {404: "接口地址不存在", 405: "该接口不支持这种请求方法", 500: "系统出错了，请稍后再试"}
LINKS = (("/console/", "工作人员工作台"), ("/e/submit", "企业反映问题"), ("/e/track", "查询办理进度"))


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith("/api/")


def page(status: int, title: str | None = None, message: str | None = None) -> str:
    default_title, default_message = PAGES.get(status, PAGES[500])
    links = "".join(f'<li><a href="{escape(href)}">{escape(label)}</a></li>' for href, label in LINKS)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title or default_title)} · 企呼我应</title>"
        "<style>body{margin:0;font:16px/1.6 'Noto Sans CJK SC','Microsoft YaHei',sans-serif;color:#1f2933;"
        "background:#f4f6f8}header{background:#b71c1c;color:#fff;padding:.7rem 1.2rem;font-weight:bold}"
        "main{max-width:640px;margin:3rem auto;background:#fff;padding:1.5rem 2rem;border-radius:6px}"
        "h1{font-size:1.4rem;margin:.2rem 0 1rem}.code{color:#616e7c}a{color:#b71c1c}</style></head><body>"
        "<header>企呼我应</header><main>"
        f'<h1 id="error-title">{escape(title or default_title)}</h1>'
        f'<p id="error-message">{escape(message or default_message)}</p>'
        f'<p class="code">错误代码 {int(status)}</p>'
        f"<p>您可以前往：</p><ul>{links}</ul>"
        "</main></body></html>"
    )


async def http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if wants_html(request):
        return HTMLResponse(page(status), status_code=status, headers={"cache-control": "no-store"})
    headers = getattr(exc, "headers", None) or None
    return JSONResponse({"error": API_ERRORS.get(status, API_ERRORS[500])}, status_code=status, headers=headers)


async def server_error(request: Request, exc: Exception) -> Response:
    if wants_html(request):
        return HTMLResponse(page(500), status_code=500, headers={"cache-control": "no-store"})
    return JSONResponse({"error": API_ERRORS[500]}, status_code=500)


HANDLERS = {404: http_error, 405: http_error, 500: server_error}
