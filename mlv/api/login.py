"""GET/POST /login (public) and /logout: the browser's way in, as a signed session cookie.

A minimal server-rendered page: the UI's own login page can replace the GET route and log a
session in with mlv.api.auth.mark_logged_in. POST counts wrong passwords like the guard does.
"""

from __future__ import annotations

import html
from urllib.parse import parse_qs

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from mlv.api.auth import AuthConfig, log_out, mark_logged_in

router = APIRouter(tags=["authentication"])

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title} – log in</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;background:#f4f5f7;display:flex;justify-content:center;
align-items:center;height:100vh;margin:0}}form{{background:#fff;padding:2rem;border-radius:8px;
box-shadow:0 2px 8px #0002;width:18rem}}input{{width:100%;box-sizing:border-box;padding:.5rem;margin:.3rem 0 1rem}}
button{{width:100%;padding:.6rem}}.err{{color:#b91c1c;margin-bottom:1rem}}</style></head><body>
<form method="post" action="/login"><h2>{title}</h2>{error}
<label>Username<input name="username" autocomplete="username" required autofocus></label>
<label>Password<input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{next}"><button type="submit">Log in</button></form></body></html>"""


def _config(request: Request) -> AuthConfig | None:
    return getattr(request.app.state, "mlv_auth", None)


def _safe_next(value: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    return value


def _title() -> str:
    from mlv.api.deps import settings

    try:
        return settings().app_title
    except Exception:
        return "mlv"


def _page(next_path: str, error: str = "", status: int = 200) -> HTMLResponse:
    err = f'<div class="err">{html.escape(error)}</div>' if error else ""
    return HTMLResponse(PAGE.format(title=html.escape(_title()), error=err, next=html.escape(next_path)),
                        status_code=status)


@router.get("/login", response_class=HTMLResponse, summary="The login page (public)")
def login_page(request: Request, next: str | None = None) -> Response:
    """With authentication off, or a session already logged in, it redirects to the application."""
    config = _config(request)
    target = _safe_next(next)
    if config is None or not config.enabled or config.session_ok(request.scope):
        return RedirectResponse(target, status_code=303)
    return _page(target)


@router.post("/login", include_in_schema=False)
async def login_submit(request: Request) -> Response:
    config = _config(request)
    body = (await request.body())[:8192].decode("utf-8", "replace")
    form = {k: v[0] for k, v in parse_qs(body).items()}
    target = _safe_next(form.get("next"))
    if config is None or not config.enabled:
        return RedirectResponse(target, status_code=303)
    client = config.client_key(request.scope, dict(request.scope.get("headers") or []))
    wait = config.limiter.wait(client)
    if wait > 0:
        return _page(target, f"Too many failed attempts; try again in {int(wait) + 1} seconds.", 429)
    if not config.credentials_ok(form.get("username", ""), form.get("password", "")):
        config.limiter.failed(client)
        return _page(target, "Wrong username or password.", 401)
    config.limiter.succeeded(client)
    if "session" not in request.scope:
        return JSONResponse({"detail": "Sessions are not available here; use HTTP Basic authentication"}, 503)
    mark_logged_in(request.session, config)
    return RedirectResponse(target, status_code=303)


@router.get("/logout", include_in_schema=False)
def logout(request: Request) -> Response:
    if "session" in request.scope:
        log_out(request.session)
    return RedirectResponse("/login", status_code=303)
