"""Start-up: settings -> database -> mailcow (or the built-in emulator) -> jobs -> API + pages -> ui.run."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from mlv import memory
from mlv.config import Settings

log = logging.getLogger("mlv")


@dataclass
class Runtime:
    """What the running app holds: read by the API routes and pages."""

    settings: Settings
    engine: Engine | None = None
    scheduler: Any = None
    emulator: Any = None
    emulator_handle: Any = None
    mailcow_url: str = ""
    mailcow_key: str = ""


runtime: Runtime | None = None


def mailcow_client():  # type: ignore[no-untyped-def]
    """A new client for the configured mailcow (or the built-in emulator)."""
    from mlv.mailcow.client import MailcowClient

    assert runtime is not None
    s = runtime.settings
    return MailcowClient(runtime.mailcow_url, runtime.mailcow_key, timeout=s.mailcow_api_timeout,
                         verify_ssl=s.mailcow_api_verify_ssl)


def start(settings: Settings) -> Runtime:
    """Everything but the web server: database, emulator in demo mode, scheduler."""
    global runtime
    from mlv.db import init_db

    rt = Runtime(settings=settings)
    rt.engine = init_db(settings.db_url)
    if settings.demo_mode:
        from mlv.mailcow.emulator import Emulator, start_emulator_thread

        rt.emulator = Emulator(seed=settings.emulator_seed, rate=settings.emulator_rate,
                               backfill_seconds=int(settings.emulator_backfill_hours * 3600), live=True)
        rt.emulator_handle = start_emulator_thread(rt.emulator)
        rt.mailcow_url, rt.mailcow_key = rt.emulator_handle.url, rt.emulator.api_key
        log.warning("no MAILCOW_URL set: demo mode with the built-in mailcow emulator at %s", rt.mailcow_url)
    else:
        rt.mailcow_url, rt.mailcow_key = settings.mailcow_url, settings.mailcow_api_key
    runtime = rt
    return rt


def start_jobs(rt: Runtime) -> None:
    if rt.settings.scheduler_enabled and rt.engine is not None:
        from mlv.jobs import Scheduler

        rt.scheduler = Scheduler(rt.settings, rt.engine, mailcow_client)
        rt.scheduler.start()


def stop(rt: Runtime) -> None:
    if rt.scheduler is not None:
        rt.scheduler.shutdown()
    if rt.emulator_handle is not None:
        rt.emulator_handle.stop()
    if rt.emulator is not None and hasattr(rt.emulator, "stop_live"):
        rt.emulator.stop_live()


def setup_ui(settings: Settings) -> None:
    """Register routes and pages on NiceGUI's app, and the start-up/shut-down hooks."""
    from nicegui import app

    # Pages first: the UI's /login page must precede (shadow) the API's plain GET /login route.
    import pages  # noqa: F401  (registers the @ui.page functions)
    from mlv.api import install_guard, register_routes

    register_routes(app)
    install_guard(app, enabled=settings.auth_enabled, username=settings.auth_username,
                  password=settings.effective_password() if settings.auth_enabled else "")
    from components.session import login_page_socket

    app.state.mlv_auth.ui_public = login_page_socket  # the login form's websocket needs no session
    from mlv.api.security import install_security_headers

    install_security_headers(app, logo_url=settings.app_logo_url, trusted_proxies=settings.trusted_proxies)

    holder: dict[str, Runtime] = {}

    def _startup() -> None:
        import asyncio

        from mlv.jobs import registry

        registry.bind_loop(asyncio.get_running_loop())  # job status changes reach the pages as events
        # Synchronous on purpose: NiceGUI runs an async startup handler as a background task, so
        # requests would reach the database while Alembic is still migrating it (and start a second migration).
        rt = start(settings)
        holder["rt"] = rt
        start_jobs(rt)

    def _shutdown() -> None:
        from mlv.jobs import registry

        registry.bind_loop(None)
        if "rt" in holder:
            stop(holder["rt"])

    app.on_startup(_startup)
    app.on_shutdown(_shutdown)


def run(settings: Settings, *, host: str = "127.0.0.1", port: int = 8080, native: bool = False) -> None:
    """`mlv serve`: one process, one port, UI + REST API + jobs (in a native window with `native`)."""
    import multiprocessing

    from nicegui import ui

    if multiprocessing.current_process().name != "MainProcess":
        return  # the native window's process re-imports the main module: it must not start a server
    native = native or settings.native_window
    if native:
        from mlv.config import ConfigError
        from mlv.native import native_problem

        problem = native_problem()
        if problem:
            raise ConfigError(problem)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mlv").setLevel(min(logging.INFO, logging.getLevelName(settings.log_level)))
    memory.limit_arenas()  # before the first thread
    setup_ui(settings)
    url = f"http://{host}:{port}/"
    if settings.auth_enabled:
        # A generated password is shown once so people can log in; a configured one is never echoed.
        password = "(AUTH_PASSWORD)" if settings.auth_password else settings.effective_password()
        note = "" if settings.auth_password else f" (generated, kept in {settings.data_dir / 'admin-password'})"
        print(f"mlv: open {url}  user: {settings.auth_username}  password: {password}{note}", flush=True)
    else:
        print(f"mlv: open {url}  (authentication is OFF)", flush=True)
    storage = settings.data_dir / "nicegui"
    storage.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("NICEGUI_STORAGE_PATH", str(storage.resolve()))
    _use_storage(Path(os.environ["NICEGUI_STORAGE_PATH"]))
    kwargs: dict[str, Any] = {"host": host, "port": port, "title": settings.app_title, "reload": False,
                              "show": False, "storage_secret": _storage_secret(settings), "show_welcome_message": False,
                              # h11 refuses a request line + headers over 64 KiB; httptools buffers any size,
                              # so one client could make the server hold hundreds of MB before auth runs.
                              "http": "h11", "h11_max_incomplete_event_size": 64 * 1024}
    # uvicorn takes the client address and scheme from X-Forwarded-* only from TRUSTED_PROXIES
    # (its own default would believe any local process)
    kwargs.update(proxy_headers=bool(settings.trusted_proxies),
                  forwarded_allow_ips=",".join(settings.trusted_proxies) or None)
    if native:
        kwargs.update(native=True, window_size=settings.native_window_size_tuple)
    ui.run(**kwargs)


def _use_storage(path: Path) -> None:
    """Per-browser UI preferences in DATA_DIR: NiceGUI read NICEGUI_STORAGE_PATH when it was imported."""
    from nicegui import app
    from nicegui.storage import Storage

    Storage.path = path.resolve()
    app.storage = Storage()


def _storage_secret(settings: Settings) -> str:
    import secrets

    path = settings.data_dir / "session-secret"
    if path.exists():
        return path.read_text().strip()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value

