"""mailcow's netfilter (fail2ban-like) state machine, emitting ``logs/netfilter`` items (spec §6)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .generator import TrafficGenerator

_CONTROL = re.compile(r"[\x00-\x1f\x7f/]")


def sanitize(line: str) -> str:
    """syslog-ng ``$(sanitize ...)``: ``/`` and control characters become ``_``."""
    return _CONTROL.sub("_", line)


def network_of(ip: str, v4_prefix: int = 32, v6_prefix: int = 128) -> str:
    """The banned network of an address with the default netban prefixes (/32, /128)."""
    return f"{ip}/{v6_prefix if ':' in ip else v4_prefix}"


class Netfilter:
    """Counts rule matches per network and bans/unbans like netfilter's ``main.py``.

    The attempt counter resets when more than ``retry_window`` seconds passed since the last
    match; the ban time doubles with every ban of the same network (capped at ``max_ban_time``).
    """

    max_attempts = 10
    retry_window = 600
    ban_time = 1800
    max_ban_time = 10000
    ban_time_increment = True

    def __init__(self, gen: TrafficGenerator) -> None:
        self.g = gen
        self.state: dict[str, dict] = {}  # net -> {attempts, last_attempt, ban_counter}
        self.active: dict[str, float] = {}  # net -> banned until

    def _log(self, priority: str, message: str) -> None:
        self.g.emit("netfilter", {"time": self.g.t, "priority": priority, "message": message})

    def is_banned(self, ip: str) -> bool:
        """True while the address's network is banned (its packets never reach a daemon)."""
        return network_of(ip) in self.active

    def match(self, ip: str, rule_id: int, line: str) -> None:
        """A line published to the fail2ban channel matched rule ``rule_id`` for ``ip``."""
        now = self.g.now
        self._log("warn", f"{ip} matched rule id {rule_id} ({sanitize(line)})")
        net = network_of(ip)
        st = self.state.setdefault(net, {"attempts": 0, "last_attempt": 0.0, "ban_counter": 0})
        if now - st["last_attempt"] > self.retry_window:
            st["attempts"] = 0
        st["attempts"] += 1
        st["last_attempt"] = now
        if st["attempts"] >= self.max_attempts:
            seconds = self.ban_time
            if self.ban_time_increment:
                seconds = min(self.ban_time * 2 ** st["ban_counter"], self.max_ban_time)
            self._log("crit", f"Banning {net} for {int(seconds / 60)} minutes")
            self.active[net] = now + seconds
            # the purge loop runs every 10 s, so the unban comes up to 10 s late
            self.g.spawn(self._unban_later(net), seconds + self.g.rng.uniform(0.5, 10))
        else:
            self._log("warn", f"{self.max_attempts - st['attempts']} more attempts in the next "
                              f"{self.retry_window} seconds until {net} is banned")

    def _unban_later(self, net: str):
        yield 0.0
        self._log("info", f"Unbanning {net}")
        self.active.pop(net, None)
        st = self.state.get(net)
        if st:
            st["attempts"] = 0
            st["ban_counter"] += 1

    def active_bans(self) -> list[dict]:
        """``active_bans`` entries for the fail2ban endpoint."""
        out = []
        for net, until in self.active.items():
            left = max(0, int(until - self.g.now))
            out.append({"queued_for_unban": 0, "network": net, "ip": net.split("/")[0],
                        "banned_until": f"{left // 3600:02d}h {left % 3600 // 60:02d}m {left % 60:02d}s"})
        return out
