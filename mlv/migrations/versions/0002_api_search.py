"""API search and speed: indexes matching the list filters, rollups kept by triggers, free-text search

- Indexes for every filter/sort of the list routes (sender, user, ip, direction, status, spam,
  recipient; log sender/recipient/status/action/direction/username).
- Rollup tables (message_hourly, address_daily, postfix_hourly, rspamd_hourly, netfilter_hourly,
  spam_symbol_daily) maintained by row triggers on the base tables, so every writer (import,
  correlation, retention cleanup) keeps them exact with no code of its own. Existing rows are
  counted once here (backfill).
- Free-text search: SQLite FTS5 (trigram tokenizer, detail=none: substring search, ~150 bytes a
  row) over a view per table, kept in sync by triggers; PostgreSQL pg_trgm GIN indexes over the
  same lower-cased expressions. Without the pg_trgm extension (not installable by the database
  user) search still works, as a scan.

Revision ID: 0002
Revises: 0001
"""
from alembic import op
from sqlalchemy import text

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Free-text documents per table: what each list route's `search` looks in.
DOCS = {
    "message": "coalesce({p}sender, '') || ' ' || coalesce({p}recipients, '') || ' ' || coalesce({p}subject, '') "
               "|| ' <' || coalesce({p}message_id, '') || '> ' || coalesce({p}queue_id, '')",
    "postfix_log": "{p}message",
    "rspamd_log": "coalesce({p}subject, '') || ' ' || coalesce({p}sender_smtp, '') || ' ' || "
                  "coalesce({p}sender_mime, '') || ' <' || coalesce({p}message_id, '') || '>'",
    "netfilter_log": "{p}message || ' ' || coalesce({p}username, '') || ' ' || coalesce({p}ip, '')",
}
DOC_COLUMNS = {"message": ("sender", "recipients", "subject", "message_id", "queue_id"), "postfix_log": ("message",),
               "rspamd_log": ("subject", "sender_smtp", "sender_mime", "message_id"),
               "netfilter_log": ("message", "username", "ip")}

INDEXES = [
    "CREATE INDEX ix_message_sender_seen ON message (lower(sender), first_seen, id)",
    'CREATE INDEX ix_message_user_seen ON message (lower("user"), first_seen, id)',
    "CREATE INDEX ix_message_ip_seen ON message (ip, first_seen, id)",
    "CREATE INDEX ix_message_direction_seen ON message (direction, first_seen, id)",
    "CREATE INDEX ix_message_status_seen ON message (final_status, first_seen, id)",
    "CREATE INDEX ix_message_direction_status_seen ON message (direction, final_status, first_seen, id)",
    "CREATE INDEX ix_message_spam_seen ON message (first_seen, id) WHERE is_spam = true OR final_status = 'spam'",
    "CREATE INDEX ix_message_incomplete ON message (last_seen) WHERE is_complete = false",
    "CREATE INDEX ix_message_rspamd_ref ON message (rspamd_ref) WHERE rspamd_ref IS NOT NULL",
    "CREATE INDEX ix_delivery_recipient_ref ON delivery (recipient, message_ref)",
    "CREATE INDEX ix_postfix_log_sender ON postfix_log (lower(sender), time) WHERE sender IS NOT NULL",
    "CREATE INDEX ix_postfix_log_recipient ON postfix_log (lower(recipient), time) WHERE recipient IS NOT NULL",
    "CREATE INDEX ix_postfix_log_status ON postfix_log (status, time) WHERE status IS NOT NULL",
    "CREATE INDEX ix_rspamd_log_sender ON rspamd_log (lower(sender_smtp), time)",
    "CREATE INDEX ix_rspamd_log_direction ON rspamd_log (direction, time)",
    "CREATE INDEX ix_rspamd_log_action ON rspamd_log (action, time)",
    "CREATE INDEX ix_rspamd_log_spam ON rspamd_log (time) WHERE is_spam = true",
    "CREATE INDEX ix_rspamd_log_time_score ON rspamd_log (time, score)",
    "CREATE INDEX ix_netfilter_log_username ON netfilter_log (lower(username), time) WHERE username IS NOT NULL",
    "CREATE INDEX ix_netfilter_log_action ON netfilter_log (action, time)",
    "CREATE INDEX ix_netfilter_log_ip_time ON netfilter_log (ip, time)",
]
PG_INDEXES = ["CREATE INDEX ix_message_seen_id ON message (first_seen, id)"]

