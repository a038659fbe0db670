"""The thin tweepy layer of the X connector: one request in, one verbatim page out.

Everything that touches HTTP lives here: the host rewrite that lets a source point at a
proxy or a local replay server, retries, rate-limit waits, request accounting and the
rule that the bearer token never leaves `tweepy.Client`'s Authorization header.

tweepy is asked for `requests.Response` objects (not its `Response` namedtuple) because the
raw bytes are stored verbatim, the rate-limit headers are read from every answer, and the
JSON is parsed once, here, into plain dicts (so tweepy never builds `Tweet` objects and never
warns about `edit_history_tweet_ids` on pre-2022 posts).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import urlsplit

import requests
import tweepy
from requests.adapters import HTTPAdapter

from connectors._records import ApiRequest, SourceError

TWEEPY_HOST = "https://api.twitter.com"  # hard-coded in tweepy.BaseClient.request

log = logging.getLogger(__name__)


class XBadRequest(SourceError):
    """X answered 400: the request itself is wrong (a bad query, a stale pagination token)."""

    def __init__(self, source: str, message: str, detail: str):
        super().__init__(source, message)
        self.detail = detail


class _DropDebug(logging.Filter):
    """tweepy logs every request's headers, the bearer token included, at DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


def silence_tweepy_debug() -> None:
    # A filter on the emitting logger, not a level: a level can be lowered again by whoever
    # configures logging (pytest's caplog, `logging.basicConfig(level=DEBUG)`), a filter stays.
    emitting = logging.getLogger("tweepy.client")
    if not any(isinstance(f, _DropDebug) for f in emitting.filters):
        emitting.addFilter(_DropDebug())


class _RebaseAdapter(HTTPAdapter):
    """Sends tweepy's https://api.twitter.com requests to `base_url`, with a timeout."""

    def __init__(self, base_url: str | None, timeout_s: float):
        super().__init__()
        self.base_url = base_url.rstrip("/") if base_url else None
        self.timeout_s = timeout_s

    def send(self, request, **kwargs):
        if self.base_url and request.url.startswith(TWEEPY_HOST):
            request.url = self.base_url + request.url[len(TWEEPY_HOST):]
        if not kwargs.get("timeout"):
            kwargs["timeout"] = self.timeout_s  # tweepy passes none: a stalled socket would hang
        return super().send(request, **kwargs)


