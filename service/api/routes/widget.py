"""Serves the docs-site widget: `<script src="https://HOST/widget.js" data-project="NAME" async>`.

Also `GET /widget/demo?project=NAME`, a bare page with the tag, to try it on this host.
"""

from __future__ import annotations

import html
from functools import lru_cache
from pathlib import Path

from fastapi import APIRouter, Query
from fastapi.responses import HTMLResponse, Response

router = APIRouter()

PROJECT_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$"
WIDGET_FILE = Path(__file__).resolve().parents[2] / "static" / "widget.js"


@lru_cache(maxsize=1)
def _widget_source(mtime: float) -> bytes:
    return WIDGET_FILE.read_bytes()


@router.get("/widget.js", include_in_schema=False)
def widget_js() -> Response:
    body = _widget_source(WIDGET_FILE.stat().st_mtime)
    return Response(
        body,
        media_type="application/javascript; charset=utf-8",
        # Any site may load the script (it holds no secret); the API it calls checks origins.
        headers={
            "cache-control": "public, max-age=300",
            "access-control-allow-origin": "*",
            "x-content-type-options": "nosniff",
        },
    )


@router.get("/widget/demo", response_class=HTMLResponse, include_in_schema=False)
def widget_demo(
    project: str = Query(..., min_length=1, max_length=100, pattern=PROJECT_PATTERN),
) -> HTMLResponse:
    name = html.escape(project)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ossqa widget: {name}</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto; padding: 0 1rem">
<h1>{name} docs</h1>
<p>Ask a question with the button at the bottom right.</p>
<script src="/widget.js" data-project="{name}" async></script>
</body></html>"""
    return HTMLResponse(page)
