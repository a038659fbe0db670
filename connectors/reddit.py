"""Reddit: one subreddit's submissions, comments, members and size, through praw.

| endpoint (OAuth API)          | loads                        | paging                          |
|-------------------------------|------------------------------|---------------------------------|
| `GET /r/{sub}/new/`           | posts (submission), members  | newest first, `after`, 100/page |
| `GET /r/{sub}/comments/`      | posts (comment), members     | newest first, `after`, 100/page |
| `GET /r/{sub}/about/`         | community_snapshots          | one request                     |
| `GET /api/info/?id=...`       | refreshed posts (score, replies, state) | 100 fullnames/request |

Cursor (`source_cursors.state`), committed with the rows of the page it follows:
`new` / `comments`: the newest item seen, `{"fullname", "created_utc"}`; each run pages back
until it meets that item (or anything older) and stops, so a quiet run costs one request per
listing. `recent`: `[fullname, created_utc]` of posts younger than `refresh_days`, re-read
through `/api/info` on later runs (at most `REFRESH_MAX_REQUESTS` requests, submissions first).
`gaps`: data gaps, see below.

Limits: Reddit serves at most ~1000 items of a listing. When the stored cursor is further back
than that, the items in between cannot be fetched any more: the connector records a data gap
(`{"listing", "from", "to", "detected_at"}`, ISO UTC) in `cursor["gaps"]` and in the batch's
`problems`, for a rule to report. Reddit allows 100 requests per minute per OAuth client,
averaged over a 10-minute window; praw's rate limiter paces requests from the
`x-ratelimit-*` headers, and every request lands in `api_requests`. The floor is about
10 requests per 1000 new items (100 per page); `requests_per_1000_items` computes it for a run.

Credentials: `REDDIT_CLIENT_ID`, `REDDIT_CLIENT_SECRET`, `REDDIT_USER_AGENT` from the
environment, or a Prefect Secret block (named by `secret_block`) holding a JSON object with
`client_id`, `client_secret`, `user_agent` (or the variable names as keys). App-only OAuth
(client credentials): read-only, no Reddit account needed.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

import prawcore

from connectors._records import Batch, Member, Post, RawPage, Snapshot, SourceError
from connectors.reddit_client import (
    AccessRefused, CredentialsRejected, Exchange, Page, RateLimitedTooLong, RedditClient,
    RedditCredentials, RedditTrouble, RetryPolicy,
)

log = logging.getLogger(__name__)

PLATFORM = "reddit"
WEB = "https://www.reddit.com"
ENV_VARS = ("REDDIT_CLIENT_ID", "REDDIT_CLIENT_SECRET", "REDDIT_USER_AGENT")
LISTINGS = ("new", "comments")
LISTING_HORIZON = 1000  # Reddit stops a listing near this many items
INFO_BATCH = 100  # fullnames per /api/info request, Reddit's maximum
REFRESH_MAX_REQUESTS = 10
MAX_GAPS_KEPT = 50
BOTS = frozenset({"automoderator"})
# removed_by_category (Reddit, 2019 on; absent from the recorded 2016 pages, so unverified
# here): "deleted" when the author deleted the post, any other value is a removal.
DELETED_CATEGORY = "deleted"


# -- credentials -------------------------------------------------------------------------------

def load_credentials(source) -> RedditCredentials:
    """From the source's Prefect Secret block when it names one, else from the environment."""
    if source.secret_block:
        values = _secret_block_values(source)
        where = f"the Prefect Secret block {source.secret_block!r}"
    else:
        values = {name: os.environ.get(name) for name in ENV_VARS}
        where = "the environment"
    found = {
        "client_id": values.get("REDDIT_CLIENT_ID") or values.get("client_id"),
        "client_secret": values.get("REDDIT_CLIENT_SECRET") or values.get("client_secret"),
        "user_agent": values.get("REDDIT_USER_AGENT") or values.get("user_agent"),
    }
    missing = [var for var, key in zip(ENV_VARS, found) if not found[key]]
    if missing:
        raise SourceError(source.name, (
            f"Reddit credentials missing from {where}: {', '.join(missing)}. Set REDDIT_CLIENT_ID, "
            "REDDIT_CLIENT_SECRET and REDDIT_USER_AGENT (a script or web app from "
            "https://www.reddit.com/prefs/apps), or name a Prefect Secret block holding them in "
            "secret_block"))
    return RedditCredentials(**found)


