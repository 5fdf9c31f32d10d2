"""SPF macros (RFC 7208 section 7): checking a macro-string's syntax and expanding it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from urllib.parse import quote


class SpfSyntaxError(ValueError):
    """The record breaks RFC 7208's grammar: check_host() says "permerror"."""


_MACRO = re.compile(r"%\{([A-Za-z])([0-9]*)([rR]?)([.\-+,/_=]*)\}|%%|%_|%-")
DOMAIN_LETTERS = frozenset("slodiphv")
EXPLAIN_LETTERS = DOMAIN_LETTERS | frozenset("crt")
_DELIMITERS = re.compile(r"[.\-+,/_=]")
_TOPLABEL = re.compile(r"[a-z0-9]*[a-z][a-z0-9]*|[a-z0-9]+-[a-z0-9-]*[a-z0-9]", re.I)


def _tokens(text: str, *, explain: bool):  # type: ignore[no-untyped-def]
    """Yield ("lit", text) and ("macro", match) pieces; SpfSyntaxError on anything else."""
    letters = EXPLAIN_LETTERS if explain else DOMAIN_LETTERS
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char == "%":
            match = _MACRO.match(text, pos)
            if match is None:
                raise SpfSyntaxError(f"invalid macro at {text[pos:pos + 6]!r} in {text!r}")
            letter = match.group(1)
            if letter is not None:
                if letter.lower() not in letters:
                    raise SpfSyntaxError(f"unknown macro letter %{{{letter}}} in {text!r}")
                if match.group(2) and int(match.group(2)) == 0:
                    raise SpfSyntaxError(f"macro transformer 0 in {text!r}")
            yield "macro", match
            pos = match.end()
            continue
        if not ("\x21" <= char <= "\x7e" or (explain and char == " ")):
            raise SpfSyntaxError(f"invalid character {char!r} in {text!r}")
        end = text.find("%", pos)
        end = len(text) if end < 0 else end
        chunk = text[pos:end]
        if not all("\x21" <= c <= "\x7e" or (explain and c == " ") for c in chunk):
            bad = next(c for c in chunk if not ("\x21" <= c <= "\x7e" or (explain and c == " ")))
            raise SpfSyntaxError(f"invalid character {bad!r} in {text!r}")
        yield "lit", chunk
        pos = end


def check_macro_string(text: str, *, explain: bool = False) -> None:
    """Raise SpfSyntaxError unless `text` is a valid macro-string (explain-string when `explain`)."""
    for _ in _tokens(text, explain=explain):
        pass


def check_domain_spec(text: str) -> None:
    """A domain-spec: a macro-string ending in a macro or in "." toplabel [ "." ]."""
    if not text:
        raise SpfSyntaxError("empty domain")
    pieces = list(_tokens(text, explain=False))
    if pieces[-1][0] == "macro":
        return
    literal = text[:-1] if text.endswith(".") else text
    _, dot, top = literal.rpartition(".")
    if not dot or not _TOPLABEL.fullmatch(top):
        raise SpfSyntaxError(f"invalid domain {text!r}")


def has_macros(text: str) -> bool:
    return "%" in text


def ip_values(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, written: str = "") -> dict[str, str]:
    """The macro values that depend on the client address: i, c and v.

    The nibbles of an IPv6 %{i} keep the case the address was written in (DNS does not care;
    an explanation shown to people reads better that way, and the RFC 7208 suite expects it).
    """
    if ip.version == 4:
        return {"i": str(ip), "c": str(ip), "v": "in-addr"}
    nibbles = ip.exploded.replace(":", "")
    if any(c.isupper() for c in written) and not any(c.islower() for c in written):
        nibbles = nibbles.upper()
    return {"i": ".".join(nibbles), "c": str(ip), "v": "ip6"}


def expand(text: str, values: Mapping[str, str], *, explain: bool = False) -> str:
    """Expand the macros of `text` with `values` (letter -> value, e.g. "s" -> sender)."""
    out: list[str] = []
    for kind, piece in _tokens(text, explain=explain):
        if kind == "lit":
            out.append(piece)
            continue
        whole = piece.group(0)
        if whole == "%%":
            out.append("%")
        elif whole == "%_":
            out.append(" ")
        elif whole == "%-":
            out.append("%20")
        else:
            letter, digits, reverse, delimiters = piece.groups()
            value = values.get(letter.lower(), "")
            parts = re.split("[" + re.escape(delimiters) + "]", value) if delimiters else value.split(".")
            if reverse:
                parts.reverse()
            if digits:
                parts = parts[-min(int(digits), len(parts)):]
            value = ".".join(parts)
            out.append(quote(value, safe="-._~") if letter.isupper() else value)
    return "".join(out)


def fit_domain(name: str) -> str:
    """Drop labels from the left until the name fits in 253 characters (RFC 7208 7.3)."""
    name = name.rstrip(".")
    while len(name) > 253 and "." in name:
        name = name.split(".", 1)[1]
    return name
