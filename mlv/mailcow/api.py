"""The HTTP side of the emulator: mailcow's ``json_api.php`` router (spec §1–§3) and controls.

``/api/v1/{action}/{category}/{object}/{extra}`` behaves like mailcow, quirks included;
``/_emulator/{truth,state,advance,burst,reset,fault}`` drive the emulator (same API key).
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import re
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from . import objects
from .buffers import parse_count
from .phpjson import compact, compact_mailq, phpify, pretty, pretty_list_from_fragments
from .site import MAILBOX_BY_USER

if TYPE_CHECKING:
    from .emulator import Emulator

JSON = "application/json"
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
WRITE_ACTIONS = ("add", "edit", "delete")
_KEY_CHARS = re.compile(r"[^A-Za-z0-9-]")
ERROR_500 = (b"<html>\r\n<head><title>500 Internal Server Error</title></head>\r\n<body>\r\n"
             b"<center><h1>500 Internal Server Error</h1></center>\r\n<hr><center>nginx</center>\r\n"
             b"</body>\r\n</html>\r\n")
GARBAGE = (b"<br />\n<b>Warning</b>:  Undefined array key \"data\" in <b>/web/inc/functions.inc.php</b> on line "
           b"<b>2291</b><br />\n[\n    {\n        \"time\": \"17855")


def _resp(body: bytes, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type=JSON)


def _error(msg: str, status: int) -> Response:
    return _resp(compact({"type": "error", "msg": msg}), status)


def _empty_obj() -> bytes:
    return b"{}"


class Router:
    """Answers GET routes from an :class:`Emulator`'s state (caller holds the lock)."""

    def __init__(self, em: Emulator) -> None:
        self.em = em

    def get(self, category: str | None, obj: str | None, extra: str | None, query) -> tuple[bytes, int] | None:
        """(body, status) for a GET route, or None when the route does not exist (404)."""
        handler = getattr(self, "r_" + (category or "").replace("-", "_"), None)
        if handler is None:
            return None
        return handler(obj, extra, query)

    # logs -----------------------------------------------------------
    def r_logs(self, obj, extra, query):
        em = self.em
        if obj == "rspamd-stats":
            return pretty(self._rspamd_stats()), 200
        buf = em.buffers.get(obj or "")
        if buf is None:
            return None
        count = parse_count(extra)
        if count is None:
            return _empty_obj(), 200
        first, last, is_range = count
        if is_range and obj == "rspamd-history":
            first, last = first + 1, last + 1  # rspamd's /history?from=A&to=B is 0-based
        elif is_range and obj in ("ui", "sasl"):
            last = first + last - 1  # SQL "LIMIT A, B": B rows starting at row A
        frags = buf.fragments(first, last)
        if not frags:
            return _empty_obj(), 200
        return pretty_list_from_fragments(frags), 200

    def _rspamd_stats(self) -> dict:
        rows = self.em.buffers["rspamd-history"].items()
        actions = {"reject": 0, "soft reject": 0, "rewrite subject": 0, "add header": 0, "greylist": 0, "no action": 0}
        for r in rows:
            if r and r.get("action") in actions:
                actions[r["action"]] += 1
        spam = actions["reject"] + actions["add header"] + actions["rewrite subject"]
        return {"read_only": False, "scanned": len(rows), "learned": 0, "actions": actions, "scan_times": [],
                "spam_count": spam, "ham_count": len(rows) - spam, "connections": len(rows),
                "control_connections": 42, "pools_allocated": 0, "pools_freed": 0, "bytes_allocated": 0,
                "chunks_allocated": 0, "shared_chunks_allocated": 0, "chunks_freed": 0, "chunks_oversized": 0,
                "fragmented": 0, "total_learns": 0, "statfiles": [], "fuzzy_hashes": []}

    # objects --------------------------------------------------------
    def r_domain(self, obj, extra, query):
        if obj == "all":
            tags = [t for t in (query.get("tags") or "").split(",") if t]
            items = [objects.domain_object(d) for d in objects.DOMAINS]
            if tags:
                items = [d for d in items if any(t in tg for t in tags for tg in d.get("tags", []))]
            return (pretty(items) if items else _empty_obj()), 200
        dom = objects.resolve_domain(obj or "")
        return (pretty(objects.domain_object(dom)) if dom else _empty_obj()), 200

    def r_mailbox(self, obj, extra, query):
        now = int(self.em.now)
        if obj in ("all", "reduced"):
            domains = None
            if extra:
                domains = [objects.resolve_domain(d) or d for d in extra.split(",")]
            items = objects.mailboxes(now, domains, reduced=obj == "reduced")
            tags = [t for t in (query.get("tags") or "").split(",") if t]
            if tags:
                items = [m for m in items if any(t in tg for t in tags for tg in m.get("tags", []))]
            return (pretty(items) if items else _empty_obj()), 200
        box = MAILBOX_BY_USER.get((obj or "").lower())
        return (pretty(objects.mailbox_object(box, now)) if box else _empty_obj()), 200

    def r_alias(self, obj, extra, query):
        if obj == "all":
            items = objects.aliases(extra or None)
            return (pretty(items) if items else _empty_obj()), 200
        for a in objects.ALIASES:
            if obj is not None and (obj == str(a.id) or obj.lower() == a.address):
                return pretty(objects.alias_object(a)), 200
        return _empty_obj(), 200

    def r_alias_domain(self, obj, extra, query):
        items = objects.alias_domains()
        if obj != "all":
            items = [a for a in items if a["alias_domain"] == (obj or "").lower()]
            return (pretty(items[0]) if items else _empty_obj()), 200
        return (pretty(items) if items else _empty_obj()), 200

    def r_dkim(self, obj, extra, query):
        d = objects.dkim_object(obj or "")
        return (pretty(d) if d else _empty_obj()), 200

    def r_mailq(self, obj, extra, query):
        if obj != "all":
            return None
        return compact_mailq(self.em.gen.mailq()), 200

    def r_quarantine(self, obj, extra, query):
        q = self.em.quarantine
        if obj == "all":
            return (pretty(phpify(q)) if q else b"[]"), 200
        for row in q:
            if obj == str(row["id"]):
                full = dict(row, msg="", symbols="[]", qhash=f"{row['id'] * 2654435761 % 2**64:016x}", ip="",
                            user="unknown", domain=row["rcpt"].split("@")[-1], fuzzy_hashes="[]")
                return pretty(full), 200
        return b"[]", 200

    def r_status(self, obj, extra, query):
        em = self.em
        if obj == "containers":
            return compact(objects.containers(em.boot_time, em.container_states)), 200
        if obj == "vmail":
            return compact(objects.vmail()), 200
        if obj == "version":
            return compact({"version": objects.VERSION}), 200
        if obj == "host":
            if extra == "ip":
                return compact(objects.host_ip(*em.host_ip)), 200
            host = {"cpu": {"cores": 2, "usage": 6.3},
                    "memory": {"total": 8323588096, "usage": 41.7, "swap": [0, 0, 0, 0, 0, 0]},
                    "uptime": round(em.now - em.boot_time, 1), "system_time": "", "architecture": "x86_64"}
            return compact(host), 200
        return b"", 200

    def r_fail2ban(self, obj, extra, query):
        return pretty(objects.fail2ban(self.em.gen.netfilter.active_bans())), 200


