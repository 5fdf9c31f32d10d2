"""A database filled from the mailcow emulator over real HTTP (once per backend), and the API app on it."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from starlette.middleware.sessions import SessionMiddleware

from mlv import app as mlv_app
from mlv.config import Settings, load_settings, set_settings
from mlv.db import make_engine, migrate
from mlv.ingest.fetcher import run_fetch
from mlv.mailcow.client import MailcowClient
from mlv.mailcow.emulator import Emulator, start_emulator_thread

USER, PASSWORD = "admin", "s3cret-pa55"
HOURS = 3
COUNTS = {"postfix": 10000, "rspamd": 1000, "netfilter": 10000, "dovecot": 10000}


@dataclass
class World:
    engine: Engine
    settings: Settings
    emulator: Emulator
    url: str
    now: float


@pytest.fixture(scope="session")
def emulator_handle() -> Iterator:
    now = time.time()
    emu = Emulator(seed=11, rate=25.0, start=now - HOURS * 3600)
    handle = start_emulator_thread(emu)
    with MailcowClient(handle.url, emu.api_key) as client:
        fills = []
        for _ in range(HOURS * 6):  # a fetch per 10 simulated minutes: the buffers never wrap
            emu.advance(600)
            fills.append(_snapshot(client))
    handle.fills = fills
    yield handle
    handle.stop()


def _snapshot(client: MailcowClient) -> dict:
    return {s: client.logs(s, COUNTS[s]) for s in COUNTS}


class _Replay:
    """Answers run_fetch from recorded emulator answers (each recorded over HTTP), one fetch each."""

    def __init__(self, client: MailcowClient, snap: dict) -> None:
        self.client, self.snap = client, snap

    def logs(self, source: str, count: int) -> list:
        return self.snap[source][:count]

    def objects(self, path: str) -> list[dict]:
        return self.client.objects(path)


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory, emulator_handle) -> Iterator[World]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'mlv.db'}"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"mlv_api_{os.getpid()}")
    engine = make_engine(url)
    migrate(engine)
    emu = emulator_handle.emulator
    with MailcowClient(emulator_handle.url, emu.api_key) as client:
        for snap in emulator_handle.fills:
            run_fetch(engine, _Replay(client, snap), counts=COUNTS, objects_every=0)  # type: ignore[arg-type]
    settings = load_settings(auth_enabled=True, auth_username=USER, auth_password=PASSWORD, _env_file=None,
                             max_search_results=1000, csv_export_limit=10000, trusted_proxies="10.0.0.1",
                             auth_max_failures=3, auth_failure_window=60, app_releases_url="",
                             database_url=url)
    yield World(engine, settings, emu, emulator_handle.url, time.time())
    engine.dispose()


def build_app(settings: Settings, *, enabled: bool = True) -> FastAPI:
    from mlv.api import install_guard, register_routes

    app = FastAPI()
    register_routes(app)
    install_guard(app, enabled=enabled, username=settings.auth_username, password=settings.auth_password,
                  trusted_proxies=settings.trusted_proxies, max_failures=settings.auth_max_failures,
                  failure_window=settings.auth_failure_window)
    app.add_middleware(SessionMiddleware, secret_key="test-secret")  # outside the guard, as NiceGUI's is
    return app


@pytest.fixture
def runtime(world: World) -> Iterator[mlv_app.Runtime]:
    rt = mlv_app.Runtime(settings=world.settings, engine=world.engine, mailcow_url=world.url,
                         mailcow_key=world.emulator.api_key)
    old = mlv_app.runtime
    mlv_app.runtime = rt
    set_settings(world.settings)
    yield rt
    mlv_app.runtime = old
    set_settings(None)


def client_for(app: FastAPI, *, auth: bool = True, peer: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver",
                             auth=(USER, PASSWORD) if auth else None)


@pytest.fixture
async def api(runtime: mlv_app.Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(runtime.settings)
    async with client_for(app) as client:
        yield client
