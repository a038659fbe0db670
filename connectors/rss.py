"""RSS and Atom feeds, and the comment feeds of their items, as posts and members.

Endpoints
    GET `source.url`: any RSS 0.9x/1.0/2.0, RDF or Atom 0.3/1.0 feed, parsed by feedparser
    from the bytes requests fetched (timeout `source.timeout_s`, User-Agent
    "majlis/0.1 (+community health)").
    GET each item's comment feed, when `source.follow_comments`: `<wfw:commentRss>`
    (WordPress, BlogEngine, Movable Type) or an Atom `<link rel="replies">` of type
    application/atom+xml or application/rss+xml (WordPress Atom, Blogger). Links are followed
    as the feed gives them, to whatever host.

Cursor (a JSON object per source, stored with each batch)
    etag, last_modified      validators of the main feed, sent back as If-None-Match /
                             If-Modified-Since: an unchanged feed answers 304 and is not parsed.
    comment_feeds            {comment feed URL: {item, at, etag, last_modified, gone}}: the
                             item's post_id (the thread its comments join), the item's time
                             (newest first), the comment feed's own validators, and `gone` once
                             it answered 404/410. Kept for the newest `max_comment_feeds` items
                             seen, so comment feeds are polled even when the main feed answers 304
                             and a crash between batches loses nothing.

Limits
    Feeds publish no rate limit; we fetch the main feed once per run and at most
    `source.max_comment_feeds` comment feeds (default 50), newest items first. Transient failures
    (timeouts, resets, 408, 429 honouring Retry-After up to a cap, 500/502/503/504) are retried
    with exponential backoff (connectors/_http.py); a body over 20 MB is refused.

What lands
    One Batch per feed document fetched, main feed first, each with its RawPage (body verbatim;
    None for a 304), its api_requests rows, its posts and members, and the cursor valid after it.
    Items are kind "item"; comments "item_comment" with thread_id and parent_id = their item's
    post_id (parent = the comment answered when WordPress says "In reply to" a comment in the
    same document; the "In reply to" line WordPress puts atop a reply is left out of the body).
    A source URL that is itself a comment feed ("Comments on: ...", or every link a #comment-N
    anchor) yields comments whose thread is the link without its anchor.
    post_id = "rss:" + 16 hex digits of sha256(source name, guid or link or title+date).
    Authors: dc:creator / author name (an e-mail address alone is not kept), member_id
    "rss:<source>:<lowercased name>". lang: xml:lang or the feed's language, as ISO 639-1.

Failures
    Main feed: 404, 401/403, 410, other 4xx, retries exhausted, or not a feed at all ->
    SourceError naming the URL and the fix. A malformed feed is loaded as far as feedparser
    gets and reported in Batch.problems. A comment feed that fails is a problem, never a
    SourceError: the rest of the run goes on.
"""
from __future__ import annotations

import copy
import hashlib
import io
import re
import xml.sax
from datetime import datetime, timezone
from html.parser import HTMLParser
from typing import Any, Iterator, Mapping
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser
import requests

from connectors._http import (
    BACKOFF_S, RETRIES, RETRY_AFTER_CAP_S, Fetched, FetchFailed, HttpClient, public_url,
    status_phrase,
)
from connectors._records import ApiRequest, Batch, Member, Post, RawPage, SourceError

PLATFORM = "rss"
COMMENT_FEED_TYPES = frozenset({"application/atom+xml", "application/rss+xml"})
THREAD_NAMESPACES = frozenset({
    "http://purl.org/syndication/thread/1.0",  # RFC 4685; feedparser keys it by the feed's prefix
})
ACCEPT = ("application/rss+xml, application/atom+xml, application/rdf+xml;q=0.9,"
          " application/xml;q=0.9, text/xml;q=0.9, */*;q=0.1")
MAX_AUTHOR_CHARS = 200

_IN_REPLY_TO = re.compile(r"""^\s*(?:<p>\s*)?In reply to <a href=["']([^"']+)["']""", re.IGNORECASE)
# WordPress's threading line, kept as parent_id: not part of what the commenter wrote.
_IN_REPLY_TO_LINE = re.compile(r"""^\s*(?:<p>\s*)?In reply to <a\b[^>]*>.*?</a>\.?\s*(?:</p>)?""",
                               re.IGNORECASE | re.DOTALL)
