"""Hostile and odd input through every normaliser, into a real DuckDB warehouse: no crash, no silent drop.

Property tests (hypothesis, modest example counts) feed the pure mapping functions of each
connector, language/question annotation and dispatch's neutraliser with arbitrary Unicode, lone
surrogates (what JSON's "\\ud83d" escapes of a post cut mid-emoji decode to), NULs, bidi
overrides, emoji, missing and extra fields, and timestamps from year 1 to far past 9999. RSS
goes through the whole connector over 127.0.0.1, invalid UTF-8 and broken XML included.
What cannot be loaded must be reported with where it came from; everything else must land.
feedparser's own ill-formed and encoding corpus runs in tests/test_feed_corpus.py.
"""
from __future__ import annotations

import io
import os
import re
from datetime import datetime, timezone
from email.utils import format_datetime
from xml.sax.saxutils import escape

import feedparser
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import Batch, SourceError
from connectors.reddit import member_from_thing, post_from_thing, snapshot_from_about, things_in
from connectors.x import map_page, normalise_lang
from crash_worker import make_connector, make_source
from dispatch.sanitise import excerpt, neutralise, subject_line
from majlis.replay import ReplayServer
from majlis.text import annotate
from warehouse import Warehouse

pytestmark = pytest.mark.filterwarnings("ignore:To avoid breaking existing software:DeprecationWarning")
# MAJLIS_HYPOTHESIS_SCALE=50 runs fifty times the examples, for a deep search before a release.
SCALE = int(os.environ.get("MAJLIS_HYPOTHESIS_SCALE", "1"))
EXAMPLES = settings(max_examples=60 * SCALE, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Examples that write to DuckDB cost ~0.1 s each (a transaction, lingua on the text).
WRITES = settings(EXAMPLES, max_examples=30 * SCALE)
MEGABYTE = 1024 * 1024
HOSTILE = ["\x00", "\u202e", "\u2066", "\u2069", "\ud83d", "\udcff", "\U0001F600", "\r\n", "\u2028",
           "<!channel>", "@everyone", "<script>", "]]>", "&amp;", "\ufeff", "\u200b", "سؤال؟", "\x1b[31m"]
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066\u2067]")
ACTIVE = re.compile(r"<!\w|<@|<#|(?<![\w\u200b])@(everyone|here|channel)\b|<\s*/?\s*script\b|javascript:", re.I)

hostile_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20)), max_size=12).map("".join),
)
maybe_text = st.none() | hostile_text
timestamps = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2 ** 62), max_value=2 ** 62),
    st.sampled_from([0, -62135596800, 253402300799, 253402300800, 1e20, -1e20]),
)
extra_fields = st.dictionaries(st.text(min_size=1, max_size=10), st.none() | st.integers() | hostile_text,
                               max_size=3)


@pytest.fixture(scope="module")
def wh():
    warehouse = Warehouse.in_memory()
    yield warehouse
    warehouse.close()


def stored_ids(wh: Warehouse, ids: list[str]) -> set[str]:
    rows = wh.query("select post_id from posts where post_id in (select unnest($ids))", {"ids": ids})
    return {r["post_id"] for r in rows}


# -- Reddit ----------------------------------------------------------------------------------------

@st.composite
def reddit_things(draw):
    kind = draw(st.sampled_from(["t1", "t3"]))
    thing = draw(extra_fields)  # fields Reddit may add some day
    thing["name"] = f"{kind}_{draw(st.from_regex(r'[a-z0-9]{1,8}', fullmatch=True))}"
    thing["id"] = thing["name"][3:]
    optional = {
        "title": maybe_text, "selftext": maybe_text, "body": maybe_text, "author": maybe_text,
        "created_utc": timestamps, "score": st.none() | st.integers(-(2 ** 40), 2 ** 40),
        "num_comments": st.none() | st.integers(0, 2 ** 40), "permalink": maybe_text,
        "link_id": st.none() | st.just("t3_abc"), "parent_id": st.none() | st.just("t3_abc"),
        "distinguished": st.none() | st.sampled_from(["moderator", "admin"]),
        "edited": st.booleans() | timestamps, "removed_by_category": st.none() | st.text(max_size=10),
    }
    for key, strategy in optional.items():
        if draw(st.booleans()):
            thing[key] = draw(strategy)
    return thing


@WRITES
@given(things=st.lists(reddit_things(), min_size=1, max_size=5, unique_by=lambda t: t["name"]))
def test_reddit_things_map_and_load_whatever_they_hold(wh, things):
    listing = {"kind": "Listing", "data": {"children": [{"kind": t["name"][:2], "data": t} for t in things]}}
    typed = things_in(listing)
    posts = [post_from_thing(t, "r-hostile") for t in typed]
    members = [m for m in (member_from_thing(t) for t in typed) if m is not None]

    wh.write_batch(Batch("r-hostile", posts=posts, members=members))

    ids = [f"reddit:{t['name']}" for t in things]
    assert [p.post_id for p in posts] == ids
    assert stored_ids(wh, ids) == set(ids)


