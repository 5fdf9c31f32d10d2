"""The UI's side of logging in: credentials are checked in the page's event handler (over the
websocket), and the browser then fetches /login?token=… once, which turns its signed session cookie
into a logged-in one through mlv.api.auth.mark_logged_in (the guard's documented hook)."""

from __future__ import annotations

import secrets
import threading
import time
from typing import Any

from nicegui import app

TOKEN_TTL = 60.0
_tokens: dict[str, float] = {}
_lock = threading.Lock()


def auth_config() -> Any:
    """The guard's AuthConfig (None when the app has none)."""
    return getattr(app.state, "mlv_auth", None)


def issue_token() -> str:
    """A one-time token (valid TOKEN_TTL seconds) standing for a successful password check."""
    token = secrets.token_urlsafe(32)
    now = time.monotonic()
    with _lock:
        for stale in [t for t, expires in _tokens.items() if expires < now]:
            del _tokens[stale]
        _tokens[token] = now + TOKEN_TTL
    return token


def redeem_token(token: str | None) -> bool:
    """True once for a token issued in the last TOKEN_TTL seconds."""
    if not token:
        return False
    with _lock:
        expires = _tokens.pop(token, None)
    return expires is not None and expires >= time.monotonic()


def safe_next(value: str | None) -> str:
    """Only local paths: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith(("//", "/\\")) or value.startswith("/login"):
        return "/"
    return value


def check_login(scope: dict, username: str, password: str) -> tuple[bool, str]:
    """(ok, message) for a login attempt from the client of `scope`, counted like the guard counts."""
    config = auth_config()
    if config is None or not config.enabled:
        return True, ""
    client = config.client_key(scope, dict(scope.get("headers") or []))
    wait = config.limiter.wait(client)
    if wait > 0:
        return False, f"Too many failed attempts; try again in {int(wait) + 1} seconds."
    if not config.credentials_ok(username, password):
        config.limiter.failed(client)
        return False, "Wrong username or password."
    config.limiter.succeeded(client)
    return True, ""


def login_page_socket(scope: dict) -> bool:
    """True for the websocket (or polling) requests of a /login page's own client: the login form
    talks to the server before any session exists; every other client still needs one."""
    from urllib.parse import parse_qs

    from nicegui import Client

    if not str(scope.get("path", "")).startswith("/_nicegui_ws/"):
        return False
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    client = Client.instances.get((query.get("client_id") or [""])[0])
    return client is not None and client.page is not None and client.page.path == "/login"
