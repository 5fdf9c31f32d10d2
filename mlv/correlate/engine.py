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

from collections.abc import Sequence

from mlv.correlate.rspamd_join import RspamdJoin
from mlv.correlate.rules import DELIVERY_STATUS, is_internal_ip, is_submission_program
from mlv.correlate.state import (
    LOCAL_RELAYS,
    MESSAGE_ID_WINDOW,
    QUEUE_COLS,
    REJECT_STATUS,
    BatchStats,
    Msg,
    Queue,
    correlation_key,
)
from mlv.ingest.records import PostfixRecord

__all__ = ["Correlator", "correlation_key"]


class Correlator(RspamdJoin):
    """Applies new postfix lines and rspamd rows to messages; one instance per batch."""

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
            key = correlation_key(self.server_id, "q", queue.queue_id, queue.first_seen, queue.id)
            msg = self._new_msg(queue.first_seen, key, queue_id=queue.queue_id, kind=kind)
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
        return correlation_key(self.server_id, "noqueue", r.time, r.client_ip, r.sender)

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
            key = correlation_key(self.server_id, "q", queue.queue_id, queue.first_seen, queue.id)
            target = current or self._new_msg(queue.first_seen, key, queue_id=queue.queue_id,
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
