"""JSON encoding the way mailcow's PHP 8.2 front end produces it.

mailcow re-encodes everything it returns with ``json_encode``; the flags differ per route
(spec §1.3):

* logs, domain, mailbox, alias, quarantine, dkim, fail2ban: ``JSON_PRETTY_PRINT`` (4 spaces),
  UTF-8 kept, ``/`` escaped as ``\\/``  -> :func:`pretty`;
* mailq: compact, ``/`` escaped, non-ASCII as ``\\u`` escapes of four hex digits -> :func:`compact_mailq`;
* status/*, version, host ip, error objects: compact, ``/`` not escaped -> :func:`compact`.

Type quirks of a ``json_decode(..., true)`` / ``json_encode`` round trip (applied by
:func:`phpify`): integral floats become int literals (``15.0`` -> ``15``) and empty objects
become ``[]``.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring

_compact = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_compact_ascii = json.JSONEncoder(ensure_ascii=True, separators=(",", ":")).encode


def phpify(value):
    """Return ``value`` with PHP's round-trip quirks: integral float -> int, ``{}`` -> ``[]``."""
    if isinstance(value, float):
        if value.is_integer():
            return int(value)
        return value
    if isinstance(value, dict):
        if not value:
            return []
        return {k: phpify(v) for k, v in value.items()}
    if isinstance(value, list):
        return [phpify(v) for v in value]
    return value


def _pretty(value, indent: str, out: list[str]) -> None:
    # A small recursive encoder: much faster than json.dumps(indent=4), which falls back to
    # the pure-Python encoder, and byte-identical to PHP's JSON_PRETTY_PRINT layout.
    if isinstance(value, str):
        out.append(encode_basestring(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = indent + "    "
        out.append("{\n")
        first = True
        for k, v in value.items():
            if not first:
                out.append(",\n")
            first = False
            out.append(inner)
            out.append(encode_basestring(str(k)))
            out.append(": ")
            _pretty(v, inner, out)
        out.append("\n")
        out.append(indent)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = indent + "    "
        out.append("[\n")
        first = True
        for v in value:
            if not first:
                out.append(",\n")
            first = False
            out.append(inner)
            _pretty(v, inner, out)
        out.append("\n")
        out.append(indent)
        out.append("]")
    else:
        out.append(_compact(value))


def pretty_fragment(value, level: int = 0) -> str:
    """Pretty-print ``value`` as if it sat ``level`` levels deep (no leading indentation).

    Slashes are escaped. Used to pre-encode log items once, so serving 10 000 lines is a join.
    """
    out: list[str] = []
    _pretty(value, "    " * level, out)
    return "".join(out).replace("/", "\\/")


def pretty(value) -> bytes:
    """PHP ``JSON_PRETTY_PRINT | JSON_UNESCAPED_UNICODE`` with ``\\/`` escaping, as bytes."""
    return pretty_fragment(value).encode("utf-8")


def pretty_list_from_fragments(fragments: list[str]) -> bytes:
    """Assemble a top-level JSON array from item fragments made with ``pretty_fragment(x, 1)``."""
    if not fragments:
        return b"[]"
    return ("[\n    " + ",\n    ".join(fragments) + "\n]").encode("utf-8")


def compact(value) -> bytes:
    """Compact JSON, UTF-8 kept, slashes not escaped (status routes, error objects)."""
    return _compact(value).encode("utf-8")


def compact_mailq(value) -> bytes:
    """Compact JSON with ``\\/`` and ``\\u`` escapes (mailq/all)."""
    return _compact_ascii(value).replace("/", "\\/").encode("ascii")