TABLES = [
    """CREATE TABLE message_hourly (server_id SMALLINT NOT NULL, hour BIGINT NOT NULL, direction VARCHAR(16) NOT NULL,
       final_status VARCHAR(16) NOT NULL, is_spam BOOLEAN NOT NULL, messages BIGINT NOT NULL,
       PRIMARY KEY (server_id, hour, direction, final_status, is_spam))""",
    """CREATE TABLE address_daily (server_id SMALLINT NOT NULL, day BIGINT NOT NULL, address VARCHAR(255) NOT NULL,
       role VARCHAR(1) NOT NULL, status VARCHAR(16) NOT NULL, messages BIGINT NOT NULL,
       PRIMARY KEY (server_id, address, day, role, status))""",
    """CREATE TABLE postfix_hourly (server_id SMALLINT NOT NULL, hour BIGINT NOT NULL, status VARCHAR(16) NOT NULL,
       lines BIGINT NOT NULL, PRIMARY KEY (server_id, hour, status))""",
    """CREATE TABLE rspamd_hourly (server_id SMALLINT NOT NULL, hour BIGINT NOT NULL, direction VARCHAR(16) NOT NULL,
       action VARCHAR(32) NOT NULL, is_spam BOOLEAN NOT NULL, lines BIGINT NOT NULL,
       PRIMARY KEY (server_id, hour, direction, action, is_spam))""",
    """CREATE TABLE netfilter_hourly (server_id SMALLINT NOT NULL, hour BIGINT NOT NULL, action VARCHAR(16) NOT NULL,
       lines BIGINT NOT NULL, PRIMARY KEY (server_id, hour, action))""",
    """CREATE TABLE spam_symbol_daily (server_id SMALLINT NOT NULL, day BIGINT NOT NULL, symbol VARCHAR(128) NOT NULL,
       hits BIGINT NOT NULL, PRIMARY KEY (server_id, day, symbol))""",
]
ROLLUP_TABLES = ["message_hourly", "address_daily", "postfix_hourly", "rspamd_hourly", "netfilter_hourly",
                 "spam_symbol_daily"]

# One "+n" row change per rollup, written for a row alias (new./old.) and a sign.
_SENDER = "lower(substr({r}sender, 1, 255))"
_RCPT = "lower(substr(coalesce(nullif({r}orig_to, ''), {r}recipient), 1, 255))"


