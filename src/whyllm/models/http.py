"""The JSON-over-HTTP client of served models, built on httpx, with the properties an API key needs.

* **The key goes to one origin only.** The client is bound to the scheme, host and port it was
  given; redirects are not followed (a 3xx is an error that names where it pointed), so the
  ``Authorization`` header never reaches another host, over plain http or any other way.
* **Credentials never sit in the address.** A URL with ``user:password@`` is refused, so no secret
  lands in a model id, a cache key or a stored explanation.
* **Plain http to another machine is said out loud:** a warning when a key would travel unencrypted
  to a host that is not this machine.
* **Every request ends.** httpx's timeout bounds each socket operation; on top of it a response is
  read in chunks under a whole-request deadline (``deadline`` seconds, checked between chunks, so a
  server that trickles bytes is cut off at most one socket timeout later) and a size cap
  (``max_bytes``).

httpx (PyPI ``httpx``) does the connection pooling, TLS and HTTP parsing; what is written here is
only the policy above, which no client applies by default (httpx follows no redirects unless told,
and strips ``Authorization`` on cross-origin redirects when it does; urllib forwards it).
"""

from __future__ import annotations

import json
import logging
import time
from urllib.parse import urlsplit

import httpx

from whyllm.errors import ModelError

log = logging.getLogger(__name__)
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


class Retryable(Exception):
    """A failure worth another try: no connection, a timeout, a retryable status, a cut answer."""


class HTTPFailure(Exception):
    """The server answered with an error status (the caller decides whether to retry)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"HTTP {status}: {detail}")
        self.status, self.detail = status, detail


def check_base_url(url: str) -> str:
    """The address without a trailing slash; refuses other schemes and credentials in the URL."""
    base = url.rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ModelError(f"the server address must start with http:// or https:// and name a host, got "
                         f"{_redacted(url)!r}")
    if parts.username is not None or parts.password is not None:
        raise ModelError("the server address holds credentials (user:password@); give the key through "
                         "--api-key-env (api_key=...) instead, so that it never lands in a model id")
    if parts.query or parts.fragment:
        raise ModelError(f"the server address takes no query or fragment, got {_redacted(url)!r}")
    return base


def _redacted(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    return parts._replace(netloc=host + (f":{parts.port}" if parts.port else "")).geturl()


def is_loopback(host: str | None) -> bool:
    return (host or "").lower() in LOOPBACK or (host or "").startswith("127.")


class JSONClient:
    """POST and GET JSON at one origin (see the module docstring)."""

    def __init__(self, base_url: str, api_key: str | None = None, *, timeout: float = 60.0,
                 deadline: float | None = None, max_bytes: int = 64 << 20) -> None:
        self.base_url = check_base_url(base_url)
        parts = urlsplit(self.base_url)
        if api_key and parts.scheme == "http" and not is_loopback(parts.hostname):
            log.warning("the API key goes to %s over plain http (unencrypted); use https://", parts.hostname)
        self.timeout = float(timeout)
        self.deadline = float(deadline) if deadline is not None else 2 * self.timeout
        self.max_bytes = int(max_bytes)
        headers = {"Content-Type": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.Client(headers=headers, timeout=self.timeout, follow_redirects=False,
                                    trust_env=False)

    def __repr__(self) -> str:  # no key here
        return f"JSONClient({self.base_url!r})"

    def request(self, method: str, url: str, body: dict | None = None) -> object:
        """The decoded JSON answer; raises :class:`Retryable`, :class:`HTTPFailure` or ModelError."""
        content = None if body is None else json.dumps(body).encode()
        start = time.monotonic()
        try:
            with self._client.stream(method, url, content=content) as resp:
                if resp.is_redirect:
                    where = resp.headers.get("location", "?")
                    raise ModelError(f"the server at {self.base_url} redirected {method} to {where!r}; "
                                     "whyllm follows no redirect (the API key stays with the host it "
                                     "was given for): give the final address")
                raw = self._read(resp, start)
        except httpx.TimeoutException as exc:
            raise Retryable(f"no answer within {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise Retryable(f"cannot reach the server: {type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 400:
            raise HTTPFailure(resp.status_code, raw[:300].decode("utf-8", "replace"))
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise Retryable(f"malformed JSON in the answer: {raw[:80]!r}") from exc

    def _read(self, resp: httpx.Response, start: float) -> bytes:
        declared = resp.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_bytes:
            raise ModelError(f"the server's answer is {int(declared):,} bytes, over the cap of "
                             f"{self.max_bytes:,}")
        chunks, size = [], 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ModelError(f"the server's answer passed the cap of {self.max_bytes:,} bytes")
            if time.monotonic() - start > self.deadline:
                raise Retryable(f"the answer took longer than the {self.deadline:g} s deadline")
            chunks.append(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self._client.close()