_COMMENT_PAGE = re.compile(r"comment-page-\d+/?$")


class _MainFeedFailed(SourceError):
    """The main feed failed; the requests made for it are still worth storing."""

    def __init__(self, source: str, message: str, requests: list[ApiRequest]):
        super().__init__(source, message)
        self.requests = requests


class RssConnector:
    """Fetches one configured feed (`majlis.config.RssSource`) and its items' comment feeds."""

    def __init__(
        self, source, *, session: requests.Session | None = None, retries: int = RETRIES,
        backoff_s: float = BACKOFF_S, retry_after_cap_s: float = RETRY_AFTER_CAP_S,
    ):
        self.source = source
        self.http = HttpClient(
            timeout_s=source.timeout_s, retries=retries, backoff_s=backoff_s,
            retry_after_cap_s=retry_after_cap_s, session=session,
        )

    def fetch(self, cursor: dict) -> Iterator[Batch]:
        state = _state_from(cursor)
        seen: set[str] = set()  # post_ids already yielded in this run
        try:
            batch = self._main_batch(state, seen)
        except _MainFeedFailed as failed:
            batch = Batch(self.source.name, requests=failed.requests)  # the attempts stay on record
            error = SourceError(failed.source, failed.reason)
        else:
            error = None
        yield batch
        if error is not None:
            raise error
        if not self.source.follow_comments:
            return
        for url in _comment_feeds_to_poll(state, self.source.max_comment_feeds):
            yield self._comment_batch(url, state, seen)

    # -- main feed ----------------------------------------------------------------------------

    def _main_batch(self, state: dict, seen: set[str]) -> Batch:
        url, name = self.source.url, self.source.name
        try:
            fetched = self.http.get(url, _request_headers(state))
        except FetchFailed as err:
            raise _MainFeedFailed(name, _main_fetch_failed(url, err),
                                  _api_requests(name, url, err.attempts)) from None
        batch = Batch(name)
        batch.requests = _api_requests(name, url, fetched.attempts)
        if fetched.status == 304:
            batch.raw.append(_raw_page(name, url, fetched, body=None))
            batch.cursor = copy.deepcopy(state)
            return batch
        if not 200 <= fetched.status < 300:
            raise _MainFeedFailed(name, _main_status_message(url, fetched), batch.requests)
        batch.raw.append(_raw_page(name, url, fetched, body=fetched.body))
        parsed = _parse(fetched)
        if _is_not_a_feed(parsed):
            raise _MainFeedFailed(name, _not_a_feed_message(url, fetched, parsed), batch.requests)
        if fetched.moved_to:
            batch.problems.append(
                f"feed {name} ({public_url(url)}) moved permanently to {public_url(fetched.moved_to)};"
                " update `url` of this source")
        label = f"feed {name} ({public_url(url)})"
        if _worth_reporting(parsed):
            batch.problems.append(_bozo_problem(label, parsed))
        if _is_comment_feed(parsed):
            entries = _comments(name, parsed)
        else:
            entries = _items(name, parsed, base=fetched.url)
        _report_unidentifiable(batch, label, parsed, entries)
        _add_entries(batch, entries, seen, name)
        _update_validators(state, fetched)
        if self.source.follow_comments:
            found = [(e.comment_feed, e.post.post_id, _iso(e.post.created_at))
                     for e in entries if e.comment_feed]
            state["comment_feeds"] = _merge_comment_feeds(
                state.get("comment_feeds", {}), found, self.source.max_comment_feeds)
        else:
            state.pop("comment_feeds", None)
        batch.requests[-1] = _with_items(batch.requests[-1], len(parsed.entries))
        batch.cursor = copy.deepcopy(state)
        return batch

    # -- comment feeds ------------------------------------------------------------------------

    def _comment_batch(self, url: str, state: dict, seen: set[str]) -> Batch:
        name = self.source.name
        feed = state["comment_feeds"][url]
        label = f"comment feed {public_url(url)} (source {name})"
        batch = Batch(name)
        try:
            fetched = self.http.get(url, _request_headers(feed))
        except FetchFailed as err:
            batch.requests = _api_requests(name, url, err.attempts)
            batch.problems.append(f"{label}: {err.reason}; skipped, tried again next run")
            batch.cursor = copy.deepcopy(state)
            return batch
        batch.requests = _api_requests(name, url, fetched.attempts)
        if fetched.status == 304:
            batch.raw.append(_raw_page(name, url, fetched, body=None))
        elif not 200 <= fetched.status < 300:
            batch.raw.append(_raw_page(name, url, fetched, body=fetched.body))
            if fetched.status in (404, 410):
                feed["gone"] = True  # the item's comments are closed or removed: stop asking
            batch.problems.append(
                f"{label}: HTTP {fetched.status} {status_phrase(fetched.status)}; skipped")
        else:
            batch.raw.append(_raw_page(name, url, fetched, body=fetched.body))
            parsed = _parse(fetched)
            if _is_not_a_feed(parsed):
                batch.problems.append(f"{label}: not an RSS or Atom feed"
                                      f" ({_content_summary(fetched, parsed)}); skipped")
            else:
                if _worth_reporting(parsed):
                    batch.problems.append(_bozo_problem(label, parsed))
                entries = _comments(name, parsed, thread_id=feed["item"])
                _report_unidentifiable(batch, label, parsed, entries)
                _add_entries(batch, entries, seen, name)
                batch.requests[-1] = _with_items(batch.requests[-1], len(parsed.entries))
            _update_validators(feed, fetched)
        batch.cursor = copy.deepcopy(state)
        return batch


