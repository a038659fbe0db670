"""The RSS/Atom connector against real recorded feeds, served from 127.0.0.1, into real DuckDB.

The blog feeds link to their live sites; a test rewrites those links to the replay server
before the connector sees them, or turns comment following off. Every connector here gets a
session that refuses any host but 127.0.0.1, so a link left pointing outward fails loudly
instead of reaching the internet.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests
from requests.adapters import HTTPAdapter

from connectors import SourceError
from connectors.rss import RssConnector, html_to_text, iso639_1
from majlis.config import RssSource
from majlis.replay import Reply, ReplayServer

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
BLOGS = FEEDS / "blogs"
OSM = "https://blog.openstreetmap.org"  # the origin of wp-blog-openstreetmap.rss
OSM_NEWEST_COMMENTS = "/2017/05/09/registration-open-sotm2017/feed/"
OCEANBITES = "https://oceanbites.org"  # the origin of wp-oceanbites.atom


@pytest.fixture(scope="module")
def replay_server():
    with ReplayServer() as server:
        yield server


@pytest.fixture
def replay(replay_server):
    """conftest's `replay`, one server per module: stopping a server costs its 0.5 s poll interval."""
    replay_server.routes.clear()
    replay_server.seen.clear()
    return replay_server


class LoopbackOnly(HTTPAdapter):
    """Refuses, and remembers, any request to a host other than 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    def send(self, request, **kwargs):
        host = requests.utils.urlparse(request.url).hostname
        if host != "127.0.0.1":
            self.refused.append(request.url)
            raise requests.ConnectionError("test guard: only 127.0.0.1 may be reached")
        return super().send(request, **kwargs)


def loopback_session() -> tuple[requests.Session, LoopbackOnly]:
    session = requests.Session()
    session.trust_env = False  # no proxy variable may catch 127.0.0.1
    guard = LoopbackOnly()
    session.mount("http://", guard)
    session.mount("https://", guard)
    return session, guard


def connector(url: str, **settings) -> RssConnector:
    session, _ = loopback_session()
    return RssConnector(rss_source(url, **settings), session=session,
                        backoff_s=0.01, retry_after_cap_s=0.05)


def rss_source(url: str, **settings) -> RssSource:
    return RssSource(kind="rss", name=settings.pop("name", "blog"), url=url,
                     timeout_s=settings.pop("timeout_s", 5), **settings)


def run(conn: RssConnector, warehouse) -> list:
    """One scheduled run: resume from the stored cursor, store every batch as it comes."""
    batches = []
    for batch in conn.fetch(warehouse.cursor(conn.source.name)):
        warehouse.write_batch(batch)
        batches.append(batch)
    return batches


def local(body: bytes, origin: str, replay) -> bytes:
    """A recorded feed with its site's links pointing at the replay server."""
    return body.replace(origin.encode(), replay.base_url.encode())


def first_item(body: bytes) -> bytes:
    return re.search(rb"<item>.*?</item>", body, re.DOTALL).group(0)


def count(warehouse, sql: str, params=None) -> int:
    return warehouse.con.execute(sql, params or []).fetchone()[0]


def serve_osm_with_comments(replay, **route) -> str:
    """OpenStreetMap's WordPress feed; its newest item's comment feed is a real WordPress one."""
    feed = local((BLOGS / "wp-blog-openstreetmap.rss").read_bytes(), OSM, replay)
    replay.add("/feed/", feed, content_type="application/rss+xml; charset=UTF-8", **route)
    comments = (BLOGS / "wp-comments-battlefieldanomalies-home.rss").read_bytes()
    replay.add(OSM_NEWEST_COMMENTS, comments, content_type="application/rss+xml; charset=UTF-8", **route)
    return replay.url("/feed/")


# -- items and comments -------------------------------------------------------------------------


def test_wordpress_comments_land_as_replies_to_their_item(replay, warehouse):
    url = serve_osm_with_comments(replay)
    run(connector(url, max_comment_feeds=1), warehouse)

    (item,) = warehouse.query(
        "select post_id, title, reply_count from posts where kind = 'item' and url = $url",
        {"url": replay.url("/2017/05/09/registration-open-sotm2017/")})
    comments = warehouse.query(
        "select post_id, thread_id, parent_id, author_id, body from posts where kind = 'item_comment'")
    assert item["title"] == "Registration is now open for State of the Map 2017"
    assert item["reply_count"] == 2  # slash:comments
    assert len(comments) == 10
    assert {c["thread_id"] for c in comments} == {item["post_id"]}
    comment_ids = {c["post_id"] for c in comments}
    assert all(c["parent_id"] == item["post_id"] or c["parent_id"] in comment_ids for c in comments)
    assert not any("<" in c["body"] for c in comments)  # HTML turned into text


