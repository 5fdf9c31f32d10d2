"""The REST API (spec/API.md), mounted on NiceGUI's FastAPI app under /api."""

from __future__ import annotations

from fastapi import FastAPI


def register_routes(app: FastAPI) -> None:
    """Mount every router of the API on the app."""
    from mlv.api import health

    app.include_router(health.router, prefix="/api")


def install_guard(app: FastAPI, *, enabled: bool, username: str, password: str) -> None:
    """Put the auth guard in front of everything (at import time: not from a startup hook)."""
    from mlv.api.auth import AuthGuard

    app.add_middleware(AuthGuard, enabled=enabled, username=username, password=password)
