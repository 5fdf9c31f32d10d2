"""Incremental, set-based correlation of log lines into messages.

One call per batch of new lines: the state the batch touches (open queue instances, messages
with the batch's Message-IDs, their deliveries) is read with a few bulk SELECTs, the lines
are applied in order in memory, and the changes are written back with one executemany per
table. Nothing is queried per message.

What a message is: one Message-ID (all queue ids carrying it: forwards, greylist retries,
content-filter hand-offs), or one queue instance when there is no Message-ID, or one
NOQUEUE-rejected SMTP transaction (same second, client and sender).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from sqlalchemy import Connection, text

from mlv.correlate.rules import (
    DELIVERY_STATUS,
    FINAL,
    LocalDomains,
    direction,
    final_status,
    is_internal_ip,
    is_submission_program,
)
from mlv.ingest.records import PostfixRecord, RspamdRecord
from mlv.ingest.store import executemany, insert_sql

MESSAGE_ID_WINDOW = 3 * 86400  # the same Message-ID further apart than this is another message
LOCAL_RELAYS = ("127.0.0.1", "[::1]", "localhost")
TEMPORARY_ACTIONS = ("greylist", "soft reject")
REJECT_STATUS = {"rejected": "rejected", "discarded": "rejected", "held": "deferred"}
CHUNK = 500


@dataclass(eq=False)
class Msg:
    id: int
    server_id: int
    correlation_key: str
    first_seen: int
    last_seen: int
    message_id: str | None = None
    queue_id: str | None = None
    sender: str | None = None
    recipients: str = ""
    recipient_count: int = 0
    subject: str | None = None
    direction: str | None = None
    final_status: str | None = None
    is_complete: bool = False
    spam_score: float | None = None
    spam_action: str | None = None
    is_spam: bool = False
    rspamd_ref: int | None = None
    user: str | None = None
    ip: str | None = None
    size: int | None = None
    local_origin: bool = False
    kind: str = "mail"


@dataclass(eq=False)
class Queue:
    id: int
    server_id: int
    queue_id: str
    first_seen: int
    last_seen: int
    message_ref: int | None = None
    removed: bool = False
    local_origin: bool = False
    client_host: str | None = None
    client_ip: str | None = None
    sasl_user: str | None = None
    sender: str | None = None
    message_id: str | None = None
    size: int | None = None
    nrcpt: int | None = None
    parent_queue_id: str | None = None


@dataclass(eq=False)
class Dlv:
    id: int
    server_id: int
    message_ref: int
    recipient: str
    status: str
    time: int
    orig_to: str | None = None
    queue_id: str | None = None
    dsn: str | None = None
    relay: str | None = None
    delay: float | None = None
    reason: str | None = None


MSG_COLS = [f.name for f in fields(Msg)]
QUEUE_COLS = [f.name for f in fields(Queue)]
DLV_COLS = [f.name for f in fields(Dlv)]


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join("" if p is None else str(p) for p in parts).encode()).hexdigest()


def _chunks(values: Sequence, size: int = CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


@dataclass
class BatchStats:
    lines: int = 0
    messages_created: int = 0
    messages_updated: int = 0
    rspamd_joined: int = 0


@dataclass
class _Tracker:
    new: set = field(default_factory=set)
    dirty: set = field(default_factory=set)
    deleted: set = field(default_factory=set)


class Correlator:
    """Applies new postfix lines and rspamd rows to messages; one instance per batch."""

    def __init__(self, conn: Connection, *, server_id: int = 1, domains: LocalDomains | None = None) -> None:
        self.conn = conn
        self.server_id = server_id
        self.domains = domains or LocalDomains()
        self.open: dict[str, Queue] = {}
        self.queues: dict[int, Queue] = {}
        self.msgs: dict[int, Msg] = {}
        self.by_mid: dict[str, Msg] = {}
        self.by_key: dict[str, Msg] = {}
        self.dlv: dict[int, dict[str, Dlv]] = {}  # message id -> recipient -> delivery
        self.t_msg, self.t_queue, self.t_dlv = _Tracker(), _Tracker(), _Tracker()
        self.touched: set[int] = set()
        self.stats = BatchStats()
        self._pending_rspamd_recipients: set[int] = set()
        self._next = {name: self._max_id(name) + 1 for name in ("message", "message_queue", "delivery")}

    # ---------------------------------------------------------------- loading
    def _max_id(self, table: str) -> int:
        return self.conn.execute(text(f"SELECT COALESCE(MAX(id), 0) FROM {table}")).scalar_one()

    def _new_id(self, table: str) -> int:
        value = self._next[table]
        self._next[table] = value + 1
        return value

    def _select(self, sql: str, column: str, values: Iterable, extra: dict | None = None) -> list:
        values = list(dict.fromkeys(v for v in values if v is not None))
        out: list = []
        for chunk in _chunks(values):
            params = {f"v{i}": v for i, v in enumerate(chunk)} | (extra or {})
            marks = ", ".join(f":v{i}" for i in range(len(chunk)))
            out.extend(self.conn.execute(text(sql.format(col=column, marks=marks)), params).mappings().all())
        return out

    def _adopt_msg(self, row: dict) -> Msg:
        msg = self.msgs.get(row["id"])
        if msg is None:
            msg = Msg(**{c: row[c] for c in MSG_COLS})
            msg.is_complete, msg.is_spam, msg.local_origin = bool(msg.is_complete), bool(msg.is_spam), \
                bool(msg.local_origin)
            self.msgs[msg.id] = msg
            self.by_key[msg.correlation_key] = msg
            if msg.message_id:
                cur = self.by_mid.get(msg.message_id)
                if cur is None or cur.last_seen < msg.last_seen:
                    self.by_mid[msg.message_id] = msg
        return msg

    def _load(self, queue_ids: set[str], message_ids: set[str], keys: set[str], oldest: int) -> None:
        sid = {"sid": self.server_id}
        for row in self._select("SELECT * FROM message_queue WHERE server_id = :sid AND removed = false "
                                "AND {col} IN ({marks})", "queue_id", queue_ids, sid):
            queue = Queue(**{c: row[c] for c in QUEUE_COLS})
            queue.removed, queue.local_origin = bool(queue.removed), bool(queue.local_origin)
            cur = self.open.get(queue.queue_id)
            if cur is None or cur.first_seen <= queue.first_seen:
                self.open[queue.queue_id] = queue
            self.queues[queue.id] = queue
        refs = {q.message_ref for q in self.queues.values()}
        for row in self._select("SELECT * FROM message WHERE {col} IN ({marks})", "id", refs):
            self._adopt_msg(row)
        for row in self._select("SELECT * FROM message WHERE server_id = :sid AND last_seen >= :oldest "
                                "AND {col} IN ({marks})", "message_id", message_ids,
                                sid | {"oldest": oldest - MESSAGE_ID_WINDOW}):
            self._adopt_msg(row)
        for row in self._select("SELECT * FROM message WHERE {col} IN ({marks})", "correlation_key", keys):
            self._adopt_msg(row)
        self._load_deliveries(list(self.msgs))

    def _load_deliveries(self, msg_ids: Iterable[int]) -> None:
        for row in self._select("SELECT * FROM delivery WHERE {col} IN ({marks})", "message_ref", msg_ids):
            d = Dlv(**{c: row[c] for c in DLV_COLS})
            self.dlv.setdefault(d.message_ref, {})[d.recipient] = d

    # ---------------------------------------------------------------- building blocks
    def _touch(self, msg: Msg, time: int) -> None:
        if time < msg.first_seen:
            msg.first_seen = time
        if time > msg.last_seen:
            msg.last_seen = time
        self.touched.add(msg.id)
        if msg.id not in self.t_msg.new:
            self.t_msg.dirty.add(msg.id)

    def _touch_queue(self, queue: Queue, time: int) -> None:
        if time > queue.last_seen:
            queue.last_seen = time
        if queue.id not in self.t_queue.new:
            self.t_queue.dirty.add(queue.id)

    def _new_msg(self, time: int, key: str, **values: object) -> Msg:
        msg = Msg(id=self._new_id("message"), server_id=self.server_id, correlation_key=key,
                  first_seen=time, last_seen=time, **values)  # type: ignore[arg-type]
        self.msgs[msg.id] = msg
        self.by_key[key] = msg
        self.t_msg.new.add(msg.id)
        self.touched.add(msg.id)
        self.stats.messages_created += 1
        return msg

    def _new_queue(self, queue_id: str, time: int, **values: object) -> Queue:
        old = self.open.get(queue_id)
        if old is not None:  # the id was recycled without us seeing `removed`
            old.removed = True
            self._touch_queue(old, old.last_seen)
        queue = Queue(id=self._new_id("message_queue"), server_id=self.server_id, queue_id=queue_id,
                      first_seen=time, last_seen=time, **values)  # type: ignore[arg-type]
        self.open[queue_id] = queue
        self.queues[queue.id] = queue
        self.t_queue.new.add(queue.id)
        return queue

    def _queue_for(self, r: PostfixRecord) -> Queue:
        queue = self.open.get(r.queue_id)  # type: ignore[arg-type]
        if queue is None:
            queue = self._new_queue(r.queue_id, r.time)  # type: ignore[arg-type]
        self._touch_queue(queue, r.time)
        return queue

    def _msg_of(self, queue: Queue, time: int) -> Msg:
        msg = self.msgs.get(queue.message_ref) if queue.message_ref else None
        if msg is None:
            kind = "dsn" if queue.parent_queue_id else "mail"
            msg = self._new_msg(queue.first_seen, _key(self.server_id, "q", queue.queue_id, queue.first_seen, queue.id),
                                queue_id=queue.queue_id, kind=kind)
            self._attach(queue, msg)
        self._touch(msg, time)
        return msg

    def _attach(self, queue: Queue, msg: Msg) -> None:
        queue.message_ref = msg.id
        self._touch_queue(queue, queue.last_seen)
        if msg.queue_id is None or queue.first_seen < msg.first_seen:
            msg.queue_id = queue.queue_id
        if msg.queue_id == queue.queue_id:
            self._origin(msg, queue)

    def _origin(self, msg: Msg, queue: Queue) -> None:
        """The first queue instance of a message says where it came from."""
        msg.local_origin = queue.local_origin
        msg.ip = queue.client_ip or msg.ip
        msg.user = queue.sasl_user or msg.user
        if queue.sender is not None:
            msg.sender = queue.sender

    def _merge(self, keep: Msg, gone: Msg) -> None:
        """Two messages turned out to be one (a later queue id showed the same Message-ID)."""
        for queue in self.queues.values():
            if queue.message_ref == gone.id:
                queue.message_ref = keep.id
                self._touch_queue(queue, queue.last_seen)
        kept = self.dlv.setdefault(keep.id, {})
        for rcpt, d in self.dlv.pop(gone.id, {}).items():
            if rcpt in kept:
                self._drop_dlv(d)
                continue
            d.message_ref = keep.id
            kept[rcpt] = d
            if d.id not in self.t_dlv.new:
                self.t_dlv.dirty.add(d.id)
        if gone.first_seen < keep.first_seen:
            keep.first_seen, keep.queue_id = gone.first_seen, gone.queue_id
            keep.local_origin, keep.ip, keep.user = gone.local_origin, gone.ip, gone.user
            keep.sender = gone.sender if gone.sender is not None else keep.sender
        keep.last_seen = max(keep.last_seen, gone.last_seen)
        for attr in ("subject", "spam_score", "spam_action", "rspamd_ref", "size", "user", "ip"):
            if getattr(keep, attr) is None:
                setattr(keep, attr, getattr(gone, attr))
        keep.is_spam = keep.is_spam or gone.is_spam
        self._touch(keep, keep.last_seen)
        self.msgs.pop(gone.id, None)
        self.by_key.pop(gone.correlation_key, None)
        self.touched.discard(gone.id)
        if gone.id in self.t_msg.new:
            self.t_msg.new.discard(gone.id)
        else:
            self.t_msg.deleted.add(gone.id)
        self.t_msg.dirty.discard(gone.id)

    def _drop_dlv(self, d: Dlv) -> None:
        if d.id in self.t_dlv.new:
            self.t_dlv.new.discard(d.id)
        else:
            self.t_dlv.deleted.add(d.id)
        self.t_dlv.dirty.discard(d.id)

    def _set_dlv(self, msg: Msg, recipient: str, status: str, time: int, r: PostfixRecord | None = None,
                 queue_id: str | None = None, *, only_if_missing: bool = False) -> Dlv:
        rcpt = recipient.lower()
        mine = self.dlv.setdefault(msg.id, {})
        d = mine.get(rcpt)
        if d is None:
            d = Dlv(id=self._new_id("delivery"), server_id=self.server_id, message_ref=msg.id, recipient=rcpt,
                    status=status, time=time, queue_id=queue_id)
            mine[rcpt] = d
            self.t_dlv.new.add(d.id)
        elif only_if_missing:
            return d
        else:
            if time < d.time and d.status in FINAL:  # an older line must not undo a newer outcome
                return d
            d.status, d.time = status, time
            if queue_id:
                d.queue_id = queue_id
            if d.id not in self.t_dlv.new:
                self.t_dlv.dirty.add(d.id)
        if r is not None:
            d.dsn, d.relay, d.delay, d.reason = r.dsn, r.relay, r.delay, r.reason
            if r.orig_to:
                d.orig_to = r.orig_to
                self._supersede(msg, r.orig_to.lower(), rcpt)
        return d

    def _supersede(self, msg: Msg, alias: str, rcpt: str) -> None:
        """A recipient held back before expansion (greylisted alias) is now delivered as its targets."""
        if alias == rcpt:
            return
        held = self.dlv.get(msg.id, {}).get(alias)
        if held is not None and held.status == "deferred" and held.relay is None:
            del self.dlv[msg.id][alias]
            self._drop_dlv(held)

    # ---------------------------------------------------------------- postfix lines
    def add_postfix(self, records: Sequence[PostfixRecord]) -> BatchStats:
        """Apply a batch of new postfix lines (oldest first) and write the result."""
        if not records:
            return self.stats
        qids: set[str] = set()
        mids: set[str] = set()
        keys: set[str] = set()
        for r in records:
            if r.queue_id:
                qids.add(r.queue_id)
            if r.related_queue_id:
                qids.add(r.related_queue_id)
            if r.message_id:
                mids.add(r.message_id)
            if r.noqueue and r.kind == "reject":
                keys.add(self._noqueue_key(r))
        self._load(qids, mids, keys, min(r.time for r in records))
        for r in records:
            self.stats.lines += 1
            if r.noqueue:
                if r.kind == "reject" and r.recipient is not None:
                    self._noqueue_reject(r)
                continue
            if not r.queue_id:
                continue
            handler = _HANDLERS.get(r.kind)
            if handler is not None:
                handler(self, r)
        return self.stats

    def _noqueue_key(self, r: PostfixRecord) -> str:
        return _key(self.server_id, "noqueue", r.time, r.client_ip, r.sender)

    def _noqueue_reject(self, r: PostfixRecord) -> None:
        key = self._noqueue_key(r)
        msg = self.by_key.get(key)
        if msg is None:
            local = is_submission_program(r.program) or is_internal_ip(r.client_ip)
            msg = self._new_msg(r.time, key, sender=r.sender, ip=r.client_ip, local_origin=local, kind="noqueue",
                                is_complete=True)
        self._touch(msg, r.time)
        self._set_dlv(msg, r.recipient or "", "rejected", r.time, r)

    def _on_client(self, r: PostfixRecord) -> None:
        queue = self._new_queue(r.queue_id, r.time)  # type: ignore[arg-type]
        queue.client_host, queue.client_ip, queue.sasl_user = r.client_host, r.client_ip, r.sasl_user
        queue.local_origin = bool(r.sasl_user) or is_internal_ip(r.client_ip) or is_submission_program(r.program)

    def _on_pickup(self, r: PostfixRecord) -> None:
        queue = self._new_queue(r.queue_id, r.time, local_origin=True)  # type: ignore[arg-type]
        queue.sender = r.sender

    def _on_message_id(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        mid = r.message_id
        queue.message_id = mid
        current = self.msgs.get(queue.message_ref) if queue.message_ref else None
        if not mid:
            self._msg_of(queue, r.time)
            return
        other = self.by_mid.get(mid)
        if other is not None and other is not current and abs(r.time - other.last_seen) <= MESSAGE_ID_WINDOW:
            if current is None:
                self._attach(queue, other)
            else:
                self._merge(other, current)
            target = other
        else:
            target = current or self._new_msg(queue.first_seen,
                                              _key(self.server_id, "q", queue.queue_id, queue.first_seen, queue.id),
                                              queue_id=queue.queue_id,
                                              kind="dsn" if queue.parent_queue_id else "mail")
            if current is None:
                self._attach(queue, target)
        if target.message_id is None:
            target.message_id = mid
        self.by_mid[mid] = target
        self._touch(target, r.time)

    def _on_qmgr(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        queue.sender, queue.size, queue.nrcpt = r.sender, r.size, r.nrcpt
        msg = self._msg_of(queue, r.time)
        if msg.queue_id == queue.queue_id:
            if msg.sender is None:
                msg.sender = r.sender
            if msg.size is None:
                msg.size = r.size

    def _on_delivery(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        msg = self._msg_of(queue, r.time)
        status = DELIVERY_STATUS.get(r.status or "")
        if status is None:  # address verification probes (deliverable, undeliverable, ...)
            return
        relay = r.relay or ""
        if r.related_queue_id and status == "delivered" and relay.split("]")[0].split("[")[-1] in LOCAL_RELAYS:
            # A hand-off to a local content filter: the mail lives on under the new queue id.
            nxt = self._new_queue(r.related_queue_id, r.time, local_origin=queue.local_origin,
                                  sender=queue.sender)
            self._attach(nxt, msg)
            return
        if r.recipient is not None:
            self._set_dlv(msg, r.recipient, status, r.time, r, queue.queue_id)

    def _on_expired(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        msg = self._msg_of(queue, r.time)
        for d in self.dlv.get(msg.id, {}).values():
            if d.status == "deferred" and d.queue_id in (queue.queue_id, None):
                d.status, d.time = "expired", r.time
                if d.id not in self.t_dlv.new:
                    self.t_dlv.dirty.add(d.id)

    def _on_removed(self, r: PostfixRecord) -> None:
        queue = self.open.get(r.queue_id)  # type: ignore[arg-type]
        if queue is None:
            return
        queue.removed = True
        self._touch_queue(queue, r.time)
        if queue.message_ref in self.msgs:
            self._touch(self.msgs[queue.message_ref], r.time)
        del self.open[queue.queue_id]

    def _on_reject(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        if queue.sender is None:
            queue.sender = r.sender
        if queue.client_ip is None and r.client_ip:
            queue.client_ip, queue.client_host = r.client_ip, r.client_host
        msg = self._msg_of(queue, r.time)
        if msg.sender is None:
            msg.sender = r.sender
        if r.kind == "milter_reject":
            code = (r.dsn or r.reason or "5").lstrip()
            status = "deferred" if code.startswith("4") else "spam"
            queue.removed = True  # cleanup dropped the queue file; no `removed` line follows
            self.open.pop(queue.queue_id, None)
        else:
            # reject_warning (status None) changes nothing; a held message waits in the queue.
            status = REJECT_STATUS.get(r.status or "")
            if status is None:
                return
        if r.recipient is not None:
            self._set_dlv(msg, r.recipient, status, r.time, r, queue.queue_id)
        if r.kind == "milter_reject" and msg.rspamd_ref is not None:
            self._pending_rspamd_recipients.add(msg.id)

    def _on_bounce_notice(self, r: PostfixRecord) -> None:
        queue = self._queue_for(r)
        rid = r.related_queue_id
        if not rid:
            return
        # cleanup logs the notice's message-id just before bounce names its queue id.
        dsn = self.open.get(rid)
        if dsn is None or dsn.client_ip or r.time - dsn.first_seen > 60:
            dsn = self._new_queue(rid, r.time)
        dsn.local_origin, dsn.parent_queue_id = True, queue.queue_id
        if dsn.sender is None:
            dsn.sender = ""
        self._touch_queue(dsn, r.time)
        msg = self.msgs.get(dsn.message_ref) if dsn.message_ref else None
        if msg is not None:
            msg.kind = "dsn"
            if msg.queue_id == dsn.queue_id:
                self._origin(msg, dsn)
            self._touch(msg, r.time)

    # ---------------------------------------------------------------- rspamd rows
    def add_rspamd(self, rows: Sequence[tuple[int, RspamdRecord]]) -> BatchStats:
        """Join new rspamd rows (id, record) to messages, and messages touched so far to stored rows."""
        sid = {"sid": self.server_id}
        with_mid = [(i, r) for i, r in rows if r.message_id]
        if with_mid:
            oldest = min(r.time for _, r in with_mid) - MESSAGE_ID_WINDOW
            for row in self._select("SELECT * FROM message WHERE server_id = :sid AND last_seen >= :oldest "
                                    "AND {col} IN ({marks})", "message_id", [r.message_id for _, r in with_mid],
                                    sid | {"oldest": oldest}):
                self._adopt_msg(row)
        # Messages (new or touched) still without rspamd data: look for stored rows.
        wanting = [m for m in self.msgs.values() if m.id in self.touched and m.rspamd_ref is None and m.message_id]
        candidates: dict[str, list[tuple[int, RspamdRecord]]] = {}
        for i, r in with_mid:
            candidates.setdefault(r.message_id, []).append((i, r))  # type: ignore[arg-type]
        need = [m.message_id for m in wanting if m.message_id not in candidates]
        if need:
            from mlv.ingest.store import rspamd_record_from_row

            for row in self._select("SELECT * FROM rspamd_log WHERE server_id = :sid AND {col} IN ({marks})",
                                    "message_id", need, sid):
                candidates.setdefault(row["message_id"], []).append((row["id"], rspamd_record_from_row(row)))
        for msg in list(self.msgs.values()):
            if not msg.message_id or msg.message_id not in candidates:
                continue
            if msg.rspamd_ref is not None and msg.spam_action not in TEMPORARY_ACTIONS:
                continue
            near = [(i, r) for i, r in candidates[msg.message_id]
                    if abs(r.time - msg.first_seen) <= MESSAGE_ID_WINDOW and i != msg.rspamd_ref]
            if not near:
                continue
            # The scan that decided: the earliest final one (later scans of the same Message-ID are
            # forwards); a greylisted first attempt only counts until the retry is scanned.
            final = [p for p in near if p[1].action not in TEMPORARY_ACTIONS]
            if final:
                rid, rec = min(final, key=lambda p: (p[1].time, p[0]))
            elif msg.rspamd_ref is None:
                rid, rec = max(near, key=lambda p: (p[1].time, p[0]))
            else:
                continue
            self._apply_rspamd(msg, rid, rec)
        # A milter reject seen after its rspamd row: fill in the other recipients now.
        redo = [self.msgs[m] for m in self._pending_rspamd_recipients if m in self.msgs]
        if redo:
            from mlv.ingest.store import rspamd_record_from_row

            rows_by_id = {row["id"]: row for row in self._select("SELECT * FROM rspamd_log WHERE {col} IN ({marks})",
                                                                 "id", [m.rspamd_ref for m in redo])}
            for msg in redo:
                if msg.rspamd_ref in rows_by_id:
                    self._apply_rspamd(msg, msg.rspamd_ref, rspamd_record_from_row(rows_by_id[msg.rspamd_ref]))
        self._join_without_message_id([(i, r) for i, r in rows if not r.message_id])
        return self.stats

    def _join_without_message_id(self, rows: Sequence[tuple[int, RspamdRecord]]) -> None:
        """Rows of mail without Message-ID: match the queue instance by sender, client and time."""
        if not rows:
            return
        lo = min(r.time for _, r in rows) - 120
        hi = max(r.time for _, r in rows) + 120
        found = self.conn.execute(text(
            "SELECT q.id, q.message_ref, q.first_seen, q.client_ip, q.sender, m.message_id FROM message_queue q "
            "JOIN message m ON m.id = q.message_ref WHERE q.server_id = :sid AND q.first_seen BETWEEN :lo AND :hi "
            "AND m.message_id IS NULL AND m.rspamd_ref IS NULL"), {"sid": self.server_id, "lo": lo, "hi": hi}).all()
        pool = [tuple(f) for f in found]
        pool += [(q.id, q.message_ref, q.first_seen, q.client_ip, q.sender, None) for q in self.queues.values()
                 if q.message_ref and q.message_ref in self.msgs and not self.msgs[q.message_ref].message_id
                 and self.msgs[q.message_ref].rspamd_ref is None and q.id in self.t_queue.new]
        used: set[int] = set()
        for rid, rec in rows:
            best = None
            for qid, ref, first, ip, sender, _mid in pool:
                if ref in used or (rec.ip and ip and rec.ip != ip):
                    continue
                if (sender or "") != (rec.sender_smtp or "") or not -5 <= rec.time - first <= 120:
                    continue
                if best is None or abs(rec.time - first) < abs(rec.time - best[2]):
                    best = (qid, ref, first)
            if best is None:
                continue
            used.add(best[1])
            msg = self.msgs.get(best[1])
            if msg is None:
                rowmap = self.conn.execute(text("SELECT * FROM message WHERE id = :i"), {"i": best[1]}).mappings()
                msg = self._adopt_msg(rowmap.one())
                self._load_deliveries([msg.id])
            self._apply_rspamd(msg, rid, rec)

    def _apply_rspamd(self, msg: Msg, rid: int, rec: RspamdRecord) -> None:
        msg.rspamd_ref = rid
        msg.spam_score, msg.spam_action, msg.is_spam = rec.score, rec.action, rec.is_spam
        if rec.subject is not None:
            msg.subject = rec.subject
        if rec.user and not msg.user:
            msg.user = rec.user
        if msg.size is None:
            msg.size = rec.size
        if rec.has_auth and not msg.local_origin and msg.kind != "noqueue":
            msg.local_origin = True
        statuses = {d.status for d in self.dlv.get(msg.id, {}).values()}
        # A milter reject is logged with one recipient; rspamd knows all of them.
        fill = "spam" if rec.action == "reject" and "spam" in statuses else \
            "deferred" if rec.action in ("greylist", "soft reject") and "deferred" in statuses else None
        if fill:
            for rcpt in rec.rcpt_smtp:
                self._set_dlv(msg, rcpt, fill, rec.time, None, msg.queue_id, only_if_missing=True)
        self.stats.rspamd_joined += 1
        self._touch(msg, msg.last_seen)

    # ---------------------------------------------------------------- writing
    def _derive(self) -> None:
        open_refs = {q.message_ref for q in self.queues.values() if not q.removed}
        for mid in self.touched:
            msg = self.msgs.get(mid)
            if msg is None:
                continue
            dlvs = list(self.dlv.get(mid, {}).values())
            rcpts = sorted({d.recipient for d in dlvs})
            msg.recipients = " ".join(rcpts)
            msg.recipient_count = len(rcpts)
            msg.final_status = final_status(d.status for d in dlvs)
            first = [d.recipient for d in dlvs if d.queue_id == msg.queue_id] or rcpts
            msg.direction = direction(msg.local_origin, first, self.domains)
            if msg.kind == "noqueue":
                msg.is_complete = True
            else:
                msg.is_complete = bool(dlvs) and mid not in open_refs and all(d.status != "deferred" for d in dlvs)
            if mid not in self.t_msg.new:
                self.t_msg.dirty.add(mid)

    def flush(self) -> BatchStats:
        """Write every change of this batch (call inside the import transaction)."""
        self._derive()
        conn = self.conn
        for table, cols, objs, tracker in (
            ("message", MSG_COLS, self.msgs, self.t_msg),
            ("message_queue", QUEUE_COLS, self.queues, self.t_queue),
        ):
            self._write(conn, table, cols, [objs[i] for i in tracker.new if i in objs],
                        [objs[i] for i in tracker.dirty if i in objs and i not in tracker.new], tracker.deleted)
        dlv_by_id = {d.id: d for per_msg in self.dlv.values() for d in per_msg.values()}
        self._write(conn, "delivery", DLV_COLS, [dlv_by_id[i] for i in self.t_dlv.new if i in dlv_by_id],
                    [dlv_by_id[i] for i in self.t_dlv.dirty if i in dlv_by_id and i not in self.t_dlv.new],
                    self.t_dlv.deleted)
        self.stats.messages_updated = len(self.t_msg.dirty - self.t_msg.new)
        return self.stats

    @staticmethod
    def _write(conn: Connection, table: str, cols: list[str], new: list, dirty: list, deleted: set) -> None:
        marker = "?" if conn.dialect.name == "sqlite" else "%s"
        if deleted:
            executemany(conn, f"DELETE FROM {table} WHERE id = {marker}", [(i,) for i in deleted])
        if dirty:
            sets = ", ".join(f'"{c}" = {marker}' for c in cols if c != "id")
            executemany(conn, f"UPDATE {table} SET {sets} WHERE id = {marker}",
                        [(*tuple(getattr(o, c) for c in cols if c != "id"), o.id) for o in dirty])
        if new:
            executemany(conn, insert_sql(conn, table, cols, ignore_conflicts=False),
                        [tuple(getattr(o, c) for c in cols) for o in new])


_HANDLERS = {
    "client": Correlator._on_client,
    "pickup": Correlator._on_pickup,
    "message_id": Correlator._on_message_id,
    "qmgr": Correlator._on_qmgr,
    "delivery": Correlator._on_delivery,
    "expired": Correlator._on_expired,
    "removed": Correlator._on_removed,
    "reject": Correlator._on_reject,
    "milter_reject": Correlator._on_reject,
    "bounce_notice": Correlator._on_bounce_notice,
}