def test_in_reply_to_threads_a_comment_under_the_comment_it_answers(replay, warehouse):
    url = serve_osm_with_comments(replay)
    run(connector(url, max_comment_feeds=1), warehouse)

    rows = warehouse.query(
        "select c.author_id as author, p.author_id as answered from posts c"
        " join posts p on c.parent_id = p.post_id where c.kind = 'item_comment'"
        " and p.kind = 'item_comment' and c.author_id = 'rss:blog:graham morris'"
        " and c.body like 'Thanks for contacting me Brett.%'")
    assert rows == [{"author": "rss:blog:graham morris", "answered": "rss:blog:brett bentley-leek"}]
    assert count(warehouse, "select count(*) from posts where body like 'In reply to%'") == 0
    # "By: Graham Morris" only repeats the author: comments keep no such title.
    assert count(warehouse, "select count(*) from posts where kind = 'item_comment' and title like 'By: %'") == 0


def test_atom_replies_link_is_followed_as_the_comment_feed(replay, warehouse):
    feed = local((BLOGS / "wp-oceanbites.atom").read_bytes(), OCEANBITES, replay)
    replay.add("/feed/atom/", feed, content_type="application/atom+xml")
    newest_replies = re.search(rb'rel="replies" type="application/atom\+xml" href="([^"]+)"', feed)
    comments_path = requests.utils.urlparse(newest_replies.group(1).decode()).path
    replay.add(comments_path, (BLOGS / "wp-comments-battlefieldanomalies-home.rss").read_bytes())

    run(connector(replay.url("/feed/atom/"), max_comment_feeds=1), warehouse)

    threads = warehouse.query(
        "select i.title, count(*) as comments from posts c join posts i on c.thread_id = i.post_id"
        " where c.kind = 'item_comment' and i.kind = 'item' group by i.title")
    assert [t["comments"] for t in threads] == [10]
    assert replay.requests_to(comments_path)[0].status == 200


def test_comment_feeds_are_limited_to_the_newest_items(replay, warehouse):
    url = serve_osm_with_comments(replay)
    run(connector(url, max_comment_feeds=3), warehouse)

    comment_feed_paths = [s.path for s in replay.seen if s.path != "/feed/"]
    assert comment_feed_paths == [
        OSM_NEWEST_COMMENTS,
        "/2017/04/11/community-survey-for-the-state-of-the-map-2017-program/feed/",
        "/2017/04/05/featured-images-jan-feb-mar/feed/",
    ]


def test_a_source_that_is_a_comment_feed_threads_comments_by_their_page(replay, warehouse):
    replay.add("/home/feed/", (BLOGS / "wp-comments-battlefieldanomalies-home.rss").read_bytes())
    run(connector(replay.url("/home/feed/")), warehouse)

    rows = warehouse.query("select kind, thread_id, url from posts")
    assert len(rows) == 10
    assert {r["kind"] for r in rows} == {"item_comment"}
    assert len({r["thread_id"] for r in rows}) == 1  # all on the blog's home page
    assert len(replay.seen) == 1


def test_duplicate_guids_in_a_feed_load_once(replay, warehouse):
    body = (BLOGS / "wp-markgreville.rss").read_bytes()
    item = first_item(body)
    replay.add("/feed/", body.replace(item, item + item + item))

    (batch,) = run(connector(replay.url("/feed/"), follow_comments=False), warehouse)

    assert len(batch.posts) == 10
    assert count(warehouse, "select count(*) from posts") == 10


def test_dc_creator_becomes_a_member_seen_at_their_posts(replay, warehouse):
    replay.add("/feed/", (BLOGS / "wp-romanews-it.rss").read_bytes())
    run(connector(replay.url("/feed/"), follow_comments=False), warehouse)

    members = warehouse.query(
        "select m.member_id, m.handle, m.first_seen_at, m.last_seen_at,"
        " (select min(created_at) from posts p where p.author_id = m.member_id) as first_post,"
        " (select max(created_at) from posts p where p.author_id = m.member_id) as last_post"
        " from members m where m.handle = 'Riccardo Casoli'")
    (member,) = members
    assert member["member_id"] == "rss:blog:riccardo casoli"
    assert (member["first_seen_at"], member["last_seen_at"]) == (member["first_post"], member["last_post"])
    assert count(warehouse, "select count(*) from posts where author_id is null") == 0