def _secret_block_values(source) -> dict[str, Any]:
    failure = None
    try:
        from prefect.blocks.system import Secret  # Prefect is heavy: only when a block is named

        value = Secret.load(source.secret_block).get()
    except Exception as err:  # noqa: BLE001 - Prefect raises many kinds; all mean "no block"
        failure = type(err).__name__
    if failure:
        raise SourceError(source.name, (
            f"could not load the Prefect Secret block {source.secret_block!r} ({failure}): "
            "create it, or unset secret_block to read REDDIT_* from the environment"))
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            value = None
    if not isinstance(value, dict):
        raise SourceError(source.name, (
            f"the Prefect Secret block {source.secret_block!r} must hold a JSON object with "
            "client_id, client_secret and user_agent"))
    return value


# -- mapping: Reddit things to records (pure, fed recorded payloads in tests) ------------------

# The fields mapping reads, with the JSON type Reddit sends. A field of another type (a proxy's
# rewrite, an API change, "" for a number) is read as missing rather than failing the page.
FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "name": str, "id": str, "author": str, "title": str, "selftext": str, "body": str,
    "permalink": str, "url": str, "link_id": str, "parent_id": str, "distinguished": str,
    "removed_by_category": str, "score": int, "num_comments": int, "created_utc": (int, float),
}
INT64 = range(-(2 ** 63), 2 ** 63)


def typed_thing(data: dict) -> dict:
    """`data` with every field mapping reads either of its documented type or None."""
    thing = dict(data)
    for key, kind in FIELD_TYPES.items():
        value = thing.get(key)
        if value is None:
            continue
        if not isinstance(value, kind) or isinstance(value, bool) or (
                isinstance(value, int) and value not in INT64):
            thing[key] = None
    return thing


def _when(created_utc: float | None) -> datetime | None:
    """None for a time no datetime can hold (NaN, year 10000): the post loads without it."""
    try:
        return datetime.fromtimestamp(created_utc, timezone.utc) if created_utc is not None else None
    except (OverflowError, ValueError, OSError, TypeError):
        return None


def _qualified(fullname: str | None) -> str | None:
    return f"{PLATFORM}:{fullname}" if fullname else None


def _author(thing: dict) -> str | None:
    author = thing.get("author")
    return None if not author or author == "[deleted]" else author


def member_id(author: str) -> str:
    return f"{PLATFORM}:{author.lower()}"


def is_bot(author: str) -> bool:
    return author.lower() in BOTS or author.lower().endswith("bot")


def post_state(thing: dict) -> str:
    """live | edited | deleted | removed, from the body placeholders and removed_by_category."""
    body = thing.get("body") if thing.get("name", "").startswith("t1_") else thing.get("selftext")
    category = thing.get("removed_by_category")
    if body == "[deleted]" or category == DELETED_CATEGORY:
        return "deleted"
    if body == "[removed]" or category:
        return "removed"
    return "edited" if thing.get("edited") else "live"


def post_from_thing(thing: dict, source_name: str) -> Post:
    """A submission (t3) or comment (t1), typed as `things_in` gives it."""
    fullname = thing["name"]
    state = post_state(thing)
    author = _author(thing)
    gone = state in ("deleted", "removed")
    if fullname.startswith("t1_"):
        return Post(
            post_id=_qualified(fullname), platform=PLATFORM, source=source_name, kind="comment",
            thread_id=_qualified(thing.get("link_id")), parent_id=_qualified(thing.get("parent_id")),
            author_id=member_id(author) if author else None, created_at=_when(thing.get("created_utc")),
            title=None, body=None if gone else thing.get("body"), url=_comment_url(thing),
            score=thing.get("score"), reply_count=None, state=state,
        )
    return Post(
        post_id=_qualified(fullname), platform=PLATFORM, source=source_name, kind="submission",
        thread_id=_qualified(fullname), parent_id=None,
        author_id=member_id(author) if author else None, created_at=_when(thing.get("created_utc")),
        # A deleted submission keeps its title on Reddit; only the body goes.
        title=thing.get("title"), body=None if gone else (thing.get("selftext") or None),
        url=WEB + thing["permalink"] if thing.get("permalink") else thing.get("url"),
        score=thing.get("score"), reply_count=thing.get("num_comments"), state=state,
    )