@dataclass(frozen=True)
class XPage:
    """One successful answer: the bytes as received and the JSON parsed from them."""

    endpoint: str  # path, e.g. "/2/tweets/search/recent"
    request: str  # path and query as sent; the token travels in a header, never here
    fetched_at: datetime
    status: int
    body: bytes
    content_type: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4  # per request, the first try included
    backoff_s: float = 2.0  # doubled after each transient failure
    max_wait_s: float = 900.0  # longest sleep for a rate-limit reset (X windows are 15 min)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class XClient:
    """Calls X API v2 through tweepy with retries; collects an `ApiRequest` per attempt."""

    def __init__(self, source_name: str, bearer_token: str, *, base_url: str | None,
                 timeout_s: float, retry: RetryPolicy, token_hint: str):
        silence_tweepy_debug()
        self.source_name = source_name
        self.retry = retry
        self.token_hint = token_hint  # where the token came from, for the 401 message
        self._client = tweepy.Client(bearer_token=bearer_token, return_type=requests.Response)
        self._client.session.trust_env = False  # proxy variables must not catch base_url
        self._client.session.mount(TWEEPY_HOST + "/", _RebaseAdapter(base_url, timeout_s))
        self._requests: list[ApiRequest] = []
        self._window_resets_at: float | None = None  # epoch s, when remaining hit 0

    def __repr__(self) -> str:  # the default would be harmless, but say so explicitly
        return f"XClient(source={self.source_name!r})"

    def take_requests(self) -> list[ApiRequest]:
        """The requests made since the last call, for the next batch."""
        taken, self._requests = self._requests, []
        return taken

    # -- endpoints ---------------------------------------------------------------------------

    def search_recent(self, query: str, **params) -> XPage:
        return self._call("/2/tweets/search/recent",
                          lambda: self._client.search_recent_tweets(query, **_present(params)))

    def user_by_username(self, username: str, **params) -> XPage:
        return self._call(f"/2/users/by/username/{username}",
                          lambda: self._client.get_user(username=username, **_present(params)))

    def users_tweets(self, user_id: str, **params) -> XPage:
        return self._call(f"/2/users/{user_id}/tweets",
                          lambda: self._client.get_users_tweets(user_id, **_present(params)))

    def users_mentions(self, user_id: str, **params) -> XPage:
        return self._call(f"/2/users/{user_id}/mentions",
                          lambda: self._client.get_users_mentions(user_id, **_present(params)))

    # -- one request, retried ----------------------------------------------------------------

    def _call(self, endpoint: str, send: Callable[[], requests.Response]) -> XPage:
        failure = ""
        for attempt in range(1, self.retry.attempts + 1):
            self._wait_for_window()
            requested_at = _utcnow()
            started = time.monotonic()
            wait_s: float | None = None
            fatal: SourceError | None = None
            try:
                response = send()
            except tweepy.TooManyRequests as err:
                self._record(endpoint, requested_at, started, err.response)
                wait_s = self._rate_limit_wait(err.response.headers, attempt)
                failure = f"429 Too Many Requests (waited up to {wait_s:.0f} s for the reset)"
            except tweepy.TwitterServerError as err:
                self._record(endpoint, requested_at, started, err.response)
                failure = f"{err.response.status_code} {err.response.reason}"
            except (tweepy.Unauthorized, tweepy.Forbidden) as err:
                self._record(endpoint, requested_at, started, err.response)
                fatal = SourceError(self.source_name, (
                    f"X rejected the bearer token for source {self.source_name}: "
                    f"check {self.token_hint} (HTTP {err.response.status_code} on {endpoint})"))
            except tweepy.BadRequest as err:
                self._record(endpoint, requested_at, started, err.response)
                detail = _api_detail(err)
                fatal = XBadRequest(self.source_name, (
                    f"X refused the request to {endpoint} (HTTP 400: {detail}); "
                    "check the query and account in the source's config"), detail)
            except tweepy.HTTPException as err:
                self._record(endpoint, requested_at, started, err.response)
                fatal = SourceError(self.source_name, (
                    f"X answered HTTP {err.response.status_code} to {endpoint}: "
                    f"{_api_detail(err)}; check the source's account and query"))
            except requests.RequestException as err:
                # Timeouts, refused and reset connections, bodies cut short by the peer.
                self._record(endpoint, requested_at, started, None)
                failure = f"no complete answer ({type(err).__name__})"
            else:
                try:
                    payload = json.loads(response.content)
                except ValueError:
                    self._record(endpoint, requested_at, started, response)
                    failure = f"a truncated or invalid JSON body (HTTP {response.status_code})"
                else:
                    items = _count_data(payload)
                    self._record(endpoint, requested_at, started, response, items)
                    self._note_window(response.headers)
                    return _page(endpoint, requested_at, response, payload)
            if fatal is not None:
                raise fatal
            if attempt < self.retry.attempts:
                delay = wait_s if wait_s is not None else self.retry.backoff_s * 2 ** (attempt - 1)
                log.info("X source %s: %s from %s; retrying in %.1f s",
                         self.source_name, failure, endpoint, delay)
                time.sleep(delay)
        raise SourceError(self.source_name, (
            f"X gave {failure} for {endpoint} {self.retry.attempts} times; "
            "rows already stored are kept and the next run resumes from the stored cursor"))

    def _record(self, endpoint: str, requested_at: datetime, started: float,
                response: requests.Response | None, items: int = 0) -> None:
        remaining = reset_s = None
        if response is not None:
            remaining = _float(response.headers.get("x-rate-limit-remaining"))
            reset_at = _float(response.headers.get("x-rate-limit-reset"))
            if reset_at is not None:
                reset_s = max(0.0, reset_at - time.time())
        self._requests.append(ApiRequest(
            source=self.source_name, requested_at=requested_at, method="GET",
            endpoint=endpoint, status=response.status_code if response is not None else None,
            items=items, elapsed_ms=int((time.monotonic() - started) * 1000),
            ratelimit_remaining=remaining, ratelimit_reset_s=reset_s,
        ))

    def _rate_limit_wait(self, headers, attempt: int) -> float:
        """Retry-After if given, else until x-rate-limit-reset, capped by max_wait_s."""
        retry_after = _float(headers.get("retry-after"))
        reset_at = _float(headers.get("x-rate-limit-reset"))
        if retry_after is not None:
            wait = retry_after
        elif reset_at is not None:
            wait = reset_at - time.time() + 1  # the reset second itself may still be limited
        else:
            wait = self.retry.backoff_s * 2 ** (attempt - 1)
        return min(max(wait, 0.0), self.retry.max_wait_s)

    def _note_window(self, headers) -> None:
        if _float(headers.get("x-rate-limit-remaining")) == 0:
            self._window_resets_at = _float(headers.get("x-rate-limit-reset"))

    def _wait_for_window(self) -> None:
        """After a response said 0 requests remain, sleep until its window resets (capped)."""
        if self._window_resets_at is None:
            return
        wait = min(max(self._window_resets_at - time.time() + 1, 0.0), self.retry.max_wait_s)
        self._window_resets_at = None
        if wait > 0:
            log.info("X source %s: rate-limit window used up; waiting %.0f s", self.source_name, wait)
            time.sleep(wait)


def _page(endpoint: str, fetched_at: datetime, response: requests.Response, payload: dict) -> XPage:
    url = urlsplit(response.url)
    request = url.path + (f"?{url.query}" if url.query else "")
    return XPage(endpoint=endpoint, request=request, fetched_at=fetched_at,
                 status=response.status_code, body=response.content,
                 content_type=response.headers.get("content-type"), payload=payload)


def _count_data(payload: dict) -> int:
    """Posts (or users) read, as X bills them: the items in `data`, not `meta.result_count`."""
    data = payload.get("data")
    if isinstance(data, list):
        return len(data)
    return 1 if isinstance(data, dict) else 0


def _api_detail(err: tweepy.HTTPException) -> str:
    """X's own words about a refused request; its body never echoes the token."""
    try:
        body = err.response.json()
    except ValueError:
        return err.response.reason or "no detail"
    errors = body.get("errors") or []
    parts = [e.get("message") or e.get("detail") for e in errors if isinstance(e, dict)]
    parts.append(body.get("detail"))
    text = "; ".join(p for p in parts if p)
    return text or body.get("title") or err.response.reason or "no detail"


def _present(params: dict) -> dict:
    return {k: v for k, v in params.items() if v is not None}


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