# -- cursor -------------------------------------------------------------------------------------


def _state_from(cursor: Mapping[str, Any] | None) -> dict:
    state = copy.deepcopy(dict(cursor or {}))
    feeds = state.get("comment_feeds")
    if feeds is not None:  # keep only entries this version can use
        usable = feeds.items() if isinstance(feeds, dict) else []
        state["comment_feeds"] = {u: f for u, f in usable if isinstance(f, dict) and f.get("item")}
    return state


def _request_headers(validators: Mapping[str, Any]) -> dict[str, str]:
    headers = {"Accept": ACCEPT}
    if validators.get("etag"):
        headers["If-None-Match"] = validators["etag"]
    if validators.get("last_modified"):
        headers["If-Modified-Since"] = validators["last_modified"]
    return headers


def _update_validators(target: dict, fetched: Fetched) -> None:
    for key, header in (("etag", "ETag"), ("last_modified", "Last-Modified")):
        value = fetched.headers.get(header)
        if value:
            target[key] = value
        else:
            target.pop(key, None)


def _merge_comment_feeds(old: dict, found: list[tuple[str, str, str]], limit: int) -> dict:
    """The newest `limit` comment feeds among those just found and those remembered."""
    merged: dict[str, dict] = {}
    for url, item, at in found:
        merged.setdefault(url, {**old.get(url, {}), "item": item, "at": at})
    for url, feed in old.items():
        merged.setdefault(url, feed)
    newest = sorted(merged.items(), key=lambda kv: kv[1].get("at") or "", reverse=True)
    return dict(newest[:limit])


def _comment_feeds_to_poll(state: dict, limit: int) -> list[str]:
    feeds = state.get("comment_feeds", {})
    live = [(url, f) for url, f in feeds.items() if not f.get("gone")]
    live.sort(key=lambda kv: kv[1].get("at") or "", reverse=True)
    return [url for url, _ in live[:limit]]


# -- parsing ------------------------------------------------------------------------------------


def _parse(fetched: Fetched) -> feedparser.FeedParserDict:
    # feedparser reads bytes given as a stream (a bytes string could be taken for a path); the
    # headers give it the charset and the base URI for relative links.
    location = fetched.headers.get("Content-Location")
    headers = {"content-location": urljoin(fetched.url, location) if location else fetched.url}
    for name in ("Content-Type", "Content-Language"):
        if fetched.headers.get(name):
            headers[name.lower()] = fetched.headers[name]
    try:
        return parse_feed(fetched.body, headers)
    except ValueError as err:
        # feedparser's strict parser can crash on bytes that are invalid in the document's
        # encoding (an encoded lone surrogate in a namespace URI): parse it again with those
        # bytes replaced, and let the bozo report say what was wrong.
        cleaned = fetched.body.decode("utf-8", "replace").encode("utf-8")
        parsed = parse_feed(cleaned, headers)
        parsed["bozo"] = 1
        parsed["bozo_exception"] = err
        return parsed


