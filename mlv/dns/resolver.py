"""Asynchronous DNS queries for the domain checks: one resolver per run, every answer a status.

Queries go over UDP (TCP when an answer is truncated) to DNS_NAMESERVERS or the system's
resolvers. All queries of a run share one socket per nameserver, and a question asked twice in a
run (the same include in 200 SPF records, the server's PTR for every domain) goes out once.
dnspython reads the answers (and does the TCP exchanges); its stub resolver is not used because it
opens a socket and builds full message objects per query, about three times the CPU per query, and
checking a few hundred domains is thousands of queries. Nothing here raises for a DNS problem:
NXDOMAIN, NODATA, SERVFAIL, REFUSED and timeouts come back as an :class:`Answer` with a status
and a sentence a person can read.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

DEFAULT_TIMEOUT = 5.0
VOID = frozenset({"nxdomain", "nodata"})
FAILED = frozenset({"timeout", "servfail", "refused", "error"})
_OPT = b"\x00\x00\x29\x04\xd0\x00\x00\x00\x00\x00\x00"  # EDNS0, 1232-byte UDP payload


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one query: status ok|nxdomain|nodata|timeout|servfail|refused|error|invalid.

    ``records`` holds address strings (A, AAAA), ``(preference, host)`` pairs (MX), host names
    without the final dot (PTR, CNAME, NS) or tuples of byte strings (TXT, one per record).
    """

    name: str
    rdtype: str
    status: str
    records: tuple = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def void(self) -> bool:
        """NXDOMAIN or an empty answer: a "void lookup" in RFC 7208's words."""
        return self.status in VOID

    @property
    def failed(self) -> bool:
        """The question could not be answered (timeout, SERVFAIL, ...): try again later."""
        return self.status in FAILED

    def texts(self) -> list[str]:
        """TXT records with their strings joined (RFC 7208 3.3), bytes read as Latin-1."""
        return [b"".join(parts).decode("latin-1") for parts in self.records] if self.rdtype == "TXT" else []


def parse_nameserver(text: str) -> tuple[str, int]:
    """``ip``, ``ip:port``, ``[ipv6]:port`` or a bare IPv6 address -> (ip, port)."""
    text = text.strip()
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return host, int(port.lstrip(":") or 53)
    if text.count(":") == 1:
        host, port = text.split(":")
        return host, int(port)
    return text, 53


def system_nameservers() -> list[str]:
    """The resolvers of /etc/resolv.conf (127.0.0.1 when there is none)."""
    try:
        return [str(ns) for ns in dns.resolver.Resolver().nameservers] or ["127.0.0.1"]
    except dns.exception.DNSException:
        return ["127.0.0.1"]


def make_name(text: str) -> dns.name.Name:
    """An absolute DNS name; ValueError for empty or over-long labels."""
    return dns.name.from_wire(name_wire(text), 0)[0]


def name_wire(text: str) -> bytes:
    """`text` as a DNS name in wire format; ValueError for empty or over-long labels."""
    text = text.strip().rstrip(".")
    if not text:
        raise ValueError("empty domain name")
    if not text.isascii():
        try:
            return dns.name.from_unicode(text + ".").to_wire() or b""
        except (dns.exception.DNSException, UnicodeError) as exc:
            raise ValueError(f"invalid domain name {text!r}: {exc}") from None
    wire = bytearray()
    for label in text.encode("ascii").split(b"."):
        if not 0 < len(label) <= 63:
            raise ValueError(f"invalid domain name {text!r}: {'empty' if not label else 'over-long'} label")
        wire += bytes((len(label),)) + label
    if len(wire) >= 255:
        raise ValueError(f"invalid domain name {text!r}: longer than 255 bytes")
    return bytes(wire + b"\x00")


