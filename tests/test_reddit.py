"""The Reddit connector against praw's recorded Reddit answers, over real HTTP on 127.0.0.1.

Recorded pages (tests/fixtures/reddit, from praw's test suite): r/askreddit `new` (100
submissions) and `comments` (100 comments: replies, AutoModerator's moderator-distinguished
notices, a `*_Bot`), r/announcements `about`, and a comment Reddit returns as `[deleted]`.
Pages past a listing's end are Reddit's empty Listing. Where a test needs a state the
recordings lack (a comment removed later), it edits a recorded thing the way Reddit shows
that state, as the real `[deleted]` record does, and says so.
"""
from __future__ import annotations

import json
import logging
import traceback

import pytest

from connectors import SourceError
from connectors.reddit import (
    RedditConnector, member_from_thing, post_from_thing, requests_per_1000_items,
)
from majlis.config import RedditSource
from majlis.demo_reddit import DATA, DEMO_SUBREDDIT
from majlis.replay import Reply
from reddit_replay import (
    COMMENTS, DELETED, NEW, SUBREDDIT, add_end_of_listing, add_reddit_routes,
    listing_of, listing_things, recorded, serve_subreddit,
)

CLIENT_ID = "cid-SENTINEL-7f3a"
CLIENT_SECRET = "secret-SENTINEL-91bc"
ACCESS_TOKEN = "token-SENTINEL-55de"
NEW_PATH = f"/r/{SUBREDDIT}/new/"
COMMENTS_PATH = f"/r/{SUBREDDIT}/comments/"
FAST = (0.01, 0.01, 0.01)  # retry delays for tests: four attempts, no real waiting


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("REDDIT_USER_AGENT", "majlis-tests/0.1 by majlis")


@pytest.fixture
def subreddit(replay):
    serve_subreddit(replay, access_token=ACCESS_TOKEN)
    return replay


def source_for(server, **overrides) -> RedditSource:
    settings = {"kind": "reddit", "name": "r-askreddit", "subreddit": SUBREDDIT,
                "base_url": server.base_url, "timeout_s": 10.0, **overrides}
    return RedditSource(**settings)


class Waits(list):
    """Stands in for time.sleep: the connector's retry waits, recorded instead of slept."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def run(source, warehouse, *, waits=None, delays=FAST):
    """Fetch and store as the flow does: batch by batch, stopping at the first SourceError."""
    connector = RedditConnector(source, retry_delays_s=delays, sleep=waits if waits is not None else Waits())
    batches, error = [], None
    try:
        for batch in connector.fetch(warehouse.cursor(source.name)):
            warehouse.write_batch(batch)
            batches.append(batch)
    except SourceError as err:
        error = err
    return batches, error


def override_first_page(server, path, replies, end_after):
    """Serve `replies` in turn for a listing's first page; later pages still end it."""
    server.add_sequence(path, replies)
    add_end_of_listing(server, path, end_after)


def count(warehouse, sql, params=None):
    return warehouse.query(sql, params)[0]["n"]


# -- loading -----------------------------------------------------------------------------------

def test_first_run_loads_submissions_comments_members_and_snapshot(subreddit, warehouse):
    batches, error = run(source_for(subreddit), warehouse)

    assert error is None
    kinds = warehouse.query("select kind, count(*) as n from posts group by kind order by kind")
    assert kinds == [{"kind": "comment", "n": 100}, {"kind": "submission", "n": 100}]
    authors = {t["author"].lower() for t in listing_things(NEW, "/new") + listing_things(COMMENTS, "/comments")}
    assert count(warehouse, "select count(*) as n from members") == len(authors)
    snapshot = warehouse.query("select members_count, active_members from community_snapshots")
    assert snapshot == [{"members_count": 47456009, "active_members": 727}]


def test_submission_maps_title_body_score_and_reply_count(subreddit, warehouse):
    run(source_for(subreddit), warehouse)

    post = warehouse.query("select * from posts where post_id = 'reddit:t3_48fbm9'")[0]
    assert post["kind"] == "submission" and post["thread_id"] == "reddit:t3_48fbm9"
    assert post["title"].startswith("[Serious] Parents of Reddit")
    assert post["author_id"] == "reddit:redheadqc"
    assert post["url"] == ("https://www.reddit.com/r/AskReddit/comments/48fbm9/"
                           "serious_parents_of_reddit_whats_the_biggest_lie/")
    assert (post["score"], post["reply_count"], post["state"]) == (1, 1, "live")
    assert post["created_at"].isoformat() == "2016-03-01T08:37:38"


