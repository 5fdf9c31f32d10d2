"""Knot DNS on 127.0.0.1 for the tests: zone files written from Python, one knotd per server."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import dns.message
import dns.query

from tests.servers import free_port

SOA = "@ 300 IN SOA ns1.invalid. hostmaster.invalid. 1 3600 600 86400 300\n@ 300 IN NS ns1.invalid.\n"


def quote_bytes(value: bytes) -> str:
    """One TXT character-string in zone-file syntax (anything unusual as \\DDD)."""
    out = []
    for byte in value:
        char = chr(byte)
        out.append(char if (0x21 <= byte <= 0x7E and char not in '"\\;()') or char == " " else f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def txt(*strings: str | bytes) -> str:
    """TXT rdata from one or more strings (several strings = a split record)."""
    if not strings:
        strings = ("",)
    return " ".join(quote_bytes(s if isinstance(s, bytes) else s.encode("latin-1")) for s in strings)


def owner(name: str) -> str:
    """A domain name in zone-file syntax, absolute (unusual characters escaped)."""
    name = name.rstrip(".")
    if not name:
        return "."
    labels = []
    for label in name.split("."):
        labels.append("".join(c if c.isalnum() or c in "-_*" else f"\\{ord(c):03d}" for c in label))
    return ".".join(labels) + "."


def zone_text(records: list[tuple[str, str, str]]) -> str:
    """A zone file body: SOA/NS at the apex, then (name, type, rdata) rows with absolute names."""
    return SOA + "".join(f"{owner(name)} 300 IN {rtype} {rdata}\n" for name, rtype, rdata in records)


@dataclass
class Knot:
    """A running knotd serving `zones` (apex -> zone file text) on 127.0.0.1:port."""

    port: int
    workdir: Path
    process: subprocess.Popen
    zones: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, zones: dict[str, str]) -> Knot:
        if shutil.which("knotd") is None:
            raise RuntimeError("knotd is not installed (apt-get install knot)")
        workdir = Path(tempfile.mkdtemp(prefix="mlv-knot-"))
        (workdir / "run").mkdir()
        port = free_port()
        lines = [f"server:\n  rundir: \"{workdir}/run\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n"
                 f"  tcp-workers: 1\n  background-workers: 1\n",
                 f"database:\n  storage: \"{workdir}/db\"\n",
                 "log:\n  - target: stderr\n    any: error\n",
                 f"template:\n  - id: default\n    storage: \"{workdir}\"\n    zonefile-sync: -1\n"
                 "    zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n",
                 "zone:\n"]
        for index, (apex, text) in enumerate(zones.items()):
            path = workdir / f"zone{index}.zone"
            origin = owner(apex)
            path.write_text(f"$ORIGIN {origin}\n$TTL 300\n{text}", encoding="latin-1")
            lines.append(f"  - domain: \"{origin}\"\n    file: \"{path.name}\"\n")
        (workdir / "knot.conf").write_text("".join(lines))
        process = subprocess.Popen(["knotd", "-c", str(workdir / "knot.conf")], stdout=subprocess.DEVNULL,
                                   stderr=open(workdir / "knot.log", "wb"))
        server = cls(port, workdir, process, dict(zones))
        server._wait(next(iter(zones)))
        return server

    def _wait(self, apex: str) -> None:
        query = dns.message.make_query(owner(apex), "SOA")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"knotd exited: {(self.workdir / 'knot.log').read_text()[-2000:]}")
            try:
                if dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.2).answer:
                    return
            except Exception:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError("knotd did not start serving in 10 s")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        shutil.rmtree(self.workdir, ignore_errors=True)


class DeadServer:
    """A UDP socket on 127.0.0.1 that reads every query and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.received = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(4096)
                self.received += 1
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


class DroppingProxy:
    """Forwards UDP queries to a real server, except those `drop(qname, qtype)` says to swallow."""

    def __init__(self, upstream_port: int, drop) -> None:  # type: ignore[no-untyped-def]
        self.upstream = ("127.0.0.1", upstream_port)
        self.drop = drop
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.dropped = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _run(self) -> None:
        upstream = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        upstream.settimeout(2)
        while not self._stop.is_set():
            try:
                data, client = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                break
            try:
                question = dns.message.from_wire(data).question[0]
                name = question.name.to_text(omit_final_dot=True).lower()
                if self.drop(name, question.rdtype):
                    self.dropped += 1
                    continue
                upstream.sendto(data, self.upstream)
                while True:
                    reply, _ = upstream.recvfrom(65535)
                    if reply[:2] == data[:2]:
                        break
                self.sock.sendto(reply, client)
            except Exception:
                continue
        upstream.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()