def _upserts(table: str, r: str, n: str, *, pg: bool) -> list[str]:
    """The upsert statements that add `n` for the row `r` ("new." or "old.") of `table`."""
    def up(target: str, cols: str, keys: str, values: str, counter: str, where: str = "") -> str:
        alias = " AS t" if pg else ""
        ref = "t." if pg else ""
        if where and not pg:
            return (f"INSERT INTO {target} ({cols}) SELECT {values} WHERE {where} "
                    f"ON CONFLICT ({keys}) DO UPDATE SET {counter} = {counter} + ({n})")
        stmt = (f"INSERT INTO {target}{alias} ({cols}) VALUES ({values}) "
                f"ON CONFLICT ({keys}) DO UPDATE SET {counter} = {ref}{counter} + ({n})")
        return f"IF {where} THEN {stmt}; END IF" if where else stmt

    hour, day = f"{r}time - {r}time % 3600", f"{r}time - {r}time % 86400"
    if table == "message":
        return [
            up("message_hourly", "server_id, hour, direction, final_status, is_spam, messages",
               "server_id, hour, direction, final_status, is_spam",
               f"{r}server_id, {r}first_seen - {r}first_seen % 3600, coalesce({r}direction, ''), "
               f"coalesce({r}final_status, ''), {r}is_spam, {n}", "messages"),
            up("address_daily", "server_id, day, address, role, status, messages",
               "server_id, address, day, role, status",
               f"{r}server_id, {r}first_seen - {r}first_seen % 86400, {_SENDER.format(r=r)}, 's', "
               f"coalesce({r}final_status, ''), {n}", "messages", where=f"coalesce({r}sender, '') <> ''"),
        ]
    if table == "delivery":
        return [up("address_daily", "server_id, day, address, role, status, messages",
                   "server_id, address, day, role, status",
                   f"{r}server_id, {day}, {_RCPT.format(r=r)}, 'r', {r}status, {n}", "messages",
                   where=f"coalesce({r}recipient, '') <> ''")]
    if table == "postfix_log":
        return [up("postfix_hourly", "server_id, hour, status, lines", "server_id, hour, status",
                   f"{r}server_id, {hour}, coalesce({r}status, ''), {n}", "lines")]
    if table == "rspamd_log":
        return [up("rspamd_hourly", "server_id, hour, direction, action, is_spam, lines",
                   "server_id, hour, direction, action, is_spam",
                   f"{r}server_id, {hour}, coalesce({r}direction, ''), {r}action, {r}is_spam, {n}", "lines")]
    if table == "netfilter_log":
        return [up("netfilter_hourly", "server_id, hour, action, lines", "server_id, hour, action",
                   f"{r}server_id, {hour}, {r}action, {n}", "lines")]
    raise ValueError(table)


def _symbol_upsert(r: str, n: str, *, pg: bool) -> str:
    """Spam symbols per day (rspamd rows rspamd judged spam only)."""
    if pg:
        return (f"IF {r}is_spam AND left({r}symbols, 1) = '{{' THEN "
                f"INSERT INTO spam_symbol_daily AS t (server_id, day, symbol, hits) "
                f"SELECT {r}server_id, {r}time - {r}time % 86400, substr(k, 1, 128), {n} "
                f"FROM json_object_keys({r}symbols::json) AS k "
                f"ON CONFLICT (server_id, day, symbol) DO UPDATE SET hits = t.hits + ({n}); END IF")
    return (f"INSERT INTO spam_symbol_daily (server_id, day, symbol, hits) "
            f"SELECT {r}server_id, {r}time - {r}time % 86400, substr(key, 1, 128), {n} FROM json_each({r}symbols) "
            f"WHERE {r}is_spam AND json_valid({r}symbols) AND json_type({r}symbols) = 'object' "
            f"ON CONFLICT (server_id, day, symbol) DO UPDATE SET hits = hits + ({n})")


# Update triggers fire only when a column a rollup counts by has changed.
UPDATE_WHEN = {
    "message": "old.first_seen / 3600 <> new.first_seen / 3600 OR old.direction IS {ne} new.direction OR "
               "old.final_status IS {ne} new.final_status OR old.is_spam <> new.is_spam OR "
               "old.server_id <> new.server_id OR lower(old.sender) IS {ne} lower(new.sender)",
    "delivery": "old.time / 86400 <> new.time / 86400 OR old.status <> new.status OR "
                "old.recipient <> new.recipient OR old.orig_to IS {ne} new.orig_to OR old.server_id <> new.server_id",
}


