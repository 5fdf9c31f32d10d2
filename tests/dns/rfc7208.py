"""The RFC 7208 test suite (openspf.org, as shipped with pyspf) served through Knot.

Each scenario's zonedata becomes a root zone on its own knotd; names marked TIMEOUT sit behind
a proxy that swallows the queries the scenario says time out, so the evaluator really waits.
"""

from __future__ import annotations

from pathlib import Path

import dns.rdatatype
import yaml

from tests.dns.knot import DroppingProxy, Knot, owner, txt, zone_text

SUITE = Path(__file__).resolve().parents[1] / "fixtures" / "spf" / "rfc7208-tests.yml"


def load_suite() -> list[dict]:
    with open(SUITE, "rb") as handle:
        return [doc for doc in yaml.safe_load_all(handle) if doc]


def scenario_zone(zonedata: dict) -> tuple[list[tuple[str, str, str]], dict[str, set[str]]]:
    """(records for the root zone, TIMEOUT names -> the types still answered there)."""
    records: list[tuple[str, str, str]] = []
    timeouts: dict[str, set[str]] = {}
    for name, entries in zonedata.items():
        has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
        answered: set[str] = set()
        for entry in entries:
            if entry == "TIMEOUT":
                timeouts[name.lower().rstrip(".")] = set(answered)
                continue
            ((rtype, value),) = entry.items()
            if value == "NONE":
                continue
            if rtype in ("SPF", "TXT"):
                strings = value if isinstance(value, list) else [value]
                records.append((name, rtype, txt(*strings)))
                if rtype == "SPF" and not has_txt:
                    records.append((name, "TXT", txt(*strings)))
                    continue  # generated TXT records come after TIMEOUT in the suite's driver
            elif rtype == "MX":
                records.append((name, "MX", f"{value[0]} {owner(value[1])}"))
            elif rtype in ("PTR", "CNAME"):
                records.append((name, rtype, owner(value)))
            else:
                records.append((name, rtype, str(value)))
            answered.add(rtype)
    return records, timeouts


class ScenarioServer:
    """Knot + the dropping proxy for one scenario."""

    def __init__(self, zonedata: dict) -> None:
        records, self.timeouts = scenario_zone(zonedata)
        self.knot = Knot.start({".": zone_text(records)})
        self.proxy = DroppingProxy(self.knot.port, self._drop)

    def _drop(self, name: str, rdtype: int) -> bool:
        answered = self.timeouts.get(name)
        return answered is not None and dns.rdatatype.to_text(rdtype) not in answered

    @property
    def address(self) -> str:
        return self.proxy.address

    def stop(self) -> None:
        self.proxy.stop()
        self.knot.stop()


def sender_and_domain(case: dict) -> tuple[str, str]:
    mailfrom, helo = case.get("mailfrom") or "", case.get("helo") or ""
    if mailfrom:
        if "@" not in mailfrom:
            mailfrom = f"postmaster@{mailfrom}"
        return mailfrom, mailfrom.rpartition("@")[2]
    return f"postmaster@{helo}", helo