def test_comment_threads_to_its_submission_and_reply_to_its_parent(subreddit, warehouse):
    run(source_for(subreddit), warehouse)

    top_level = warehouse.query("select * from posts where post_id = 'reddit:t1_d4y8bdp'")[0]
    assert top_level["thread_id"] == "reddit:t3_4r4inc" and top_level["parent_id"] == "reddit:t3_4r4inc"
    assert top_level["url"] == "https://www.reddit.com/comments/4r4inc/_/d4y8bdp/"
    reply = warehouse.query("select * from posts where post_id = 'reddit:t1_d4y8ae8'")[0]
    assert reply["thread_id"] == "reddit:t3_4r1tos" and reply["parent_id"] == "reddit:t1_d4xx75d"
    replies = sum(t["parent_id"].startswith("t1_") for t in listing_things(COMMENTS, "/comments"))
    assert count(warehouse, "select count(*) as n from posts where parent_id like 'reddit:t1_%'") == replies


def test_moderator_distinguished_author_is_manager_and_bots_are_bots(subreddit, warehouse):
    run(source_for(subreddit), warehouse)

    members = {m["member_id"]: m for m in warehouse.query("select * from members")}
    automoderator = members["reddit:automoderator"]  # posts its notices distinguished as moderator
    assert (automoderator["handle"], automoderator["is_manager"], automoderator["is_bot"]) == \
        ("AutoModerator", False, True)
    assert (members["reddit:drm_removal_bot"]["is_manager"], members["reddit:drm_removal_bot"]["is_bot"]) == \
        (False, True)
    assert (members["reddit:preppypuppy"]["is_manager"], members["reddit:preppypuppy"]["is_bot"]) == \
        (False, False)


def test_deleted_comment_as_reddit_returns_it_is_marked_deleted_without_author():
    thing = recorded(DELETED, "/api/info").json()["data"]["children"][0]["data"]

    post = post_from_thing(thing, "r-test")

    assert (post.post_id, post.state, post.author_id, post.body) == ("reddit:t1_d7ltvl0", "deleted", None, None)
    assert post.thread_id == "reddit:t3_52o2fl"
    assert member_from_thing(thing) is None


def test_second_run_adds_no_rows_and_asks_only_the_first_page(subreddit, warehouse):
    source = source_for(subreddit)
    run(source, warehouse)
    posts_before = warehouse.query("select * from posts order by post_id")
    members_before = count(warehouse, "select count(*) as n from members")
    subreddit.seen.clear()

    batches, error = run(source, warehouse)

    assert error is None
    assert sum(len(b.posts) for b in batches) == 0
    assert [(s.method, s.path, s.query.get("after")) for s in subreddit.seen] == [
        ("POST", "/api/v1/access_token", None), ("GET", NEW_PATH, None),
        ("GET", COMMENTS_PATH, None), ("GET", f"/r/{SUBREDDIT}/about/", None)]
    assert warehouse.query("select * from posts order by post_id") == posts_before
    assert count(warehouse, "select count(*) as n from members") == members_before


def test_next_run_takes_only_items_newer_than_the_cursor(subreddit, warehouse):
    source = source_for(subreddit)
    run(source, warehouse)
    old = listing_things(NEW, "/new")
    arrived = [dict(old[0], name=f"t3_new{i}", id=f"new{i}", created_utc=old[0]["created_utc"] + 60 - i)
               for i in range(2)]  # two submissions posted since, on top of the recorded page
    subreddit.add(NEW_PATH, listing_of(arrived + old[:98], after=old[97]["name"]))

    batches, error = run(source, warehouse)

    assert error is None
    assert [p.post_id for b in batches for p in b.posts] == ["reddit:t3_new0", "reddit:t3_new1"]
    assert batches[-1].cursor["new"] == {"fullname": "t3_new0", "created_utc": old[0]["created_utc"] + 60}


# -- refresh -----------------------------------------------------------------------------------