class _Channel(asyncio.DatagramProtocol):
    """One UDP socket to one nameserver; answers are matched to their query by message id."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.pending: dict[int, asyncio.Future[bytes]] = {}

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        if len(data) >= 12:
            future = self.pending.get(int.from_bytes(data[:2], "big"))
            if future is not None and not future.done():
                future.set_result(data)

    def error_received(self, exc: Exception) -> None:  # e.g. ICMP port unreachable: let the timeout speak
        pass


@dataclass
class Resolver:
    """Queries for one run of checks, cached and de-duplicated; safe to share between tasks.

    ``timeout`` bounds each query as a whole; it is tried ``retries + 1`` times, cycling through
    the nameservers, each attempt getting an equal share of the time.
    """

    nameservers: Sequence[str] | None = None
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 1
    max_in_flight: int = 128
    queries: int = 0
    cache_hits: int = 0
    _servers: list[tuple[str, int]] = field(default_factory=list, init=False, repr=False)
    _cache: dict[tuple[str, int], asyncio.Future[Answer]] = field(default_factory=dict, init=False, repr=False)
    _channels: dict[tuple[str, int], _Channel] = field(default_factory=dict, init=False, repr=False)
    _lock: asyncio.Lock | None = field(default=None, init=False, repr=False)
    _slots: asyncio.Semaphore | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._servers = [parse_nameserver(ns) for ns in (self.nameservers or system_nameservers())]

    def describe(self) -> str:
        return ", ".join(f"{h}:{p}" if p != 53 else h for h, p in self._servers)

    async def query(self, name: str, rdtype: str) -> Answer:
        """Ask once per run; every caller of the same question shares the one answer."""
        text = name.strip().rstrip(".")
        key = (text.lower(), dns.rdatatype.from_text(rdtype))
        cached = self._cache.get(key)
        if cached is not None:
            self.cache_hits += 1
            return await asyncio.shield(cached)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._cache[key] = future
        try:
            answer = await self._resolve(name_wire(text), key[1], text, rdtype)
        except ValueError as exc:
            answer = Answer(text, rdtype, "invalid", error=str(exc))
        except Exception as exc:  # a bug in here must not take the run down
            answer = Answer(text, rdtype, "error", error=f"DNS query for {text} {rdtype} failed: {exc!r}")
        future.set_result(answer)
        return answer

    async def close(self) -> None:
        for channel in self._channels.values():
            if channel.transport is not None:
                channel.transport.close()
        self._channels.clear()

    async def __aenter__(self) -> Resolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _resolve(self, wire: bytes, rdtype: int, text: str, type_text: str) -> Answer:
        seen: set[dns.name.Name] = set()
        for _ in range(8):  # CNAME hops an authoritative server leaves for us to follow
            response, raw, problem = await self._exchange(wire, rdtype, text)
            if response is None:
                return Answer(text, type_text, problem[0], error=problem[1])
            name = response.question[0].name
            seen.add(name)
            target, rrset, looped = _follow(response, name, rdtype)
            if rrset is not None:
                return Answer(text, type_text, "ok", _records(rrset))
            if looped or (target in seen and target != name):
                return Answer(text, type_text, "error", error=f"CNAME loop at {target.to_text(True)}")
            if response.rcode() == dns.rcode.NXDOMAIN:
                return Answer(text, type_text, "nxdomain", error=f"{text} does not exist (NXDOMAIN)")
            if target == name or _concluded(response, raw):
                return Answer(text, type_text, "nodata", error=f"no {type_text} record at {text}")
            wire = target.to_wire() or b""
        return Answer(text, type_text, "error", error=f"too many CNAME hops from {text}")

    async def _exchange(self, wire: bytes, rdtype: int,
                        text: str) -> tuple[dns.message.Message | None, bytes | None, tuple[str, str]]:
        self.queries += 1
        question = wire + struct.pack("!HH", rdtype, 1)
        attempts = self.retries + 1
        share = self.timeout / attempts
        readable = f"{text} {dns.rdatatype.to_text(rdtype)}"
        problem = ("timeout", f"DNS timeout: no answer for {readable} within {self.timeout:g} s "
                              f"(nameserver {self.describe()})")
        for attempt in range(attempts):
            server = self._servers[attempt % len(self._servers)]
            raw: bytes | None = None
            try:
                raw = await self._udp(server, question, share)
                if raw[12:12 + len(question)].lower() != question.lower() or not raw[2] & 0x80:
                    problem = ("error", f"DNS server {server[0]} sent an answer that does not match {readable}")
                    continue
                rcode = raw[3] & 0x0F
                if raw[2] & 0x02:  # truncated: ask again over TCP
                    query = dns.message.make_query(dns.name.from_wire(wire, 0)[0], rdtype, use_edns=0, payload=1232)
                    response = await dns.asyncquery.tcp(query, server[0], timeout=share, port=server[1])
                    rcode, raw = response.rcode(), None
                else:  # authority and additional sections are only needed in rare cases: skip them
                    response = dns.message.from_wire(raw[:8] + b"\x00\x00\x00\x00" + raw[12:], ignore_trailing=True)
            except (TimeoutError, dns.exception.Timeout):
                continue
            except (OSError, dns.exception.DNSException) as exc:
                problem = ("error", f"DNS query {readable} to {server[0]} failed: {exc}")
                continue
            if rcode in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
                return response, raw, problem
            status = {dns.rcode.SERVFAIL: "servfail", dns.rcode.REFUSED: "refused"}.get(rcode, "error")
            problem = (status, f"DNS server {server[0]} answered {dns.rcode.to_text(rcode)} for {readable}")
        return None, None, problem

    async def _udp(self, server: tuple[str, int], question: bytes, timeout: float) -> bytes:
        loop = asyncio.get_running_loop()
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.max_in_flight)
            self._lock = asyncio.Lock()
        channel = self._channels.get(server)
        if channel is None:
            assert self._lock is not None
            async with self._lock:
                channel = self._channels.get(server)
                if channel is None:
                    _, channel = await loop.create_datagram_endpoint(_Channel, remote_addr=server)
                    self._channels[server] = channel
        async with self._slots:
            qid = random.getrandbits(16)
            while qid in channel.pending:
                qid = random.getrandbits(16)
            future: asyncio.Future[bytes] = loop.create_future()
            channel.pending[qid] = future
            timer = loop.call_later(timeout, _expire, future)
            try:
                assert channel.transport is not None
                channel.transport.sendto(struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 1) + question + _OPT)
                return await future
            finally:
                timer.cancel()
                channel.pending.pop(qid, None)


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


def _concluded(response: dns.message.Message, raw: bytes | None) -> bool:
    """Did the server settle the question (an SOA in the authority section), or leave a CNAME to us?"""
    full = dns.message.from_wire(raw) if raw is not None else response
    return any(rr.rdtype == dns.rdatatype.SOA for rr in full.authority)


def _follow(response: dns.message.Message, name: dns.name.Name, rdtype: int):  # type: ignore[no-untyped-def]
    """Walk the answer's CNAME chain from `name`: (last name reached, rrset of `rdtype` or None, looped)."""
    by_name: dict[tuple[dns.name.Name, int], object] = {(rr.name, rr.rdtype): rr for rr in response.answer}
    seen = set()
    while name not in seen:
        seen.add(name)
        rrset = by_name.get((name, rdtype))
        if rrset is not None:
            return name, rrset, False
        cname = by_name.get((name, dns.rdatatype.CNAME))
        if cname is None or rdtype == dns.rdatatype.CNAME:
            return name, None, False
        name = next(iter(cname)).target  # type: ignore[call-overload]
    return name, None, True


def _records(rrset) -> tuple:  # type: ignore[no-untyped-def]
    kind = rrset.rdtype
    if kind in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return tuple(rd.address for rd in rrset)
    if kind == dns.rdatatype.MX:
        return tuple(sorted((rd.preference, rd.exchange.to_text(True) if rd.exchange != dns.name.root else "")
                            for rd in rrset))
    if kind in (dns.rdatatype.TXT, dns.rdatatype.SPF):
        return tuple(tuple(rd.strings) for rd in rrset)
    if kind in (dns.rdatatype.PTR, dns.rdatatype.CNAME, dns.rdatatype.NS):
        return tuple(rd.target.to_text(True) for rd in rrset)
    return tuple(rd.to_text() for rd in rrset)
