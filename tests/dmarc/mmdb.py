"""A small writer of MaxMind DB files (format 2.0), so the tests read real .mmdb files with geoip2.

Written from the published MaxMind DB format specification: a binary search tree over the address
bits (IPv6 tree, IPv4 under ::/96), 32-bit records, a data section of typed values, and the
metadata map after the "\\xab\\xcd\\xefMaxMind.com" marker.
"""

from __future__ import annotations

import ipaddress
import struct
import time
from pathlib import Path
from typing import Any

_MARKER = b"\xab\xcd\xefMaxMind.com"


def _control(kind: int, size: int) -> bytes:
    first, extended = (kind << 5, b"") if kind <= 7 else (0, bytes([kind - 7]))
    if size < 29:
        return bytes([first | size]) + extended
    if size < 29 + 256:
        return bytes([first | 29]) + extended + bytes([size - 29])
    if size < 285 + 65536:
        return bytes([first | 30]) + extended + (size - 285).to_bytes(2, "big")
    return bytes([first | 31]) + extended + (size - 65821).to_bytes(3, "big")


class Typed(int):
    """An unsigned integer with a fixed MaxMind type (libmaxminddb checks the metadata's types)."""

    kind = 6

    def __new__(cls, value: int, kind: int) -> Typed:
        obj = super().__new__(cls, value)
        obj.kind = kind
        return obj


def encode(value: Any) -> bytes:
    """One value in the MaxMind DB data format."""
    if isinstance(value, Typed):
        raw = int(value).to_bytes((int(value).bit_length() + 7) // 8, "big") if value else b""
        return _control(value.kind, len(raw)) + raw
    if isinstance(value, bool):
        return _control(14, int(value))
    if isinstance(value, dict):
        return _control(7, len(value)) + b"".join(encode(str(k)) + encode(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return _control(11, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _control(2, len(raw)) + raw
    if isinstance(value, float):
        return _control(3, 8) + struct.pack(">d", value)
    if isinstance(value, int):
        if value < 0:
            return _control(8, 4) + struct.pack(">i", value)
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big") if value else b""
        kind = 5 if value < 2**16 else 6 if value < 2**32 else 9 if value < 2**64 else 10
        return _control(kind, len(raw)) + raw
    raise TypeError(f"cannot encode {type(value).__name__}")


def _bits(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> list[int]:
    if network.version == 4:
        value, length = int(network.network_address), 96 + network.prefixlen
    else:
        value, length = int(network.network_address), network.prefixlen
    return [(value >> (127 - i)) & 1 for i in range(length)]


def write_mmdb(path: Path, networks: list[tuple[str, dict[str, Any]]], *, database_type: str,
               description: str = "mlv test database") -> Path:
    """Write `networks` (CIDR → record) to `path`; more specific networks override wider ones."""
    nodes: list[list[Any]] = [[None, None]]
    ordered = sorted(((ipaddress.ip_network(n, strict=False), data) for n, data in networks),
                     key=lambda item: (item[0].version, item[0].prefixlen))
    data_keys: dict[bytes, int] = {}
    blobs: list[bytes] = []
    offset = 0
    for network, data in ordered:
        blob = encode(data)
        if blob not in data_keys:
            data_keys[blob] = offset
            blobs.append(blob)
            offset += len(blob)
        leaf = ("data", data_keys[blob])
        bits = _bits(network)
        node = 0
        for depth, bit in enumerate(bits):
            if depth == len(bits) - 1:
                nodes[node][bit] = leaf
                break
            nxt = nodes[node][bit]
            if not isinstance(nxt, int):
                nodes.append([nxt, nxt])  # a wider network's data stays on both sides
                nxt = len(nodes) - 1
                nodes[node][bit] = nxt
            node = nxt
    count = len(nodes)

    def record(value: Any) -> int:
        if value is None:
            return count
        if isinstance(value, int):
            return value
        return count + 16 + value[1]

    tree = b"".join(struct.pack(">II", record(left), record(right)) for left, right in nodes)
    u16, u32, u64 = 5, 6, 9
    metadata = {"node_count": Typed(count, u32), "record_size": Typed(32, u16), "ip_version": Typed(6, u16),
                "database_type": database_type, "languages": ["en"],
                "binary_format_major_version": Typed(2, u16), "binary_format_minor_version": Typed(0, u16),
                "build_epoch": Typed(int(time.time()), u64), "description": {"en": description}}
    path.write_bytes(tree + b"\x00" * 16 + b"".join(blobs) + _MARKER + encode(metadata))
    return path


def city_record(code: str, country: str, city: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"country": {"iso_code": code, "names": {"en": country}, "geoname_id": 1}}
    if city:
        data["city"] = {"names": {"en": city}, "geoname_id": 2}
    return data


def asn_record(number: int, org: str) -> dict[str, Any]:
    return {"autonomous_system_number": number, "autonomous_system_organization": org}
