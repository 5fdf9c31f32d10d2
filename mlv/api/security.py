"""Security headers on every HTTP response, and safe flags on every cookie.

The layer wraps the whole ASGI stack of the app — outside Starlette's error middleware, NiceGUI's
session middleware and the auth guard — so pages, /api, static files, 404s, 500s, the guard's 401
and 429 answers and the session cookie all pass through it.

- Content-Security-Policy that NiceGUI works with: Vue compiles its templates in the browser
  ('unsafe-eval') and NiceGUI writes inline scripts and styles ('unsafe-inline'); everything is
  loaded from the app itself, except the APP_LOGO_URL image (its origin is allowed in img-src).
  FastAPI's /docs page loads Swagger UI from its CDN and gets a policy that allows that CDN.
- No framing (X-Frame-Options and frame-ancestors), no MIME sniffing, same-origin referrers,
  no camera/microphone/geolocation, a browsing-context group of its own (COOP).
- Strict-Transport-Security and `Secure` cookies only when the request came over TLS: directly
  (scope scheme https, e.g. uvicorn with a certificate or its proxy-header handling) or through a
  reverse proxy in TRUSTED_PROXIES that says so in X-Forwarded-Proto.
- Every Set-Cookie gets HttpOnly and SameSite=Lax when it does not say otherwise.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

HSTS = b"max-age=31536000"
BASE_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=(), usb=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
]
DOCS_PATHS = ("/docs", "/docs/oauth2-redirect")
SWAGGER_CDN = "https://cdn.jsdelivr.net"


def content_security_policy(*, logo_url: str = "", docs: bool = False) -> str:
    """The policy for the app's pages (or, with `docs`, for FastAPI's Swagger UI page)."""
    images = ["'self'", "data:", "blob:"]
    origin = _origin(logo_url)
    if origin:
        images.append(origin)
    scripts = ["'self'", "'unsafe-inline'", "'unsafe-eval'"]
    styles = ["'self'", "'unsafe-inline'"]
    if docs:
        scripts = ["'self'", "'unsafe-inline'", SWAGGER_CDN]
        styles.append(SWAGGER_CDN)
        images.append("https://fastapi.tiangolo.com")
    parts = {
        "default-src": ["'self'"],
        "script-src": scripts,
        "style-src": styles,
        "img-src": images,
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in parts.items())


def _origin(url: str) -> str:
    """scheme://host[:port] of an absolute http(s) URL; '' for relative or other URLs."""
    parts = urlsplit(url.strip())
    if parts.scheme in ("http", "https") and parts.netloc:
        return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    return ""


def secure_cookie(value: bytes, *, tls: bool) -> bytes:
    """A Set-Cookie value with HttpOnly and SameSite (Lax unless set) and, over TLS, Secure."""
    attributes = {part.split(b"=", 1)[0].strip().lower() for part in value.split(b";")[1:]}
    extra = []
    if b"httponly" not in attributes:
        extra.append(b"HttpOnly")
    if b"samesite" not in attributes:
        extra.append(b"SameSite=Lax")
    if tls and b"secure" not in attributes:
        extra.append(b"Secure")
    return b"; ".join([value.rstrip(b"; "), *extra]) if extra else value


class SecurityHeaders:
    """Pure ASGI middleware adding the headers above to each `http.response.start`."""

    def __init__(self, app, *, logo_url: str = "", trusted_proxies: Iterable[str] = ()) -> None:  # type: ignore[no-untyped-def]
        self.app = app
        self.trusted = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.page_headers = [*BASE_HEADERS,
                             (b"content-security-policy", content_security_policy(logo_url=logo_url).encode())]
        self.docs_headers = [*BASE_HEADERS,
                             (b"content-security-policy", content_security_policy(logo_url=logo_url,
                                                                                  docs=True).encode())]

    def over_tls(self, scope: dict) -> bool:
        """Did the browser reach us over TLS (itself, or a trusted proxy in front of us)?"""
        if scope.get("scheme") in ("https", "wss"):
            return True
        peer = (scope.get("client") or ("", 0))[0]
        try:
            trusted = any(ipaddress.ip_address(peer) in net for net in self.trusted)
        except ValueError:
            trusted = False
        if not trusted:
            return False
        for name, value in scope.get("headers") or []:
            if name == b"x-forwarded-proto":
                return value.split(b",")[0].strip().lower() == b"https"
        return False

    async def __call__(self, scope, receive, send) -> None:  # type: ignore[no-untyped-def]
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tls = self.over_tls(scope)
        ours = self.docs_headers if scope.get("path") in DOCS_PATHS else self.page_headers
        if tls:
            ours = [*ours, (b"strict-transport-security", HSTS)]

        async def send_with_headers(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = []
                for name, value in message.get("headers") or []:
                    if name.lower() == b"set-cookie":
                        value = secure_cookie(value, tls=tls)
                    headers.append((name, value))
                present = {name.lower() for name, _ in headers}
                headers.extend(header for header in ours if header[0] not in present)
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def install_security_headers(app, *, logo_url: str = "", trusted_proxies: Iterable[str] = ()) -> None:  # type: ignore[no-untyped-def]
    """Wrap the app's whole middleware stack (built on the first request) in SecurityHeaders.

    Middleware added later (NiceGUI adds its session and gzip middleware in ui.run) still
    ends up inside this layer, because it wraps what Starlette builds, not a list entry. Installing
    again (NiceGUI's test harness sets the app up once per test) replaces the layer, never stacks it."""
    if getattr(app, "middleware_stack", None) is not None:
        raise RuntimeError("security headers must be installed before the app has started")
    proxies = list(trusted_proxies)

    def build_with_headers():  # type: ignore[no-untyped-def]
        return SecurityHeaders(type(app).build_middleware_stack(app), logo_url=logo_url, trusted_proxies=proxies)

    app.build_middleware_stack = build_with_headers
