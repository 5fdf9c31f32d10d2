"""One deny-by-default guard over every HTTP route and websocket of the app.

Only the public paths below pass without credentials. Credentials are HTTP Basic, compared in
constant time. (The UI's session login arrives with the pages; it plugs in here.)
"""

from __future__ import annotations

import base64
import hmac
import json

PUBLIC_PATHS = frozenset({"/api/health", "/login"})
PUBLIC_PREFIXES = ("/_nicegui/", "/favicon.ico")


def _credentials_ok(header: bytes | None, username: str, password: str) -> bool:
    if not header or not header[:6].lower() == b"basic ":
        return False
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return False
    user, sep, pwd = decoded.partition(":")
    if not sep:
        return False
    ok_user = hmac.compare_digest(user.encode(), username.encode())
    ok_pwd = hmac.compare_digest(pwd.encode(), password.encode())
    return ok_user and ok_pwd


class AuthGuard:
    """ASGI middleware: every request but the public ones needs valid credentials."""

    def __init__(self, app, *, enabled: bool, username: str, password: str) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.enabled = enabled
        self.username = username
        self.password = password

    def is_public(self, path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] not in ("http", "websocket") or not self.enabled or self.is_public(scope.get("path", "")):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if _credentials_ok(headers.get(b"authorization"), self.username, self.password):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "Authentication required"}).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        if not scope.get("path", "").startswith("/api/"):
            # Until the login page exists, let browsers ask for the credentials.
            response_headers.append((b"www-authenticate", b'Basic realm="mlv"'))
        await send({"type": "http.response.start", "status": 401, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
