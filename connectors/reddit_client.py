"""The thin praw layer of the Reddit connector: one API path in, one parsed page out.

Everything that touches HTTP lives here. praw's documented extension point, a
`prawcore.Requestor` subclass passed as `requestor_class`, sees every request praw makes,
the OAuth token exchange included, so it is where we

- record each attempt as an `ApiRequest` (path, status, items, elapsed, rate-limit headers)
  and keep each API body verbatim for `raw_pages`;
- retry transient trouble ourselves (timeouts, resets, 408/429/5xx, a truncated JSON body)
  with our own backoff, and raise our own exceptions when it does not clear. prawcore would
  otherwise retry 5xx and resets twice more with 0-4 s random sleeps and give up on 429 and on
  truncated JSON at once; raising here (not a `prawcore.RequestException`) keeps its retry loop out;
- turn a rejected token request into `CredentialsRejected` before prawcore wraps the response
  (its exceptions keep the `requests.Response`, and with it the Authorization header).

praw's own rate limiter still runs: it reads `x-ratelimit-remaining/-used/-reset` from every
answer and sleeps before the next request when the 600 s window runs short
(Reddit allows 100 requests per minute per OAuth client, averaged over 10 minutes).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Sequence
from urllib.parse import urlsplit

import praw
import prawcore
import requests

from connectors._http import _describe_error, _retry_after_s
from connectors._records import ApiRequest

TOKEN_PATH = prawcore.const.ACCESS_TOKEN_PATH  # "/api/v1/access_token"
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504, 520, 522})
RETRY_DELAYS_S = (2.0, 8.0, 30.0)  # waits before the 2nd, 3rd and 4th attempt
RETRY_AFTER_CAP_S = 120.0  # a longer Retry-After is not worth holding a run for
_NO_RESPONSE = (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                requests.exceptions.ContentDecodingError)


class RedditTrouble(Exception):
    """Base of what the client raises; `reason` is fit for an operator, free of secrets."""

    def __init__(self, reason: str, endpoint: str, status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.endpoint = endpoint
        self.status = status


class CredentialsRejected(RedditTrouble):
    """The token endpoint refused the client id/secret, or the API refused the token."""


class AccessRefused(RedditTrouble):
    """403 on an API path: the subreddit is private, quarantined or banned."""


class TransientExhausted(RedditTrouble):
    """Timeouts, resets, 429, 5xx or truncated bodies that outlasted every retry."""


class RateLimitedTooLong(RedditTrouble):
    """Reddit asked us to wait longer than `RETRY_AFTER_CAP_S`."""


@dataclass(frozen=True)
class Exchange:
    """One attempt on the wire: what the connector stores about it."""

    request: ApiRequest
    target: str  # path + query, no host, no credentials (those travel in headers)
    body: bytes | None  # API answers only: token responses hold an access token
    content_type: str | None
    complete: bool = False  # a 200 whose JSON parses: the page a batch is built from


@dataclass
class RetryPolicy:
    delays_s: Sequence[float] = RETRY_DELAYS_S
    retry_after_cap_s: float = RETRY_AFTER_CAP_S
    sleep: Callable[[float], None] = time.sleep


@dataclass
class RequestLog:
    """Filled by the requestor, drained by the connector into each batch."""

    source: str
    exchanges: list[Exchange] = field(default_factory=list)

    def drain(self) -> list[Exchange]:
        taken, self.exchanges = self.exchanges, []
        return taken


class RecordingRequestor(prawcore.Requestor):
    """praw's requestor with request accounting and our retry policy."""

    def __init__(self, *args: Any, log: RequestLog, retry: RetryPolicy, timeout_s: float, **kwargs: Any):
        super().__init__(*args, timeout=timeout_s, **kwargs)
        self._log = log
        self._retry = retry

    def request(self, method: str, url: str, *args: Any, timeout: float | None = None,
                **kwargs: Any) -> requests.Response:
        # prawcore passes its own 16 s default; the source's timeout_s is what the user set.
        attempts = len(self._retry.delays_s) + 1
        for attempt_no in range(attempts):
            last_try = attempt_no == attempts - 1
            outcome = self._attempt(method, url, *args, **kwargs)
            if isinstance(outcome, requests.Response) and not _is_transient(outcome):
                return self._checked(outcome)
            reason = _describe(outcome, self.timeout, attempt_no + 1)
            endpoint = urlsplit(url).path
            status = outcome.status_code if isinstance(outcome, requests.Response) else None
            if last_try:
                raise TransientExhausted(reason, endpoint, status)
            self._retry.sleep(self._wait_s(outcome, attempt_no, endpoint))
        raise AssertionError("unreachable: the loop returns or raises")

    def _attempt(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response | Exception:
        requested_at = datetime.now(timezone.utc)
        started = time.monotonic()
        try:
            response = self._http.request(method, url, *args, timeout=self.timeout, **kwargs)
        except _NO_RESPONSE as err:
            self._record(method, url, requested_at, started, None)
            return err
        self._record(method, url, requested_at, started, response)
        return response

    def _record(self, method: str, url: str, requested_at: datetime, started: float,
                response: requests.Response | None) -> None:
        # The URL praw built, not response.url: the query is what was asked, and it never
        # carries credentials (Basic auth and the bearer token travel in headers).
        final_url = response.request.url if response is not None and response.request else url
        parts = urlsplit(final_url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        is_api_answer = response is not None and parts.path != TOKEN_PATH
        headers = response.headers if response is not None else {}
        payload = _json_or_none(response.content) if is_api_answer and response.status_code == 200 else None
        self._log.exchanges.append(Exchange(
            request=ApiRequest(
                source=self._log.source, requested_at=requested_at, method=method.upper(),
                endpoint=parts.path, status=response.status_code if response is not None else None,
                items=_items_in(payload),
                elapsed_ms=int((time.monotonic() - started) * 1000),
                ratelimit_remaining=_float_header(headers, "x-ratelimit-remaining"),
                ratelimit_reset_s=_float_header(headers, "x-ratelimit-reset"),
            ),
            target=target,
            body=response.content if is_api_answer else None,
            content_type=headers.get("Content-Type"),
            complete=payload is not None,
        ))

    def _checked(self, response: requests.Response) -> requests.Response:
        endpoint = urlsplit(response.request.url if response.request else "").path
        if endpoint == TOKEN_PATH and response.status_code in (400, 401, 403):
            raise CredentialsRejected("Reddit refused the token request", endpoint, response.status_code)
        if response.status_code == 401:
            raise CredentialsRejected("Reddit refused the access token", endpoint, 401)
        if response.status_code == 403:
            raise AccessRefused("Reddit answered 403 Forbidden", endpoint, 403)
        return response

    def _wait_s(self, outcome: requests.Response | Exception, attempt_no: int, endpoint: str) -> float:
        wait = self._retry.delays_s[attempt_no]
        if isinstance(outcome, requests.Response) and outcome.status_code == 429:
            retry_after = _retry_after_s(outcome.headers.get("Retry-After"))
            if retry_after is not None:
                if retry_after > self._retry.retry_after_cap_s:
                    raise RateLimitedTooLong(
                        f"Reddit asked to wait {retry_after:.0f} s (Retry-After)", endpoint, 429)
                wait = retry_after
        return wait


def _is_transient(response: requests.Response) -> bool:
    if response.status_code in TRANSIENT_STATUSES:
        return True
    # A 200 whose JSON breaks off is a dropped connection that happened to frame well.
    return response.status_code == 200 and _json_or_none(response.content) is None


def _describe(outcome: requests.Response | Exception, timeout_s: float, tries: int) -> str:
    if isinstance(outcome, Exception):
        return _describe_error(outcome, timeout_s, tries)
    if outcome.status_code == 200:
        return f"the JSON body was cut short ({tries} tries)"
    if outcome.status_code == 429:
        return f"rate limited: HTTP 429 Too Many Requests ({tries} tries)"
    return f"server error: HTTP {outcome.status_code} ({tries} tries)"


def _json_or_none(body: bytes) -> Any:
    if not body:
        return {}
    try:
        return json.loads(body)
    except ValueError:
        return None


def _items_in(payload: Any) -> int:
    """Things the answer carried: listing children, or one thing (a subreddit's about)."""
    if isinstance(payload, dict) and payload.get("kind") == "Listing":
        return len(payload.get("data", {}).get("children", []))
    if isinstance(payload, dict) and "kind" in payload:
        return 1
    return 0


def _float_header(headers: Any, name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, repr=False)
class RedditCredentials:
    client_id: str
    client_secret: str
    user_agent: str

    def __repr__(self) -> str:  # a stray repr in a log or a traceback stays harmless
        return "RedditCredentials(<hidden>)"


@dataclass(frozen=True)
class Page:
    """One API answer: the parsed JSON and what was exchanged to get it."""

    payload: Any
    exchanges: list[Exchange]


class RedditClient:
    """App-only (client credentials) praw over a recording requestor."""

    def __init__(self, source_name: str, credentials: RedditCredentials, *, base_url: str | None,
                 timeout_s: float, retry: RetryPolicy | None = None):
        self.log = RequestLog(source_name)
        self._session = requests.Session()
        urls = {"oauth_url": base_url.rstrip("/"), "reddit_url": base_url.rstrip("/")} if base_url else {}
        self.reddit = praw.Reddit(
            client_id=credentials.client_id,
            client_secret=credentials.client_secret,
            user_agent=credentials.user_agent,
            check_for_async=False,
            requestor_class=RecordingRequestor,
            requestor_kwargs={"log": self.log, "retry": retry or RetryPolicy(), "timeout_s": timeout_s,
                              "session": self._session},
            **urls,
        )
        self.reddit.read_only = True

    def get(self, path: str, params: dict[str, str | int] | None = None) -> Page:
        payload = self.reddit.request(method="GET", path=path, params=params or {})
        return Page(payload, self.log.drain())

    def ratelimit(self) -> dict[str, Any]:
        """praw's view of the window: remaining, used, reset_timestamp (None before any answer)."""
        return dict(self.reddit.auth.limits)

    def close(self) -> None:
        self._session.close()