def _comment_url(thing: dict) -> str | None:
    if thing.get("permalink"):
        return WEB + thing["permalink"]
    link_id = thing.get("link_id") or ""
    if not link_id.startswith("t3_"):
        return None
    # Listings before 2017 carry no permalink; Reddit resolves this short form.
    return f"{WEB}/comments/{link_id[3:]}/_/{thing['id']}/"


def member_from_thing(thing: dict) -> Member | None:
    """The author of a thing typed as `things_in` gives it; None for a deleted author."""
    author = _author(thing)
    if author is None:
        return None
    seen = _when(thing.get("created_utc"))
    return Member(
        member_id=member_id(author), platform=PLATFORM, handle=author, display_name=None,
        first_seen_at=seen, last_seen_at=seen,
        # AutoModerator's posts are distinguished too, but a bot is never counted as a manager:
        # its notices must not make managers look present or answer questions.
        is_manager=thing.get("distinguished") == "moderator" and not is_bot(author),
        is_bot=is_bot(author),
    )


def snapshot_from_about(about: dict, source_name: str, captured_at: datetime) -> Snapshot:
    data = about.get("data", {})
    active = data.get("active_user_count")
    return Snapshot(source=source_name, captured_at=captured_at, members_count=data.get("subscribers"),
                    active_members=active if active is not None else data.get("accounts_active"))


def things_in(listing: Any) -> list[dict]:
    """The t1/t3 data of a Listing, newest first as Reddit sends them, typed as mapping reads them."""
    if not isinstance(listing, dict) or listing.get("kind") != "Listing":
        return []
    data = listing.get("data")
    children = data.get("children") if isinstance(data, dict) else None
    things = []
    for child in children if isinstance(children, list) else []:
        if isinstance(child, dict) and child.get("kind") in ("t1", "t3") and isinstance(child.get("data"), dict):
            thing = typed_thing(child["data"])
            if thing.get("name"):
                things.append(thing)
    return things


# -- run accounting ----------------------------------------------------------------------------

@dataclass(frozen=True)
class RequestCost:
    requests: int
    new_items: int

    @property
    def per_1000_items(self) -> float | None:
        return round(1000 * self.requests / self.new_items, 1) if self.new_items else None


def requests_per_1000_items(batches: Iterable[Batch]) -> RequestCost:
    """Requests made per 1000 new posts from listings, for the run summary.

    New items are the listing items past the stored cursor (what a listing batch carries);
    posts re-read by the refresh are not new, their requests count all the same.
    """
    requests = new_items = 0
    for batch in batches:
        requests += len(batch.requests)
        if any(_is_listing_request(page.request) for page in batch.raw):
            new_items += len(batch.posts)
    return RequestCost(requests, new_items)


def _is_listing_request(target: str) -> bool:
    path = urlsplit(target).path.rstrip("/")
    return path.endswith(tuple(f"/{name}" for name in LISTINGS))


# -- the connector -----------------------------------------------------------------------------

class RedditConnector:
    """Yields one batch per API page; the cursor in each holds once its rows are stored."""

    def __init__(self, source, *, retry_delays_s: Sequence[float] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], datetime] | None = None):
        self.source = source
        self._retry = RetryPolicy(sleep=sleep)
        if retry_delays_s is not None:
            self._retry.delays_s = tuple(retry_delays_s)
        self._clock = clock or (lambda: datetime.now(timezone.utc))

    def fetch(self, cursor: dict) -> Iterator[Batch]:
        credentials = load_credentials(self.source)
        client = RedditClient(self.source.name, credentials, base_url=self.source.base_url,
                              timeout_s=self.source.timeout_s, retry=self._retry)
        run = _Run(self.source, client, dict(cursor or {}), self._clock())
        try:
            yield from run.batches()
        finally:
            client.close()


