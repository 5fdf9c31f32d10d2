"""parse_rspamd: the mailcow-api.md §5 history row and PHP's re-encoding quirks."""

# The spec's example row is kept verbatim, one symbol per line.
# ruff: noqa: E501

from __future__ import annotations

import copy
import json

import pytest

from mlv.ingest.records import ParseError, RspamdRecord
from mlv.ingest.rspamd import parse_rspamd

# The §5 example exactly as the API emits it (with PHP's "\/" escapes).
EXAMPLE = json.loads(r"""
{
    "is_skipped": false,
    "score": -4.00952,
    "required_score": 15,
    "action": "no action",
    "thresholds": {"reject": 15, "add header": 8, "greylist": 7},
    "symbols": {
        "ARC_NA": {"name": "ARC_NA", "score": 0, "metric_score": 0, "description": "ARC signature absent"},
        "ASN": {"name": "ASN", "score": 0, "metric_score": 0, "options": ["asn:15169, ipnet:209.85.128.0\/17, country:US"]},
        "BAYES_HAM": {"name": "BAYES_HAM", "score": -2.99952, "metric_score": -3, "description": "Message probably ham, probability: ", "options": ["99.98%"]},
        "DKIM_TRACE": {"name": "DKIM_TRACE", "score": 0, "metric_score": 0, "description": "DKIM trace symbol", "options": ["gmail.com:+"]},
        "DMARC_POLICY_ALLOW": {"name": "DMARC_POLICY_ALLOW", "score": -0.5, "metric_score": -0.5, "description": "DMARC permit policy", "options": ["gmail.com", "none"]},
        "FREEMAIL_FROM": {"name": "FREEMAIL_FROM", "score": 0, "metric_score": 0, "description": "From is a Freemail address", "options": ["gmail.com"]},
        "FROM_EQ_ENVFROM": {"name": "FROM_EQ_ENVFROM", "score": 0, "metric_score": 0, "description": "From address is the same as the envelope"},
        "FROM_HAS_DN": {"name": "FROM_HAS_DN", "score": 0, "metric_score": 0, "description": "From header has a display name"},
        "MIME_GOOD": {"name": "MIME_GOOD", "score": -0.1, "metric_score": -0.1, "description": "Known content-type", "options": ["multipart\/alternative", "text\/plain"]},
        "MX_GOOD": {"name": "MX_GOOD", "score": -0.01, "metric_score": -0.01, "description": "MX was ok", "options": ["gmail-smtp-in.l.google.com"]},
        "RCPT_COUNT_ONE": {"name": "RCPT_COUNT_ONE", "score": 0, "metric_score": 0, "description": "One recipient", "options": ["1"]},
        "RCVD_TLS_LAST": {"name": "RCVD_TLS_LAST", "score": 0, "metric_score": 0, "description": "All hops used encrypted transports"},
        "R_DKIM_ALLOW": {"name": "R_DKIM_ALLOW", "score": -0.2, "metric_score": -0.2, "description": "DKIM verification succeed", "options": ["gmail.com:s=20230601"]},
        "R_SPF_ALLOW": {"name": "R_SPF_ALLOW", "score": -0.2, "metric_score": -0.2, "description": "SPF verification allows sending", "options": ["+ip4:209.85.128.0\/17"]},
        "TO_DN_NONE": {"name": "TO_DN_NONE", "score": 0, "metric_score": 0, "description": "None of the recipients have display names"}
    },
    "message-id": "CAHx8k2QmZ7v4rT1pLw9nE3yU6sD0aF5gJ2hK8cB1xV7mN4qR9w@mail.gmail.com",
    "time_real": 0.912384,
    "sender_smtp": "jane.doe@gmail.com",
    "sender_mime": "jane.doe@gmail.com",
    "rcpt_smtp": ["alice@example.org"],
    "rcpt_mime": ["alice@example.org"],
    "user": "unknown",
    "unix_time": 1785576612,
    "subject": "Re: Quarterly numbers",
    "size": 5821,
    "ip": "209.85.218.47"
}
""")


_DROP = object()


def row(**changes) -> dict:
    """The example with some keys changed (``message_id`` means "message-id"; _DROP removes a key)."""
    r = copy.deepcopy(EXAMPLE)
    for key, value in changes.items():
        key = "message-id" if key == "message_id" else key
        if value is _DROP:
            r.pop(key, None)
        else:
            r[key] = value
    return r


