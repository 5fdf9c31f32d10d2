"""The HTTP client for the (read side of the) mailcow API.

Every failure becomes a MailcowError with a sentence a person can act on; the API key never
appears in it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

LOG_KINDS = {"postfix": "postfix", "rspamd": "rspamd-history", "netfilter": "netfilter", "dovecot": "dovecot"}


class MailcowError(Exception):
    """mailcow could not be asked, or answered something unusable."""


class MailcowClient:
    """Synchronous client (jobs run it off the event loop)."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0, verify_ssl: bool = True,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout, verify=verify_ssl,
                                  headers={"X-API-Key": api_key, "Accept": "application/json"},
                                  transport=transport, follow_redirects=False)
        self.timeout = timeout

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> MailcowClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, path: str) -> Any:
        """GET /api/v1/get/{path} and decode mailcow's JSON (an empty body is an error)."""
        url = f"/api/v1/get/{path.lstrip('/')}"
        try:
            response = self._http.get(url)
        except httpx.TimeoutException:
            raise MailcowError(f"mailcow at {self.base_url} did not answer within {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise MailcowError(f"cannot connect to mailcow at {self.base_url}: {type(exc).__name__}: "
                               f"{str(exc)[:200]}") from None
        body = response.content
        if response.status_code == 401:
            raise MailcowError("mailcow refused the API key (HTTP 401: "
                               f"{_msg(body) or 'authentication failed'})")
        if response.status_code == 403:
            raise MailcowError("mailcow denied access (HTTP 403): check the key's access and allowed IPs")
        if response.status_code >= 400:
            raise MailcowError(f"mailcow answered HTTP {response.status_code} for {url}: {_msg(body)[:200]}")
        if not body.strip():
            raise MailcowError("mailcow answered with an empty body: the API key was not accepted "
                               "(mailcow says nothing when the X-API-Key header is missing)")
        try:
            return json.loads(body)
        except ValueError:
            raise MailcowError(f"mailcow answered something that is not JSON for {url} "
                               f"({len(body)} bytes starting {one_line(body[:200].decode('utf-8', 'replace'), 60)!r})"
                               ) from None

    def logs(self, source: str, count: int) -> list[Any]:
        """The newest `count` items of a log, newest first ({} from mailcow means none)."""
        data = self.get(f"logs/{LOG_KINDS[source]}/{int(count)}")
        if isinstance(data, dict):
            if not data:
                return []
            raise MailcowError(f"mailcow answered an object instead of a list for the {source} log")
        if not isinstance(data, list):
            raise MailcowError(f"mailcow answered {type(data).__name__} instead of a list for the {source} log")
        return data

    def objects(self, path: str) -> list[dict]:
        """A list route such as domain/all; {} means none, a single object becomes a list of one."""
        data = self.get(path)
        if isinstance(data, list):
            return [d for d in data if isinstance(d, dict)]
        if isinstance(data, dict):
            return [data] if data else []
        return []


_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")


def one_line(text: str, limit: int = 160) -> str:
    """`text` without markup, its whitespace (newlines too) folded to single spaces, cut to `limit`."""
    text = " ".join(_TAG.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _msg(body: bytes) -> str:
    """mailcow's "msg", or the gist of a non-JSON answer (an HTML error page's title) on one line."""
    try:
        data = json.loads(body)
    except ValueError:
        title = _TITLE.search(body[:4096])
        return one_line((title.group(1) if title else body[:400]).decode("utf-8", "replace"))
    if isinstance(data, dict):
        return one_line(str(data.get("msg", "")))
    return ""