class _Run:
    """One fetch: the state that moves from page to page."""

    def __init__(self, source, client: RedditClient, cursor: dict, now: datetime):
        self.source = source
        self.client = client
        self.state = cursor
        self.now = now
        self.window_start = now.timestamp() - source.refresh_days * 86400
        self.to_refresh = self._refresh_candidates(cursor.get("recent", []))
        self.fetched_now: set[str] = set()

    @property
    def sub(self) -> str:
        return self.source.subreddit

    def batches(self) -> Iterator[Batch]:
        for listing in LISTINGS:
            yield from self._guarded(self._walk(listing))
        yield from self._guarded(self._about())
        yield from self._guarded(self._refresh())
        limits = self.client.ratelimit()
        log.info("r/%s: rate limit after this run: %s remaining, %s used in the window",
                 self.sub, limits.get("remaining"), limits.get("used"))

    # Errors: the requests made so far are still worth storing, then the source fails.
    def _guarded(self, batches: Iterator[Batch]) -> Iterator[Batch]:
        message = None
        try:
            yield from batches
        except RedditTrouble as err:
            message = self._explain(err)
        except prawcore.PrawcoreException as err:
            message = self._explain_prawcore(err)
        if message is not None:
            # Raised outside the except block so no exception holding a requests.Response
            # (and its Authorization header) rides along as __context__.
            leftover = self.client.log.drain()
            if leftover:
                yield Batch(self.source.name, requests=[e.request for e in leftover])
            raise SourceError(self.source.name, message)

    def _explain(self, err: RedditTrouble) -> str:
        name = self.source.name
        if isinstance(err, CredentialsRejected):
            return (f"Reddit rejected the credentials for source {name} (HTTP {err.status} from "
                    f"{err.endpoint}): check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")
        if isinstance(err, AccessRefused):
            return (f"Reddit refused access to r/{self.sub} (HTTP 403 from {err.endpoint}): the "
                    "subreddit may be private, quarantined or banned; check the subreddit name")
        if isinstance(err, RateLimitedTooLong):
            return f"{err.reason} at {err.endpoint}; the next scheduled run will continue"
        return (f"Reddit kept failing at {err.endpoint}: {err.reason}; rows already stored are kept "
                "and the next run continues from them")

    def _explain_prawcore(self, err: prawcore.PrawcoreException) -> str:
        if isinstance(err, prawcore.OAuthException):
            return (f"Reddit rejected the credentials for source {self.source.name} "
                    f"({err.error}): check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")
        if isinstance(err, (prawcore.NotFound, prawcore.Redirect)):
            return f"r/{self.sub} does not exist on Reddit (or was renamed); check the subreddit name"
        if isinstance(err, prawcore.ResponseException):
            return f"Reddit answered HTTP {err.response.status_code} for r/{self.sub}; unexpected, see api_requests"
        return f"Reddit could not be reached ({type(err).__name__})"

    # -- listings ---------------------------------------------------------------------------

    def _walk(self, listing: str) -> Iterator[Batch]:
        """Page back from the newest item until the stored one, one batch per page."""
        stop = self.state.get(listing)
        after = None
        top = None
        oldest = None
        max_pages = -(-LISTING_HORIZON // self.source.page_limit)
        for page_no in range(max_pages):
            params: dict[str, str | int] = {"limit": self.source.page_limit}
            if after:
                params["after"] = after
            page = self.client.get(f"r/{self.sub}/{listing}/", params)
            things = things_in(page.payload)
            fresh, reached = _until(things, stop)
            top = top or (things[0] if things else None)
            oldest = fresh[-1] if fresh else oldest
            asked_after = after
            after = page.payload.get("data", {}).get("after") if isinstance(page.payload, dict) else None
            # A page that names itself as the next one (a caching proxy, a Reddit bug) would be
            # asked for again until max_pages: stop at once and say so.
            repeated = bool(after) and after == asked_after
            self._remember(fresh)
            ended = reached or not after or not things or repeated
            last = ended or page_no == max_pages - 1
            problems = []
            if repeated:
                problems.append(f"r/{self.sub} {listing}: Reddit answered after={after} with a page whose"
                                " `after` repeated it; stopped paging there")
            if last:
                # An empty first page proves nothing; a listing that ran out before the
                # stored item (or anything older) did is Reddit's ~1000-item horizon.
                if stop and not reached and top:
                    problems.append(self._record_gap(listing, stop, oldest or top))
                if top:
                    self.state[listing] = {"fullname": top["name"], "created_utc": top["created_utc"]}
            yield self._batch(page, fresh, problems)
            if last:
                return

    def _record_gap(self, listing: str, stop: dict, oldest: dict | None) -> str:
        start = _iso(stop["created_utc"])
        end = _iso(oldest["created_utc"]) if oldest else _iso(self.now.timestamp())
        gap = {"listing": listing, "from": start, "to": end, "detected_at": self.now.isoformat()}
        self.state["gaps"] = (self.state.get("gaps", []) + [gap])[-MAX_GAPS_KEPT:]
        return (f"data gap in r/{self.sub} {listing}: Reddit's listing ends ~1000 items back and no "
                f"longer reaches the last item stored ({start}); items from {start} to {end} could "
                "not be fetched. Run this source more often to avoid gaps")

    # -- about -------------------------------------------------------------------------------

    def _about(self) -> Iterator[Batch]:
        page = self.client.get(f"r/{self.sub}/about/")
        batch = self._batch(page, [], [])
        if isinstance(page.payload, dict):
            batch.snapshots.append(snapshot_from_about(page.payload, self.source.name, self.now))
        yield batch

    # -- refresh -----------------------------------------------------------------------------

    def _refresh_candidates(self, recent: list) -> list[str]:
        """Stored recent posts still inside the window, submissions first, newest first."""
        inside = [(name, utc) for name, utc in recent if utc >= self.window_start]
        inside.sort(key=lambda item: (not item[0].startswith("t3_"), -item[1]))
        return [name for name, _ in inside][: INFO_BATCH * REFRESH_MAX_REQUESTS]

    def _remember(self, things: list[dict]) -> None:
        """Add newly fetched posts to the refresh list (they are not refreshed this run)."""
        self.fetched_now.update(t["name"] for t in things)
        recent = {name: utc for name, utc in self.state.get("recent", []) if utc >= self.window_start}
        for thing in things:
            if thing["created_utc"] is not None and thing["created_utc"] >= self.window_start:
                recent[thing["name"]] = thing["created_utc"]
        ordered = sorted(recent.items(), key=lambda item: (not item[0].startswith("t3_"), -item[1]))
        self.state["recent"] = [list(item) for item in ordered[: INFO_BATCH * REFRESH_MAX_REQUESTS]]

    def _refresh(self) -> Iterator[Batch]:
        names = [name for name in self.to_refresh if name not in self.fetched_now]
        for start in range(0, len(names), INFO_BATCH):
            chunk = names[start:start + INFO_BATCH]
            page = self.client.get("api/info/", {"id": ",".join(chunk)})
            yield self._batch(page, things_in(page.payload), [])

    # -- batches -----------------------------------------------------------------------------

    def _batch(self, page: Page, things: list[dict], problems: list[str]) -> Batch:
        exchanges = page.exchanges + self.client.log.drain()
        members = [m for m in (member_from_thing(t) for t in things) if m is not None]
        return Batch(
            source=self.source.name,
            raw=[_raw_page(self.source.name, e) for e in exchanges if e.complete],
            posts=[post_from_thing(t, self.source.name) for t in things],
            members=members,
            requests=[e.request for e in exchanges],
            cursor=json.loads(json.dumps(self.state)),  # a snapshot: later pages change state
            problems=problems,
        )


def _older(created_utc: float | None, than: float | None) -> bool:
    return created_utc is not None and than is not None and created_utc < than


def _until(things: list[dict], stop: dict | None) -> tuple[list[dict], bool]:
    """The items newer than the stored cursor, and whether the cursor was reached."""
    if not stop:
        return things, False
    fresh = []
    for thing in things:
        if thing["name"] == stop["fullname"] or _older(thing.get("created_utc"), stop.get("created_utc")):
            return fresh, True
        fresh.append(thing)
    return fresh, False


def _raw_page(source_name: str, exchange: Exchange) -> RawPage:
    return RawPage(source=source_name, request=exchange.target, fetched_at=exchange.request.requested_at,
                   status=exchange.request.status or 0, body=exchange.body,
                   content_type=exchange.content_type)


def _iso(created_utc: float | None) -> str:
    when = _when(created_utc)
    return when.isoformat() if when else "an unknown time"
