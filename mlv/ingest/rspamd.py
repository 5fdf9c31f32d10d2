"""Parse one row of mailcow's ``logs/rspamd-history`` into a :class:`RspamdRecord`.

The rows are rspamd's history passed through PHP's ``json_decode``/``json_encode``, so they
carry PHP's quirks: empty objects come back as ``[]`` (``symbols``, ``thresholds``), integral
floats as ints (``"score": 0``), and very recent rspamd may send ``null`` for fields of tasks
that ended early. rspamd writes the placeholder strings ``"undef"`` (no Message-ID) and
``"unknown"`` (no IP, no authenticated user).
"""

from __future__ import annotations

import math

from mlv.ingest.postfix import clean_text, coerce_unix_time
from mlv.ingest.records import ParseError, RspamdRecord

# Actions at which mailcow treats the message as spam (junk folder or quarantine/reject).
SPAM_ACTIONS = frozenset({"reject", "add header", "rewrite subject"})


def _number(value: object, what: str) -> float:
    if isinstance(value, bool):
        raise ParseError(f"{what} is not numeric")
    if isinstance(value, int | float):
        f = float(value)
    elif isinstance(value, str):
        try:
            f = float(value)
        except ValueError:
            raise ParseError(f"{what} is not numeric") from None
    elif value is None:
        raise ParseError(f"{what} is missing")
    else:
        raise ParseError(f"{what} is not numeric")
    if not math.isfinite(f):
        raise ParseError(f"{what} is not numeric")
    return f


def _opt_number(value: object) -> float | None:
    """A number where rspamd may send null or garbage: anything unusable is None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _opt_str(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return clean_text(value)
    return clean_text(str(value))


def _str_list(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [clean_text(value)] if value else []
    if isinstance(value, list | tuple):
        return [clean_text(v if isinstance(v, str) else str(v)) for v in value if v is not None]
    if isinstance(value, dict):  # a PHP list that lost its order keys
        return [clean_text(v if isinstance(v, str) else str(v)) for v in value.values() if v is not None]
    raise ParseError("recipient list has the wrong type")


def _symbols(value: object) -> dict[str, dict]:
    if value is None or value == [] or value == {}:
        return {}
    if isinstance(value, list):
        # Not PHP's "[]": a list of symbol objects (some rspamd versions) - key them by name.
        items = [(s.get("name"), s) for s in value if isinstance(s, dict)]
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        raise ParseError("symbols has the wrong type")
    out: dict[str, dict] = {}
    for name, sym in items:
        if not isinstance(name, str) or not name:
            continue
        if not name.isascii() or "\x00" in name:
            name = clean_text(name)
        if type(sym) is dict:
            # Fast path for the usual well-formed symbol: plain numbers and ASCII strings.
            score, metric, desc, options = (sym.get("score", 0), sym.get("metric_score"), sym.get("description"),
                                            sym.get("options"))
            if (type(score) in (int, float) and (metric is None or type(metric) in (int, float))
                    and (desc is None or (type(desc) is str and desc.isascii() and "\x00" not in desc))
                    and (options is None or (type(options) is list and all(type(o) is str for o in options)
                         and "".join(options).isascii() and "\x00" not in "".join(options)))):
                out[name] = {"score": float(score), "metric_score": None if metric is None else float(metric),
                             "description": desc, "options": options or []}
                continue
        if isinstance(sym, dict):
            options = sym.get("options")
            out[name] = {
                "score": _opt_number(sym.get("score")) or 0.0,
                "metric_score": _opt_number(sym.get("metric_score")),
                "description": _opt_str(sym.get("description")),
                "options": _str_list(options) if isinstance(options, list | tuple | str) else [],
            }
        else:
            # A bare number (hand-made or very old rows): its score.
            out[name] = {"score": _opt_number(sym) or 0.0, "metric_score": None, "description": None, "options": []}
    return out


def _thresholds(value: object) -> dict[str, float]:
    if not isinstance(value, dict):
        return {}  # PHP's [] for "no thresholds", or junk
    out = {}
    for key, val in value.items():
        f = _opt_number(val)
        if f is not None:
            out[str(key)] = f
    return out


def _message_id(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    v = value.strip()
    if v[:1] == "<" and v[-1:] == ">":
        v = v[1:-1]
    if not v or v == "undef":
        return None
    return clean_text(v)


def parse_rspamd(item: object) -> RspamdRecord:
    """Turn one rspamd history row (a dict, see mailcow-api.md §5) into a :class:`RspamdRecord`.

    Raises :class:`ParseError` when the row is not a dict, lacks ``unix_time``/``score``/``action``
    or has a non-numeric score; tolerates PHP's ``[]`` for empty objects and nulls elsewhere.
    """
    if not isinstance(item, dict):
        raise ParseError("item is not an object")
    t = coerce_unix_time(item.get("unix_time"), "unix_time")
    score = _number(item.get("score"), "score")
    required = _opt_number(item.get("required_score"))
    action = item.get("action")
    if not isinstance(action, str) or not action:
        raise ParseError("action missing or not a string")
    action = clean_text(action)
    symbols = _symbols(item.get("symbols"))
    ip = _opt_str(item.get("ip"))
    if ip in ("unknown", ""):
        ip = None
    user = _opt_str(item.get("user"))
    if user in ("unknown", ""):
        user = None
    size = _opt_number(item.get("size"))
    is_spam = action in SPAM_ACTIONS or (required is not None and required > 0 and score >= required)
    return RspamdRecord(
        time=t,
        message_id=_message_id(item.get("message-id")),
        score=score,
        required_score=required,
        action=action,
        is_spam=is_spam,
        has_auth="MAILCOW_AUTH" in symbols or user is not None,
        symbols=symbols,
        ip=ip,
        user=user,
        sender_smtp=_opt_str(item.get("sender_smtp")),
        sender_mime=_opt_str(item.get("sender_mime")),
        rcpt_smtp=_str_list(item.get("rcpt_smtp")),
        rcpt_mime=_str_list(item.get("rcpt_mime")),
        subject=_opt_str(item.get("subject")),
        size=int(size) if size is not None and 0 <= size < 2**63 else None,  # a BIGINT column
        is_skipped=item.get("is_skipped") is True,
        time_real=_opt_number(item.get("time_real")),
        thresholds=_thresholds(item.get("thresholds")),
    )
