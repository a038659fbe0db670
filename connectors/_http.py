"""One polite HTTP GET over requests: a shared Session, a timeout, retries with backoff.

Used by the RSS connector (praw and tweepy bring their own HTTP stacks). `HttpClient.get`
returns the final response whatever its status, once transient trouble is over; it raises
`FetchFailed` only when no usable response came: retries exhausted, an invalid URL, a body
over the size limit. What a status *means* (a 404 feed, a 410 comment feed) is the caller's call.

Transient, retried with exponential backoff: timeouts, connection errors and resets,
408, 429 (waiting what Retry-After says, capped), 500, 502, 503, 504.
"""
from __future__ import annotations

import time
from http import HTTPStatus
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Mapping
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests

USER_AGENT = "majlis/0.1 (+community health)"
RETRIES = 3  # extra attempts after the first, for transient failures only
BACKOFF_S = 1.0  # wait before the first retry; doubles each time
RETRY_AFTER_CAP_S = 60.0  # a Retry-After longer than this is not worth holding a run for
MAX_BODY_BYTES = 20 * 1024 * 1024  # a feed is kilobytes; more is a misconfigured URL
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})

# Query parameters that private feeds use for access keys; their values never leave this module.
_SECRET_PARAMS = ("key", "token", "secret", "password", "passwd", "auth", "sig", "signature",
                  "session", "apikey", "api_key", "access_token", "private")


def public_url(url: str) -> str:
    """The URL as it may appear in messages, raw pages and the warehouse: no credentials."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    if parts.username or parts.password:
        netloc = f"***@{netloc}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(_looks_secret(name) for name, _ in pairs):
            query = urlencode([(n, "***" if _looks_secret(n) else v) for n, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _looks_secret(name: str) -> bool:
    name = name.lower()
    return any(word in name for word in _SECRET_PARAMS)


@dataclass(frozen=True)
class Attempt:
    """One request on the wire, for the api_requests table."""

    requested_at: datetime
    status: int | None  # None: no response (timeout, reset, refused)
    elapsed_ms: int


@dataclass
class Fetched:
    url: str  # after redirects
    status: int
    body: bytes
    headers: Mapping[str, str]  # case-insensitive (requests' CaseInsensitiveDict)
    attempts: list[Attempt] = field(default_factory=list)
    moved_to: str | None = None  # where a permanent redirect (301/308) pointed


class FetchFailed(Exception):
    """No usable response; `reason` says why in words fit for an operator."""

    def __init__(self, reason: str, attempts: list[Attempt], status: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.attempts = attempts
        self.status = status  # the last status seen, if any


class HttpClient:
    def __init__(
        self, *, timeout_s: float, retries: int = RETRIES, backoff_s: float = BACKOFF_S,
        retry_after_cap_s: float = RETRY_AFTER_CAP_S, max_body_bytes: int = MAX_BODY_BYTES,
        session: requests.Session | None = None,
    ):
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.retry_after_cap_s = retry_after_cap_s
        self.max_body_bytes = max_body_bytes
        self.session = session or requests.Session()

    def get(self, url: str, headers: Mapping[str, str] | None = None) -> Fetched:
        attempts: list[Attempt] = []
        for attempt_no in range(self.retries + 1):
            last_try = attempt_no == self.retries
            started = time.monotonic()
            requested_at = datetime.now(timezone.utc)
            try:
                fetched = self._get_once(url, headers)
            except (requests.Timeout, requests.ConnectionError,
                    requests.exceptions.ChunkedEncodingError,
                    requests.exceptions.ContentDecodingError) as err:
                attempts.append(Attempt(requested_at, None, _ms_since(started)))
                if last_try:
                    reason = _describe_error(err, self.timeout_s, len(attempts))
                    raise FetchFailed(reason, attempts) from None
                time.sleep(self._backoff(attempt_no))
                continue
            except requests.RequestException as err:  # invalid URL, too many redirects: no retry helps
                attempts.append(Attempt(requested_at, None, _ms_since(started)))
                raise FetchFailed(_describe_unusable(err), attempts) from None
            except FetchFailed as err:  # the body was too large
                attempts.append(Attempt(requested_at, err.status, _ms_since(started)))
                err.attempts = attempts
                raise
            attempts.append(Attempt(requested_at, fetched.status, _ms_since(started)))
            fetched.attempts = attempts
            if fetched.status not in TRANSIENT_STATUSES:
                return fetched
            if last_try:
                raise FetchFailed(_describe_status(fetched.status, len(attempts)), attempts, fetched.status)
            wait = self._backoff(attempt_no)
            retry_after = _retry_after_s(fetched.headers.get("Retry-After"))
            if retry_after is not None:
                wait = max(wait, retry_after)
            time.sleep(min(wait, self.retry_after_cap_s))
        raise AssertionError("unreachable: the loop returns or raises")

    def _get_once(self, url: str, headers: Mapping[str, str] | None) -> Fetched:
        headers = {"User-Agent": USER_AGENT, **(headers or {})}
        with self.session.get(url, headers=headers, timeout=self.timeout_s, stream=True) as response:
            body = bytearray()
            for chunk in response.iter_content(64 * 1024):
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise FetchFailed(
                        f"the response is larger than {self.max_body_bytes // (1024 * 1024)} MB,"
                        " which no feed is", [], response.status_code)
            moved = any(r.status_code in (301, 308) for r in response.history)
            return Fetched(response.url, response.status_code, bytes(body), response.headers,
                           moved_to=response.url if moved else None)

    def _backoff(self, attempt_no: int) -> float:
        return self.backoff_s * (2 ** attempt_no)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _retry_after_s(value: str | None) -> float | None:
    """Retry-After is either seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


def _describe_error(err: Exception, timeout_s: float, tries: int) -> str:
    # A read timeout while streaming the body arrives as a ConnectionError.
    if isinstance(err, requests.Timeout) or "timed out" in str(err).lower():
        return f"no answer within {timeout_s:g} s ({tries} tries)"
    if isinstance(err, requests.exceptions.ChunkedEncodingError):
        return f"the connection broke off mid-response ({tries} tries)"
    if isinstance(err, requests.exceptions.ContentDecodingError):
        return f"the response could not be decompressed ({tries} tries)"
    # The exception's own text repeats the URL, credentials included: say what happened instead.
    text = str(err).lower()
    if "refused" in text:
        what = "connection refused"
    elif "resolve" in text or "name or service" in text or "getaddrinfo" in text:
        what = "the host name does not resolve"
    elif "reset" in text or "aborted" in text:
        what = "connection reset"
    else:
        what = "connection failed"
    return f"{what} ({tries} tries)"


def _describe_unusable(err: requests.RequestException) -> str:
    if isinstance(err, requests.TooManyRedirects):
        return "too many redirects (a redirect loop?)"
    if isinstance(err, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL)):
        return "not a valid http(s) URL"
    return f"the request could not be made ({type(err).__name__})"


def _describe_status(status: int, tries: int) -> str:
    if status == 429:
        return f"rate limited: HTTP 429 Too Many Requests ({tries} tries)"
    return f"server error: HTTP {status} {status_phrase(status)} ({tries} tries)"


def status_phrase(status: int) -> str:
    """"Not Found" for 404; "" for a status HTTP does not define."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""