@pytest.mark.parametrize("fixture, lang", [
    ("blogs/wp-romanews-it.rss", "it"),  # <language>it-IT</language>
    ("blogs/wp-nuus-afrikaans.rss", "af"),  # af-ZA
    ("blogs/wpcom-daridor.atom", "en"),  # xml:lang on the feed
    ("feedparser/wellformed/lang/entry_content_xml_lang_inherit_3.xml", "en"),  # feed fr, content en
    ("feedparser/wellformed/lang/entry_content_xml_lang_underscore.xml", "en"),  # en_US
])
def test_declared_language_is_kept_as_iso_639_1(replay, warehouse, fixture, lang):
    replay.add("/feed", (FEEDS / fixture).read_bytes(), content_type="application/xml")
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    assert {r["lang"] for r in warehouse.query("select distinct lang from posts")} == {lang}


def test_undeclared_language_is_left_for_the_warehouse(replay):
    replay.add("/feed", (BLOGS / "wp-comments-battlefieldanomalies-home.rss").read_bytes())
    (batch,) = connector(replay.url("/feed")).fetch({})

    assert {p.lang for p in batch.posts} == {None}


def test_reply_count_comes_from_thr_total(replay, warehouse):
    replay.add("/feed", (BLOGS / "blogger-realphysics.atom").read_bytes())
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    assert count(warehouse, "select count(*) from posts where reply_count is not null") == 25


def test_html_becomes_plain_text():
    html = '<p>Hello <b>there</b> &amp; welcome</p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>'
    assert html_to_text(html) == "Hello there & welcome\n\none\n\ntwo"


_GUIDLESS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>Hello &lt;b onclick="x()"&gt;there&lt;/b&gt;</title>
<description>&lt;p onmouseover="steal()"&gt;Why does &lt;i&gt;this&lt;/i&gt; fail?&lt;/p&gt;</description></item>
<item><description>&lt;p style="color:red"&gt;only text &lt;object&gt;here&lt;/object&gt;&lt;/p&gt;</description></item>
</channel></rss>"""


def test_entries_without_guid_or_link_keep_the_ids_the_sanitised_parse_gave_them():
    # Such entries are keyed on their title or text; posts stored before parse_feed skipped the
    # sanitiser were keyed on the sanitised form, and must not come in again under new ids.
    import io

    import feedparser

    from connectors import rss

    headers = {"content-location": "https://example.org/feed/"}
    sanitised = feedparser.parse(io.BytesIO(_GUIDLESS), response_headers=headers)
    raw = feedparser.parse(io.BytesIO(_GUIDLESS), response_headers=headers, sanitize_html=False)
    assert [rss._entry_post_id("s", e) for e in sanitised.entries] != \
        [rss._entry_post_id("s", e) for e in raw.entries]  # the case is real
    parsed = rss.parse_feed(_GUIDLESS, headers)
    assert [e.post.post_id for e in rss._items("s", parsed, base="https://example.org/feed/")] == \
        [rss._entry_post_id("s", e) for e in sanitised.entries]


def test_a_relative_in_reply_to_link_still_threads_the_reply():
    from connectors import rss

    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Comments on: A post</title>
<link>https://blog.example/a-post/</link>
<item><title>By: Sara</title><link>https://blog.example/a-post/#comment-1</link><guid>c1</guid>
<description>How do I join?</description></item>
<item><title>By: Omar</title><link>https://blog.example/a-post/#comment-2</link><guid>c2</guid>
<description>&lt;p&gt;In reply to &lt;a href="/a-post/#comment-1"&gt;Sara&lt;/a&gt;.&lt;/p&gt;&lt;p&gt;Use the form.&lt;/p&gt;</description></item>
</channel></rss>"""
    parsed = rss.parse_feed(feed, {"content-location": "https://blog.example/a-post/feed/"})
    first, reply = (e.post for e in rss._comments("s", parsed, thread_id="t"))
    assert reply.parent_id == first.post_id
    assert reply.body == "Use the form."