def parse_feed(body: bytes, headers: dict[str, str]) -> feedparser.FeedParserDict:
    """feedparser without its HTML sanitiser and relative-URI resolution, which are a third of
    its time: the text we keep goes through our own `html_to_text`, which drops scripts and
    styles and keeps no markup. An entry with neither guid nor link is keyed on its title or
    text (`_entry_post_id`), and posts already stored were keyed on the sanitised form: such
    a feed is parsed again the way it always was, so its ids do not change."""
    parsed = feedparser.parse(io.BytesIO(body), response_headers=headers,
                              sanitize_html=False, resolve_relative_uris=False)
    if any(not (_text(e.get("id")) or _text(e.get("link"))) for e in parsed.entries):
        parsed = feedparser.parse(io.BytesIO(body), response_headers=headers)
    return parsed


def _is_not_a_feed(parsed) -> bool:
    return not parsed.get("version") and not parsed.get("entries")


def _is_comment_feed(parsed) -> bool:
    title = " ".join((parsed.feed.get("title") or "").split())
    if title.startswith(("Comments on:", "Comments for ")):  # WordPress per-post / site-wide
        return True
    links = [e.get("link") for e in parsed.entries]
    return bool(links) and all(link and "#comment-" in link for link in links)


class _Entry:
    """A mapped post with what the connector still needs from its feed entry."""

    __slots__ = ("post", "author", "comment_feed")

    def __init__(self, post: Post, author: str | None, comment_feed: str | None):
        self.post = post
        self.author = author
        self.comment_feed = comment_feed


def _items(source: str, parsed, base: str) -> list[_Entry]:
    feed_author = _author_name(parsed.feed)
    prefixes = _thread_prefixes(parsed)
    out = []
    for entry in parsed.entries:
        post_id = _entry_post_id(source, entry)
        if post_id is None:
            continue
        author = _author_name(entry) or feed_author
        post = _post(source, entry, parsed, post_id, kind="item", thread_id=post_id, parent_id=None,
                     author=author, reply_count=_reply_count(entry, prefixes))
        out.append(_Entry(post, author, _comment_feed_url(entry, base)))
    return out


def _comments(source: str, parsed, thread_id: str | None = None) -> list[_Entry]:
    """A comment feed's entries. Given the item's `thread_id` (a followed wfw:commentRss), every
    comment joins it; without one (the source is itself a comment feed) each comment's thread is
    its link without the #comment anchor."""
    by_link = _post_ids_by_link(source, parsed)
    fallback = parsed.feed.get("link")
    out = []
    for entry in parsed.entries:
        post_id = _entry_post_id(source, entry)
        if post_id is None:
            continue
        thread = thread_id
        if thread is None:
            thread_url = _thread_url(entry.get("link") or fallback)
            thread = _post_id(source, thread_url) if thread_url else None
        replied = _replied_link(entry)
        # Hrefs inside the text are left as written (parse_feed): resolve against the entry's link.
        if replied:
            replied = urljoin(entry.get("link") or fallback or "", replied)
        parent = by_link.get(replied or "", thread)
        author = _author_name(entry)
        post = _post(source, entry, parsed, post_id, kind="item_comment", thread_id=thread,
                     parent_id=parent, author=author, reply_count=None)
        out.append(_Entry(post, author, None))
    return out


def _post(source: str, entry, parsed, post_id: str, *, kind: str, thread_id: str | None,
          parent_id: str | None, author: str | None, reply_count: int | None) -> Post:
    return Post(
        post_id=post_id, platform=PLATFORM, source=source, kind=kind,
        thread_id=thread_id, parent_id=parent_id,
        author_id=_member_id(source, author) if author else None,
        created_at=_entry_time(entry), title=_title_of(entry, kind, author), body=_body(entry),
        url=_http_link(entry.get("link")), reply_count=reply_count,
        lang=_entry_lang(entry, parsed.feed.get("language")),
    )


