"""Identifiers as Postfix, Dovecot and mail clients produce them (spec §4, §7 "Identifiers")."""

from __future__ import annotations

import random
import time as _time

from .site import HOSTNAME

_LONG_ALPHABET = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz"  # 52 chars, no vowels
_B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_HEX = "0123456789ABCDEF"


def _base(n: int, alphabet: str, width: int) -> str:
    radix = len(alphabet)
    out = []
    while n:
        n, r = divmod(n, radix)
        out.append(alphabet[r])
    s = "".join(reversed(out))
    return s.rjust(width, alphabet[0])


class QueueIds:
    """Allocates Postfix queue ids: ``%05X`` microseconds + inode in hex (short form).

    Inodes come from a pool: a freed inode goes back to the pool and is reused later, as
    the filesystem does; an id is unique while its message is queued. ``reuse_rate`` is the
    probability that a new message gets exactly the id of a message removed a while ago (rare
    in reality, but it happens and a correlator must cope). ``long_ids`` switches to
    ``enable_long_queue_ids`` format.
    """

    def __init__(self, rng: random.Random, long_ids: bool = False, reuse_rate: float = 0.0) -> None:
        self._rng = rng
        self.long_ids = long_ids
        self.reuse_rate = reuse_rate
        self._next_inode = 0x1A0B00 + rng.randrange(0x400)
        self._free_inodes: list[int] = []
        self._active: set[str] = set()
        self._retired: list[tuple[float, str]] = []  # (removed at, id) for rare exact reuse

    def new(self, t: float) -> str:
        """A fresh id for a message entering the queue at simulated time ``t``."""
        rng = self._rng
        if self.reuse_rate and self._retired and rng.random() < self.reuse_rate:
            removed_at, qid = self._retired[0]
            if t - removed_at > 600 and qid not in self._active:
                self._retired.pop(0)
                self._active.add(qid)
                return qid
        if self._free_inodes and rng.random() < 0.3:
            inode = self._free_inodes.pop(rng.randrange(len(self._free_inodes)))
        else:
            inode = self._next_inode
            self._next_inode += rng.randint(1, 7)
        usec = int((t % 1.0) * 1_000_000)
        while True:
            if self.long_ids:
                qid = _base(int(t), _LONG_ALPHABET, 6) + _base(usec, _LONG_ALPHABET, 4) + "z" + \
                    _base(inode, _LONG_ALPHABET[:-1], 1)
            else:
                qid = f"{usec:05X}{inode:X}"
            if qid not in self._active:
                break
            usec = (usec + 1) % 1_000_000
        self._active.add(qid)
        return qid

    def free(self, qid: str, t: float) -> None:
        """The message left the queue: its inode (and, rarely, its exact id) may come back."""
        self._active.discard(qid)
        if not self.long_ids and len(qid) > 5:
            try:
                self._free_inodes.append(int(qid[5:], 16))
            except ValueError:
                pass
            if len(self._free_inodes) > 500:
                del self._free_inodes[:100]
        if self.reuse_rate:
            self._retired.append((t, qid))
            if len(self._retired) > 200:
                del self._retired[:50]


def rand_str(rng: random.Random, alphabet: str, n: int) -> str:
    """``n`` random characters from ``alphabet``."""
    return "".join(rng.choices(alphabet, k=n))


def message_id(rng: random.Random, style: str, domain: str, t: float) -> str | None:
    """A bare Message-ID (without ``<>``) in the style of the sending software."""
    if style == "gmail":
        return "CA" + rand_str(rng, _B64URL, 42) + "@mail.gmail.com"
    if style == "outlook":
        host = f"{rng.choice(['AM6PR05', 'DB9PR02', 'VI1PR08'])}MB{rng.randint(1000, 9999)}"
        return f"{host}{rand_str(rng, _HEX, 24)}@{host}.eurprd0{rng.randint(1, 8)}.prod.outlook.com"
    if style == "sogo":
        return (f"{rng.getrandbits(8):x}-{rng.getrandbits(32):08x}-{rng.getrandbits(8):x}-"
                f"{rng.getrandbits(32):08x}@{rng.randint(10**8, 10**9 - 1)}")
    if style == "thunderbird":
        return f"{uuid(rng)}@{domain}"
    if style == "none":
        return None
    return f"{uuid(rng)}@{domain}"


def uuid(rng: random.Random) -> str:
    """A random (version 4 looking) UUID string from ``rng``."""
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{h[16:20]}-{h[20:32]}"


def postfix_message_id(t: float, qid: str) -> str:
    """Message-ID Postfix adds to mail it generates (DSNs): ``YYYYMMDDhhmmss.QID@host``."""
    return _time.strftime("%Y%m%d%H%M%S", _time.gmtime(t)) + f".{qid}@{HOSTNAME}"


def dovecot_session(rng: random.Random) -> str:
    """A Dovecot session/LMTP id (16 or 22 base64 characters)."""
    return rand_str(rng, _B64, 16)


def lmtp_id(rng: random.Random) -> str:
    """The 22-char id Dovecot's LMTP returns in ``250 2.0.0 <rcpt> ID Saved``."""
    return rand_str(rng, _B64[:-2] + "+/", 22)


def fmt_delay(x: float) -> str:
    """Format a delay like Postfix: ints from 10 s, one decimal from 1 s, else two; tiny is ``0``."""
    if x >= 10:
        return str(round(x))
    s = f"{x:.1f}" if x >= 1 else f"{x:.2f}"
    s = s.rstrip("0").rstrip(".")
    return s or "0"