@pytest.mark.parametrize("tag, code", [
    ("en-US", "en"), ("de", "de"), ("it_IT", "it"), ("EN", "en"), ("", None), ("x-klingon", None),
    ("eng", None), (None, None),
])
def test_language_tags_reduce_to_iso_639_1(tag, code):
    assert iso639_1(tag) == code


# -- conditional GET and repeated runs ----------------------------------------------------------


def test_requests_name_majlis_and_ask_for_feeds(replay, warehouse):
    replay.add("/feed", (BLOGS / "wp-norm2782.rss").read_bytes())
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    headers = replay.seen[0].headers
    assert headers["User-Agent"] == "majlis/0.1 (+community health)"
    assert headers["Accept"].startswith("application/rss+xml, application/atom+xml")


def test_second_run_gets_304s_and_adds_no_rows(replay, warehouse):
    url = serve_osm_with_comments(replay, etag='"v1"')
    run(connector(url, max_comment_feeds=1), warehouse)
    posts_after_first = count(warehouse, "select count(*) from posts")

    second = run(connector(url, max_comment_feeds=1), warehouse)

    assert [s.headers.get("If-None-Match") for s in replay.seen[-2:]] == ['"v1"', '"v1"']
    assert [s.status for s in replay.seen[-2:]] == [304, 304]
    assert [len(b.posts) for b in second] == [0, 0]  # nothing parsed
    assert count(warehouse, "select count(*) from posts") == posts_after_first
    assert warehouse.query(
        "select status, body, body_zlib from raw_pages order by page_id desc limit 2"
    ) == [{"status": 304, "body": None, "body_zlib": None}] * 2


def test_last_modified_is_sent_back_as_if_modified_since(replay, warehouse):
    stamp = "Tue, 09 May 2017 13:00:50 GMT"
    replay.add("/feed/", (BLOGS / "wp-norm2782.rss").read_bytes(), last_modified=stamp)
    run(connector(replay.url("/feed/"), follow_comments=False), warehouse)
    second = run(connector(replay.url("/feed/"), follow_comments=False), warehouse)

    assert replay.seen[-1].headers.get("If-Modified-Since") == stamp
    assert second[0].raw[0].status == 304
    assert warehouse.cursor("blog") == {"last_modified": stamp}


def test_second_run_without_validators_adds_no_rows(replay, warehouse):
    replay.add("/feed/", (BLOGS / "wp-woit-not-even-wrong.rss").read_bytes())
    first = warehouse.write_batch(next(connector(replay.url("/feed/"), follow_comments=False).fetch({})))
    second = warehouse.write_batch(next(connector(replay.url("/feed/"), follow_comments=False).fetch({})))

    assert (first.posts_new, second.posts_seen, second.posts_new) == (10, 10, 0)
    assert count(warehouse, "select count(*) from posts") == 10


# -- failures -----------------------------------------------------------------------------------


def test_malformed_feed_is_loaded_and_reported_naming_the_feed(replay, warehouse):
    replay.add("/feed", (BLOGS / "techcrunch.rss").read_bytes())  # a newline before <?xml
    (batch,) = run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    assert batch.problems == [
        f"feed blog ({replay.url('/feed')}): not well-formed XML at line 3: XML or text"
        " declaration not at start of entity; 20 entries loaded anyway"
    ]
    assert count(warehouse, "select count(*) from posts") == 20


def test_truncated_feed_loads_the_items_that_arrived(replay, warehouse):
    replay.add_sequence("/feed", [Reply(200, (BLOGS / "wp-norm2782.rss").read_bytes(), fault="truncate")])
    (batch,) = run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    loaded = count(warehouse, "select count(*) from posts")
    assert 0 < loaded < 10
    assert batch.problems[0].startswith(f"feed blog ({replay.url('/feed')}): not well-formed XML")
    assert batch.problems[0].endswith(f"; {loaded} entries loaded anyway")


