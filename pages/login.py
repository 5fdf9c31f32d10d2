"""/login: the sign-in form (public). The REST API keeps HTTP Basic; browsers get a session."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse
from nicegui import context, ui

from components.context import settings
from components.session import auth_config, check_login, issue_token, redeem_token, safe_next
from mlv.api.auth import mark_logged_in


@ui.page("/login")
async def login_page(request: Request, next: str | None = None, token: str | None = None):
    target = safe_next(next)
    config = auth_config()
    if config is None or not config.enabled or config.session_ok(request.scope):
        return RedirectResponse(target, status_code=303)
    if token is not None:
        if redeem_token(token) and "session" in request.scope:
            mark_logged_in(request.session, config)
            return RedirectResponse(target, status_code=303)
        return RedirectResponse("/login?next=" + quote(target, safe=""), status_code=303)

    s = settings()
    ui.page_title(f"Log in · {s.app_title}")
    ui.query("body").classes("bg-gray-100")
    scope = context.client.request.scope if context.client.request is not None else {}

    async def submit() -> None:
        ok, message = check_login(scope, username.value or "", password.value or "")
        if not ok:
            error.text = message
            error.set_visibility(True)
            password.value = ""
            return
        ui.navigate.to(f"/login?token={issue_token()}&next={quote(target, safe='')}")

    with ui.card().classes("absolute-center w-80 p-6 gap-3").props("bordered").mark("login-card"):
        with ui.row().classes("items-center gap-2 no-wrap"):
            if s.app_logo_url:
                ui.image(s.app_logo_url).classes("w-8 h-8").props("fit=contain no-spinner")
            ui.label(s.app_title).classes("text-lg font-semibold")
        username = ui.input("Username", value="").props("outlined dense autofocus autocomplete=username") \
            .classes("w-full").mark("login-username")
        password = ui.input("Password", password=True).props("outlined dense autocomplete=current-password") \
            .classes("w-full").mark("login-password")
        error = ui.label().classes("text-sm text-negative").mark("login-error")
        error.set_visibility(False)
        password.on("keydown.enter", submit)
        ui.button("Log in", on_click=submit).classes("w-full").mark("login-submit")
    return None
