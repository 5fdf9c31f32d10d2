"""Child process of test_auth: the real NiceGUI app as `mlv serve` sets it up, every route asked anonymously."""

from __future__ import annotations

import asyncio
import json

import httpx
from nicegui import __version__ as nicegui_version
from nicegui import app

from mlv.app import setup_ui
from mlv.config import load_settings
from tests.api.route_table import route_table

PUBLIC = {("/api/health", "GET"), ("/login", "GET"), ("/login", "POST"), ("/favicon.ico", "GET")}


async def main() -> None:
    setup_ui(load_settings())
    routes = route_table(app)
    failures = []
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://mlv") as client:
        for path, method in routes:
            if method == "WS" or (path, method) in PUBLIC or path.startswith(f"/_nicegui/{nicegui_version}/"):
                continue
            r = await client.request(method, path, follow_redirects=False)
            html = await client.request(method, path, headers={"Accept": "text/html"}, follow_redirects=False)
            ok = r.status_code == 401 and "www-authenticate" not in r.headers and html.status_code in (401, 303)
            if not ok:
                failures.append([method, path, r.status_code, html.status_code])
    sent = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "websocket.connect"}

    scope = {"type": "websocket", "path": "/_nicegui_ws/socket.io/", "raw_path": b"/_nicegui_ws/socket.io/",
             "query_string": b"EIO=4&transport=websocket", "headers": [], "client": ("1.2.3.4", 5),
             "server": ("mlv", 80), "scheme": "ws", "subprotocols": [], "asgi": {"version": "3.0"}}
    await app(scope, receive, send)
    print(json.dumps({"checked": len(routes), "paths": sorted({p for p, _ in routes}), "failures": failures,
                      "websocket": sent[0]["type"] if sent else None}))


asyncio.run(main())