@EXAMPLES
@given(about=st.dictionaries(st.text(max_size=12), st.none() | st.integers(-(2 ** 40), 2 ** 40) | hostile_text,
                             max_size=4), listing=st.none() | st.integers() | hostile_text | extra_fields)
def test_reddit_about_and_listing_of_any_shape_do_not_crash(about, listing):
    snapshot = snapshot_from_about({"data": about}, "r-hostile", datetime.now(timezone.utc))
    assert snapshot.source == "r-hostile"
    assert things_in(listing) == []


# -- X ---------------------------------------------------------------------------------------------

def x_time(when: datetime) -> str:
    return f"{when.year:04d}-{when:%m-%dT%H:%M:%S}.000Z"


@st.composite
def x_payloads(draw):
    n = draw(st.integers(1, 5))
    users = [{"id": str(1000 + i), "username": draw(maybe_text), "name": draw(maybe_text), **draw(extra_fields)}
             for i in range(draw(st.integers(0, 3)))]
    tweets = []
    for i in range(n):
        tweet = {"id": str(10 ** 15 + i), **draw(extra_fields)}
        optional = {
            "text": hostile_text, "created_at": st.datetimes().map(x_time), "lang": maybe_text,
            "author_id": st.sampled_from([u["id"] for u in users] or ["42"]),
            "conversation_id": st.just(str(10 ** 15)),
            "referenced_tweets": st.just([{"type": "replied_to", "id": str(10 ** 15)}]),
            "in_reply_to_user_id": st.just("1000"),
            "public_metrics": st.fixed_dictionaries({"like_count": st.integers(0, 2 ** 40)}),
            "edit_history_tweet_ids": st.just([str(10 ** 15 + i)]), "withheld": st.just({"copyright": True}),
        }
        for key, strategy in optional.items():
            if draw(st.booleans()):
                tweet[key] = draw(strategy)
        tweets.append(tweet)
    errors = draw(st.lists(st.fixed_dictionaries({"resource_id": maybe_text, "title": maybe_text,
                                                  "detail": maybe_text}), max_size=2))
    return {"data": tweets, "includes": {"users": users}, "errors": errors, **draw(extra_fields)}


@WRITES
@given(payload=x_payloads())
def test_x_pages_map_and_load_whatever_they_hold(wh, payload):
    posts, members, problems = map_page("x-hostile", payload)

    wh.write_batch(Batch("x-hostile", posts=posts, members=members))

    ids = [f"x:{t['id']}" for t in payload["data"] if isinstance(t.get("id"), str) and t["id"]]
    assert stored_ids(wh, ids) == set(ids)
    if len(ids) < len(payload["data"]) or payload.get("errors"):
        assert problems  # posts without an id, and posts X could not give, are reported


def test_x_post_without_id_is_reported_not_fatal():
    posts, _, problems = map_page("x-hostile", {"data": [{"text": "no id"}, {"id": "7", "text": "ok"}]})
    assert [p.post_id for p in posts] == ["x:7"] and problems


def test_x_post_with_unreadable_time_loads_without_it():
    posts, _, _ = map_page("x-hostile", {"data": [{"id": "7", "created_at": "yesterday"}]})
    assert posts[0].created_at is None


def test_x_language_that_is_not_a_string_is_unknown():
    assert normalise_lang(5) is None


# -- RSS, the whole connector over a socket --------------------------------------------------------

rss_dates = st.one_of(
    st.datetimes(timezones=st.just(timezone.utc)).map(format_datetime),
    hostile_text,
)


@st.composite
def feeds(draw):
    """An RSS document built from hostile strings; some entries are raw, unescaped bytes."""
    items = []
    for i in range(draw(st.integers(0, 6))):
        title, body, author, date = (draw(hostile_text), draw(hostile_text), draw(hostile_text), draw(rss_dates))
        raw = draw(st.booleans())  # unescaped: markup, NULs and lone surrogates go in as they are
        text = (lambda s: s) if raw else escape
        items.append(f"<item><guid>urn:item:{i}</guid><title>{text(title)}</title>"
                     f"<description>{text(body)}</description><dc:creator>{text(author)}</dc:creator>"
                     f"<pubDate>{text(date)}</pubDate></item>")
    xml = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
           f"<channel><title>hostile</title>{''.join(items)}</channel></rss>")
    body = xml.encode("utf-8", "surrogatepass")  # a lone surrogate becomes invalid UTF-8 bytes
    if draw(st.booleans()):  # invalid UTF-8 somewhere after the declaration
        at = draw(st.integers(60, max(60, len(body))))
        body = body[:at] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80\x80"])) + body[at:]
    return body


@pytest.fixture(scope="module")
def feed_server():
    with ReplayServer() as server:
        yield server


def skipped_in(problems: list[str]) -> int:
    for problem in problems:
        found = re.search(r": (\d+) of \d+ entries have no guid", problem)
        if found:
            return int(found.group(1))
    return 0


