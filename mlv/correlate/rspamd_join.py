"""Joining rspamd's scans to messages.

By Message-ID where there is one (the scan that decided: the earliest final one, so forwards do
not override the original scan, and a greylisted first attempt only until its retry is scanned);
without one, by envelope sender, client address and time.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import text

from mlv.correlate.state import MESSAGE_ID_WINDOW, TEMPORARY_ACTIONS, BatchStats, CorrelationState, Msg
from mlv.ingest.records import RspamdRecord


class RspamdJoin(CorrelationState):
    """Joins rspamd scans to messages: by Message-ID, or by sender, client and time without one."""

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