@pytest.mark.parametrize("status, words", [
    (404, "answered HTTP 404 Not Found: no feed at this address; check `url`"),
    (410, "answered HTTP 410 Gone: the feed was removed"),
    (401, "answered HTTP 401 Unauthorized: the feed needs credentials"),
    (403, "answered HTTP 403 Forbidden: the feed needs credentials or refuses this client"),
])
def test_permanent_http_error_raises_source_error_naming_url_and_fix(replay, warehouse, status, words):
    replay.add("/feed", b"nope", status=status)
    with pytest.raises(SourceError) as raised:
        run(connector(replay.url("/feed")), warehouse)

    assert raised.value.reason.startswith(f"{replay.url('/feed')} {words}")
    assert len(replay.seen) == 1  # not retried


def test_html_page_is_not_a_feed_and_the_error_names_its_feed(replay, warehouse):
    page = b'<html><head><link rel="alternate" type="application/rss+xml" href="/feed/"></head></html>'
    replay.add("/", page, content_type="text/html")
    with pytest.raises(SourceError) as raised:
        run(connector(replay.url("/")), warehouse)

    assert raised.value.reason.startswith(
        f"{replay.url('/')} is not an RSS or Atom feed (HTTP 200, text/html, {len(page)} bytes")
    assert raised.value.reason.endswith(
        f"; the page names its feed at {replay.url('/feed/')}: set `url` to that")


def test_server_error_is_retried_and_every_attempt_is_recorded(replay, warehouse):
    body = (BLOGS / "wp-norm2782.rss").read_bytes()
    replay.add_sequence("/feed", [Reply(500), Reply(502), Reply(200, body)])
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    assert count(warehouse, "select count(*) from posts") == 10
    assert [r["status"] for r in warehouse.query(
        "select status from api_requests order by requested_at")] == [500, 502, 200]


def test_persistent_server_error_raises_after_retries(replay, warehouse):
    replay.add("/feed", b"down", status=503)
    with pytest.raises(SourceError) as raised:
        run(connector(replay.url("/feed")), warehouse)

    assert raised.value.reason.startswith(
        f"{replay.url('/feed')}: server error: HTTP 503 Service Unavailable (4 tries); the site is failing")
    assert len(replay.seen) == 4


def test_timeout_is_retried_then_raises_naming_the_timeout(replay, warehouse):
    replay.add_sequence("/feed", [Reply(200, b"", delay_s=1.0)])  # one write: no broken pipe
    conn = RssConnector(rss_source(replay.url("/feed"), timeout_s=0.2), session=loopback_session()[0],
                        retries=1, backoff_s=0.01)
    with pytest.raises(SourceError) as raised:
        run(conn, warehouse)

    assert raised.value.reason == (
        f"{replay.url('/feed')}: no answer within 0.2 s (2 tries); the site is down or slow;"
        " the next run tries again (raise timeout_s if it is only slow)")


def test_rate_limit_waits_for_retry_after_then_loads(replay, warehouse):
    body = (BLOGS / "wp-norm2782.rss").read_bytes()
    replay.add_sequence("/feed", [Reply(429, headers={"Retry-After": "3600"}), Reply(200, body)])
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)  # the cap: 0.05 s

    assert [s.status for s in replay.seen] == [429, 200]
    assert count(warehouse, "select count(*) from posts") == 10


def test_rate_limit_that_persists_raises_saying_so(replay, warehouse):
    replay.add("/feed", b"slow down", status=429, headers={"Retry-After": "1"})
    with pytest.raises(SourceError) as raised:
        run(connector(replay.url("/feed")), warehouse)

    assert "rate limited: HTTP 429 Too Many Requests (4 tries)" in raised.value.reason
    assert "schedule this source less often" in raised.value.reason


def test_connection_reset_mid_body_is_retried(replay, warehouse):
    body = (BLOGS / "wp-norm2782.rss").read_bytes()
    replay.add_sequence("/feed", [Reply(200, body, fault="reset"), Reply(200, body)])
    run(connector(replay.url("/feed"), follow_comments=False), warehouse)

    assert count(warehouse, "select count(*) from posts") == 10
    assert count(warehouse, "select count(*) from raw_pages") == 1  # only the complete body


def test_permanent_redirect_is_followed_and_reported(replay, warehouse):
    replay.add("/old", status=301, headers={"Location": replay.url("/feed")})
    replay.add("/feed", (BLOGS / "wp-norm2782.rss").read_bytes())
    (batch,) = run(connector(replay.url("/old"), follow_comments=False), warehouse)

    assert len(batch.posts) == 10
    assert batch.problems == [f"feed blog ({replay.url('/old')}) moved permanently to"
                              f" {replay.url('/feed')}; update `url` of this source"]


