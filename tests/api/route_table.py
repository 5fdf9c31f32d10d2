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


def walk_in_child(data_dir, password: str) -> dict:  # type: ignore[no-untyped-def]
    """Run tests/api/guard_walk.py (the real NiceGUI app, every route and the websocket without
    credentials) in a child process; its result."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "DATABASE_", "MAILCOW_", "TRUSTED_"))}
    env.update(AUTH_PASSWORD=password, DATA_DIR=str(data_dir), SCHEDULER_ENABLED="false",
               NICEGUI_STORAGE_PATH=str(Path(data_dir) / "nicegui"))
    proc = subprocess.run([sys.executable, "-m", "tests.api.guard_walk"], cwd=Path(__file__).resolve().parents[2],
                          capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])
