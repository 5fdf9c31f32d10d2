"""Seeded generator of realistic, internally consistent mailcow log traffic.

Everything happens in SIMULATED time: a heap of processes (Python generators that ``yield``
the number of seconds to sleep) is run in time order, and every log line is emitted at the
simulated instant its process is at, so all sources come out in chronological order.
Nothing here reads the wall clock or the global ``random`` module: same seed + same calls
=> identical output.

Output goes to sinks, one callable per source, receiving each item exactly as the mailcow API
returns it (newest-first ordering is the reader's business). Without explicit sinks the items
are collected and handed out by :meth:`TrafficGenerator.drain`.

The generator also records the ground truth per message (:meth:`TrafficGenerator.truth`);
the rules are in the docstring of :mod:`mlv.mailcow.traffic`.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator

from . import traffic
from .ids import QueueIds
from .netfilter import Netfilter
from .site import INTERNAL_PREFIX, is_local

DEFAULT_START = 1785571200  # 2026-08-01 08:00:00 UTC

SOURCES = ("postfix", "dovecot", "rspamd-history", "netfilter", "sogo", "autodiscover", "api", "acme",
           "watchdog", "cron", "ratelimited", "ui", "sasl", "quarantine")

Process = Iterator[float]
Sink = Callable[[object], None]


class TrafficGenerator:
    """Produces mailcow log items over simulated time; see the module docstring.

    ``rate`` is the mean number of new messages (SMTP transactions) per simulated minute.
    ``max_queue_lifetime`` is Postfix's ``maximal_queue_lifetime`` in simulated seconds (short by
    default so expiries happen in short runs). ``long_queue_ids`` switches to Postfix's long
    queue-id format; ``queue_id_reuse`` is the (small) chance a new message gets exactly the id
    of one removed earlier. ``null_rate`` adds that fraction of ``null`` items (undecodable
    lines) to the postfix and dovecot logs. ``noise`` enables the non-mail sources (IMAP/SOGo
    activity, brute force, watchdog, ...).
    """

    def __init__(self, seed: int = 1, start: int | float | None = None, rate: float = 6.0, *,
                 max_queue_lifetime: float = 7200.0, long_queue_ids: bool = False,
                 queue_id_reuse: float = 0.001, null_rate: float = 0.0, noise: bool = True,
                 sinks: dict[str, Sink] | None = None) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.now = float(DEFAULT_START if start is None else start)
        self.start_time = self.now
        self.rate = float(rate)
        self.max_queue_lifetime = float(max_queue_lifetime)
        self.null_rate = float(null_rate)
        self.qids = QueueIds(random.Random(self.rng.getrandbits(64)), long_queue_ids, queue_id_reuse)
        self._heap: list[tuple[float, int, Process]] = []
        self._seq = itertools.count()
        self._lists: dict[str, list] = {s: [] for s in SOURCES}
        self._sinks: dict[str, Sink] = {s: self._lists[s].append for s in SOURCES}
        if sinks:
            self._sinks.update(sinks)
        self._pf = self._sinks["postfix"]
        self._dc = self._sinks["dovecot"]
        self._ts = str(int(self.now))
        # ground truth
        self._truth: list[dict] = []
        self._by_mid: dict[str, dict] = {}
        # live state
        self.queue: dict[str, dict] = {}  # queue id -> postqueue -j style entry
        self.netfilter = Netfilter(self)
        self._noqueue_keys: dict[tuple, float] = {}
        self.vacation_sent: set[tuple[str, str]] = set()
        self.counters = {"ui_id": 4100, "quarantine_id": 1200, "pid": 20000, "burst": 0}
        for proc in traffic.initial_processes(self, noise):
            self.spawn(proc)

    # ------------------------------------------------------------------ scheduling
    def spawn(self, proc: Process, delay: float = 0.0) -> None:
        """Start a process ``delay`` simulated seconds from now."""
        heapq.heappush(self._heap, (self.now + delay, next(self._seq), proc))

    def advance(self, seconds: float) -> None:
        """Generate everything that happens in the next ``seconds`` simulated seconds."""
        self.advance_to(self.now + seconds)

    def advance_to(self, t: float) -> None:
        """Generate everything up to simulated time ``t`` (inclusive)."""
        heap = self._heap
        pop, push, seq = heapq.heappop, heapq.heappush, self._seq
        while heap and heap[0][0] <= t:
            when, _, proc = pop(heap)
            if when != self.now:
                self.now = when
                self._ts = str(int(when))
            try:
                delay = next(proc)
            except StopIteration:
                continue
            push(heap, (when + delay, next(seq), proc))
        if t > self.now:
            self.now = float(t)
            self._ts = str(int(t))

    def burst(self, n_messages: int, spread: float = 2.0) -> None:
        """Inject ``n_messages`` extra messages starting within the next ``spread`` seconds."""
        for proc in traffic.burst_processes(self, n_messages, spread):
            self.spawn(proc, self.rng.uniform(0, spread))

    # ------------------------------------------------------------------ output
    def drain(self) -> dict[str, list]:
        """Items produced (for sources without a custom sink) since the last drain, oldest first."""
        out = {}
        for src, lst in self._lists.items():
            out[src] = lst[:]
            lst.clear()
        return out

    def pf(self, program: str, message: str, priority: str = "info") -> None:
        """Emit one postfix line at the current simulated time."""
        self._pf({"time": self._ts, "priority": priority, "program": program, "message": message})
        if self.null_rate and self.rng.random() < self.null_rate:
            self._pf(None)

    def dc(self, message: str, priority: str = "info") -> None:
        """Emit one dovecot line at the current simulated time."""
        self._dc({"time": self._ts, "priority": priority, "program": "dovecot", "message": message})
        if self.null_rate and self.rng.random() < self.null_rate:
            self._dc(None)

    def emit(self, source: str, item: object) -> None:
        """Emit an item to any source's sink."""
        self._sinks[source](item)

    @property
    def t(self) -> int:
        """Current simulated time as int seconds (the ``time`` of lines emitted now)."""
        return int(self.now)

    def pid(self) -> int:
        """A plausible process id for log lines that carry one."""
        self.counters["pid"] += self.rng.randint(1, 40)
        if self.counters["pid"] > 65000:
            self.counters["pid"] = 300
        return self.counters["pid"]

    # ------------------------------------------------------------------ ground truth
    def new_message(self, kind: str, message_id: str | None, sender: str, *, local_origin: bool,
                    recipients: list[str], subject: str) -> dict:
        """A ground-truth record (not yet visible; :meth:`register` makes it so)."""
        if local_origin:
            direction = "outbound" if any(not is_local(r) for r in recipients) else "internal"
        else:
            direction = "inbound"
        return {"key": "", "message_id": message_id, "queue_ids": [], "noqueue": None, "first_time": None,
                "sender": sender, "direction": direction, "recipients": {}, "is_spam": False,
                "action": None, "subject": subject, "kind": kind}

    def register(self, rec: dict, qid: str | None = None, client_ip: str | None = None) -> dict:
        """Make ``rec`` part of the truth at the current time, with a queue id or as NOQUEUE.

        A record with a Message-ID that is already known is merged into the existing one
        (greylist retries, forwards): the existing record is returned.
        """
        mid = rec["message_id"]
        if mid is not None and mid in self._by_mid:
            rec = self._by_mid[mid]
        elif rec["first_time"] is None:
            rec["first_time"] = self.t
            rec["key"] = f"m{len(self._truth) + 1}"
            self._truth.append(rec)
            if mid is not None:
                self._by_mid[mid] = rec
        if qid is not None:
            rec["queue_ids"].append(qid)
        elif rec["noqueue"] is None:
            rec["noqueue"] = {"time": self.t, "client_ip": client_ip, "sender": rec["sender"]}
        return rec

    def set_action(self, rec: dict, action: str) -> None:
        """Record the (latest) rspamd action a message got."""
        rec["action"] = action
        rec["is_spam"] = action in ("reject", "add header", "rewrite subject")

    def truth(self) -> list[dict]:
        """Ground truth per message as of the current simulated time (copies, creation order)."""
        out = []
        for rec in self._truth:
            r = {k: v for k, v in rec.items() if k[0] != "_"}
            r["queue_ids"] = list(rec["queue_ids"])
            r["recipients"] = dict(rec["recipients"])
            r["noqueue"] = dict(rec["noqueue"]) if rec["noqueue"] else None
            out.append(r)
        return out

    # ------------------------------------------------------------------ queue (mailq)
    def noqueue_slot(self, ip: str, sender: str) -> float:
        """Seconds to wait so that no other NOQUEUE transaction of (ip, sender) shares the second."""
        key = (ip, sender)
        last = self._noqueue_keys.get(key)
        t = self.now
        if last is not None and int(t) <= int(last):
            t = int(last) + 1.05
        if len(self._noqueue_keys) > 5000:
            self._noqueue_keys = {k: v for k, v in self._noqueue_keys.items() if v > self.now - 5}
        self._noqueue_keys[key] = t
        return t - self.now

    def mailq(self) -> list[dict]:
        """``postqueue -j`` entries for messages currently queued (as the API reshapes them)."""
        return [dict(e, recipients=list(e["recipients"])) for e in self.queue.values()]


def is_internal_ip(ip: str) -> bool:
    """True for mailcow-internal container addresses."""
    return ip.startswith(INTERNAL_PREFIX)
