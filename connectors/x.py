"""X (Twitter) API v2 through tweepy: recent search and one account's timeline and mentions.

Endpoints (X API v2, bearer-token app auth):

| stream              | endpoint                          | page size | rate limit (app)   |
|---------------------|-----------------------------------|-----------|--------------------|
| `search:<query>`    | GET /2/tweets/search/recent       | 10-100    | 450 / 15 min       |
| account lookup      | GET /2/users/by/username/:name    | 1 user    | 300 / 15 min       |
| `tweets:<account>`  | GET /2/users/:id/tweets           | 5-100     | 1500 / 15 min      |
| `mentions:<account>`| GET /2/users/:id/mentions         | 5-100     | 450 / 15 min       |

Cost: X bills every post read (about $0.005, `cost_per_post_usd`); a post read is an item of
a response's `data` (not `meta.result_count`, not the parents in `includes.tweets`). The
cursor carries the month ("YYYY-MM") and the posts read in it; before each page the connector
asks for at most what is left of `max_posts_per_month` and stops, with a problem line, when
even the endpoint's smallest page would cross it. After (or during) `fetch`,
`connector.run_stats` is an `XRunStats`: posts read this run, estimated spend, posts read this
month, requests made; `run_stats.summary()` is the line a flow prints.

Cursor (`Batch.cursor`, stored with the rows it covers):

    {"month": "2026-02", "posts_read_month": 812,
     "streams": {"search:majlis": {"since_id": "1408876829491015681"},
                 "mentions:majlis_app": {"since_id": "14...",
                                         "pending": {"newest_id": "15...", "next_token": "b26..."}}},
     "accounts": {"majlis_app": "1022360009961656321"}}

X pages newest first, down to `since_id`. `since_id` advances (to the first page's
`meta.newest_id`) only with the batch of a stream's last page. Every page before that is
stored with `pending`: the newest id to commit later and the `next_token` of the page after
it. So after a crash the next run asks for exactly the first page not stored: at most one page
(the one in flight) is read and billed twice, none is skipped, and the upsert makes the re-read
harmless. A run stopped by the budget leaves `pending` too, and the next run goes on from
there. If X refuses a stored `next_token` (stale), the stream restarts from `since_id`: a
bounded re-read, never a gap.

Threads: a post is a reply when it has a `replied_to` reference (or `in_reply_to_user_id`
in another post's conversation; a post that merely starts with an @mention has the latter
but is its own conversation). Parents usually arrive in `includes.tweets` (expansion
`referenced_tweets.id`) and are stored as posts too, so replies land with their parent.
Edited posts: every version has its own id; the post is keyed by the first id of
`edit_history_tweet_ids`, so versions are one post. Retweets carry the original's metrics,
so they get no score or reply count. Deleted, protected and suspended posts appear only in
`errors[]`: they become the batch's problems and nothing else.

Raw pages are stored exactly as received. (Recordings made with twarc carry an extra
top-level `__twarc` key that X itself never sends.)
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from connectors._records import Batch, Member, Post, RawPage, Snapshot, SourceError
from connectors.x_client import RetryPolicy, XBadRequest, XClient, XPage

log = logging.getLogger(__name__)

TOKEN_ENV = "X_BEARER_TOKEN"
PLATFORM = "x"
MAX_PAGE = 100
TWEET_FIELDS = ["created_at", "author_id", "conversation_id", "in_reply_to_user_id",
                "referenced_tweets", "public_metrics", "lang", "withheld", "edit_history_tweet_ids"]
USER_FIELDS = ["username", "name", "public_metrics", "created_at"]
# Parents come with the page (and their authors with them) instead of one lookup per reply.
EXPANSIONS = ["author_id", "referenced_tweets.id", "referenced_tweets.id.author_id"]

# X's codes for "no language": undetermined, no linguistic content, media/links/hashtags only.
_NO_LANGUAGE = {"und", "zxx", "art", "qme", "qst", "qht", "qam", "qct", "qhm", "qir", "qtd"}
_OLD_CODES = {"in": "id", "iw": "he", "ji": "yi"}  # X still sends some withdrawn ISO codes


@dataclass
class XRunStats:
    """What one `fetch` read and what it is likely to cost."""

    month: str
    cost_per_post_usd: float
    max_posts_per_month: int | None
    posts_read: int = 0
    posts_read_month: int = 0
    requests: int = 0
    stopped_for_budget: bool = False

    @property
    def est_cost_usd(self) -> float:
        return round(self.posts_read * self.cost_per_post_usd, 4)

    @property
    def est_cost_month_usd(self) -> float:
        return round(self.posts_read_month * self.cost_per_post_usd, 4)

    def summary(self) -> str:
        budget = (f" of {self.max_posts_per_month:,}" if self.max_posts_per_month is not None else "")
        line = (f"{self.posts_read:,} posts read (~${self.est_cost_usd:,.2f}) in {self.requests} "
                f"requests; {self.posts_read_month:,}{budget} posts read in {self.month} "
                f"(~${self.est_cost_month_usd:,.2f})")
        return line + ("; stopped at the monthly budget" if self.stopped_for_budget else "")


@dataclass(frozen=True)
class _Stream:
    key: str  # the cursor's key for this stream
    min_page: int  # X refuses smaller max_results
    call: Callable[..., XPage]  # (since_id, token, max_results) -> page


@dataclass
class _Cursor:
    month: str
    posts_read_month: int = 0
    streams: dict[str, dict[str, Any]] = field(default_factory=dict)
    accounts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, stored: dict, month: str) -> "_Cursor":
        # A new month starts the budget again; stream positions carry over.
        read = int(stored.get("posts_read_month", 0)) if stored.get("month") == month else 0
        return cls(month, read, dict(stored.get("streams", {})), dict(stored.get("accounts", {})))

    def dump(self) -> dict:
        return {"month": self.month, "posts_read_month": self.posts_read_month,
                "streams": {k: dict(v) for k, v in self.streams.items()},
                "accounts": dict(self.accounts)}


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


class XConnector:
    """Yields one `Batch` per page of each configured search query and of the account."""

    def __init__(self, source, *, retry: RetryPolicy | None = None,
                 clock: Callable[[], datetime] = _utcnow):
        self.source = source
        self.retry = retry or RetryPolicy()
        self.clock = clock
        self.run_stats: XRunStats | None = None

    # -- public ------------------------------------------------------------------------------

    def fetch(self, cursor: dict) -> Iterator[Batch]:
        month = self.clock().strftime("%Y-%m")
        state = _Cursor.load(cursor or {}, month)
        self.run_stats = XRunStats(month, self.source.cost_per_post_usd,
                                   self.source.max_posts_per_month,
                                   posts_read_month=state.posts_read_month)
        client = self._client()
        try:
            for stream in self._streams(client, state):
                if isinstance(stream, Batch):
                    yield stream
                    continue
                yield from self._read_stream(client, state, stream)
                if self.run_stats.stopped_for_budget:
                    break
        except SourceError:
            # Failed attempts are part of the request log; store them with nothing else.
            requests_made = client.take_requests()
            if requests_made:
                self.run_stats.requests += len(requests_made)
                yield Batch(self.source.name, requests=requests_made, cursor=None)
            raise
        finally:
            log.info("X source %s: %s", self.source.name, self.run_stats.summary())

    # -- setup -------------------------------------------------------------------------------

    def _client(self) -> XClient:
        token, hint = self._bearer_token()
        return XClient(self.source.name, token, base_url=self.source.base_url,
                       timeout_s=self.source.timeout_s, retry=self.retry, token_hint=hint)

    def _bearer_token(self) -> tuple[str, str]:
        block = self.source.secret_block
        if block:
            hint = f"the Prefect Secret block {block!r}"
            token = _secret_block_token(self.source.name, block)
        else:
            hint = TOKEN_ENV
            token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise SourceError(self.source.name, (
                f"no X bearer token: set {TOKEN_ENV} in the environment, or name a Prefect "
                "Secret block holding it in the source's secret_block"))
        return token, hint

    def _streams(self, client: XClient, state: _Cursor) -> Iterator[_Stream | Batch]:
        """The streams to read, in order; the account's lookup batch comes before its streams."""
        account = self.source.account
        if account:
            batch, user_id = self._lookup_account(client, state, account.lstrip("@"))
            yield batch
            if user_id:
                name = account.lstrip("@")
                yield _Stream(f"tweets:{name}", 5, _timeline(client.users_tweets, user_id))
                yield _Stream(f"mentions:{name}", 5, _timeline(client.users_mentions, user_id))
        for query in _queries(self.source.query):
            yield _Stream(f"search:{query}", 10, _search(client, query))

    # -- reading -----------------------------------------------------------------------------

    def _lookup_account(self, client: XClient, state: _Cursor, username: str) -> tuple[Batch, str | None]:
        page = client.user_by_username(username, user_fields=USER_FIELDS)
        user = page.payload.get("data")
        batch = Batch(self.source.name, raw=[_raw(self.source.name, page)],
                      problems=_problems(self.source.name, page.payload))
        user_id = None
        if isinstance(user, dict) and _ident(user.get("id")):
            user = _typed_user(user)
            user_id = user["id"]
            state.accounts[username] = user_id
            batch.members.append(_member(user, is_manager=True))
            metrics = user.get("public_metrics") if isinstance(user.get("public_metrics"), dict) else {}
            followers = _count(metrics.get("followers_count"))
            if followers is not None:
                batch.snapshots.append(Snapshot(self.source.name, page.fetched_at, followers))
        else:
            batch.problems.append(f"X has no account @{username} for source {self.source.name}; "
                                  "check the source's account")
        batch.requests = client.take_requests()
        self.run_stats.requests += len(batch.requests)
        batch.cursor = state.dump()
        return batch, user_id

    def _read_stream(self, client: XClient, state: _Cursor, stream: _Stream) -> Iterator[Batch]:
        entry = state.streams.get(stream.key, {})
        since_id = entry.get("since_id")
        pending = entry.get("pending") or {}
        token, newest = pending.get("next_token"), pending.get("newest_id")
        while True:
            size = self._page_size(state, stream.min_page)
            if size is None:
                yield self._budget_stop(state)
                return
            try:
                page = stream.call(since_id, token, size)
            except XBadRequest as err:
                if not token:
                    raise
                # A stored next_token X no longer accepts: start the stream again from since_id.
                problem = (f"X refused the stored page token for {stream.key} ({err.detail}); "
                           "reading it again from the last complete position")
                yield Batch(self.source.name, requests=client.take_requests(), problems=[problem])
                token = newest = None
                continue
            meta = page.payload.get("meta") or {}
            newest = newest or meta.get("newest_id")
            next_token = meta.get("next_token")
            posts, members, problems = map_page(self.source.name, page.payload)
            read = _posts_read(page.payload)
            state.posts_read_month += read
            self.run_stats.posts_read += read
            self.run_stats.posts_read_month = state.posts_read_month
            if next_token and read:
                state.streams[stream.key] = {"since_id": since_id, "pending": {
                    "newest_id": newest, "next_token": next_token}}
            else:
                state.streams[stream.key] = {"since_id": _newer_id(newest, since_id)}
            batch = Batch(self.source.name, raw=[_raw(self.source.name, page)], posts=posts,
                          members=members, requests=client.take_requests(),
                          cursor=state.dump(), problems=problems)
            self.run_stats.requests += len(batch.requests)
            yield batch
            if not (next_token and read):
                return
            if next_token == token:
                # X never repeats a token; a proxy or cache that does would loop (and bill) forever.
                yield Batch(self.source.name, problems=[
                    f"X sent the same next_token twice for {stream.key}; stopped paging"])
                return
            token = next_token

    def _page_size(self, state: _Cursor, min_page: int) -> int | None:
        """max_results for the next page: never more than the monthly budget has left."""
        budget = self.source.max_posts_per_month
        if budget is None:
            return MAX_PAGE
        left = budget - state.posts_read_month
        return min(MAX_PAGE, left) if left >= min_page else None

    def _budget_stop(self, state: _Cursor) -> Batch:
        budget = self.source.max_posts_per_month
        line = (f"X budget for source {self.source.name}: {state.posts_read_month:,} of "
                f"{budget:,} posts read this month; stopping before the next page")
        log.warning(line)
        self.run_stats.stopped_for_budget = True
        return Batch(self.source.name, cursor=state.dump(), problems=[line])


