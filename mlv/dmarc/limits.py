"""Bounds for untrusted reports: magic-byte sniffing and decompression that cannot be bombed.

Every decompressor works in chunks against one :class:`Scope` per input: the decompressed bytes of
all layers and members together stay under ``max_decompressed_bytes``, and past the first MiB no
stream may expand more than ``max_ratio`` times its compressed size. Archives with more than
``max_members`` members are refused before any member is read.
"""

from __future__ import annotations

import binascii
import bz2
import gc
import io
import lzma
import re
import struct
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from mlv.dmarc.types import ReportError, ReportTooLarge

MiB = 1024 * 1024
CHUNK = MiB


@contextmanager
def gc_paused() -> Iterator[None]:
    """Hundreds of thousands of short-lived objects make the cyclic GC quadratic; it has nothing to find here."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int = 10 * MiB
    max_email_bytes: int = 25 * MiB
    max_decompressed_bytes: int = 128 * MiB
    max_ratio: int = 200
    max_members: int = 20
    max_depth: int = 4              # containers inside containers (e-mail → zip → gzip → xml)
    max_xml_depth: int = 32
    max_mime_parts: int = 200
    ratio_floor: int = MiB          # tiny files legitimately expand a lot; ratios count past this

    @classmethod
    def from_settings(cls, settings: Any) -> Limits:
        return cls(max_file_bytes=settings.dmarc_max_file_bytes, max_email_bytes=settings.dmarc_max_email_bytes,
                   max_decompressed_bytes=settings.dmarc_max_decompressed_bytes,
                   max_ratio=settings.dmarc_max_compression_ratio, max_members=settings.dmarc_max_archive_members)


@dataclass
class Scope:
    """The budget and the repair notes of one input, shared by every layer inside it."""

    limits: Limits = field(default_factory=Limits)
    spent: int = 0
    notes: list[str] = field(default_factory=list)

    def take(self, n: int, what: str) -> None:
        self.spent += n
        if self.spent > self.limits.max_decompressed_bytes:
            raise ReportTooLarge(f"{what}: decompressed size exceeds the limit of "
                                 f"{self.limits.max_decompressed_bytes:,} bytes")

    def check_ratio(self, out: int, compressed: int, what: str) -> None:
        if out > self.limits.ratio_floor and out > max(compressed, 1) * self.limits.max_ratio:
            raise ReportTooLarge(f"{what}: compression ratio over {self.limits.max_ratio}:1 "
                                 "(decompression bomb?)")


_HEADER_LINES = re.compile(rb"(?:From [^\r\n]*\r?\n)?(?:[!-9;-~]+:[^\r\n]*\r?\n(?:[ \t][^\r\n]*\r?\n)*){2}")
_BASE64_ONLY = re.compile(rb"[A-Za-z0-9+/=\s]+")
_XML_INSIDE = re.compile(r"<\?xml\s|<(?:[A-Za-z_][\w.-]*:)?feedback[\s>]")


def sniff(data: bytes) -> str:
    """gzip | zip | bzip2 | xz | xml | json | email | base64 | unknown, from the first bytes."""
    head = data[:8]
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return "zip"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    text = _text_head(data)
    stripped = text.lstrip()
    if stripped.startswith("<"):
        return "xml"
    if stripped.startswith(("{", "[")):
        return "json"
    if _HEADER_LINES.match(text.encode("utf-8", "replace")):
        return "email"
    if _XML_INSIDE.search(text[:1024]):
        return "xml"  # junk before the document: the XML repairs cut it
    sample = data[:4096].strip()
    if len(sample) >= 16 and _BASE64_ONLY.fullmatch(sample):
        try:
            decoded = decode_base64(sample[:3072])
        except ReportError:
            return "unknown"
        if sniff(decoded[:64]) not in ("unknown", "base64"):
            return "base64"
    return "unknown"


def _text_head(data: bytes) -> str:
    head = data[:2048]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return head.decode("utf-16", "replace")
    return head.removeprefix(b"\xef\xbb\xbf").decode("utf-8", "replace")


def decode_base64(data: bytes, *, notes: list[str] | None = None) -> bytes:
    """Base64 as real senders write it: line breaks, stray characters, missing padding."""
    compact = re.sub(rb"[^A-Za-z0-9+/=]", b"", data)
    if notes is not None and re.search(rb"[^A-Za-z0-9+/=\s]", data):
        notes.append("base64 data had invalid characters, which were skipped")
    try:
        return binascii.a2b_base64(compact)
    except binascii.Error:
        body = compact.rstrip(b"=")
        body = body[:-1] if len(body) % 4 == 1 else body  # a lone last character carries no byte
        if notes is not None:
            notes.append("base64 padding was missing and was added")
        try:
            return binascii.a2b_base64(body + b"=" * (-len(body) % 4))
        except binascii.Error as exc:
            raise ReportError(f"base64 data is corrupt: {exc}") from None


def _stream(data: bytes, make: Callable[[], Any], what: str, scope: Scope) -> bytes:
    """Run one kind of stream decompressor over `data`, concatenated streams included, in bounds."""
    out: list[bytes] = []
    total = 0
    rest = data
    streams = 0
    while rest:
        streams += 1
        if streams > scope.limits.max_members:
            raise ReportTooLarge(f"{what}: more than {scope.limits.max_members} concatenated streams")
        dec = make()
        pending = rest
        try:
            while True:
                chunk = dec.decompress(pending, CHUNK)
                pending = getattr(dec, "unconsumed_tail", b"")
                if chunk:
                    total += len(chunk)
                    scope.take(len(chunk), what)
                    scope.check_ratio(total, len(data), what)
                    out.append(chunk)
                if dec.eof:
                    break
                if not chunk and not pending and getattr(dec, "needs_input", True):
                    scope.notes.append(f"{what} data is truncated; the part before the cut was kept")
                    return b"".join(out)
        except (zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            if total:
                scope.notes.append(f"{what} data is corrupt after {total:,} bytes ({exc}); that part was kept")
                return b"".join(out)
            raise ReportError(f"{what} data is corrupt: {exc}") from None
        rest = dec.unused_data.lstrip(b"\x00")
        if rest and sniff(rest[:8]) != {"gzip": "gzip", "bzip2": "bzip2", "xz": "xz"}.get(what):
            scope.notes.append(f"{len(rest):,} bytes of trailing data after the {what} stream ignored")
            break
    return b"".join(out)


def gunzip(data: bytes, scope: Scope) -> bytes:
    return _stream(data, lambda: zlib.decompressobj(31), "gzip", scope)


def bunzip2(data: bytes, scope: Scope) -> bytes:
    return _stream(data, bz2.BZ2Decompressor, "bzip2", scope)


def unxz(data: bytes, scope: Scope) -> bytes:
    return _stream(data, lzma.LZMADecompressor, "xz", scope)


def _zip_entry_count(data: bytes) -> int | None:
    """Entries announced by the end-of-central-directory record, read before zipfile parses them."""
    pos = data.rfind(b"PK\x05\x06", max(0, len(data) - 66000))
    if pos < 0 or pos + 22 > len(data):
        return None
    total = struct.unpack_from("<H", data, pos + 10)[0]
    return None if total == 0xFFFF else total


# The compression methods Python's zipfile reads (others, e.g. Deflate64 or PPMd, are skipped with a note).
ZIP_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)


def unzip(data: bytes, scope: Scope) -> list[tuple[str, bytes]]:
    """The files of a ZIP archive as (name, bytes), within the member and size limits."""
    limit = scope.limits.max_members
    announced = _zip_entry_count(data)
    if announced is not None and announced > limit:
        raise ReportTooLarge(f"ZIP archive has {announced:,} members (the limit is {limit})")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as exc:
        raise ReportError(f"ZIP archive is corrupt: {exc}") from None
    if len(infos) > limit:
        raise ReportTooLarge(f"ZIP archive has {len(infos):,} members (the limit is {limit})")
    files: list[tuple[str, bytes]] = []
    for info in infos:
        if info.flag_bits & 0x1:
            scope.notes.append(f"ZIP member {info.filename!r} is encrypted and was skipped")
            continue
        what = f"ZIP member {info.filename!r}"
        if info.compress_type not in ZIP_METHODS:
            scope.notes.append(f"{what} could not be read: compression method {info.compress_type} is not supported")
            continue
        out: list[bytes] = []
        total = 0
        try:
            with archive.open(info) as handle:
                while chunk := handle.read(CHUNK):
                    total += len(chunk)
                    scope.take(len(chunk), what)
                    scope.check_ratio(total, info.compress_size, what)
                    out.append(chunk)
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, lzma.LZMAError) as exc:
            scope.notes.append(f"{what} could not be read: {exc}")
            continue
        files.append((info.filename, b"".join(out)))
    return files
