"""Reading an SPF record (RFC 7208 sections 4.5, 5 and 6): pure functions, no DNS."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from mlv.dns.spf_macro import SpfSyntaxError, check_domain_spec, check_macro_string

MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
DNS_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})
RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}

_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)", re.S)
_DIRECTIVE = re.compile(r"([+\-~?]?)([A-Za-z][A-Za-z0-9]*)(.*)", re.S)
_CIDR = re.compile(r"(?:/([0-9]+))?(?://([0-9]+))?$")


@dataclass(frozen=True, slots=True)
class Mechanism:
    """One directive: qualifier (+ - ~ ?), lower-case name, its arguments, the text as written."""

    qualifier: str
    name: str
    domain_spec: str | None = None
    cidr4: int | None = None
    cidr6: int | None = None
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = None
    text: str = ""

    @property
    def result(self) -> str:
        return RESULTS[self.qualifier]

    @property
    def label(self) -> str:
        """The term as written, without a leading "+" (e.g. ``ip4:192.0.2.0/24``)."""
        return self.text[1:] if self.text.startswith("+") else self.text


@dataclass(frozen=True, slots=True)
class SpfRecord:
    text: str
    mechanisms: tuple[Mechanism, ...]
    redirect: str | None = None
    exp: str | None = None
    unknown_modifiers: tuple[tuple[str, str], ...] = ()

    @property
    def all(self) -> Mechanism | None:
        """The first "all" (evaluation never gets past it)."""
        return next((m for m in self.mechanisms if m.name == "all"), None)

    @property
    def dns_terms(self) -> int:
        """Terms of this record that cost a DNS lookup (include a mx ptr exists, and redirect)."""
        return sum(m.name in DNS_MECHANISMS for m in self.mechanisms) + (self.redirect is not None
                                                                         and self.all is None)

    @property
    def includes(self) -> list[str]:
        return [m.domain_spec for m in self.mechanisms if m.name == "include" and m.domain_spec]


def is_spf_record(text: str) -> bool:
    """A TXT string that is an SPF record: "v=spf1" alone or followed by a space (any case)."""
    return text[:6].lower() == "v=spf1" and (len(text) == 6 or text[6] == " ")


def looks_like_spf(text: str) -> bool:
    """Meant to be SPF but not selectable: "v=spf1" glued to what follows (e.g. "v=spf1mx")."""
    return text[:6].lower() == "v=spf1" and not is_spf_record(text) and not text[6:7].isdigit()


def _cidr(value: str | None, top: int, what: str) -> int | None:
    if value is None:
        return None
    if (value != "0" and value.startswith("0")) or int(value) > top:
        raise SpfSyntaxError(f"invalid {what} prefix length /{value}")
    return int(value)


def _mechanism(term: str) -> Mechanism:
    match = _DIRECTIVE.fullmatch(term)
    if match is None:
        raise SpfSyntaxError(f"unknown term {term!r}")
    qualifier, name, rest = match.group(1) or "+", match.group(2).lower(), match.group(3)
    if name not in MECHANISMS or rest[:1] not in ("", ":", "/"):
        raise SpfSyntaxError(f"unknown mechanism {term!r}")
    make = lambda **kw: Mechanism(qualifier, name, text=term, **kw)  # noqa: E731
    if name == "all":
        if rest:
            raise SpfSyntaxError(f"'all' takes no argument: {term!r}")
        return make()
    if name in ("include", "exists"):
        if not rest.startswith(":") or not rest[1:]:
            raise SpfSyntaxError(f"{name} needs a domain: {term!r}")
        check_domain_spec(rest[1:])
        return make(domain_spec=rest[1:])
    if name == "ptr":
        if rest and (not rest.startswith(":") or not rest[1:]):
            raise SpfSyntaxError(f"invalid ptr mechanism {term!r}")
        if rest:
            check_domain_spec(rest[1:])
        return make(domain_spec=rest[1:] or None)
    if name in ("ip4", "ip6"):
        address, slash, length = rest[1:].partition("/")
        if not rest.startswith(":") or not address:
            raise SpfSyntaxError(f"{name} needs an address: {term!r}")
        try:
            ip = ipaddress.IPv4Address(address) if name == "ip4" else ipaddress.IPv6Address(address)
        except ValueError:
            raise SpfSyntaxError(f"invalid address in {term!r}") from None
        top = 32 if name == "ip4" else 128
        if slash and not length.isdigit():
            raise SpfSyntaxError(f"invalid prefix length in {term!r}")
        bits = _cidr(length or None, top, name)
        network = ipaddress.ip_network(f"{ip}/{top if bits is None else bits}", strict=False)
        return make(network=network)
    # a and mx: [":" domain-spec] [ "/" ip4-cidr ] [ "//" ip6-cidr ]
    cidr = _CIDR.search(rest)
    assert cidr is not None
    head = rest[:cidr.start()]
    cidr4, cidr6 = _cidr(cidr.group(1), 32, "IPv4"), _cidr(cidr.group(2), 128, "IPv6")
    if head and (not head.startswith(":") or not head[1:]):
        raise SpfSyntaxError(f"invalid {name} mechanism {term!r}")
    if head:
        check_domain_spec(head[1:])
    return make(domain_spec=head[1:] or None, cidr4=cidr4, cidr6=cidr6)


def parse_spf(text: str) -> SpfRecord:
    """Parse a whole SPF record; SpfSyntaxError names the first term that breaks the grammar."""
    if not is_spf_record(text):
        raise SpfSyntaxError("an SPF record starts with 'v=spf1 ' (with a space)")
    bad = next((c for c in text if not "\x20" <= c <= "\x7e"), None)
    if bad is not None:
        raise SpfSyntaxError(f"non-ASCII or control character {bad!r} in the record")
    mechanisms: list[Mechanism] = []
    redirect = exp = None
    unknown: list[tuple[str, str]] = []
    for term in text[6:].split(" "):
        if not term:
            continue
        modifier = _MODIFIER.fullmatch(term)
        if modifier is None:
            mechanisms.append(_mechanism(term))
            continue
        name, value = modifier.group(1).lower(), modifier.group(2)
        if name in ("redirect", "exp"):
            if (redirect if name == "redirect" else exp) is not None:
                raise SpfSyntaxError(f"'{name}=' appears more than once")
            check_domain_spec(value)
            if name == "redirect":
                redirect = value
            else:
                exp = value
        else:
            check_macro_string(value)
            unknown.append((name, value))
    return SpfRecord(text, tuple(mechanisms), redirect, exp, tuple(unknown))
