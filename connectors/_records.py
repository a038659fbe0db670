"""The records every connector yields, shaped like the warehouse's normalised tables."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class SourceError(Exception):
    """A source cannot be fetched; the message says what is wrong and what to fix.

    Raised for permanent failures (bad credentials, a URL that is not a feed, retries
    exhausted). Other sources keep running, and rows already stored stay.
    """

    def __init__(self, source: str, message: str):
        super().__init__(f"source {source}: {message}")
        self.source = source
        self.reason = message


@dataclass(frozen=True)
class RawPage:
    """One fetched payload, kept verbatim so normalised tables can be rebuilt from it."""

    source: str
    request: str  # what was asked: URL with query, never credentials
    fetched_at: datetime
    status: int
    body: bytes | None  # exactly as received (feeds keep their own encoding)
    content_type: str | None = None


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request to a provider's API, for rate-limit and cost accounting."""

    source: str
    requested_at: datetime
    method: str
    endpoint: str  # path without host or credentials, e.g. "/r/AskReddit/new"
    status: int | None  # None: no response (timeout, reset)
    items: int = 0  # records the response carried
    elapsed_ms: int | None = None
    ratelimit_remaining: float | None = None
    ratelimit_reset_s: float | None = None


@dataclass(frozen=True)
class Post:
    """A submission, comment, tweet, reply, feed item or feed comment."""

    post_id: str  # platform-qualified and stable across re-fetches, e.g. "reddit:t1_abc"
    platform: str  # rss | reddit | x
    source: str  # the configured source name
    kind: str  # submission | comment | tweet | reply | item | item_comment
    thread_id: str | None
    parent_id: str | None
    author_id: str | None
    created_at: datetime | None
    title: str | None
    body: str | None
    url: str | None
    score: int | None = None
    reply_count: int | None = None
    lang: str | None = None
    is_question: bool | None = None
    state: str = "live"  # live | edited | deleted | removed | withheld


@dataclass(frozen=True)
class Member:
    member_id: str  # platform-qualified, e.g. "x:12345", "rss:blog-name:alice"
    platform: str
    handle: str | None
    display_name: str | None
    first_seen_at: datetime | None
    last_seen_at: datetime | None
    is_manager: bool = False
    is_bot: bool = False


@dataclass(frozen=True)
class Snapshot:
    source: str
    captured_at: datetime
    members_count: int | None
    active_members: int | None = None


@dataclass
class Batch:
    """Rows from one or more pages, with the cursor that holds once they are stored."""

    source: str
    raw: list[RawPage] = field(default_factory=list)
    posts: list[Post] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    snapshots: list[Snapshot] = field(default_factory=list)
    requests: list[ApiRequest] = field(default_factory=list)
    cursor: dict[str, Any] | None = None  # None: leave the stored cursor as it is
    problems: list[str] = field(default_factory=list)  # non-fatal, reported in the run summary