def test_refresh_marks_deleted_and_removed_keeping_the_last_text(subreddit, warehouse):
    source = source_for(subreddit, refresh_days=36500)  # the recordings are from 2016
    first, _ = run(source, warehouse)
    assert not any(r.endpoint == "/api/info/" for b in first for r in b.requests)  # just fetched
    submission = listing_things(NEW, "/new")[0]
    comments = listing_things(COMMENTS, "/comments")
    # As Reddit shows them later: the real [deleted] record (TestComment.test_refresh__deleted_
    # comment) has author and body "[deleted]"; a moderator's removal shows body "[removed]".
    deleted = dict(comments[0], author="[deleted]", body="[deleted]")
    removed = dict(comments[1], author="[deleted]", body="[removed]")
    rescored = dict(submission, score=57, num_comments=12)
    subreddit.add("/api/info/", listing_of([rescored, deleted, removed]))

    batches, error = run(source, warehouse)

    assert error is None
    info = [s for s in subreddit.seen if s.path == "/api/info/"]
    assert [len(s.query["id"].split(",")) for s in info] == [100, 100]  # submissions first
    assert info[0].query["id"].startswith("t3_")
    rows = {r["post_id"]: r for r in warehouse.query("select * from posts")}
    assert (rows["reddit:" + deleted["name"]]["state"], rows["reddit:" + deleted["name"]]["body"]) == \
        ("deleted", comments[0]["body"])
    assert (rows["reddit:" + removed["name"]]["state"], rows["reddit:" + removed["name"]]["body"]) == \
        ("removed", comments[1]["body"])
    assert (rows["reddit:" + submission["name"]]["score"], rows["reddit:" + submission["name"]]["reply_count"]) == (57, 12)


def test_posts_older_than_the_refresh_window_are_not_refreshed(subreddit, warehouse):
    source = source_for(subreddit, refresh_days=3)
    run(source, warehouse)

    batches, _ = run(source, warehouse)

    assert batches[-1].cursor["recent"] == []
    assert not subreddit.requests_to("/api/info/")


# -- data gaps ---------------------------------------------------------------------------------

def test_data_gap_is_recorded_when_the_listing_ends_before_the_cursor(subreddit, warehouse):
    source = source_for(subreddit)
    oldest_on_page = listing_things(NEW, "/new")[-1]
    cursor = {"new": {"fullname": "t3_47zzzz", "created_utc": 1456700000.0}}  # beyond the ~1000
    connector = RedditConnector(source, retry_delays_s=FAST, sleep=Waits())

    batches = list(connector.fetch(cursor))

    problems = [p for b in batches for p in b.problems]
    assert len(problems) == 1 and "data gap in r/askreddit new" in problems[0]
    assert batches[-1].cursor["gaps"] == [{
        "listing": "new", "from": "2016-02-28T22:53:20+00:00",
        "to": "2016-03-01T07:44:02+00:00", "detected_at": batches[-1].cursor["gaps"][0]["detected_at"]}]
    assert oldest_on_page["created_utc"] == 1456818242.0  # the "to" above
    assert sum(len(b.posts) for b in batches) == 200  # everything reachable is still loaded


def test_no_data_gap_when_the_cursor_is_reached(subreddit, warehouse):
    source = source_for(subreddit)
    run(source, warehouse)

    batches, _ = run(source, warehouse)

    assert not [p for b in batches for p in b.problems]
    assert "gaps" not in batches[-1].cursor


# -- requests and raw pages --------------------------------------------------------------------

def test_every_request_is_recorded_with_status_items_and_rate_limit(subreddit, warehouse):
    page = recorded(NEW, "/new")
    limits = {"x-ratelimit-remaining": "598.0", "x-ratelimit-used": "2", "x-ratelimit-reset": "0"}
    subreddit.add(NEW_PATH, page.body, content_type="application/json", headers=limits)
    add_end_of_listing(subreddit, NEW_PATH, page.json()["data"]["after"])

    run(source_for(subreddit), warehouse)

    rows = warehouse.query("select method, endpoint, status, items, ratelimit_remaining, ratelimit_reset_s,"
                           " elapsed_ms >= 0 as timed from api_requests order by requested_at")
    assert [(r["method"], r["endpoint"], r["status"], r["items"]) for r in rows] == [
        ("POST", "/api/v1/access_token", 200, 0), ("GET", NEW_PATH, 200, 100), ("GET", NEW_PATH, 200, 0),
        ("GET", COMMENTS_PATH, 200, 100), ("GET", COMMENTS_PATH, 200, 0),
        ("GET", f"/r/{SUBREDDIT}/about/", 200, 1)]
    assert (rows[1]["ratelimit_remaining"], rows[1]["ratelimit_reset_s"]) == (598.0, 0.0)
    assert all(r["timed"] for r in rows)