def test_credentials_in_the_url_never_reach_the_warehouse_or_errors(replay, warehouse):
    replay.add("/feed", (BLOGS / "wp-norm2782.rss").read_bytes())
    secret_url = replay.url("/feed?key=s3cr3t").replace("http://", "http://alice:pw123@")
    run(connector(secret_url, follow_comments=False), warehouse)
    with pytest.raises(SourceError) as raised:
        run(connector(secret_url.replace("/feed", "/missing"), name="other"), warehouse)

    requests_stored = warehouse.query("select request from raw_pages")
    endpoints = warehouse.query("select endpoint from api_requests")
    text = repr(requests_stored) + repr(endpoints) + str(raised.value)
    assert "s3cr3t" not in text and "pw123" not in text and "alice" not in text
    assert requests_stored == [{"request": replay.url("/feed?key=***").replace("http://", "http://***@")}]


# -- comment feeds that fail, runs that stop -----------------------------------------------------


def test_failing_comment_feed_is_a_problem_and_other_rows_stay(replay, warehouse):
    url = serve_osm_with_comments(replay)
    second_path = "/2017/04/11/community-survey-for-the-state-of-the-map-2017-program/feed/"
    replay.add(second_path, b"oops", status=500)
    batches = run(connector(url, max_comment_feeds=2), warehouse)

    assert batches[2].problems == [
        f"comment feed {replay.url(second_path)} (source blog): server error: HTTP 500"
        " Internal Server Error (4 tries); skipped, tried again next run"]
    assert count(warehouse, "select count(*) from posts where kind = 'item'") == 10
    assert count(warehouse, "select count(*) from posts where kind = 'item_comment'") == 10


def test_run_stopped_after_the_main_feed_resumes_comment_feeds_next_run(replay, warehouse):
    url = serve_osm_with_comments(replay, etag='"v1"')
    first_run = connector(url, max_comment_feeds=1).fetch({})
    warehouse.write_batch(next(first_run))
    first_run.close()  # the process died here: the comment feed was never fetched
    assert count(warehouse, "select count(*) from posts where kind = 'item_comment'") == 0

    run(connector(url, max_comment_feeds=1), warehouse)

    assert [(s.path, s.status) for s in replay.seen[1:]] == [("/feed/", 304), (OSM_NEWEST_COMMENTS, 200)]
    assert count(warehouse, "select count(*) from posts where kind = 'item_comment'") == 10


def test_comment_feed_that_is_gone_is_not_asked_again(replay, warehouse):
    url = serve_osm_with_comments(replay)
    replay.add(OSM_NEWEST_COMMENTS, b"", status=404)
    run(connector(url, max_comment_feeds=1), warehouse)
    run(connector(url, max_comment_feeds=1), warehouse)

    assert len(replay.requests_to(OSM_NEWEST_COMMENTS)) == 1


def test_follow_comments_off_requests_only_the_main_feed(replay, warehouse):
    # The recorded links point at blog.openstreetmap.org; none of them may be asked for.
    replay.add("/feed/", (BLOGS / "wp-blog-openstreetmap.rss").read_bytes())
    session, guard = loopback_session()
    conn = RssConnector(rss_source(replay.url("/feed/"), follow_comments=False), session=session)
    batches = run(conn, warehouse)

    assert len(batches) == 1 and len(replay.seen) == 1
    assert guard.refused == []
    assert warehouse.cursor("blog") == {}


def test_invalid_bytes_that_crash_feedparser_are_repaired_and_reported(replay, warehouse):
    # An encoded lone surrogate in a namespace URI makes feedparser's strict parser raise
    # ValueError instead of flagging bozo (found by tests/test_hostile_input.py).
    feed = (b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="\xed\xa0\x80'
            b'http://purl.org/dc/elements/1.1/"><channel><title>t</title><item><guid>urn:1</guid>'
            b'<title>Anyone know a good host?</title><dc:creator>Sam</dc:creator></item></channel></rss>')
    replay.add("/bad-bytes/", feed, content_type="application/rss+xml; charset=utf-8")

    batches = run(connector(replay.url("/bad-bytes/"), follow_comments=False), warehouse)

    assert count(warehouse, "select count(*) from posts where title = 'Anyone know a good host?'") == 1
    assert any(replay.url("/bad-bytes/") in p for b in batches for p in b.problems)
