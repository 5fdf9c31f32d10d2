"""The REST API (spec/API.md), mounted on NiceGUI's FastAPI app under /api.

Routes are thin: they validate parameters and call mlv.queries (or a service), the functions the
pages use too. Blocking database and mailcow work runs in FastAPI's thread pool (sync routes).
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI


def register_routes(app: FastAPI) -> None:
    """Mount every router of the API on the app (one include_router line per router)."""
    from mlv.api import (
        dmarc,
        domains,
        export,
        health,
        info,
        login,
        logs,
        mailbox_stats,
        messages,
        queue,
        settings,
        stats,
        status,
    )

    _setup(app)
    app.include_router(health.router, prefix="/api")
    app.include_router(info.router, prefix="/api")
    app.include_router(mailbox_stats.router, prefix="/api")
    app.include_router(messages.router, prefix="/api")
    app.include_router(logs.router, prefix="/api")
    app.include_router(queue.router, prefix="/api")
    app.include_router(stats.router, prefix="/api")
    app.include_router(status.router, prefix="/api")
    app.include_router(settings.router, prefix="/api")
    app.include_router(export.router, prefix="/api")
    app.include_router(dmarc.router, prefix="/api")  # DMARC, TLS-RPT, IMAP import, SMTP/IMAP tests
    app.include_router(domains.router, prefix="/api")
    app.include_router(login.router)


def _setup(app: FastAPI) -> None:
    """Error shapes of /api, and the OpenAPI docs at /docs (NiceGUI's app has them off)."""
    from mlv import __version__
    from mlv.api.errors import install_error_handlers

    install_error_handlers(app)
    if app.openapi_url is None:
        app.title, app.version = "mlv — mailcow log viewer API", __version__
        app.openapi_url, app.docs_url = "/openapi.json", "/docs"
        app.redoc_url = None
        app.setup()


def install_guard(app: FastAPI, *, enabled: bool, username: str, password: str,
                  trusted_proxies: Iterable[str] | None = None, max_failures: int | None = None,
                  failure_window: int | None = None) -> None:
    """Put the auth guard in front of everything (at import time: not from a startup hook).

    Unset limits and proxies come from the settings (TRUSTED_PROXIES, AUTH_MAX_FAILURES,
    AUTH_FAILURE_WINDOW)."""
    from mlv.api.auth import AuthConfig, AuthGuard
    from mlv.config import get_settings

    s = get_settings() if None in (trusted_proxies, max_failures, failure_window) else None
    config = AuthConfig.build(
        enabled=enabled, username=username, password=password,
        trusted_proxies=trusted_proxies if trusted_proxies is not None else s.trusted_proxies,  # type: ignore[union-attr]
        max_failures=max_failures if max_failures is not None else s.auth_max_failures,  # type: ignore[union-attr]
        failure_window=failure_window if failure_window is not None else s.auth_failure_window,  # type: ignore[union-attr]
    )
    app.state.mlv_auth = config
    app.add_middleware(AuthGuard, config=config)
