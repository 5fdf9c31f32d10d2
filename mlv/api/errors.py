"""Errors of /api routes in the documented shapes.

400 {"detail": "limit: must be at most 500"} for bad parameters (FastAPI's 422 list, made readable),
404 {"detail": ...}, 500 {"error": "Internal server error", "detail": ...} with the detail only when
LOG_LEVEL=DEBUG. Other paths (the NiceGUI pages) keep the handlers they had.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("mlv.api")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/") or request.url.path == "/api"


def describe(errors: list[dict[str, Any]]) -> str:
    """FastAPI's validation errors as one sentence naming the parameters."""
    parts = []
    for err in errors[:5]:
        loc = [str(p) for p in err.get("loc", ()) if p not in ("query", "path", "body", "header")]
        name = ".".join(loc) or "request"
        msg = str(err.get("msg", "invalid value"))
        ctx = err.get("ctx") or {}
        if err.get("type") == "less_than_equal":
            msg = f"must be at most {ctx.get('le')}"
        elif err.get("type") == "greater_than_equal":
            msg = f"must be at least {ctx.get('ge')}"
        elif err.get("type") == "literal_error":
            msg = f"must be one of {ctx.get('expected')}"
        parts.append(f"{name}: {msg}")
    return "Invalid parameter value: " + "; ".join(parts)


def _debug() -> bool:
    from mlv.api.deps import settings

    try:
        return settings().log_level == "DEBUG"
    except Exception:
        return False


def install_error_handlers(app: FastAPI) -> None:
    previous_404 = app.exception_handlers.get(404)
    previous_500 = app.exception_handlers.get(Exception)

    async def validation(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"detail": describe(list(exc.errors()))}, status_code=400)

    async def not_found(request: Request, exc: Exception) -> Response:
        if _is_api(request) or previous_404 is None:
            detail = exc.detail if isinstance(exc, StarletteHTTPException) else "Not Found"
            return JSONResponse({"detail": detail if detail != "Not Found" else "Resource not found"},
                                status_code=404, headers=getattr(exc, "headers", None))
        return await previous_404(request, exc)

    async def server_error(request: Request, exc: Exception) -> Response:
        if _is_api(request) or previous_500 is None:
            log.exception("error in %s %s", request.method, request.url.path)
            body: dict[str, Any] = {"error": "Internal server error"}
            body["detail"] = f"{type(exc).__name__}: {exc}" if _debug() else "See the server log for details"
            return JSONResponse(body, status_code=500)
        return await previous_500(request, exc)

    app.add_exception_handler(RequestValidationError, validation)  # type: ignore[arg-type]
    app.add_exception_handler(404, not_found)
    app.add_exception_handler(Exception, server_error)
