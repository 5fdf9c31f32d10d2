"""Conservative text repairs for XML reports that real senders got wrong.

Each repair says what it did; none invents data. The result is UTF-8 bytes with a matching
declaration, ready for a second parse.
"""

from __future__ import annotations

import codecs
import re

_DECL = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._:-]+)["']""")
_DECL_TEXT = re.compile(r"""^<\?xml[^>]*\?>""")
_START = re.compile(r"<\?xml|<(?:[A-Za-z_][\w.-]*:)?feedback[\s>]", re.I)
_END = re.compile(r"</(?:[A-Za-z_][\w.-]*:)?feedback\s*>", re.I)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_BAD_AMP = re.compile(r"&(?!(?:#[0-9]{1,7}|#x[0-9A-Fa-f]{1,6}|amp|lt|gt|quot|apos);)")


def _cp1252_fallback(exc: UnicodeError) -> tuple[str, int]:
    if not isinstance(exc, UnicodeDecodeError):
        raise exc
    return exc.object[exc.start:exc.end].decode("cp1252", "replace"), exc.end


codecs.register_error("mlv-cp1252", _cp1252_fallback)


def decode_xml(data: bytes, notes: list[str]) -> str:
    """Text of an XML document: BOM, then the declared encoding, then UTF-8; bad bytes are read as cp1252."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    elif data.startswith(b"\xef\xbb\xbf"):
        encoding, data = "utf-8", data[3:]
    else:
        match = _DECL.match(data[:512])
        encoding = match.group(1).decode("ascii").lower() if match else "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            notes.append(f"unknown encoding {encoding!r} declared; read as UTF-8")
            encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        pass
    if encoding.replace("-", "").replace("_", "") in ("utf8", "ascii", "usascii"):
        text = data.decode("utf-8", "mlv-cp1252")
        notes.append(f"invalid {encoding.upper()} bytes were read as Windows-1252")
        return text
    notes.append(f"invalid {encoding} bytes were replaced")
    return data.decode(encoding, "replace")


def repair_xml(data: bytes) -> tuple[bytes, list[str]]:
    """Decode, cut junk around the root element, drop control characters, escape stray '&'."""
    notes: list[str] = []
    text = decode_xml(data, notes)
    start = _START.search(text)
    if start and text[:start.start()].strip():
        notes.append(f"{start.start():,} characters before the XML document removed")
        text = text[start.start():]
    else:
        text = text.lstrip()
    ends = list(_END.finditer(text))
    if ends and text[ends[0].end():].strip():
        notes.append(f"{len(text) - ends[0].end():,} characters after the closing </feedback> removed")
        text = text[:ends[0].end()]
    text, n = _CONTROL.subn("", text)
    if n:
        notes.append(f"{n:,} characters not allowed in XML removed")
    text, n = _BAD_AMP.subn("&amp;", text)
    if n:
        notes.append(f"{n:,} unescaped '&' escaped")
    text = _DECL_TEXT.sub('<?xml version="1.0" encoding="UTF-8"?>', text, count=1)
    return text.encode("utf-8"), notes