def _queries(query: str | list[str] | None) -> list[str]:
    if query is None:
        return []
    return [query] if isinstance(query, str) else list(query)


def _search(client: XClient, query: str) -> Callable[..., XPage]:
    def call(since_id, token, size):
        return client.search_recent(query, since_id=since_id, next_token=token, max_results=size,
                                    tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS,
                                    expansions=EXPANSIONS)
    return call


def _timeline(endpoint: Callable[..., XPage], user_id: str) -> Callable[..., XPage]:
    def call(since_id, token, size):
        return endpoint(user_id, since_id=since_id, pagination_token=token, max_results=size,
                        tweet_fields=TWEET_FIELDS, user_fields=USER_FIELDS,
                        expansions=EXPANSIONS)
    return call


def _secret_block_token(source_name: str, block: str) -> str:
    """The token from a Prefect Secret block: a plain string, or a dict with bearer_token."""
    try:
        from prefect.blocks.system import Secret

        value = Secret.load(block).get()
    except ValueError:
        raise SourceError(source_name, (
            f"no Prefect Secret block named {block!r}: create it (prefect block create secret) "
            f"or remove secret_block to use {TOKEN_ENV}")) from None
    if isinstance(value, dict):
        value = value.get("bearer_token") or value.get(TOKEN_ENV)
    return str(value or "").strip()