def _sqlite_triggers() -> list[str]:
    out = []
    for table in ("message", "delivery", "postfix_log", "rspamd_log", "netfilter_log"):
        plus = _upserts(table, "new.", "1", pg=False)
        minus = _upserts(table, "old.", "-1", pg=False)
        if table == "rspamd_log":
            plus.append(_symbol_upsert("new.", "1", pg=False))
            minus.append(_symbol_upsert("old.", "-1", pg=False))
        out.append(f"CREATE TRIGGER {table}_rollup_ai AFTER INSERT ON {table} BEGIN {'; '.join(plus)}; END")
        out.append(f"CREATE TRIGGER {table}_rollup_ad AFTER DELETE ON {table} BEGIN {'; '.join(minus)}; END")
        if table in UPDATE_WHEN:
            when = UPDATE_WHEN[table].format(ne="NOT")
            out.append(f"CREATE TRIGGER {table}_rollup_au AFTER UPDATE ON {table} WHEN {when} "
                       f"BEGIN {'; '.join(minus + plus)}; END")
    for table, expr in DOCS.items():
        view, fts = f"{table}_search", f"{table}_fts"
        new, old = expr.format(p="new."), expr.format(p="old.")
        out += [
            f"CREATE VIEW {view} AS SELECT id, {expr.format(p='')} AS doc FROM {table}",
            f"CREATE VIRTUAL TABLE {fts} USING fts5(doc, content='{view}', content_rowid='id', "
            f"tokenize='trigram', detail='none')",
            f"CREATE TRIGGER {fts}_ai AFTER INSERT ON {table} BEGIN "
            f"INSERT INTO {fts} (rowid, doc) VALUES (new.id, {new}); END",
            f"CREATE TRIGGER {fts}_ad AFTER DELETE ON {table} BEGIN "
            f"INSERT INTO {fts} ({fts}, rowid, doc) VALUES ('delete', old.id, {old}); END",
        ]
        if table == "message":
            cols = ", ".join(DOC_COLUMNS[table])
            out.append(f"CREATE TRIGGER {fts}_au AFTER UPDATE OF {cols} ON {table} WHEN ({old}) IS NOT ({new}) BEGIN "
                       f"INSERT INTO {fts} ({fts}, rowid, doc) VALUES ('delete', old.id, {old}); "
                       f"INSERT INTO {fts} (rowid, doc) VALUES (new.id, {new}); END")
    return out


def _pg_triggers() -> list[str]:
    out = []
    for table in ("message", "delivery", "postfix_log", "rspamd_log", "netfilter_log"):
        plus = _upserts(table, "NEW.", "1", pg=True)
        minus = _upserts(table, "OLD.", "-1", pg=True)
        if table == "rspamd_log":
            plus.append(_symbol_upsert("NEW.", "1", pg=True))
            minus.append(_symbol_upsert("OLD.", "-1", pg=True))
        func = f"mlv_{table}_rollup"
        out.append(f"CREATE OR REPLACE FUNCTION {func}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                   f"IF TG_OP <> 'INSERT' THEN {'; '.join(minus)}; END IF; "
                   f"IF TG_OP <> 'DELETE' THEN {'; '.join(plus)}; END IF; RETURN NULL; END $$")
        out.append(f"CREATE TRIGGER {table}_rollup_id AFTER INSERT OR DELETE ON {table} "
                   f"FOR EACH ROW EXECUTE FUNCTION {func}()")
        if table in UPDATE_WHEN:
            when = UPDATE_WHEN[table].format(ne="DISTINCT FROM")
            when = when.replace("<>", "IS DISTINCT FROM")
            out.append(f"CREATE TRIGGER {table}_rollup_u AFTER UPDATE ON {table} FOR EACH ROW WHEN ({when}) "
                       f"EXECUTE FUNCTION {func}()")
    return out