def _add_entries(batch: Batch, entries: list[_Entry], seen: set[str], source: str) -> None:
    for e in entries:
        if e.post.post_id in seen:  # the same guid twice in a feed, or in two documents
            continue
        seen.add(e.post.post_id)
        batch.posts.append(e.post)
        if e.author:
            at = e.post.created_at
            batch.members.append(Member(
                member_id=_member_id(source, e.author), platform=PLATFORM, handle=e.author,
                display_name=e.author, first_seen_at=at, last_seen_at=at))


# -- fields -------------------------------------------------------------------------------------


def _post_id(source: str, key: str) -> str:
    digest = hashlib.sha256(f"{source}\x1f{key}".encode("utf-8", "surrogatepass")).hexdigest()
    return f"rss:{digest[:16]}"


def _entry_post_id(source: str, entry) -> str | None:
    """Stable across fetches: guid, else link, else title and date, else the text itself."""
    key = _text(entry.get("id")) or _text(entry.get("link"))
    if not key:
        title, date = _text(entry.get("title")), _text(entry.get("published") or entry.get("updated"))
        key = f"title:{title}|{date}" if title or date else None
    if not key:
        body = _text(entry.get("summary"))
        key = f"text:{body}" if body else None
    return _post_id(source, key) if key else None


def _post_ids_by_link(source: str, parsed) -> dict[str, str]:
    out = {}
    for entry in parsed.entries:
        link, post_id = entry.get("link"), _entry_post_id(source, entry)
        if link and post_id:
            out.setdefault(link, post_id)
    return out


def _replied_link(entry) -> str | None:
    """WordPress threads replies only in the text: `In reply to <a href="...#comment-N">`."""
    for detail in entry.get("content") or []:
        match = _IN_REPLY_TO.match(detail.get("value") or "")
        if match:
            return match.group(1)
    match = _IN_REPLY_TO.match(entry.get("summary") or "")
    return match.group(1) if match else None


def _thread_url(link: str | None) -> str | None:
    if not link:
        return None
    parts = urlsplit(link)
    path = _COMMENT_PAGE.sub("", parts.path)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def _comment_feed_url(entry, base: str) -> str | None:
    url = entry.get("wfw_commentrss")
    if not url:
        for link in entry.get("links") or []:
            kind = (link.get("type") or "").split(";")[0].strip().lower()
            if link.get("rel") == "replies" and kind in COMMENT_FEED_TYPES and link.get("href"):
                url = link["href"]
                break
    if not isinstance(url, str) or not url.strip():
        return None
    return _http_link(urljoin(base, url.strip()))


def _http_link(url) -> str | None:
    if not isinstance(url, str):
        return None
    url = url.strip()
    return url if url.lower().startswith(("http://", "https://")) else None


def _thread_prefixes(parsed) -> list[str]:
    # feedparser keys RFC 4685 elements by the prefix the feed declares (thr_total, t_total...).
    prefixes = ["thr"]
    for prefix, uri in (parsed.get("namespaces") or {}).items():
        if uri in THREAD_NAMESPACES and prefix and prefix not in prefixes:
            prefixes.append(prefix)
    return prefixes


def _reply_count(entry, prefixes: list[str]) -> int | None:
    for key in ("slash_comments", *(f"{p}_total" for p in prefixes)):
        count = _int(entry.get(key))
        if count is not None:
            return count
    for link in entry.get("links") or []:
        if link.get("rel") != "replies":
            continue
        for key in ("count", *(f"{p}:count" for p in prefixes)):
            count = _int(link.get(key))
            if count is not None:
                return count
    return None


def _int(value) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def _author_name(node) -> str | None:
    detail = node.get("author_detail") or {}
    name = _text(detail.get("name"))
    if not name:
        plain = _text(node.get("author"))
        name = plain if plain and "@" not in plain else None  # an address alone is not a name
    return name[:MAX_AUTHOR_CHARS] if name else None


