"""rspamd history rows (spec §5) with symbol sets whose scores add up to the action."""

from __future__ import annotations

import random

from .phpjson import phpify

THRESHOLDS = {"reject": 15.0, "add header": 8.0, "greylist": 7.0}
REQUIRED_SCORE = 15.0
_PHP_THRESHOLDS = phpify(THRESHOLDS)

# name -> (metric score, description or None)
SYMBOLS: dict[str, tuple[float, str | None]] = {
    "ARC_NA": (0.0, "ARC signature absent"),
    "ARC_SIGNED": (0.0, "ARC signature was added"),
    "ASN": (0.0, None),
    "BAYES_HAM": (-3.0, "Message probably ham, probability: "),
    "BAYES_SPAM": (5.1, "Message probably spam, probability: "),
    "DKIM_SIGNED": (0.0, "Message has been signed"),
    "DKIM_TRACE": (0.0, "DKIM trace symbol"),
    "DMARC_POLICY_ALLOW": (-0.5, "DMARC permit policy"),
    "DMARC_POLICY_REJECT": (2.0, "DMARC reject policy"),
    "FREEMAIL_FROM": (0.0, "From is a Freemail address"),
    "FROM_EQ_ENVFROM": (0.0, "From address is the same as the envelope"),
    "FROM_NEQ_ENVFROM": (0.0, "From address is different to the envelope"),
    "FROM_HAS_DN": (0.0, "From header has a display name"),
    "MAILCOW_AUTH": (-20.0, "mailcow authenticated"),
    "MID_RHS_MATCH_FROM": (0.0, "Message-ID RHS matches From domain"),
    "MIME_GOOD": (-0.1, "Known content-type"),
    "MIME_HTML_ONLY": (0.2, "Messages that have only HTML part"),
    "MISSING_MID": (2.5, "Message id is missing"),
    "MX_GOOD": (-0.01, "MX was ok"),
    "MX_INVALID": (0.5, "No connectable MX"),
    "RCPT_COUNT_ONE": (0.0, "One recipient"),
    "RCPT_COUNT_TWO": (0.0, "Two recipients"),
    "RCPT_COUNT_THREE": (0.0, "3-5 recipients"),
    "RCPT_MAILCOW_DOMAIN": (0.0, None),
    "RCVD_COUNT_ZERO": (0.0, "Message has no Received headers"),
    "RCVD_TLS_LAST": (0.0, "All hops used encrypted transports"),
    "RCVD_NO_TLS_LAST": (0.1, "Last hop did not use encrypted transports"),
    "R_DKIM_ALLOW": (-0.2, "DKIM verification succeed"),
    "R_DKIM_NA": (0.0, "Missing DKIM signature"),
    "R_SPF_ALLOW": (-0.2, "SPF verification allows sending"),
    "R_SPF_FAIL": (1.0, "SPF verification failed"),
    "R_SPF_SOFTFAIL": (0.0, "SPF verification soft-failed"),
    "TO_DN_NONE": (0.0, "None of the recipients have display names"),
    "TO_DN_SOME": (0.0, "Some of the recipients have display names"),
    "GREYLIST": (0.0, "Greylisting result"),
    "RBL_SPAMHAUS_XBL": (4.0, "From address is listed in Spamhaus XBL"),
    "DBL_SPAM": (6.5, "DBL uribl spam"),
    "ABUSE_SURBL": (5.0, "A domain listed in the ABUSE SURBL"),
    "HFILTER_HOSTNAME_UNKNOWN": (2.5, "Unknown client hostname (PTR or A)"),
    "RDNS_NONE": (2.0, "Cannot resolve reverse DNS for sender's IP"),
    "SUBJECT_HAS_CURRENCY": (1.0, "Subject contains currency"),
    "FUZZY_DENIED": (12.0, "Denied fuzzy hash"),
    "R_PARTS_DIFFER": (0.5, "Text and HTML parts differ"),
    "ONCE_RECEIVED": (0.1, "One received header in a message"),
    "MV_CASE": (0.5, "Mime-Version .vs. MIME-Version"),
    "CTE_CASE": (0.5, "[78]Bit .vs. [78]bit"),
    "BAD_REP_POLICIES": (0.1, "Contains valid policies but are also marked by fuzzy/bayes/surbl/rbl"),
    "MANY_INVISIBLE_PARTS": (1.0, "Many parts are visually hidden"),
    "BULK_HEADER": (4.0, "Message is sent in bulk"),
    "HAS_LIST_UNSUB": (-0.01, "Has List-Unsubscribe header"),
    "MAILCOW_DOMAIN_HEADER_FROM": (0.0, None),
    "WHITELISTED_FWD_HOST": (-10.0, "Mail was forwarded from a whitelisted host"),
}