BACKFILL = [
    """INSERT INTO message_hourly (server_id, hour, direction, final_status, is_spam, messages)
       SELECT server_id, first_seen - first_seen % 3600, coalesce(direction, ''), coalesce(final_status, ''), is_spam,
       COUNT(*) FROM message GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO address_daily (server_id, day, address, role, status, messages)
       SELECT server_id, first_seen - first_seen % 86400, lower(substr(sender, 1, 255)), 's',
       coalesce(final_status, ''), COUNT(*) FROM message WHERE coalesce(sender, '') <> '' GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO address_daily (server_id, day, address, role, status, messages)
       SELECT server_id, time - time % 86400, lower(substr(coalesce(nullif(orig_to, ''), recipient), 1, 255)), 'r',
       status, COUNT(*) FROM delivery WHERE coalesce(recipient, '') <> '' GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO postfix_hourly (server_id, hour, status, lines)
       SELECT server_id, time - time % 3600, coalesce(status, ''), COUNT(*) FROM postfix_log GROUP BY 1, 2, 3""",
    """INSERT INTO rspamd_hourly (server_id, hour, direction, action, is_spam, lines)
       SELECT server_id, time - time % 3600, coalesce(direction, ''), action, is_spam, COUNT(*) FROM rspamd_log
       GROUP BY 1, 2, 3, 4, 5""",
    """INSERT INTO netfilter_hourly (server_id, hour, action, lines)
       SELECT server_id, time - time % 3600, action, COUNT(*) FROM netfilter_log GROUP BY 1, 2, 3""",
]
SYMBOL_BACKFILL = {
    "sqlite": """INSERT INTO spam_symbol_daily (server_id, day, symbol, hits)
       SELECT r.server_id, r.time - r.time % 86400, substr(j.key, 1, 128), COUNT(*) FROM rspamd_log r,
       json_each(r.symbols) j WHERE r.is_spam = true AND json_valid(r.symbols) AND json_type(r.symbols) = 'object'
       GROUP BY 1, 2, 3""",
    "postgresql": """INSERT INTO spam_symbol_daily (server_id, day, symbol, hits)
       SELECT r.server_id, r.time - r.time % 86400, substr(k, 1, 128), COUNT(*) FROM rspamd_log r,
       json_object_keys(r.symbols::json) AS k WHERE r.is_spam = true AND left(r.symbols, 1) = '{'
       GROUP BY 1, 2, 3""",
}


def _pg_trigram(conn) -> None:  # type: ignore[no-untyped-def]
    """pg_trgm GIN indexes; skipped (search scans) when the extension cannot be created."""
    has = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm'")).scalar()
    if not has:
        nested = conn.begin_nested()
        try:
            conn.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm"))
            nested.commit()
        except Exception:
            nested.rollback()
            return
    for table, expr in DOCS.items():
        conn.execute(text(f"CREATE INDEX ix_{table}_search ON {table} USING gin "
                          f"((lower({expr.format(p='')})) gin_trgm_ops)"))


def upgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    for stmt in INDEXES + (PG_INDEXES if pg else []) + TABLES:
        conn.execute(text(stmt))
    for stmt in BACKFILL + [SYMBOL_BACKFILL["postgresql" if pg else "sqlite"]]:
        conn.execute(text(stmt))
    if pg:
        for stmt in _pg_triggers():
            conn.execute(text(stmt))
        _pg_trigram(conn)
    else:
        for stmt in _sqlite_triggers():
            conn.execute(text(stmt))
        for table in DOCS:
            conn.execute(text(f"INSERT INTO {table}_fts ({table}_fts) VALUES ('rebuild')"))


def downgrade() -> None:
    conn = op.get_bind()
    pg = conn.dialect.name == "postgresql"
    if pg:
        for table in ("message", "delivery", "postfix_log", "rspamd_log", "netfilter_log"):
            conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_rollup_id ON {table}"))
            conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_rollup_u ON {table}"))
            conn.execute(text(f"DROP FUNCTION IF EXISTS mlv_{table}_rollup()"))
        for table in DOCS:
            conn.execute(text(f"DROP INDEX IF EXISTS ix_{table}_search"))
        conn.execute(text("DROP INDEX IF EXISTS ix_message_seen_id"))
    else:
        for table in ("message", "delivery", "postfix_log", "rspamd_log", "netfilter_log"):
            for suffix in ("ai", "ad", "au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_rollup_{suffix}"))
        for table in DOCS:
            for suffix in ("ai", "ad", "au"):
                conn.execute(text(f"DROP TRIGGER IF EXISTS {table}_fts_{suffix}"))
            conn.execute(text(f"DROP TABLE IF EXISTS {table}_fts"))
            conn.execute(text(f"DROP VIEW IF EXISTS {table}_search"))
    for table in ROLLUP_TABLES:
        conn.execute(text(f"DROP TABLE IF EXISTS {table}"))
    for stmt in INDEXES:
        conn.execute(text(f"DROP INDEX IF EXISTS {stmt.split()[2]}"))
