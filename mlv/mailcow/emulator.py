"""A fake mailcow server: traffic generator + log buffers + API objects + ASGI app.

Used by ``mlv serve`` when no real mailcow is configured (live mode: simulated time follows
the wall clock), by tests over real HTTP (time moves only when told), and by the
``mlv emulator`` command. See :mod:`mlv.mailcow.api` for the HTTP side.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from dataclasses import dataclass

from .buffers import LogBuffer
from .generator import DEFAULT_START, TrafficGenerator
from .site import SERVER_IPV4, SERVER_IPV6

# Redis-backed logs: (cap, trim policy) per spec §2.2 (LOG_LINES=9999 -> LTRIM 0 9999 keeps 10 000)
REDIS_LOGS = {
    "postfix": (10000, "minute"), "dovecot": (10000, "minute"), "sogo": (10000, "minute"),
    "netfilter": (10000, "minute"), "api": (10000, "minute"), "acme": (10000, "minute"),
    "watchdog": (10000, "minute"), "cron": (10000, "minute"), "ratelimited": (10000, "minute"),
    "autodiscover": (101, "insert"), "rspamd-history": (1000, "insert"),
}
SQL_LOGS = {"ui": 100_000, "sasl": 100_000}
FAULT_MODES = ("none", "error500", "slow", "garbage", "badkey")
QUARANTINE_CAP = 5000


def generate_api_key() -> str:
    """A key like the ones mailcow's UI generates: five groups of six upper-case hex digits."""
    return "-".join(secrets.token_hex(3).upper() for _ in range(5))


