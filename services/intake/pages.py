"""The enterprise's own pages under /e/: a submission form (reached from the QR code on the printed
poster), a tracking page, the QR code image. Plain HTML + a little JavaScript, no build step; they call
the public JSON API (POST /api/v1/submissions, GET /api/v1/cases?tracking_no=&phone_last4=)."""

import io
from html import escape
from functools import lru_cache
from pathlib import Path

import segno
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from services.intake.deps import Deps
from shared.http import Call, RouteTable

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"


@lru_cache(maxsize=8)
def qr_png(url: str, scale: int) -> bytes:
    """The poster's QR code: error correction M survives a little dirt or a logo sticker."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=scale, border=4)
    return buffer.getvalue()


def page(name: str, **values: str) -> str:
    html = (TEMPLATES / name).read_text(encoding="utf-8")
    for key, value in values.items():  # escaped: the county's name comes from an editable file
        html = html.replace("{{ " + key + " }}", escape(value))
    return html


PAGES = RouteTable("/e")


def base_url(call: Call[Deps]) -> str:
    """Where enterprises reach the pages: the configured public address, else the one the request came in on."""
    return (call.deps.settings.public_base_url or str(call.request.base_url)).rstrip("/")


@PAGES.get("/", public=True)
async def home(_: Call[Deps]) -> RedirectResponse:
    return RedirectResponse("/e/submit", status_code=302)


@PAGES.get("/submit", public=True)
async def submit_page(call: Call[Deps]) -> HTMLResponse:
    return HTMLResponse(page("submit.html", county=call.deps.org.county.name))


@PAGES.get("/track", public=True)
async def track_page(call: Call[Deps]) -> HTMLResponse:
    return HTMLResponse(page("track.html", county=call.deps.org.county.name))


@PAGES.get("/options.json", public=True)
async def options_json(call: Call[Deps]) -> JSONResponse:
    """What the submission form offers: the organisation's categories and regions, the QR code's channel."""
    org = call.deps.org
    options = {
        "county": org.county.name,
        "channel": call.deps.settings.qrcode_channel,
        "categories": [{"code": c.code, "name": c.name} for c in org.categories],
        "regions": [{"code": r.code, "name": r.name} for r in org.regions],
    }
    return JSONResponse(options, headers={"cache-control": "max-age=300"})


@PAGES.get("/qrcode.png", public=True)
async def qrcode(call: Call[Deps]) -> Response:
    try:
        scale = min(max(int(call.query("scale") or "10"), 2), 40)
    except ValueError:
        scale = 10
    url = f"{base_url(call)}/e/submit"
    return Response(qr_png(url, scale), media_type="image/png",
                    headers={"cache-control": "max-age=3600", "x-qr-url": url})


def routes(deps: Deps) -> list[BaseRoute]:
    """The pages (public: the secret binds no sign-in) and their static files."""
    return [*PAGES.bind(deps, secret=""),
            Mount("/e/static", app=StaticFiles(directory=HERE / "static"), name="intake-static")]