# spam-indicating symbols used to fill a score up to a target (small ones last resort)
_SPAM_POOL = ["RBL_SPAMHAUS_XBL", "DBL_SPAM", "ABUSE_SURBL", "HFILTER_HOSTNAME_UNKNOWN", "RDNS_NONE",
              "SUBJECT_HAS_CURRENCY", "R_PARTS_DIFFER", "MV_CASE", "CTE_CASE", "MANY_INVISIBLE_PARTS",
              "MIME_HTML_ONLY", "ONCE_RECEIVED", "BAD_REP_POLICIES", "R_SPF_FAIL", "DMARC_POLICY_REJECT",
              "MX_INVALID", "RCVD_NO_TLS_LAST", "BULK_HEADER"]

_RANGES = {"reject": (15.3, 27.0), "add header": (8.2, 14.8), "greylist": (7.05, 7.95),
           "soft reject": (-19.0, -15.0), "no action": (-6.0, 5.5)}


def action_for(score: float) -> str:
    """The rspamd action for a total score under mailcow's default thresholds."""
    if score >= THRESHOLDS["reject"]:
        return "reject"
    if score >= THRESHOLDS["add header"]:
        return "add header"
    if score >= THRESHOLDS["greylist"]:
        return "greylist"
    return "no action"


def _num(x: float) -> float | int:
    """PHP re-encoding turns integral floats into ints (``15.0`` -> ``15``)."""
    return int(x) if x == int(x) else x


def _sym(name: str, score: float | None = None, options: list[str] | None = None) -> dict:
    metric, desc = SYMBOLS[name]
    d = {"name": name, "score": _num(round(metric if score is None else score, 5)), "metric_score": _num(metric)}
    if desc is not None:
        d["description"] = desc
    if options:
        d["options"] = options
    return d


def _rcpt_sym(n: int) -> tuple[str, list[str]]:
    if n == 1:
        return "RCPT_COUNT_ONE", ["1"]
    if n == 2:
        return "RCPT_COUNT_TWO", ["2"]
    return "RCPT_COUNT_THREE", [str(n)]


