"""check_host() of RFC 7208: may this IP address send mail for this domain, and why?

Evaluated as section 4.6 says, including macros, include/redirect, the ptr mechanism, exp=,
the limit of 10 DNS-querying terms and 2 void lookups counted over the whole evaluation, and
include/redirect loops. The result also carries the chain of terms that authorised the address
(``include:_spf.example.net`` -> ``ip4:192.0.2.0/24``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from dataclasses import dataclass, field

import dns.reversename

from mlv.dns.resolver import Resolver
from mlv.dns.spf_macro import SpfSyntaxError, expand, fit_domain, ip_values
from mlv.dns.spf_record import Mechanism, SpfRecord, is_spf_record, parse_spf

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class PermError(Exception):
    """check_host() returns "permerror"."""


class TempError(Exception):
    """check_host() returns "temperror"."""


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: str  # pass | fail | softfail | neutral | none | permerror | temperror
    domain: str
    path: tuple[str, ...] = ()
    explanation: str | None = None
    error: str | None = None
    lookups: int = 0
    void_lookups: int = 0

    @property
    def mechanism(self) -> str | None:
        return self.path[-1] if self.path else None

    def via(self) -> str:
        """The path as people read it: ``include:a (include:b (ip4:192.0.2.1))``."""
        if not self.path:
            return ""
        text = self.path[-1]
        for term in reversed(self.path[:-1]):
            text = f"{term} ({text})"
        return text


@dataclass
class _Outcome:
    result: str
    path: list[str] = field(default_factory=list)
    record: SpfRecord | None = None
    domain: str = ""


def valid_domain(domain: str) -> bool:
    """RFC 7208 4.3: a multi-label name without empty or over-long labels (else "none")."""
    labels = domain[:-1].split(".") if domain.endswith(".") else domain.split(".")
    return (len(labels) >= 2 and all(0 < len(label) <= 63 for label in labels) and len(domain) <= 253
            and not domain.startswith("["))


def client_ip(text: str | IPAddress) -> IPAddress:
    """The client address; an IPv4-mapped IPv6 address is treated as the IPv4 address."""
    ip = ipaddress.ip_address(text) if isinstance(text, str) else text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


async def check_host(ip: str | IPAddress, domain: str, sender: str, *, resolver: Resolver, helo: str = "",
                     receiver: str = "unknown", max_lookups: int = 10, max_void: int = 2) -> SpfResult:
    """Evaluate `domain`'s SPF policy for mail from `sender` sent by `ip` (never raises for DNS trouble)."""
    evaluation = _Evaluation(client_ip(ip), sender, helo, resolver, receiver, max_lookups, max_void,
                             ip if isinstance(ip, str) else "")
    domain = domain.rstrip(".")
    if not valid_domain(domain):
        return SpfResult("none", domain, error=f"{domain!r} is not a valid domain name")
    try:
        outcome = await evaluation.check(domain)
    except PermError as exc:
        return SpfResult("permerror", domain, error=str(exc), lookups=evaluation.lookups,
                         void_lookups=evaluation.voids)
    except TempError as exc:
        return SpfResult("temperror", domain, error=str(exc), lookups=evaluation.lookups,
                         void_lookups=evaluation.voids)
    explanation = None
    if outcome.result == "fail" and outcome.record is not None and outcome.record.exp is not None:
        explanation = await evaluation.explain(outcome.record.exp, outcome.domain)
    error = f"{domain} has no SPF record" if outcome.result == "none" else None
    return SpfResult(outcome.result, domain, tuple(outcome.path), explanation, error, evaluation.lookups,
                     evaluation.voids)