def _member_id(source: str, author: str) -> str:
    return f"rss:{source}:{author.lower()}"


def _entry_time(entry) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        parsed = entry.get(key)
        if parsed:
            try:
                return datetime(*parsed[:6])  # feedparser gives UTC struct_time
            except (TypeError, ValueError, OverflowError):
                continue
    return None


def _iso(value: datetime | None) -> str:
    return value.isoformat() if value else ""


def _title_of(entry, kind: str, author: str | None) -> str | None:
    """A comment's title only names its author ("By: Sara", "Comment on X by Sara"): drop it."""
    title = _title(entry)
    if kind == "item_comment" and title and author and author.casefold() in title.casefold():
        return None
    return title


def _title(entry) -> str | None:
    title = entry.get("title")
    if not isinstance(title, str):
        return None
    kind = (entry.get("title_detail") or {}).get("type", "text/plain")
    text = html_to_text(title) if "html" in kind else title
    return _text(text)


def _body(entry) -> str | None:
    details = list(entry.get("content") or [])
    if entry.get("summary_detail"):
        details.append(entry["summary_detail"])
    for detail in details:
        value = detail.get("value")
        if isinstance(value, str) and value.strip():
            if "html" in (detail.get("type") or "text/html"):
                return html_to_text(_IN_REPLY_TO_LINE.sub("", value, count=1))
            return _lines(value)
    return None


def _entry_lang(entry, feed_language) -> str | None:
    content = (entry.get("content") or [{}])[0]
    for tag in (content.get("language"), (entry.get("summary_detail") or {}).get("language"),
                (entry.get("title_detail") or {}).get("language"), feed_language):
        code = iso639_1(tag)
        if code:
            return code
    return None


def iso639_1(tag) -> str | None:
    """"en-US", "en_us", "EN" -> "en"; anything that is not a two-letter primary tag -> None."""
    if not isinstance(tag, str):
        return None
    primary = re.split(r"[-_]", tag.strip(), maxsplit=1)[0].lower()
    return primary if re.fullmatch(r"[a-z]{2}", primary) else None


def _text(value) -> str | None:
    """One line, whitespace collapsed; None when empty."""
    if not isinstance(value, str):
        return None
    return " ".join(value.split()) or None


def _lines(text: str) -> str | None:
    lines = [" ".join(line.split()) for line in text.splitlines()]
    joined = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    return joined or None


# -- HTML to text -------------------------------------------------------------------------------

_BLOCK_TAGS = frozenset({
    "p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre",
    "tr", "table", "hr", "section", "article", "header", "footer", "figure", "figcaption", "dd", "dt",
})
_SKIPPED_TAGS = frozenset({"script", "style", "template"})


class _TextOf(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag) -> None:
        if tag in _SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str | None:
    """Readable plain text: block elements become line breaks, markup and scripts go."""
    parser = _TextOf()
    parser.feed(html)
    parser.close()
    return _lines("".join(parser.parts))


# -- records and messages -----------------------------------------------------------------------


def _raw_page(source: str, url: str, fetched: Fetched, body: bytes | None) -> RawPage:
    at = fetched.attempts[-1].requested_at if fetched.attempts else datetime.now(timezone.utc)
    return RawPage(source=source, request=public_url(url), fetched_at=at, status=fetched.status,
                   body=body, content_type=fetched.headers.get("Content-Type"))


def _api_requests(source: str, url: str, attempts) -> list[ApiRequest]:
    parts = urlsplit(public_url(url))
    endpoint = parts.path or "/"
    if parts.query:
        endpoint = f"{endpoint}?{parts.query}"
    return [ApiRequest(source=source, requested_at=a.requested_at, method="GET", endpoint=endpoint,
                       status=a.status, elapsed_ms=a.elapsed_ms) for a in attempts]


def _with_items(request: ApiRequest, items: int) -> ApiRequest:
    return ApiRequest(**{**request.__dict__, "items": items})