# -- mapping: pure functions of one recorded payload ---------------------------------------------


def map_page(source: str, payload: dict) -> tuple[list[Post], list[Member], list[str]]:
    """Posts (parents from `includes.tweets` first, the page's own posts last, so the page's
    copy wins), the users the page names, and its `errors[]` as problem lines."""
    includes = payload.get("includes") if isinstance(payload.get("includes"), dict) else {}
    users = {u["id"]: u for u in map(_typed_user, _as_list(includes.get("users"))) if u["id"]}
    own = [_typed_tweet(t) for t in _as_list(payload.get("data"))]
    without_id = [t for t in own if not t["id"]]
    own = [t for t in own if t["id"]]
    tweets = [t for t in map(_typed_tweet, _as_list(includes.get("tweets"))) if t["id"]] + own
    first_ids = _first_version_ids(tweets)
    posts = _current_last([_post(source, t, users, first_ids) for t in tweets], tweets)
    members = _members(users, posts)
    problems = _problems(source, payload)
    if without_id:
        problems.append(f"X page for source {source}: {len(without_id)} post(s) without an id skipped")
    return posts, members, problems


# Mapping reads these fields with these JSON types; a field of another type (a proxy's rewrite,
# an API change) is read as missing rather than failing the page.
def _typed_tweet(tweet: dict) -> dict:
    typed = dict(tweet)
    for key in ("id", "author_id", "conversation_id", "in_reply_to_user_id"):
        typed[key] = _ident(tweet.get(key))
    for key in ("text", "created_at", "lang"):
        typed[key] = tweet.get(key) if isinstance(tweet.get(key), str) else None
    typed["referenced_tweets"] = [
        {"type": r.get("type"), "id": _ident(r.get("id"))} for r in _as_list(tweet.get("referenced_tweets"))]
    history = tweet.get("edit_history_tweet_ids")
    typed["edit_history_tweet_ids"] = [i for i in map(_ident, history if isinstance(history, list) else []) if i]
    metrics = tweet.get("public_metrics") if isinstance(tweet.get("public_metrics"), dict) else {}
    typed["public_metrics"] = {key: _count(metrics.get(key)) for key in ("like_count", "reply_count")}
    return typed