def test_raw_pages_keep_each_api_body_verbatim_and_no_token_answer(subreddit, warehouse):
    run(source_for(subreddit), warehouse)

    pages = warehouse.query("select page_id, request, status from raw_pages order by page_id")
    assert [p["request"] for p in pages] == [
        f"{NEW_PATH}?limit=100&raw_json=1", f"{NEW_PATH}?limit=100&after=t3_48f6io&raw_json=1",
        f"{COMMENTS_PATH}?limit=100&raw_json=1", f"{COMMENTS_PATH}?limit=100&after=t1_d4y8a9e&raw_json=1",
        f"/r/{SUBREDDIT}/about/?raw_json=1"]
    assert warehouse.raw_body(pages[0]["page_id"]) == recorded(NEW, "/new").body


def test_requests_per_1000_items_counts_listing_items_as_new(subreddit, warehouse):
    source = source_for(subreddit)
    first, _ = run(source, warehouse)
    second, _ = run(source, warehouse)

    cost = requests_per_1000_items(first)
    assert (cost.requests, cost.new_items, cost.per_1000_items) == (6, 200, 30.0), \
        [(r.method, r.endpoint, r.status, r.elapsed_ms) for b in first for r in b.requests]

    again = requests_per_1000_items(second)
    assert (again.requests, again.new_items, again.per_1000_items) == (4, 0, None), \
        [(r.method, r.endpoint, r.status, r.elapsed_ms) for b in second for r in b.requests]


# -- faults ------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, expected_wait", [({"Retry-After": "3"}, 3.0), ({}, FAST[0])],
                         ids=["with-retry-after", "without-retry-after"])
def test_429_is_retried_after_the_wait_reddit_asks_for(subreddit, warehouse, headers, expected_wait):
    page = recorded(NEW, "/new")
    override_first_page(subreddit, NEW_PATH, [Reply(429, b'{"message": "Too Many Requests", "error": 429}',
                                                    headers=headers), Reply(200, page.body)],
                        page.json()["data"]["after"])
    waits = Waits()

    batches, error = run(source_for(subreddit), warehouse, waits=waits)

    assert error is None
    assert waits == [expected_wait]
    assert count(warehouse, "select count(*) as n from posts where kind = 'submission'") == 100
    assert [r["status"] for r in warehouse.query(
        "select status from api_requests where endpoint = $e order by requested_at", {"e": NEW_PATH})][:2] == [429, 200]


def test_retry_after_longer_than_the_cap_fails_the_source_without_waiting(subreddit, warehouse):
    override_first_page(subreddit, NEW_PATH, [Reply(429, b"{}", headers={"Retry-After": "3600"})], "t3_48f6io")
    waits = Waits()

    _, error = run(source_for(subreddit), warehouse, waits=waits)

    assert waits == []
    assert "Reddit asked to wait 3600 s" in error.reason


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_that_persist_fail_the_source_and_keep_stored_rows(subreddit, warehouse, status):
    override_first_page(subreddit, COMMENTS_PATH, [Reply(status, b"<html>upstream trouble</html>")], "t1_d4y8a9e")

    batches, error = run(source_for(subreddit), warehouse)

    assert error is not None and error.source == "r-askreddit"
    assert f"server error: HTTP {status} (4 tries)" in error.reason and COMMENTS_PATH in error.reason
    assert count(warehouse, "select count(*) as n from posts where kind = 'submission'") == 100
    assert count(warehouse, "select count(*) as n from api_requests where status = $s", {"s": status}) == 4
    assert warehouse.cursor("r-askreddit")["new"]["fullname"] == "t3_48fbm9"
    assert "comments" not in warehouse.cursor("r-askreddit")


def test_server_error_then_success_loses_nothing(subreddit, warehouse):
    page = recorded(COMMENTS, "/comments")
    override_first_page(subreddit, COMMENTS_PATH, [Reply(503), Reply(502), Reply(200, page.body)], "t1_d4y8a9e")

    _, error = run(source_for(subreddit), warehouse)

    assert error is None
    assert count(warehouse, "select count(*) as n from posts where kind = 'comment'") == 100


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_broken_answer_is_retried(subreddit, warehouse, fault):
    page = recorded(NEW, "/new")
    override_first_page(subreddit, NEW_PATH, [Reply(200, page.body, fault=fault), Reply(200, page.body)],
                        page.json()["data"]["after"])

    _, error = run(source_for(subreddit), warehouse)

    assert error is None
    assert count(warehouse, "select count(*) as n from posts where kind = 'submission'") == 100
    assert count(warehouse, "select count(*) as n from raw_pages where request like '/r/askreddit/new/?limit=100&raw%'") == 1