class Emulator:
    """A living fake mailcow. All public methods are thread-safe.

    ``start`` is the simulated time the emulator is at after construction (default: the wall
    clock in live mode, a fixed 2026-08-01 08:00 UTC otherwise); ``backfill_seconds`` of
    history before it are generated at once. ``api_key`` (generated when None) is the read/write
    key; ``read_only_key`` optional; ``allowed_ips`` restricts the key to those client
    addresses (None = skip IP check). Other keyword arguments go to :class:`TrafficGenerator`.
    """

    def __init__(self, seed: int = 1, rate: float = 6.0, api_key: str | None = None, start: float | None = None,
                 backfill_seconds: float = 0, *, live: bool = False, read_only_key: str | None = None,
                 allowed_ips: list[str] | None = None, log_api_requests: bool = True,
                 host_ip: tuple[str | bool, str | bool] = (SERVER_IPV4, SERVER_IPV6),
                 container_states: dict[str, str] | None = None, slow_seconds: float = 30.0,
                 **generator_options) -> None:
        self.lock = threading.RLock()
        self.api_key = api_key or generate_api_key()
        self.read_only_key = read_only_key
        self.allowed_ips = allowed_ips
        self.log_api_requests = log_api_requests
        self.host_ip = host_ip
        self.container_states = container_states
        self.slow_seconds = slow_seconds
        self.fault = "none"
        self.live = live
        t0 = float(start if start is not None else (time.time() if live else DEFAULT_START))
        self.boot_time = int(t0 - backfill_seconds) - 86400 * 2
        self.buffers: dict[str, LogBuffer] = {n: LogBuffer(cap, trim) for n, (cap, trim) in REDIS_LOGS.items()}
        self.buffers.update({n: LogBuffer(cap, None) for n, cap in SQL_LOGS.items()})
        self.quarantine: list[dict] = []
        self.written: dict[str, int] = dict.fromkeys(self.buffers, 0)  # readable items ever pushed, per log
        sinks = {name: self._sink(name, buf) for name, buf in self.buffers.items()}
        sinks["quarantine"] = self._quarantine_sink
        self.gen = TrafficGenerator(seed=seed, start=t0 - backfill_seconds, rate=rate, sinks=sinks,
                                    **generator_options)
        self.gen.advance_to(t0)
        self._tick()
        self._live_thread: threading.Thread | None = None
        self._live_stop = threading.Event()
        self._app = None

    # ------------------------------------------------------------------ sinks
    def _sink(self, name: str, buf: LogBuffer):
        gen_ref = self  # the generator does not exist yet when sinks are built
        written = self.written

        def push(item):
            buf.push(item, gen_ref.gen.now)
            if item is not None:
                written[name] += 1

        return push

    def _quarantine_sink(self, item: dict) -> None:
        self.quarantine.append(item)
        if len(self.quarantine) > QUARANTINE_CAP:
            del self.quarantine[: len(self.quarantine) - QUARANTINE_CAP]

    def _tick(self) -> None:
        for buf in self.buffers.values():
            buf.tick(self.gen.now)

    # ------------------------------------------------------------------ control
    @property
    def now(self) -> float:
        """Current simulated time."""
        return self.gen.now

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of simulated time pass (generating the traffic in between)."""
        with self.lock:
            self.gen.advance(seconds)
            self._tick()

    def advance_to(self, t: float) -> None:
        """Let simulated time pass until ``t``."""
        with self.lock:
            self.gen.advance_to(t)
            self._tick()

    def burst(self, n: int, settle: float = 5.0) -> None:
        """Inject ``n`` messages at once and advance ``settle`` seconds so their lines exist."""
        with self.lock:
            self.gen.burst(n)
            self.gen.advance(settle)
            self._tick()

    def reset_buffers(self) -> None:
        """A mailcow restart: every Redis log is emptied; queue, quarantine and traffic go on."""
        with self.lock:
            for name in REDIS_LOGS:
                self.buffers[name].clear()
            now = self.gen.now
            started = "daemon started -- version 3.10.12, configuration /opt/postfix/conf"
            self.buffers["postfix"].push({"time": str(int(now)), "priority": "info", "program": "postfix/master",
                                          "message": started}, now)
            self.buffers["netfilter"].push({"time": int(now), "priority": "info",
                                            "message": "Watching Redis channel F2B_CHANNEL"}, now)

    def truth(self) -> list[dict]:
        """Ground truth per message as of now (see :mod:`mlv.mailcow.traffic`)."""
        with self.lock:
            return self.gen.truth()

    def set_fault(self, mode: str) -> None:
        """Make the API misbehave: none | error500 | slow | garbage | badkey."""
        if mode not in FAULT_MODES:
            raise ValueError(f"unknown fault mode {mode!r}; choose from {', '.join(FAULT_MODES)}")
        self.fault = mode

    def buffer_items(self, name: str) -> list:
        """What mailcow holds now for a log, newest first (``None`` = null item); ``quarantine`` oldest first."""
        with self.lock:
            if name == "quarantine":
                return list(self.quarantine)
            return self.buffers[name].items()

    def inject_raw(self, name: str, items: list) -> None:
        """Push arbitrary JSON values into a log buffer as its newest items (in the order given).

        Whatever a broken or hostile mailcow could answer: objects with wrong types or missing keys,
        strings, numbers, ``None`` (how mailcow renders a Redis line that is not valid UTF-8) and
        strings with lone surrogates (served as JSON ``\\ud800``-style escapes, since they cannot be UTF-8).
        """
        with self.lock:
            buf = self.buffers[name]
            for item in items:
                buf.push(item, self.gen.now)
                try:
                    buf._frags[-1].encode("utf-8")
                except UnicodeEncodeError:
                    buf._frags[-1] = json.dumps(item, ensure_ascii=True).replace("/", "\\/")

    def mailq(self) -> list[dict]:
        """Current queue (``mailq/all`` entries)."""
        with self.lock:
            return self.gen.mailq()

    # ------------------------------------------------------------------ live mode
    def start_live(self) -> None:
        """Follow the wall clock: a daemon thread advances simulated time every second."""
        if self._live_thread is not None:
            return
        self._live_stop.clear()
        self._live_thread = threading.Thread(target=self._live_loop, name="mailcow-emulator-live", daemon=True)
        self._live_thread.start()

    def stop_live(self) -> None:
        """Stop following the wall clock."""
        self._live_stop.set()
        if self._live_thread is not None:
            self._live_thread.join(5)
        self._live_thread = None

    def _live_loop(self) -> None:
        while not self._live_stop.wait(1.0):
            self.advance_to(time.time())

    # ------------------------------------------------------------------ HTTP
    @property
    def app(self):
        """The ASGI application serving the mailcow API and ``/_emulator/`` controls."""
        if self._app is None:
            from .api import build_app

            self._app = build_app(self)
        return self._app


@dataclass
class EmulatorHandle:
    """A running emulator HTTP server (see :func:`start_emulator_thread`)."""

    emulator: Emulator
    url: str
    port: int
    _server: object
    _thread: threading.Thread

    def stop(self) -> None:
        """Shut the server (and live mode) down."""
        self.emulator.stop_live()
        self._server.should_exit = True
        self._thread.join(10)


def start_emulator_thread(emulator: Emulator, host: str = "127.0.0.1", port: int = 0) -> EmulatorHandle:
    """Serve ``emulator.app`` with uvicorn in a daemon thread; returns once it accepts requests.

    ``port=0`` picks a free port. Starts live mode if the emulator was created with ``live=True``.
    """
    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = uvicorn.Config(emulator.app, log_level="warning", lifespan="off", access_log=False,
                            timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"mailcow-emulator-{port}",
                              daemon=True)
    thread.start()
    deadline = time.time() + 15
    while not server.started:
        if not thread.is_alive() or time.time() > deadline:
            raise RuntimeError("mailcow emulator did not start")
        time.sleep(0.01)
    if emulator.live:
        emulator.start_live()
    url_host = f"[{host}]" if ":" in host else host
    return EmulatorHandle(emulator, f"http://{url_host}:{port}", port, server, thread)
