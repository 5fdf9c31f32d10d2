"""Every (path, method) an app answers, whatever FastAPI version wraps included routers."""

from __future__ import annotations

import re

from starlette.routing import Mount, WebSocketRoute


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x", path)


def route_table(app) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    """(concrete path, method); mounts as '<mount>/x' GET, websockets as 'WS'."""
    out: list[tuple[str, str]] = []

    def add(path: str, methods) -> None:  # type: ignore[no-untyped-def]
        out.extend((concrete(path), m) for m in sorted(methods or {"GET"}) if m != "HEAD")

    for route in app.routes:
        if hasattr(route, "effective_route_contexts"):  # FastAPI's included routers
            for ctx in route.effective_route_contexts():
                add(ctx.path, ctx.methods)
        elif isinstance(route, Mount):
            out.append((concrete(route.path).rstrip("/") + "/x", "GET"))
        elif isinstance(route, WebSocketRoute):
            out.append((concrete(route.path), "WS"))
        elif hasattr(route, "path"):
            add(route.path, getattr(route, "methods", None))
    return out