def build_symbols(rng: random.Random, target: str, *, ip: str, sender_domain: str, rcpt_count: int,
                  authenticated: bool = False, has_mid: bool = True, greylisted: str | None = None,
                  ) -> tuple[dict, float]:
    """Symbols for a scan meant to end in ``target`` action; returns (symbols, total score)."""
    syms: dict[str, dict] = {}

    def add(name, score=None, options=None):
        syms[name] = _sym(name, score, options)

    v6 = ":" in ip
    net = (":".join(ip.split(":")[:2]) + "::/32") if v6 else (".".join(ip.split(".")[:2]) + ".0.0/16")
    add("ASN", options=[f"asn:{rng.choice([15169, 8075, 64496, 64511, 65550])}, ipnet:{net}, country:"
                        f"{rng.choice(['US', 'DE', 'NL', 'FR'])}"])
    name, opts = _rcpt_sym(rcpt_count)
    add(name, options=opts)
    add("FROM_HAS_DN")
    add(rng.choice(["TO_DN_NONE", "TO_DN_SOME"]))
    if not has_mid:
        add("MISSING_MID")
    if authenticated:
        add("MAILCOW_AUTH")
        add("DKIM_SIGNED", options=[f"{sender_domain}:s=dkim"])
        add("ARC_SIGNED", options=[f"{sender_domain}:s=dkim:i=1"])
        add("MID_RHS_MATCH_FROM")
        add("RCVD_COUNT_ZERO", options=["0"])
        add("MIME_GOOD", options=["text/plain"])
        add("FROM_EQ_ENVFROM")
    elif target in ("no action", "soft reject"):
        add("ARC_NA")
        add("MIME_GOOD", options=["multipart/alternative", "text/plain"])
        add("FROM_EQ_ENVFROM")
        add("RCVD_TLS_LAST")
        add("MX_GOOD", options=[f"mx.{sender_domain}"])
        if sender_domain:
            add("R_DKIM_ALLOW", options=[f"{sender_domain}:s=s1"])
            add("DKIM_TRACE", options=[f"{sender_domain}:+"])
            add("R_SPF_ALLOW", options=[f"+ip6:{net}" if v6 else f"+ip4:{net}"])
            add("DMARC_POLICY_ALLOW", options=[sender_domain, "none"])
        if sender_domain in ("gmail.com", "outlook.com"):
            add("FREEMAIL_FROM", options=[sender_domain])
        add("RCPT_MAILCOW_DOMAIN", options=["example.org"])
        add("BAYES_HAM", -round(rng.uniform(1.0, 2.99999), 5), [f"{rng.uniform(90, 99.99):.2f}%"])
    else:
        add("ARC_NA")
        add("R_DKIM_NA")
        add("FROM_NEQ_ENVFROM", options=["", f"info@{sender_domain}"])
        add("RCPT_MAILCOW_DOMAIN", options=["example.org"])

    total = sum(s["score"] for s in syms.values())
    if target not in ("no action", "soft reject") and not authenticated:
        lo, hi = _RANGES[target]
        goal = rng.uniform(lo, hi)
        room = goal - total
        if room > 0.6:
            bayes = round(rng.uniform(0.5, min(5.1, room)), 5)
            add("BAYES_SPAM", bayes, [f"{rng.uniform(60, 99.99):.2f}%"])
            total += bayes
        pool = _SPAM_POOL[:]
        rng.shuffle(pool)
        for cand in pool:
            metric = SYMBOLS[cand][0]
            if cand not in syms and total + metric <= goal:
                opts = None
                if cand == "RBL_SPAMHAUS_XBL":
                    opts = [f"{ip}:from"]
                elif cand in ("DBL_SPAM", "ABUSE_SURBL"):
                    opts = [f"{sender_domain}:email"]
                add(cand, options=opts)
                total += metric
        if total < lo:  # pool exhausted without reaching the range: top up with BAYES
            extra = round(lo - total + 0.01, 5)
            prev = syms.get("BAYES_SPAM", {}).get("score", 0)
            add("BAYES_SPAM", prev + extra, ["99.99%"])
            total += extra
        if greylisted:
            add("GREYLIST", 0.0, ["greylisted", greylisted, "new record"])
    return syms, round(total, 5)


def history_row(*, message_id: str | None, unix_time: int, time_real: float, symbols: dict, score: float,
                action: str, sender_smtp: str, sender_mime: str, rcpt_smtp: list[str], rcpt_mime: list[str],
                user: str | None, subject: str, size: int, ip: str) -> dict:
    """One ``rows`` element of rspamd's history as mailcow returns it (PHP quirks applied).

    ``symbols`` must already carry PHP-style numbers (as :func:`build_symbols` makes them).
    """
    return {
        "is_skipped": False,
        "score": _num(score),
        "required_score": _num(REQUIRED_SCORE),
        "action": action,
        "thresholds": _PHP_THRESHOLDS,
        "symbols": symbols or [],
        "message-id": message_id or "undef",
        "time_real": round(time_real, 6),
        "sender_smtp": sender_smtp,
        "sender_mime": sender_mime,
        "rcpt_smtp": rcpt_smtp,
        "rcpt_mime": rcpt_mime,
        "user": user or "unknown",
        "unix_time": unix_time,
        "subject": subject or "unknown",
        "size": size,
        "ip": ip,
    }