def _client_allowed(em: Emulator, ip: str) -> bool:
    if em.allowed_ips is None:
        return True
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(addr in ipaddress.ip_network(n, strict=False) for n in em.allowed_ips)


def build_app(em: Emulator) -> Starlette:
    """The Starlette app for ``em`` (no docs routes, JSON content type everywhere)."""
    router = Router(em)

    async def api(request: Request) -> Response:
        if em.fault == "error500":
            return Response(ERROR_500, status_code=500, media_type="text/html")
        if em.fault == "slow":
            await asyncio.sleep(em.slow_seconds)
        dest = request.headers.get("sec-fetch-dest")
        if dest is not None and dest != "empty":
            return _resp(b"", 403)
        raw_key = request.headers.get("x-api-key")
        if raw_key is None:
            return _resp(b"", 200)  # no key, no session: the router prints nothing
        key = _KEY_CHARS.sub("", raw_key)
        client = request.client.host if request.client else ""
        if em.fault == "badkey" or not key or key not in (em.api_key, em.read_only_key):
            return _error("authentication failed", 401)
        if not _client_allowed(em, client):
            return _error(f"api access denied for ip {client}", 401)
        parts = request.path_params["path"].split("/")
        parts += [None] * (4 - len(parts))
        action, category, obj, extra = parts[:4]
        method = request.method
        if em.log_api_requests:
            with em.lock:
                uri = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                em.buffers["api"].push({"time": int(em.now), "uri": uri, "method": method,
                                        "remote": client, "data": ""}, em.now)
        if action == "get":
            if method != "GET":
                return _error("only GET method is allowed", 405)
            with em.lock:
                result = router.get(category, obj, extra, request.query_params)
            if result is None:
                return _error("route not found", 404)
            body, status = result
            if em.fault == "garbage":
                body = GARBAGE
            return _resp(body, status)
        if action in WRITE_ACTIONS:
            if method != "POST":
                return _error("only POST method is allowed", 405)
            if key != em.api_key:
                return _error("API read/write access denied", 403)
            try:
                json.loads(await request.body() or b"null")
            except ValueError:
                return _error("Request body doesn't contain valid json!", 400)
            return _resp(compact([{"type": "danger", "log": [category, action, obj], "msg": "access_denied"}]))
        return _error("route not found", 404)

    async def control(request: Request) -> Response:
        key = _KEY_CHARS.sub("", request.headers.get("x-api-key", ""))
        if key not in (em.api_key,):
            return _error("authentication failed", 401)
        cmd = request.path_params["cmd"]
        q = request.query_params
        try:
            if cmd == "truth" and request.method == "GET":
                return _resp(compact(em.truth()))
            if cmd == "state" and request.method == "GET":
                with em.lock:
                    state = {"now": em.now, "fault": em.fault, "live": em.live,
                             "buffers": {n: len(b) for n, b in em.buffers.items()}, "mailq": len(em.gen.queue),
                             "quarantine": len(em.quarantine)}
                return _resp(compact(state))
            if request.method != "POST":
                return _error("only POST method is allowed", 405)
            if cmd == "advance":
                await asyncio.to_thread(em.advance, float(q.get("seconds", "60")))
            elif cmd == "burst":
                await asyncio.to_thread(em.burst, int(q.get("messages", "600")))
            elif cmd == "reset":
                em.reset_buffers()
            elif cmd == "fault":
                em.set_fault(q.get("mode", "none"))
            else:
                return _error("route not found", 404)
        except ValueError as exc:
            return _error(str(exc), 400)
        return _resp(compact({"type": "success", "now": em.now, "fault": em.fault}))

    routes = [
        Route("/api/v1/{path:path}", api, methods=ALL_METHODS),
        Route("/_emulator/{cmd}", control, methods=["GET", "POST"]),
    ]
    return Starlette(routes=routes)
