"""What one correlation batch holds in memory, and how it is written back.

The rows a batch touches (messages, queue instances, deliveries) are read with a few bulk
SELECTs, changed in memory, and written with one executemany per table and kind of change.
Ids are assigned here (the correlator is the only writer and holds the import lock).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields

from sqlalchemy import Connection, text

from mlv.correlate.rules import FINAL, LocalDomains, direction, final_status
from mlv.ingest.records import PostfixRecord
from mlv.ingest.store import executemany, insert_sql

MESSAGE_ID_WINDOW = 3 * 86400  # the same Message-ID further apart than this is another message
LOCAL_RELAYS = ("127.0.0.1", "[::1]", "localhost")
TEMPORARY_ACTIONS = ("greylist", "soft reject")
REJECT_STATUS = {"rejected": "rejected", "discarded": "rejected", "held": "deferred"}
CHUNK = 500
PADDED_SIZES = tuple(sorted({*(4 ** k for k in range(1, 8) if 4 ** k < CHUNK), CHUNK}))


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


def correlation_key(*parts: object) -> str:
    """The stable sha256 key of a message (shown in URLs and the API)."""
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



class CorrelationState:
    """Rows a batch touches (messages, queue instances, deliveries), kept in memory and flushed once."""

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
            # The list is padded (with its last value) to one of a few lengths, so a handful of SQL
            # texts serve every batch instead of one compiled statement cached per length.
            size = next(n for n in PADDED_SIZES if n >= len(chunk))
            params = {f"v{i}": chunk[min(i, len(chunk) - 1)] for i in range(size)} | (extra or {})
            marks = ", ".join(f":v{i}" for i in range(size))
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

    def _load_deliveries(self, msg_ids: Iterable[int]) -> None:
        for row in self._select("SELECT * FROM delivery WHERE {col} IN ({marks})", "message_ref", msg_ids):
            d = Dlv(**{c: row[c] for c in DLV_COLS})
            self.dlv.setdefault(d.message_ref, {})[d.recipient] = d

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