def _main_fetch_failed(url: str, err: FetchFailed) -> str:
    if err.status == 429:
        fix = "the site rate-limits this client: schedule this source less often"
    elif err.status is not None and err.status >= 500:
        fix = "the site is failing; the next run tries again (if it persists, tell the site owner)"
    elif "within" in err.reason:
        fix = "the site is down or slow; the next run tries again (raise timeout_s if it is only slow)"
    else:
        fix = "check `url` of this source and that the site is up"
    return f"{public_url(url)}: {err.reason}; {fix}"


def _main_status_message(url: str, fetched: Fetched) -> str:
    status, shown = fetched.status, public_url(url)
    if status == 404:
        fix = "no feed at this address; check `url` of this source (a WordPress feed is <blog>/feed/)"
    elif status == 410:
        fix = "the feed was removed; point `url` at its new address or remove this source"
    elif status in (401, 403):
        fix = ("the feed needs credentials or refuses this client (User-Agent majlis/0.1);"
               " use a public feed URL or ask the site to allow it")
    else:
        fix = "check `url` of this source"
    return f"{shown} answered HTTP {status} {status_phrase(status)}: {fix}"


def _not_a_feed_message(url: str, fetched: Fetched, parsed) -> str:
    message = f"{public_url(url)} is not an RSS or Atom feed ({_content_summary(fetched, parsed)})"
    discovered = _feed_links_in_html(fetched)
    if discovered:
        return f"{message}; the page names its feed at {public_url(discovered[0])}: set `url` to that"
    return f"{message}; point `url` at the feed itself (a WordPress feed is <blog>/feed/)"


def _content_summary(fetched: Fetched, parsed) -> str:
    kind = fetched.headers.get("Content-Type") or "no Content-Type"
    summary = f"HTTP {fetched.status}, {kind}, {len(fetched.body)} bytes"
    if _worth_reporting(parsed):
        summary += f", parser: {_bozo_reason(parsed['bozo_exception'])}"
    return summary


def _worth_reporting(parsed) -> bool:
    """A malformed feed is; a well-formed one served without an XML Content-Type is not.

    Many servers send feeds as text/html or with no Content-Type; feedparser flags that as bozo
    but parses the document as usual, so nothing is lost and the operator can do nothing.
    """
    if not parsed.get("bozo"):
        return False
    return type(parsed.get("bozo_exception")).__name__ != "NonXMLContentType"


def _report_unidentifiable(batch: Batch, label: str, parsed, entries: list) -> None:
    skipped = len(parsed.entries) - len(entries)
    if skipped:
        batch.problems.append(
            f"{label}: {skipped} of {len(parsed.entries)} entries have no guid, link, title, date"
            " or text to identify them; skipped")


def _bozo_problem(label: str, parsed) -> str:
    count = len(parsed.entries)
    loaded = f"{count} entr{'y' if count == 1 else 'ies'} loaded anyway"
    return f"{label}: {_bozo_reason(parsed.get('bozo_exception'))}; {loaded}"


def _bozo_reason(exc) -> str:
    if isinstance(exc, xml.sax.SAXParseException):
        return f"not well-formed XML at line {exc.getLineNumber()}: {exc.getMessage()}"
    labels = {
        "CharacterEncodingOverride": "wrong character encoding declared",
        "CharacterEncodingUnknown": "unknown character encoding",
        "NonXMLContentType": "served with a non-XML Content-Type",
        "UndeclaredNamespace": "undeclared XML namespace",
    }
    if exc is None:
        return "malformed feed"
    label = labels.get(type(exc).__name__, type(exc).__name__)
    return f"{label}: {exc}"


class _FeedLinks(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        found = dict(attrs)
        rel = (found.get("rel") or "").lower().split()
        kind = (found.get("type") or "").lower()
        if tag == "link" and "alternate" in rel and kind in COMMENT_FEED_TYPES and found.get("href"):
            self.hrefs.append(found["href"])


def _feed_links_in_html(fetched: Fetched) -> list[str]:
    """Feed autodiscovery: `<link rel="alternate" type="application/rss+xml">` on an HTML page."""
    head = fetched.body[:256 * 1024].decode("utf-8", "replace")
    if "<link" not in head.lower():
        return []
    parser = _FeedLinks()
    parser.feed(head)
    return [link for link in (_http_link(urljoin(fetched.url, h)) for h in parser.hrefs) if link]
