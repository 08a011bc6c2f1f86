"""The enterprise's own pages under /e/: a submission form (reached from the QR code on the printed
poster), a tracking page, the QR code image. Plain HTML + a little JavaScript, no build step; they call
the public JSON API (POST /api/v1/submissions, GET /api/v1/cases?tracking_no=&phone_last4=)."""

import io
from html import escape
from functools import lru_cache
from pathlib import Path
from typing import Any

import segno
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

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


def routes(org: Any, settings: Any) -> list[BaseRoute]:
    county = org.county.name
    options = {
        "county": county,
        "channel": settings.qrcode_channel,
        "categories": [{"code": c.code, "name": c.name} for c in org.categories],
        "regions": [{"code": r.code, "name": r.name} for r in org.regions],
    }

    def base_url(request: Request) -> str:
        return (settings.public_base_url or str(request.base_url)).rstrip("/")

    async def submit_page(_: Request) -> HTMLResponse:
        return HTMLResponse(page("submit.html", county=county))

    async def track_page(_: Request) -> HTMLResponse:
        return HTMLResponse(page("track.html", county=county))

    async def options_json(_: Request) -> JSONResponse:
        return JSONResponse(options, headers={"cache-control": "max-age=300"})

    async def qrcode(request: Request) -> Response:
        try:
            scale = min(max(int(request.query_params.get("scale", "10")), 2), 40)
        except ValueError:
            scale = 10
        url = f"{base_url(request)}/e/submit"
        return Response(qr_png(url, scale), media_type="image/png",
                        headers={"cache-control": "max-age=3600", "x-qr-url": url})

    async def home(_: Request) -> RedirectResponse:
        return RedirectResponse("/e/submit", status_code=302)

    return [
        Route("/e/", home, methods=["GET"]),
        Route("/e/submit", submit_page, methods=["GET"]),
        Route("/e/track", track_page, methods=["GET"]),
        Route("/e/options.json", options_json, methods=["GET"]),
        Route("/e/qrcode.png", qrcode, methods=["GET"]),
        Mount("/e/static", app=StaticFiles(directory=HERE / "static"), name="intake-static"),
    ]


__all__ = ["routes", "qr_png"]
