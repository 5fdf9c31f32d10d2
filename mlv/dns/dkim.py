"""DKIM: the key mailcow signs with against the record at {selector}._domainkey.{domain} (RFC 6376 3.6.1).

Records are compared after joining split TXT strings and dropping quotes and whitespace, then tag by
tag, so ``"v=DKIM1; k=rsa; " "p=MIIB..."`` matches mailcow's ``v=DKIM1;k=rsa;p=MIIB...``. Every tag
is read; t=y, t=s, h=sha1, an empty p= (revoked), an unknown k= and weak or unreadable keys are
reported as the API doc describes.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from typing import Any

from mlv.dns.common import DEFAULT_TIMEOUT, mark_failure, parse_tags, result, split_info, use_resolver
from mlv.dns.resolver import Answer, Resolver

RSA_OID = bytes.fromhex("2a864886f70d010101")
TESTING = ("DKIM is in TESTING mode (t=y) - Emails will pass validation even with invalid signatures. "
           "Remove t=y for production!")
REVOKED = "DKIM key is revoked (p= is empty)"
KNOWN_TAGS = {"v", "g", "h", "k", "n", "p", "s", "t"}

__all__ = ["check_dkim", "key_size", "normalize_dkim", "parse_dkim", "query_dkim"]


async def query_dkim(domain: str, selector: str, *, resolver: Resolver | None = None,
                     nameservers: Sequence[str] | None = None, timeout: float = DEFAULT_TIMEOUT,
                     retries: int = 1) -> Answer:
    """The TXT records at {selector}._domainkey.{domain}."""
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        return await r.query(f"{selector}._domainkey.{domain}", "TXT")


def normalize_dkim(text: str) -> str:
    """One DKIM record as a single string: quoted chunks joined, whitespace and a final ';' dropped."""
    if '"' in text:
        chunks = re.findall(r'"((?:[^"\\]|\\.)*)"', text)
        text = "".join(chunks) if chunks else text.replace('"', "")
    return re.sub(r"\s+", "", text).rstrip(";")


def parse_dkim(text: str) -> tuple[dict[str, str], list[str]]:
    """(tags with whitespace removed from values, problems with the tag list)."""
    tags, duplicates, malformed = parse_tags(text)
    tags = {name: re.sub(r"\s+", "", value) for name, value in tags.items()}
    problems = [f"duplicate tag {name}=" for name in duplicates] + [f"malformed tag {m!r}" for m in malformed]
    return tags, problems


def _der(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """One DER element at `pos`: (tag, content, position after it)."""
    tag, length = data[pos], data[pos + 1]
    pos += 2
    if length & 0x80:
        count = length & 0x7F
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated DER")
    return tag, data[pos:pos + length], pos + length


def key_size(key_type: str, p_value: str) -> tuple[str | None, int | None, str | None]:
    """(key description, bits, problem) read from the base64 public key of a record."""
    try:
        raw = base64.b64decode(p_value, validate=True)
    except (binascii.Error, ValueError):
        return None, None, "the public key (p=) is not valid base64"
    if key_type == "ed25519":
        return ("Ed25519", 256, None) if len(raw) == 32 else (None, None, "an Ed25519 key must be 32 bytes")
    try:
        tag, body, _ = _der(raw, 0)
        inner_tag, inner, end = _der(body, 0)
        if tag == 0x30 and inner_tag == 0x30:  # SubjectPublicKeyInfo: algorithm, then the key as a BIT STRING
            _, oid, _ = _der(inner, 0)
            if oid != RSA_OID:
                return None, None, "the public key is not an RSA key"
            _, bits, _ = _der(body, end)
            tag, body, _ = _der(bits[1:], 0)
            inner_tag, inner, _ = _der(body, 0)
        if tag != 0x30 or inner_tag != 0x02:
            raise ValueError("not an RSA public key")
        return "RSA", int.from_bytes(inner, "big").bit_length(), None
    except (IndexError, ValueError):
        return None, None, "the RSA public key cannot be read"


async def check_dkim(domain: str, *, selector: str | None = None, mailcow: dict | None = None,
                     resolver: Resolver | None = None, nameservers: Sequence[str] | None = None,
                     timeout: float = DEFAULT_TIMEOUT, retries: int = 1) -> dict[str, Any]:
    """The API's `dkim` object. `mailcow` is mailcow's dkim/{domain} answer ({} = no key, None = not asked)."""
    selector = selector or (mailcow or {}).get("dkim_selector") or "dkim"
    name = f"{selector}._domainkey.{domain}"
    expected = normalize_dkim(str(mailcow["dkim_txt"])) if mailcow and mailcow.get("dkim_txt") else None
    async with use_resolver(resolver, nameservers, timeout, retries) as r:
        answer = await r.query(name, "TXT")
    payload: dict[str, Any] = {"selector": selector, "dkim_domain": name, "expected_record": expected,
                               "actual_record": None, "match": None, "warnings": [], "info": [], "parameters": {},
                               "key_type": None, "key_bits": None}
    if answer.failed:
        return mark_failure(result("error", f"DKIM lookup failed: {answer.error}", **payload), answer)
    records = [t for t in answer.texts() if t.strip().startswith("v=DKIM1") or re.search(r"(^|;)\s*p\s*=", t)]
    if mailcow is not None and not expected:
        payload["info"].append("mailcow has no DKIM key for this domain: outgoing mail is not signed")
        if not records:
            return result("error", "No DKIM key configured in mailcow and no DKIM record in DNS", **payload)
    if not records:
        if expected:
            payload["info"].append(f"Publish mailcow's record as TXT at {name}")
        return result("error", f"DKIM record not found at {name}", **payload)
    if len(records) > 1:
        payload["actual_record"] = "; ".join(records)
        return result("error", f"Multiple DKIM records found at {name}: verifiers cannot tell which one applies",
                      **payload)
    actual = records[0]
    payload["actual_record"] = actual
    payload["info"] += split_info(answer, actual, "DKIM")
    tags, problems = parse_dkim(actual)
    payload["parameters"] = tags
    return _verdict(tags, problems, expected, payload, mailcow_has_no_key=mailcow is not None and not expected)


def _verdict(tags: dict[str, str], problems: list[str], expected: str | None, payload: dict[str, Any], *,
             mailcow_has_no_key: bool) -> dict[str, Any]:
    warnings: list[str] = payload["warnings"]
    info: list[str] = payload["info"]
    errors: list[str] = []  # the first one becomes the message
    warnings += [f"⚠️ DKIM record has a {p}" for p in problems]
    if "v" in tags and tags["v"] != "DKIM1":
        errors.append(f"Invalid DKIM record: v={tags['v']} (must be DKIM1)")
    if expected is not None:
        exp_tags, _ = parse_dkim(expected)
        same_key = exp_tags.get("p") == tags.get("p")
        payload["match"] = exp_tags == tags
        if not same_key:
            warnings.append("❌ The public key in DNS is not the key mailcow signs with: signatures will fail")
            errors.append("DKIM record in DNS does not match the key in mailcow")
        elif exp_tags != tags:
            differ = sorted(k for k in exp_tags.keys() | tags.keys() if exp_tags.get(k) != tags.get(k))
            warnings.append(f"⚠️ DNS record differs from mailcow's in {', '.join(t + '=' for t in differ)}")
    if "p" not in tags:
        errors.append("DKIM record has no public key (p= tag missing)")
    elif tags["p"] == "":
        warnings.insert(0, f"❌ {REVOKED}")
        errors.insert(0, REVOKED)
    flags = tags.get("t", "").split(":")
    if "y" in flags:
        errors.insert(0, TESTING)
    if "s" in flags:
        info.append("DKIM uses strict subdomain mode (t=s)")
    hashes = [h for h in tags.get("h", "").split(":") if h]
    if hashes and "sha256" not in hashes:
        warnings.append(f"⚠️ DKIM uses SHA1 hash algorithm (h={tags['h']})" if "sha1" in hashes
                        else f"⚠️ Unknown hash algorithm (h={tags['h']})")
    elif "sha1" in hashes:
        info.append("h= still allows SHA1 next to SHA256")
    key_type = tags.get("k", "rsa").lower()
    if key_type not in ("rsa", "ed25519"):
        warnings.append(f"⚠️ Unknown DKIM key type (k={tags['k']}): verifiers will ignore this key")
    elif tags.get("p"):
        _key_info(key_type, tags["p"], payload, errors)
    services = tags.get("s", "*").split(":")
    if "*" not in services and "email" not in services:
        errors.append(f"DKIM key is not for email (s={tags['s']})")
    for unknown in sorted(set(tags) - KNOWN_TAGS):
        info.append(f"Unknown tag {unknown}= (ignored by verifiers)")
    if mailcow_has_no_key:
        errors.append("No DKIM key configured in mailcow for this domain")
    if errors:
        return result("error", errors[0], **payload)
    if warnings:
        return result("warning", "DKIM configured but has warnings", **payload)
    return result("success", "DKIM configured correctly", **payload)


def _key_info(key_type: str, p_value: str, payload: dict[str, Any], errors: list[str]) -> None:
    warnings: list[str] = payload["warnings"]
    kind, bits, problem = key_size(key_type, p_value)
    if problem is not None:
        warnings.append(f"❌ {problem[0].upper()}{problem[1:]}")
        errors.append(f"DKIM public key unusable: {problem}")
        return
    payload["key_type"], payload["key_bits"] = kind, bits
    if kind == "RSA" and bits is not None:
        if bits < 1024:
            warnings.append(f"❌ RSA key is too short ({bits} bits): verifiers reject keys under 1024 bits")
            errors.append(f"DKIM key is too short ({bits} bits)")
        elif bits < 2048:
            warnings.append(f"⚠️ RSA key has {bits} bits: 2048 bits are recommended")