def test_truncated_json_every_time_fails_with_a_clear_message(subreddit, warehouse):
    page = recorded(NEW, "/new")
    override_first_page(subreddit, NEW_PATH, [Reply(200, page.body, fault="truncate")], "t3_48f6io")

    _, error = run(source_for(subreddit), warehouse)

    assert "the JSON body was cut short (4 tries)" in error.reason


def test_timeout_is_retried(subreddit, warehouse):
    page = recorded(NEW, "/new")
    override_first_page(subreddit, NEW_PATH, [Reply(200, page.body, delay_s=2.0), Reply(200, page.body)],
                        page.json()["data"]["after"])

    _, error = run(source_for(subreddit, timeout_s=0.5), warehouse)

    assert error is None
    statuses = [r["status"] for r in warehouse.query(
        "select status from api_requests where endpoint = $e and items > 0 or status is null"
        " order by requested_at", {"e": NEW_PATH})]
    assert statuses[0] is None and statuses[-1] == 200
    assert count(warehouse, "select count(*) as n from posts where kind = 'submission'") == 100


@pytest.mark.parametrize("status, body", [
    (401, b'{"message": "Unauthorized", "error": 401}'),
    (200, b'{"error": "invalid_grant"}'),  # Reddit's other way of saying no
], ids=["http-401", "oauth-error"])
def test_rejected_credentials_say_which_variables_to_check(replay, warehouse, status, body):
    replay.add("/api/v1/access_token", body, method="POST", status=status, headers={"Connection": "close"})

    _, error = run(source_for(replay), warehouse)

    assert error.reason.startswith("Reddit rejected the credentials for source r-askreddit")
    assert error.reason.endswith("check REDDIT_CLIENT_ID and REDDIT_CLIENT_SECRET")
    assert len(replay.requests_to("/api/v1/access_token")) == 1  # no retry can fix credentials


def test_token_refused_by_the_api_is_a_credentials_error(subreddit, warehouse):
    subreddit.add(NEW_PATH, b'{"message": "Unauthorized", "error": 401}', status=401)

    _, error = run(source_for(subreddit), warehouse)

    assert "Reddit rejected the credentials for source r-askreddit" in error.reason


def test_forbidden_subreddit_says_it_may_be_private(subreddit, warehouse):
    subreddit.add(NEW_PATH, b'{"reason": "private", "message": "Forbidden", "error": 403}', status=403)

    _, error = run(source_for(subreddit), warehouse)

    assert "Reddit refused access to r/askreddit" in error.reason and "private" in error.reason


def test_missing_credentials_name_the_environment_variables(replay, warehouse, monkeypatch):
    monkeypatch.delenv("REDDIT_CLIENT_SECRET")
    monkeypatch.delenv("REDDIT_USER_AGENT")

    _, error = run(source_for(replay), warehouse)

    assert "REDDIT_CLIENT_SECRET, REDDIT_USER_AGENT" in error.reason
    assert replay.seen == []


def test_credentials_never_reach_the_warehouse_messages_or_logs(subreddit, warehouse, caplog):
    caplog.set_level(logging.DEBUG)
    source = source_for(subreddit)
    run(source, warehouse)
    subreddit.add(COMMENTS_PATH, b"{}", status=401)
    _, error = run(source, warehouse)
    warehouse.con.execute("checkpoint")

    secrets = (CLIENT_ID, CLIENT_SECRET, ACCESS_TOKEN)
    texts = [str(error), repr(error), "".join(traceback.format_exception(error)), caplog.text]
    for sql in ("select * from raw_pages", "select * from api_requests", "select * from posts",
                "select * from members", "select * from source_cursors", "select * from community_snapshots"):
        texts.append(json.dumps(warehouse.query(sql), default=repr))
    stored = warehouse.path.read_bytes()
    for secret in secrets:
        assert not any(secret in text for text in texts), secret
        assert secret.encode() not in stored, secret
    assert subreddit.requests_to("/api/v1/access_token")[0].headers["Authorization"].startswith("Basic ")


# -- demo data ---------------------------------------------------------------------------------

def test_demo_pages_serve_a_full_run(replay, warehouse):
    add_reddit_routes(replay, DATA)
    source = RedditSource(kind="reddit", name="demo-reddit", subreddit=DEMO_SUBREDDIT, base_url=replay.base_url)

    batches, error = run(source, warehouse)

    assert error is None
    assert count(warehouse, "select count(*) as n from posts") == 200
    assert count(warehouse, "select count(*) as n from community_snapshots") == 1
    assert not [s for s in replay.seen if s.status != 200]