def _typed_user(user: dict) -> dict:
    typed = dict(user)
    typed["id"] = _ident(user.get("id"))
    for key in ("username", "name"):
        typed[key] = user.get(key) if isinstance(user.get(key), str) else None
    return typed


def _ident(value: Any) -> str | None:
    """X ids are decimal strings; an int is accepted, anything else is no id."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    return value if isinstance(value, str) and value else None


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and -(2 ** 63) <= value < 2 ** 63:
        return value
    return None


def _post(source: str, tweet: dict, users: dict[str, dict], first_ids: dict[str, str]) -> Post:
    tweet_id = tweet["id"]
    refs = {r["type"]: r["id"] for r in tweet["referenced_tweets"] if r["id"]}
    conversation = tweet["conversation_id"]
    parent = refs.get("replied_to")
    is_reply = parent is not None or bool(
        tweet.get("in_reply_to_user_id") and conversation and conversation != tweet_id)
    author = tweet["author_id"]
    metrics = tweet["public_metrics"]
    retweet = "retweeted" in refs  # its metrics are the original's, not the retweeter's
    history = tweet.get("edit_history_tweet_ids") or []
    thread = conversation or (None if is_reply else tweet_id)
    return Post(
        post_id=_qualify(first_ids.get(tweet_id, tweet_id)),
        platform=PLATFORM,
        source=source,
        kind="reply" if is_reply else "tweet",
        thread_id=_qualify(first_ids.get(thread, thread)) if thread else None,
        parent_id=_qualify(first_ids.get(parent, parent)) if parent else None,
        author_id=_qualify(author) if author else None,
        created_at=_timestamp(tweet.get("created_at")),
        title=None,
        body=tweet.get("text"),
        url=_status_url(tweet_id, (users.get(author) or {}).get("username")),
        score=None if retweet else metrics.get("like_count"),
        reply_count=None if retweet else metrics.get("reply_count"),
        lang=normalise_lang(tweet.get("lang")),
        state="withheld" if tweet.get("withheld") else ("edited" if len(history) > 1 else "live"),
    )


def _first_version_ids(tweets: list[dict]) -> dict[str, str]:
    """Every version id of an edited post -> its first id, so versions share one post_id."""
    first: dict[str, str] = {}
    for tweet in tweets:
        history = tweet["edit_history_tweet_ids"]
        for version in history[1:]:
            first[version] = history[0]
    return first


def _current_last(posts: list[Post], tweets: list[dict]) -> list[Post]:
    """Superseded versions of an edited post before the current one (the last copy wins)."""
    def superseded(tweet: dict) -> bool:
        history = tweet["edit_history_tweet_ids"]
        return len(history) > 1 and history[-1] != tweet["id"]
    order = sorted(range(len(posts)), key=lambda i: not superseded(tweets[i]))
    return [posts[i] for i in order]


def _members(users: dict[str, dict], posts: list[Post]) -> list[Member]:
    seen: dict[str, list[datetime]] = {}
    for post in posts:
        if post.author_id and post.created_at:
            seen.setdefault(post.author_id, []).append(post.created_at)
    members = []
    for user in users.values():
        times = seen.get(_qualify(user["id"]), [])
        members.append(_member(user, first_seen=min(times, default=None),
                               last_seen=max(times, default=None)))
    return members


def _member(user: dict, *, is_manager: bool = False, first_seen: datetime | None = None,
            last_seen: datetime | None = None) -> Member:
    return Member(member_id=_qualify(user["id"]), platform=PLATFORM,
                  handle=user.get("username"), display_name=user.get("name"),
                  first_seen_at=first_seen, last_seen_at=last_seen, is_manager=is_manager)


def _problems(source: str, payload: dict) -> list[str]:
    """`errors[]`: posts deleted or hidden, accounts protected or suspended."""
    errors = payload.get("errors")
    if errors and not isinstance(errors, list):
        return [f"X page for source {source}: `errors` is not a list, cannot read it: {str(errors)[:200]!r}"]
    lines = []
    for error in errors or []:
        if not isinstance(error, dict):
            lines.append(f"X page for source {source}: unreadable entry in `errors`: {str(error)[:200]!r}")
            continue
        kind = error.get("resource_type", "resource")
        ident = error.get("resource_id") or error.get("value") or "?"
        what = error.get("detail") or error.get("message") or "no detail"
        lines.append(f"X {kind} {ident} unavailable ({error.get('title', 'error')}): {what}")
    return list(dict.fromkeys(lines))  # one line per missing thing, however often it is named


def normalise_lang(code: str | None) -> str | None:
    """An ISO 639-1 code, or None where X says it could not tell."""
    if not code or not isinstance(code, str):
        return None
    code = code.lower()
    if code in _NO_LANGUAGE:
        return None
    return _OLD_CODES.get(code, code)


def _posts_read(payload: dict) -> int:
    return len(_as_list(payload.get("data")))


def _as_list(data: Any) -> list[dict]:
    if isinstance(data, list):
        return data
    return [data] if isinstance(data, dict) else []


def _raw(source: str, page: XPage) -> RawPage:
    return RawPage(source=source, request=page.request, fetched_at=page.fetched_at,
                   status=page.status, body=page.body, content_type=page.content_type)


def _newer_id(a: str | None, b: str | None) -> str | None:
    ids = [i for i in (a, b) if isinstance(i, str) and i.isdigit()]
    return max(ids, key=int) if ids else None


def _qualify(platform_id: str) -> str:
    return f"{PLATFORM}:{platform_id}"


def _status_url(tweet_id: str, username: str | None) -> str:
    return f"https://x.com/{username or 'i/web'}/status/{tweet_id}"


def _timestamp(value: str | None) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # not ISO 8601: keep the post, without a time
        return None