class _Evaluation:
    def __init__(self, ip: IPAddress, sender: str, helo: str, resolver: Resolver, receiver: str,
                 max_lookups: int, max_void: int, written: str) -> None:
        self.ip, self.resolver = ip, resolver
        self.max_lookups, self.max_void = max_lookups, max_void
        self.lookups = self.voids = 0
        self.stack: list[str] = []
        local, _, sender_domain = sender.rpartition("@")
        local = local or "postmaster"
        self.values = {"s": f"{local}@{sender_domain}", "l": local, "o": sender_domain, "h": helo,
                       "r": receiver, **ip_values(ip, written)}
        self.address_type = "A" if ip.version == 4 else "AAAA"
        self._validated: list[str] | None = None

    async def check(self, domain: str) -> _Outcome:
        key = domain.lower().rstrip(".")
        if key in self.stack:
            raise PermError(f"SPF loop: {' -> '.join([*self.stack, key])}")
        record = await self._record(domain)
        if record is None:
            return _Outcome("none", domain=domain)
        self.stack.append(key)
        try:
            for mechanism in record.mechanisms:
                matched, path = await self._match(mechanism, domain)
                if matched:
                    return _Outcome(mechanism.result, [mechanism.label, *path], record, domain)
            if record.redirect is not None:
                self._count()
                target = await self._target(record.redirect, domain)
                outcome = await self.check(target) if valid_domain(target) else _Outcome("none")
                if outcome.result == "none":
                    raise PermError(f"redirect={target} has no SPF record")
                outcome.path = [f"redirect={record.redirect}", *outcome.path]
                return outcome
            return _Outcome("neutral", record=record, domain=domain)
        finally:
            self.stack.pop()

    async def explain(self, spec: str, domain: str) -> str | None:
        """The exp= text (RFC 7208 6.2); any problem quietly means the default explanation."""
        try:
            answer = await self.resolver.query(await self._target(spec, domain), "TXT")
            if not answer.ok or len(answer.records) != 1:
                return None
            text = answer.texts()[0]
            if not text.isascii():
                return None
            return expand(text, {**await self._values(domain, text), "t": str(int(time.time()))}, explain=True)
        except SpfSyntaxError:
            return None

    async def _record(self, domain: str) -> SpfRecord | None:
        answer = await self.resolver.query(domain, "TXT")
        if answer.failed:
            raise TempError(answer.error)
        if not answer.ok:
            return None
        found = [text for text in answer.texts() if is_spf_record(text)]
        if not found:
            return None
        if len(found) > 1:
            raise PermError(f"{domain} has {len(found)} SPF records")
        try:
            return parse_spf(found[0])
        except SpfSyntaxError as exc:
            raise PermError(f"{domain}: {exc}") from None

    def _count(self) -> None:
        self.lookups += 1
        if self.lookups > self.max_lookups:
            raise PermError(f"more than {self.max_lookups} DNS lookups")

    def _void(self) -> None:
        self.voids += 1
        if self.voids > self.max_void:
            raise PermError(f"more than {self.max_void} void DNS lookups")

    async def _values(self, domain: str, text: str) -> dict[str, str]:
        values = {**self.values, "d": domain}
        if "%{p" in text.lower():
            values["p"] = await self._p_macro(domain)
        return values

    async def _target(self, spec: str | None, domain: str) -> str:
        if spec is None:
            return domain
        try:
            return fit_domain(expand(spec, await self._values(domain, spec)))
        except SpfSyntaxError as exc:
            raise PermError(str(exc)) from None

    async def _addresses(self, name: str, rdtype: str, *, void: bool) -> tuple[str, ...]:
        answer = await self.resolver.query(name, rdtype)
        if answer.failed:
            raise TempError(answer.error)
        if answer.void and void:
            self._void()
        return answer.records if answer.ok else ()

    def _network(self, mechanism: Mechanism) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        bits = mechanism.cidr4 if self.ip.version == 4 else mechanism.cidr6
        return ipaddress.ip_network(f"{self.ip}/{self.ip.max_prefixlen if bits is None else bits}", strict=False)

    async def _match(self, mechanism: Mechanism, domain: str) -> tuple[bool, list[str]]:
        name = mechanism.name
        if name == "all":
            return True, []
        if name in ("ip4", "ip6"):
            assert mechanism.network is not None
            return mechanism.network.version == self.ip.version and self.ip in mechanism.network, []
        self._count()
        target = await self._target(mechanism.domain_spec, domain)
        if name == "include":
            outcome = await self.check(target) if valid_domain(target) else _Outcome("none")
            if outcome.result == "none":
                raise PermError(f"include:{target} has no SPF record")
            return outcome.result == "pass", outcome.path
        if name == "ptr":
            target = target.lower()
            names = await self._validated_names()
            return any(n == target or n.endswith("." + target) for n in names), []
        if name == "exists":
            return bool(await self._addresses(target, "A", void=True)), []
        network = self._network(mechanism)
        if name == "a":
            found = await self._addresses(target, self.address_type, void=True)
            return any(ipaddress.ip_address(a) in network for a in found), []
        hosts = [host for _, host in await self._addresses(target, "MX", void=True)]
        if len(hosts) > 10:
            raise PermError(f"mx:{target} has {len(hosts)} MX records (at most 10 may be looked up)")
        lists = await asyncio.gather(*(self._addresses(h, self.address_type, void=False) for h in hosts if h))
        return any(ipaddress.ip_address(a) in network for found in lists for a in found), []

    async def _validated_names(self) -> list[str]:
        """PTR names of the client whose A/AAAA records lead back to it (first 10 names only)."""
        if self._validated is None:
            answer = await self.resolver.query(dns.reversename.from_address(str(self.ip)).to_text(), "PTR")
            names = [n.lower() for n in answer.records[:10]] if answer.ok else []
            found = await asyncio.gather(*(self.resolver.query(n, self.address_type) for n in names))
            self._validated = [n for n, a in zip(names, found, strict=True)
                               if a.ok and any(ipaddress.ip_address(x) == self.ip for x in a.records)]
        return self._validated

    async def _p_macro(self, domain: str) -> str:
        names = await self._validated_names()
        domain = domain.lower()
        for candidate in (n for n in names if n == domain):
            return candidate
        for candidate in (n for n in names if n.endswith("." + domain)):
            return candidate
        return names[0] if names else "unknown"
