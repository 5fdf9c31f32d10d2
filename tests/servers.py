"""Real servers for tests, on 127.0.0.1 and free ports: PostgreSQL (more arrive with their issues)."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    """A throw-away PostgreSQL cluster (fsync off) in a temp dir; root runs it as `postgres`."""

    port: int
    datadir: Path
    bindir: Path
    as_user: list[str]

    @classmethod
    def start(cls) -> PostgresServer:
        bindir = _pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        base = Path(tempfile.mkdtemp(prefix="mlv-pg-", dir="/tmp"))
        as_user: list[str] = []
        if os.geteuid() == 0:
            pw = pwd.getpwnam("postgres")
            os.chown(base, pw.pw_uid, pw.pw_gid)
            as_user = ["runuser", "-u", "postgres", "--"]
        port = free_port()
        run = lambda *args: subprocess.run([*as_user, *args], check=True, capture_output=True, timeout=60)  # noqa: E731
        run(str(bindir / "initdb"), "-D", str(base / "data"), "-U", "postgres", "-A", "trust", "-E", "UTF8",
            "--locale=C.UTF-8", "--no-sync")
        server = cls(port=port, datadir=base / "data", bindir=bindir, as_user=as_user)
        server.start_again()
        return server

    @property
    def options(self) -> str:
        return (f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.datadir.parent} -c fsync=off "
                f"-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{dbname}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def _ctl(self, *args: str) -> None:
        # Output to a file, not a pipe: a server that pg_ctl (re)starts inherits it, and a pipe held
        # open by the server would keep subprocess.run waiting until the timeout.
        with open(self.datadir.parent / "pg_ctl.log", "ab") as log:
            subprocess.run([*self.as_user, str(self.bindir / "pg_ctl"), "-D", str(self.datadir), *args],
                           check=True, stdout=log, stderr=log, timeout=60)

    def restart(self) -> None:
        self._ctl("-m", "fast", "-w", "restart")

    def stop_server(self) -> None:
        self._ctl("-m", "fast", "-w", "stop")

    def start_again(self) -> None:
        self._ctl("-l", str(self.datadir.parent / "pg.log"), "-w", "-t", "30", "-o", self.options, "start")

    def stop(self) -> None:
        try:
            self.stop_server()
        finally:
            shutil.rmtree(self.datadir.parent, ignore_errors=True)
