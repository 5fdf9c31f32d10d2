"""One deny-by-default guard over every HTTP route and websocket of the app.

Public: GET /api/health, GET/POST /login, and NiceGUI's versioned framework assets
(/_nicegui/<version>/...). Everything else — every /api route, every page, NiceGUI's socket.io
endpoint (/_nicegui_ws/), uploads and media — needs either
- HTTP Basic credentials (AUTH_USERNAME / AUTH_PASSWORD, compared in constant time), or
- a logged-in UI session: `session[SESSION_KEY]` holding session_token() (set by POST /login, or by
  any login page through `mark_logged_in(request.session, config)`); the session is Starlette's
  signed cookie (NiceGUI's SessionMiddleware, keyed by the storage secret), and a password change
  invalidates it.
/api answers 401 {"detail": "Authentication required"} without WWW-Authenticate (no browser
dialog); a browser asking for a page is sent to /login. Wrong credentials are counted per client
(the peer address; X-Forwarded-For only when the peer is in TRUSTED_PROXIES): after
AUTH_MAX_FAILURES within AUTH_FAILURE_WINDOW seconds the client gets 429 for 5 s, doubling with
each further failure up to 15 minutes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

SESSION_KEY = "mlv_auth"
PUBLIC = {"/api/health": ("GET", "HEAD"), "/login": ("GET", "HEAD", "POST")}
FIRST_DELAY, MAX_DELAY = 5.0, 900.0


def _public_prefixes() -> tuple[str, ...]:
    try:
        from nicegui import __version__ as nicegui_version
    except ImportError:  # pragma: no cover
        return ()
    return (f"/_nicegui/{nicegui_version}/",)


class FailureLimiter:
    """Failed logins per client key; a client over the limit waits, longer with each new failure."""

    def __init__(self, max_failures: int = 5, window: float = 300.0, max_keys: int = 10000) -> None:
        self.max_failures, self.window, self.max_keys = max_failures, window, max_keys
        self._lock = threading.Lock()
        self._state: dict[str, list[float]] = {}  # key -> [failures, first_failure_at, blocked_until]

    def wait(self, key: str, now: float | None = None) -> float:
        """Seconds `key` must still wait (0: may try)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            st = self._state.get(key)
            return max(0.0, st[2] - now) if st else 0.0

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            st = self._state.get(key)
            if st is None or (now - st[1] > self.window and st[2] <= now):
                st = self._state[key] = [0, now, 0.0]
            st[0] += 1
            over = int(st[0]) - self.max_failures
            if over >= 0:
                st[2] = now + min(MAX_DELAY, FIRST_DELAY * 2 ** min(over, 20))
            if len(self._state) > self.max_keys:
                self._prune(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._state.pop(key, None)

    def _prune(self, now: float) -> None:
        for key in [k for k, st in self._state.items() if now - st[1] > self.window and st[2] <= now]:
            del self._state[key]
        if len(self._state) > self.max_keys:  # a flood of addresses: forget the oldest half
            for key in sorted(self._state, key=lambda k: self._state[k][1])[: len(self._state) // 2]:
                del self._state[key]


@dataclass
class AuthConfig:
    enabled: bool
    username: str
    password: str
    trusted_proxies: list = field(default_factory=list)
    limiter: FailureLimiter = field(default_factory=FailureLimiter)
    # The UI's hook: requests it lets through without credentials (the /login page's own websocket).
    ui_public: Callable[[dict], bool] | None = None

    @classmethod
    def build(cls, *, enabled: bool, username: str, password: str, trusted_proxies: Iterable[str] = (),
              max_failures: int = 5, failure_window: float = 300.0) -> AuthConfig:
        nets = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        return cls(enabled, username, password, nets, FailureLimiter(max_failures, failure_window))

    def credentials_ok(self, user: str, pwd: str) -> bool:
        ok_user = hmac.compare_digest(user.encode(), self.username.encode())
        ok_pwd = hmac.compare_digest(pwd.encode(), self.password.encode())
        return ok_user and ok_pwd and bool(self.password)

    def basic_ok(self, header: bytes) -> bool:
        if header[:6].lower() != b"basic ":
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return False
        user, sep, pwd = decoded.partition(":")
        return bool(sep) and self.credentials_ok(user, pwd)

    def session_token(self) -> str:
        """What a logged-in session holds; changes when the username or password does."""
        return hmac.new(self.password.encode(), f"mlv-session:{self.username}".encode(), hashlib.sha256).hexdigest()

    def session_ok(self, scope: dict) -> bool:
        session = scope.get("session")
        if not isinstance(session, dict):
            return False
        token = session.get(SESSION_KEY)
        return isinstance(token, str) and hmac.compare_digest(token, self.session_token())

    def client_key(self, scope: dict, headers: dict[bytes, bytes]) -> str:
        """The client's address: the peer, or what trusted proxies say in X-Forwarded-For."""
        peer = (scope.get("client") or ("unknown", 0))[0]
        if not self._trusted(peer):
            return peer
        hops = [h.strip() for h in headers.get(b"x-forwarded-for", b"").decode("latin-1").split(",") if h.strip()]
        for hop in reversed(hops):
            if not self._trusted(hop):
                return hop
        return hops[0] if hops else peer

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.trusted_proxies)


def mark_logged_in(session: dict, config: AuthConfig) -> None:
    """The hook for login pages: this session is now authenticated."""
    session[SESSION_KEY] = config.session_token()


def log_out(session: dict) -> None:
    session.pop(SESSION_KEY, None)


class AuthGuard:
    """ASGI middleware: every request but the public ones needs credentials or a logged-in session."""

    def __init__(self, app, *, config: AuthConfig) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.config = config
        self.public_prefixes = _public_prefixes()

    def is_public(self, path: str, method: str) -> bool:
        if path in PUBLIC:
            return method in PUBLIC[path]
        return method in ("GET", "HEAD") and (path == "/favicon.ico" or path.startswith(self.public_prefixes))

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        kind = scope["type"]
        if kind not in ("http", "websocket") or not self.config.enabled:
            await self.app(scope, receive, send)
            return
        path, method = scope.get("path", ""), scope.get("method", "GET") if kind == "http" else "GET"
        if (kind == "http" and self.is_public(path, method)) or self.config.session_ok(scope) \
                or (self.config.ui_public is not None and self.config.ui_public(scope)):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        auth = headers.get(b"authorization")
        if auth:
            client = self.config.client_key(scope, headers)
            wait = self.config.limiter.wait(client)
            if wait > 0:
                await self._deny(scope, send, 429, "Too many failed login attempts; try again in "
                                 f"{int(wait) + 1} seconds", {b"retry-after": str(int(wait) + 1).encode()})
                return
            if self.config.basic_ok(auth):
                self.config.limiter.succeeded(client)
                await self.app(scope, receive, send)
                return
            self.config.limiter.failed(client)
        await self._deny(scope, send, 401, "Authentication required", {})

    async def _deny(self, scope: dict, send, status: int, detail: str,  # type: ignore[no-untyped-def]
                    extra: dict[bytes, bytes]) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        path = scope.get("path", "")
        headers = dict(scope.get("headers") or [])
        if status == 401 and scope.get("method") == "GET" and not path.startswith(("/api/", "/_nicegui")) \
                and b"text/html" in headers.get(b"accept", b""):
            target = "/login?next=" + quote(path + (("?" + scope["query_string"].decode("latin-1"))
                                                    if scope.get("query_string") else ""), safe="")
            await send({"type": "http.response.start", "status": 303,
                        "headers": [(b"location", target.encode()), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        body = json.dumps({"detail": detail}).encode()
        response_headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *extra.items()]
        await send({"type": "http.response.start", "status": status, "headers": response_headers})
        await send({"type": "http.response.body", "body": body})
