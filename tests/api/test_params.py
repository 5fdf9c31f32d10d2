"""Bad parameters: 400 with a readable message, never a 500; errors in the documented shapes."""

from __future__ import annotations

import pytest

from mlv.api.errors import describe

BAD = [
    ("/api/messages", {"page": "0"}, "page"),
    ("/api/messages", {"limit": "10000"}, "limit"),
    ("/api/messages", {"limit": "0"}, "limit"),
    ("/api/messages", {"page": "abc"}, "page"),
    ("/api/messages", {"status": "lost"}, "status"),
    ("/api/messages", {"direction": "sideways"}, "direction"),
    ("/api/messages", {"start_date": "yesterday"}, "start_date"),
    ("/api/messages", {"end_date": "2025-13-45T99:00:00"}, "end_date"),
    ("/api/messages", {"search": "x" * 201}, "search"),
    ("/api/messages", {"search": "a\x00b"}, "search"),
    ("/api/messages", {"sender": "\x00"}, "sender"),
    ("/api/logs/postfix", {"search": "\x00"}, "search"),
    ("/api/logs/postfix", {"status": "maybe"}, "status"),
    ("/api/logs/postfix", {"queue_id": "A;DROP"}, "queue_id"),
    ("/api/logs/rspamd", {"min_score": "high"}, "min_score"),
    ("/api/logs/rspamd", {"is_spam": "perhaps"}, "is_spam"),
    ("/api/logs/rspamd", {"action": "nuke"}, "action"),
    ("/api/logs/netfilter", {"action": "kill"}, "action"),
    ("/api/stats/timeline", {"hours": "100000"}, "hours"),
    ("/api/stats/top-spam-triggers", {"limit": "-1"}, "limit"),
    ("/api/mailbox-stats/all", {"sort_by": "password"}, "sort_by"),
    ("/api/export/messages/csv", {"start_date": "nope"}, "start_date"),
]


@pytest.mark.parametrize(("path", "params", "name"), BAD)
async def test_bad_parameters_are_400_with_a_message(api, path, params, name) -> None:
    r = await api.get(path, params=params)
    assert r.status_code == 400, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and name in detail


async def test_range_messages(api) -> None:
    r = await api.get("/api/messages", params={"limit": "501"})
    assert r.json()["detail"] == "Invalid parameter value: limit: must be at most 500"
    r = await api.get("/api/messages", params={"start_date": "2026-01-02", "end_date": "2026-01-01"})
    assert r.status_code == 400 and r.json() == {"detail": "start_date is after end_date"}
    r = await api.get("/api/logs/rspamd", params={"min_score": "9", "max_score": "1"})
    assert r.status_code == 400


@pytest.mark.parametrize("value", ["2026-01-01", "2026-01-01T00:00:00", "2026-01-01T00:00:00Z",
                                   "2026-01-01T02:00:00+02:00", "1767225600"])
async def test_date_formats_are_accepted(api, value) -> None:
    r = await api.get("/api/messages", params={"start_date": value, "limit": 1})
    assert r.status_code == 200


@pytest.mark.parametrize("term", ["'", "\\", "%%", "_%_", "\u00e9t\u00e9", "\U0001f600", "<>", "--"])
async def test_odd_search_strings_are_just_text(api, term) -> None:
    for path in ("/api/messages", "/api/logs/postfix", "/api/logs/rspamd", "/api/logs/netfilter"):
        r = await api.get(path, params={"search": term})
        assert r.status_code == 200, (path, term, r.text)


async def test_unknown_api_path_and_method(api) -> None:
    r = await api.get("/api/message/not-a-key%00/details")
    assert r.status_code == 400
    r = await api.get("/api/no/such/thing")
    assert r.status_code == 404 and isinstance(r.json()["detail"], str)
    r = await api.delete("/api/messages")
    assert r.status_code == 405


async def test_internal_errors_have_the_documented_shape(api, runtime, monkeypatch) -> None:
    from mlv.api import messages

    def boom(**kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("database exploded: password=hunter2")

    monkeypatch.setattr(messages, "list_messages", boom)
    api._transport = type(api._transport)(app=api._transport.app, raise_app_exceptions=False,  # type: ignore[attr-defined]
                                          client=("127.0.0.1", 1))
    r = await api.get("/api/messages")
    assert r.status_code == 500
    assert r.json()["error"] == "Internal server error" and "hunter2" not in r.text
    runtime.settings = runtime.settings.model_copy(update={"log_level": "DEBUG"})
    r = await api.get("/api/messages")
    assert r.status_code == 500 and "database exploded" in r.json()["detail"]


def test_describe() -> None:
    text = describe([{"loc": ("query", "limit"), "type": "less_than_equal", "msg": "x", "ctx": {"le": 500}}])
    assert text == "Invalid parameter value: limit: must be at most 500"