def test_full_example() -> None:
    rec = parse_rspamd(EXAMPLE)
    assert isinstance(rec, RspamdRecord)
    assert rec.time == 1785576612
    assert rec.message_id == "CAHx8k2QmZ7v4rT1pLw9nE3yU6sD0aF5gJ2hK8cB1xV7mN4qR9w@mail.gmail.com"
    assert rec.score == -4.00952 and rec.required_score == 15.0
    assert isinstance(rec.required_score, float)
    assert rec.action == "no action"
    assert rec.is_spam is False and rec.has_auth is False
    assert rec.ip == "209.85.218.47" and rec.user is None
    assert rec.sender_smtp == rec.sender_mime == "jane.doe@gmail.com"
    assert rec.rcpt_smtp == rec.rcpt_mime == ["alice@example.org"]
    assert rec.subject == "Re: Quarterly numbers" and rec.size == 5821
    assert rec.time_real == 0.912384 and rec.is_skipped is False
    assert rec.thresholds == {"reject": 15.0, "add header": 8.0, "greylist": 7.0}
    assert len(rec.symbols) == 15
    assert rec.symbols["BAYES_HAM"] == {"score": -2.99952, "metric_score": -3.0,
                                        "description": "Message probably ham, probability: ", "options": ["99.98%"]}
    assert rec.symbols["ARC_NA"] == {"score": 0.0, "metric_score": 0.0, "description": "ARC signature absent",
                                     "options": []}
    assert rec.symbols["ASN"]["description"] is None
    assert rec.symbols["R_SPF_ALLOW"]["options"] == ["+ip4:209.85.128.0/17"]


def test_learning_copy_with_php_empty_arrays() -> None:
    rec = parse_rspamd(row(symbols=[], score=0, thresholds=[], rcpt_smtp=["spam@localhost"], rcpt_mime=[]))
    assert rec.symbols == {} and rec.thresholds == {} and rec.score == 0.0 and rec.rcpt_mime == []
    assert rec.is_spam is False


def test_undef_and_missing_message_id() -> None:
    assert parse_rspamd(row(message_id="undef")).message_id is None
    assert parse_rspamd(row(message_id=_DROP)).message_id is None
    assert parse_rspamd(row(message_id=None)).message_id is None
    assert parse_rspamd(row(message_id="")).message_id is None
    assert parse_rspamd(row(message_id="<x@example.org>")).message_id == "x@example.org"


def test_nulls_of_early_terminated_tasks() -> None:
    rec = parse_rspamd(row(sender_mime=None, rcpt_mime=None, required_score=None, message_id=_DROP,
                           subject=_DROP, size=None, time_real=None))
    assert rec.sender_mime is None and rec.rcpt_mime == [] and rec.required_score is None
    assert rec.subject is None and rec.size is None and rec.time_real is None
    assert rec.is_spam is False


def test_outbound_authenticated() -> None:
    auth = {"name": "MAILCOW_AUTH", "score": -20, "metric_score": -20, "description": "mailcow authenticated"}
    rec = parse_rspamd(row(user="alice@example.org", ip="203.0.113.50", score=-19.9, symbols={"MAILCOW_AUTH": auth}))
    assert rec.has_auth and rec.user == "alice@example.org" and rec.symbols["MAILCOW_AUTH"]["score"] == -20.0
    # the symbol alone is enough
    assert parse_rspamd(row(symbols={"MAILCOW_AUTH": auth})).has_auth
    assert parse_rspamd(row(user="bob@example.org", symbols=[])).has_auth


@pytest.mark.parametrize(("action", "score", "required", "spam"), [
    ("reject", 17.3, 15, True),
    ("add header", 9, 15, True),
    ("rewrite subject", 9, 15, True),
    ("greylist", 7.5, 15, False),
    ("soft reject", 3, 15, False),
    ("no action", 16, 15, True),       # over the recipient's threshold even if the action says otherwise
    ("no action", 16, None, False),
    ("no action", -1, 15, False),
])
def test_is_spam(action: str, score: float, required, spam: bool) -> None:
    assert parse_rspamd(row(action=action, score=score, required_score=required)).is_spam is spam


def test_unknown_ip_and_subject() -> None:
    rec = parse_rspamd(row(ip="unknown", subject="unknown"))
    assert rec.ip is None and rec.subject == "unknown"


def test_score_as_numeric_string_and_time_as_string() -> None:
    rec = parse_rspamd(row(score="5.5", unix_time="1785576612"))
    assert rec.score == 5.5 and rec.time == 1785576612


@pytest.mark.parametrize("item", [
    None, [], "row", 3,
    row(unix_time=_DROP), row(unix_time="soon"), row(unix_time=None),
    row(score="high"), row(score=None), row(score=_DROP), row(score=True), row(score=float("nan")),
    row(action=_DROP), row(action=None), row(action=5),
    row(symbols="BAYES_HAM"), row(rcpt_smtp=5),
])
def test_bad_rows_raise_parse_error(item) -> None:
    with pytest.raises(ParseError):
        parse_rspamd(item)


def test_odd_but_tolerated_values() -> None:
    rec = parse_rspamd(row(symbols={"X": 1.5, "": {"score": 1}, "Y": {"score": None, "options": "one"}},
                           thresholds={"reject": "15", "bad": "x"}, rcpt_smtp="a@example.org",
                           subject="S\ud800", is_skipped="yes"))
    assert rec.symbols == {"X": {"score": 1.5, "metric_score": None, "description": None, "options": []},
                           "Y": {"score": 0.0, "metric_score": None, "description": None, "options": ["one"]}}
    assert rec.thresholds == {"reject": 15.0}
    assert rec.rcpt_smtp == ["a@example.org"]
    rec.subject.encode("utf-8")
    assert rec.is_skipped is False