@WRITES
@given(body=feeds())
def test_any_feed_loads_every_entry_feedparser_sees_or_says_why(feed_server, wh, body):
    path = f"/feed/{len(feed_server.routes)}"
    content_type = "application/rss+xml; charset=utf-8"
    feed_server.add(path, body, content_type=content_type)
    source = make_source({"kind": "rss", "name": "hostile-feed", "url": feed_server.url(path),
                          "follow_comments": False, "timeout_s": 5})
    try:
        (batch,) = list(make_connector(source).fetch({}))
    except SourceError as err:  # not a feed at all: said, naming the source and the URL
        assert err.source == "hostile-feed" and feed_server.url(path) in err.reason
        return
    wh.write_batch(batch)

    headers = {"content-type": content_type, "content-location": feed_server.url(path)}
    try:
        seen = feedparser.parse(io.BytesIO(body), response_headers=headers)
    except ValueError:  # feedparser's strict parser crashes on some invalid bytes; so we repair them
        repaired = body.decode("utf-8", "replace").encode("utf-8")
        seen = feedparser.parse(io.BytesIO(repaired), response_headers=headers)
        seen["bozo"] = 1
    guids = {e.get("id") for e in seen.entries}
    assert len(batch.posts) + skipped_in(batch.problems) == len(guids)
    assert stored_ids(wh, [p.post_id for p in batch.posts]) == {p.post_id for p in batch.posts}
    if seen.get("bozo") and type(seen.get("bozo_exception")).__name__ != "NonXMLContentType":
        assert any(feed_server.url(path) in p for p in batch.problems)  # damage is named, with where


# -- one-megabyte bodies ---------------------------------------------------------------------------

MEGA_TEXT = ("كلمة word \u202e\x00 \U0001F600 " * (MEGABYTE // 20))[:MEGABYTE]


def test_megabyte_reddit_post_loads_whole(wh):
    thing = {"name": "t3_mega", "title": "big", "selftext": MEGA_TEXT, "created_utc": 1.6e9, "author": "big"}
    wh.write_batch(Batch("r-hostile", posts=[post_from_thing(thing, "r-hostile")]))
    (row,) = wh.query("select length(body) as n from posts where post_id = 'reddit:t3_mega'")
    assert row["n"] == len(MEGA_TEXT)


def test_megabyte_x_post_loads_whole(wh):
    posts, members, _ = map_page("x-hostile", {"data": [{"id": "99", "text": MEGA_TEXT}]})
    wh.write_batch(Batch("x-hostile", posts=posts, members=members))
    (row,) = wh.query("select length(body) as n from posts where post_id = 'x:99'")
    assert row["n"] == len(MEGA_TEXT)


def test_megabyte_feed_item_loads(feed_server, wh):
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>big</title>'
            f"<item><guid>urn:big</guid><description>{escape(MEGA_TEXT.replace(chr(0), ''))}</description></item>"
            "</channel></rss>").encode()
    feed_server.add("/big", body, content_type="application/rss+xml")
    source = make_source({"kind": "rss", "name": "big-feed", "url": feed_server.url("/big"),
                          "follow_comments": False, "timeout_s": 10})
    (batch,) = list(make_connector(source).fetch({}))
    wh.write_batch(batch)
    (row,) = wh.query("select length(body) as n from posts where source = 'big-feed'")
    assert row["n"] > MEGABYTE // 2


def test_megabyte_text_annotates_and_neutralises():
    langs, questions = annotate([None], [MEGA_TEXT], [None])
    assert len(langs) == len(questions) == 1
    assert len(excerpt(MEGA_TEXT)) < 2000 and "\x00" not in neutralise(MEGA_TEXT)


# -- annotation and dispatch ---------------------------------------------------------------------

@EXAMPLES
@given(posts=st.lists(st.tuples(maybe_text, maybe_text, st.none() | st.text(max_size=8)), max_size=8))
def test_annotate_answers_for_every_post(posts):
    titles, bodies, langs = (list(column) for column in zip(*posts)) if posts else ([], [], [])
    titles = [None if t is None else t.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
              for t in titles]  # what the warehouse hands it: valid Unicode
    bodies = [None if b is None else b.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
              for b in bodies]

    found, questions = annotate(titles, bodies, langs)

    assert len(found) == len(questions) == len(posts)
    for given_lang, lang in zip(langs, found):
        if given_lang is None:  # detected: an ISO 639-1 code or nothing
            assert lang is None or re.fullmatch(r"[a-z]{2}", lang)


@EXAMPLES
@given(text=st.one_of(hostile_text, st.binary(max_size=300)))
def test_neutralised_text_is_valid_and_inert(text):
    for shown in (neutralise(text), excerpt(text), subject_line(text)):
        shown.encode("utf-8")  # valid Unicode: no lone surrogates left
        assert "\x00" not in shown and not BIDI_CONTROLS.search(shown)
        # The same bar as tests/test_dispatch.py's ACTIVE patterns: what a chat renderer acts on.
        assert not ACTIVE.search(shown), shown
    assert "\n" not in subject_line(text) and "\r" not in subject_line(text)
