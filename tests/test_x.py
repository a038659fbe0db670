"""The X connector against recorded X API v2 pages, over real HTTP on 127.0.0.1.

tweepy talks to the replay server through the connector's host rewrite; every page body is a
recorded response (see tests/x_replay.py for the two small things built around them).
"""
from __future__ import annotations

import json
import logging
from importlib import resources
import time
import tomllib
import warnings
from datetime import datetime, timezone

import pytest

from connectors import SourceError
from connectors.x import XConnector, normalise_lang
from majlis.config import parse_config
from majlis.demo_x import DEMO_QUERY, add_x_routes, demo_source_toml
from majlis.replay import Reply
from warehouse import Warehouse
from x_replay import (
    ACCOUNT, ACCOUNT_ID, FAST, SEARCH, SEARCH_PAGE_1, SEARCH_PAGE_2, TIMELINE_PAGE,
    account_user, connector, load, ok, page, page_bytes, rate_headers, serve_account,
    serve_search_chain, serve_single_page, x_source,
)

TOKEN = "bearer-SENTINEL-3c9e1"


@pytest.fixture(autouse=True)
def bearer_token(monkeypatch):
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)


def _this_month() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m")


def _ids(rows) -> set[str]:
    return {r["post_id"] for r in rows}


def _posts(warehouse) -> dict[str, dict]:
    return {r["post_id"]: r for r in warehouse.query("select * from posts")}


# -- a search chain ------------------------------------------------------------------------------


def test_two_page_search_chain_loads_every_post_read(replay, warehouse):
    first, second = serve_search_chain(replay)
    conn = connector(replay)
    load(conn, warehouse)
    stored = _posts(warehouse)
    for recorded in first["data"] + second["data"]:
        assert f"x:{recorded['id']}" in stored
    assert conn.run_stats.posts_read == len(first["data"]) + len(second["data"]) == 200
    assert conn.run_stats.est_cost_usd == pytest.approx(200 * 0.005)
    assert warehouse.query("select count(*) n from raw_pages")[0]["n"] == 3  # 2 pages + the end


def test_reply_maps_its_thread_and_parent_from_the_payload(replay, warehouse):
    first, _ = serve_search_chain(replay)
    load(connector(replay), warehouse)
    stored = _posts(warehouse)
    replies = [t for t in first["data"]
               if any(r["type"] == "replied_to" for r in t.get("referenced_tweets", []))]
    assert replies
    for tweet in replies:
        parent = next(r["id"] for r in tweet["referenced_tweets"] if r["type"] == "replied_to")
        row = stored[f"x:{tweet['id']}"]
        assert row["kind"] == "reply"
        assert row["parent_id"] == f"x:{parent}"
        assert row["thread_id"] == f"x:{tweet['conversation_id']}"
        assert row["parent_id"] in stored  # the parent came with the page (includes.tweets)


def test_mention_that_starts_a_conversation_is_not_a_reply(replay, warehouse):
    first, second = serve_search_chain(replay)
    load(connector(replay), warehouse)
    stored = _posts(warehouse)
    mentions = [t for t in first["data"] + second["data"]
                if t.get("in_reply_to_user_id") and t["conversation_id"] == t["id"]
                and not t.get("referenced_tweets")]
    assert mentions
    assert {stored[f"x:{t['id']}"]["kind"] for t in mentions} == {"tweet"}


def test_post_fields_match_the_recorded_payload(replay, warehouse):
    first, _ = serve_search_chain(replay)
    load(connector(replay), warehouse)
    tweet = next(t for t in first["data"] if not t.get("referenced_tweets"))
    author = next(u for u in first["includes"]["users"] if u["id"] == tweet["author_id"])
    row = _posts(warehouse)[f"x:{tweet['id']}"]
    assert row["platform"] == "x" and row["source"] == "x-test" and row["title"] is None
    assert row["body"] == tweet["text"]
    assert row["author_id"] == f"x:{tweet['author_id']}"
    assert row["url"] == f"https://x.com/{author['username']}/status/{tweet['id']}"
    assert row["score"] == tweet["public_metrics"]["like_count"]
    assert row["reply_count"] == tweet["public_metrics"]["reply_count"]
    assert row["created_at"] == datetime.fromisoformat(tweet["created_at"].replace("Z", ""))


def test_retweet_gets_no_engagement_of_its_own(replay, warehouse):
    first, _ = serve_search_chain(replay)
    load(connector(replay), warehouse)
    retweet = next(t for t in first["data"]
                   if any(r["type"] == "retweeted" for r in t.get("referenced_tweets", []))
                   and t["public_metrics"]["retweet_count"] > 0)
    row = _posts(warehouse)[f"x:{retweet['id']}"]
    assert row["score"] is None and row["reply_count"] is None


def test_members_come_from_includes_users(replay, warehouse):
    first, second = serve_search_chain(replay)
    load(connector(replay), warehouse)
    members = {r["member_id"]: r for r in warehouse.query("select * from members")}
    for user in first["includes"]["users"] + second["includes"]["users"]:
        row = members[f"x:{user['id']}"]
        assert (row["handle"], row["display_name"]) == (user["username"], user["name"])
    author = first["data"][0]["author_id"]
    assert members[f"x:{author}"]["first_seen_at"] is not None


def test_arabic_language_is_kept_and_undetermined_is_left_open(replay, warehouse):
    first, _ = serve_search_chain(replay)
    batches = load(connector(replay), warehouse)
    stored = _posts(warehouse)
    arabic = [t for t in first["data"] if t["lang"] == "ar"]
    undetermined = [t for t in first["data"] if t["lang"] == "und"]
    assert arabic and undetermined
    assert {stored[f"x:{t['id']}"]["lang"] for t in arabic} == {"ar"}
    assert stored[f"x:{arabic[0]['id']}"]["body"] == arabic[0]["text"]
    # "und" reaches the warehouse as unknown, so its own language detection may fill it.
    emitted = {p.post_id: p.lang for b in batches for p in b.posts}
    assert {emitted[f"x:{t['id']}"] for t in undetermined} == {None}


@pytest.mark.parametrize("code, expected", [
    ("ar", "ar"), ("en", "en"), ("und", None), ("zxx", None), ("qme", None), ("qst", None),
    ("in", "id"), (None, None),
])
def test_language_codes_are_normalised(code, expected):
    assert normalise_lang(code) == expected


def test_raw_pages_are_stored_verbatim_with_path_and_query(replay, warehouse):
    serve_search_chain(replay)
    load(connector(replay), warehouse)
    raw = warehouse.query("select page_id, request, status from raw_pages order by page_id")
    assert warehouse.raw_body(raw[0]["page_id"]) == page_bytes(SEARCH_PAGE_1)
    assert warehouse.raw_body(raw[1]["page_id"]) == page_bytes(SEARCH_PAGE_2)
    assert raw[0]["request"].startswith(SEARCH + "?")
    assert "query=blacklivesmatter" in raw[0]["request"]


def test_every_request_is_recorded_with_rate_limit_state(replay, warehouse):
    serve_search_chain(replay)
    load(connector(replay), warehouse)
    rows = warehouse.query("select * from api_requests order by requested_at")
    assert [(r["endpoint"], r["status"], r["items"]) for r in rows] == [
        (SEARCH, 200, 100), (SEARCH, 200, 100), (SEARCH, 200, 0)]
    assert [r["ratelimit_remaining"] for r in rows] == [449, 448, 447]
    assert all(0 < r["ratelimit_reset_s"] <= 900 for r in rows)


# -- cursors -------------------------------------------------------------------------------------


def test_second_run_sends_since_id_and_reads_no_post_twice(replay, warehouse):
    first, _ = serve_search_chain(replay)
    load(connector(replay), warehouse)
    before = warehouse.query("select count(*) n from posts")[0]["n"]
    replay.seen.clear()
    again = connector(replay)
    load(again, warehouse)
    assert [s.query.get("since_id") for s in replay.seen] == [first["meta"]["newest_id"]]
    assert again.run_stats.posts_read == 0
    assert warehouse.query("select count(*) n from posts")[0]["n"] == before


def test_run_stopped_after_one_page_resumes_with_the_next_page(replay, warehouse):
    first, second = serve_search_chain(replay)
    batches = connector(replay).fetch(warehouse.cursor("x-test"))
    warehouse.write_batch(next(batches))
    batches.close()  # the process dies after the first page was stored
    assert warehouse.cursor("x-test")["streams"]["search:blacklivesmatter"] == {
        "since_id": None,
        "pending": {"newest_id": first["meta"]["newest_id"], "next_token": first["meta"]["next_token"]}}
    replay.seen.clear()
    resumed = connector(replay)
    load(resumed, warehouse)
    assert replay.seen[0].query.get("next_token") == first["meta"]["next_token"]
    assert resumed.run_stats.posts_read == len(second["data"])
    stored = _posts(warehouse)
    assert all(f"x:{t['id']}" in stored for t in first["data"] + second["data"])
    final = warehouse.cursor("x-test")["streams"]["search:blacklivesmatter"]
    assert final == {"since_id": first["meta"]["newest_id"]}  # page 1's newest, not page 2's


def test_stale_page_token_restarts_the_query_from_since_id(replay, warehouse):
    serve_search_chain(replay)
    refused = json.dumps({"errors": [{"message": "Invalid 'next_token'"}], "title": "Invalid Request",
                          "detail": "One or more parameters to your request was invalid."})
    replay.add(SEARCH, refused, status=400, headers=rate_headers(), query={"next_token": "stale"})
    warehouse.write_batch(_cursor_batch({"month": _this_month(), "posts_read_month": 0, "streams": {
        "search:blacklivesmatter": {"since_id": None,
                                    "pending": {"newest_id": "1", "next_token": "stale"}}}}))
    conn = connector(replay)
    batches = load(conn, warehouse)
    assert any("refused the stored page token" in p for b in batches for p in b.problems)
    assert conn.run_stats.posts_read == 200
    assert warehouse.cursor("x-test")["streams"]["search:blacklivesmatter"] == {
        "since_id": page(SEARCH_PAGE_1)["meta"]["newest_id"]}


def _cursor_batch(cursor):
    from connectors import Batch
    return Batch("x-test", cursor=cursor)


# -- budget --------------------------------------------------------------------------------------


def test_budget_stops_before_a_page_that_could_cross_it(replay, warehouse):
    serve_search_chain(replay)
    warehouse.write_batch(_cursor_batch({"month": _this_month(), "posts_read_month": 9_995}))
    conn = connector(replay, max_posts_per_month=10_000)
    batches = load(conn, warehouse)
    assert replay.seen == []  # 5 left, and recent search will not serve fewer than 10
    line = ("X budget for source x-test: 9,995 of 10,000 posts read this month; "
            "stopping before the next page")
    assert [p for b in batches for p in b.problems] == [line]
    assert conn.run_stats.stopped_for_budget and conn.run_stats.posts_read == 0


def test_budget_shrinks_max_results_to_what_is_left(replay, warehouse):
    serve_search_chain(replay)
    warehouse.write_batch(_cursor_batch({"month": _this_month(), "posts_read_month": 9_850}))
    conn = connector(replay, max_posts_per_month=10_000)
    batches = load(conn, warehouse)
    # X honours max_results; the replay serves the recorded 100 regardless.
    assert [s.query["max_results"] for s in replay.seen] == ["100", "50"]
    assert any(p.startswith("X budget for source x-test: 10,050 of 10,000")
               for b in batches for p in b.problems)
    assert warehouse.cursor("x-test")["posts_read_month"] == 10_050


def test_budget_starts_again_in_a_new_month(replay, warehouse):
    serve_search_chain(replay)
    warehouse.write_batch(_cursor_batch({"month": "2020-01", "posts_read_month": 9_995}))
    conn = connector(replay, max_posts_per_month=10_000)
    load(conn, warehouse)
    assert conn.run_stats.posts_read == 200
    cursor = warehouse.cursor("x-test")
    assert (cursor["month"], cursor["posts_read_month"]) == (_this_month(), 200)


def test_run_summary_shows_posts_read_and_estimated_spend(replay, warehouse):
    serve_search_chain(replay)
    conn = connector(replay, max_posts_per_month=10_000, cost_per_post_usd=0.005)
    load(conn, warehouse)
    assert conn.run_stats.summary().startswith("200 posts read (~$1.00) in 3 requests; 200 of 10,000")


# -- payload states ------------------------------------------------------------------------------


def test_withheld_post_keeps_its_text_and_is_marked(replay, warehouse):
    recorded = serve_single_page(replay, "twarc-csv__withheld.line1.jsonl")
    load(connector(replay), warehouse)
    tweet = recorded["data"][0]
    row = _posts(warehouse)[f"x:{tweet['id']}"]
    assert (row["state"], row["body"]) == ("withheld", tweet["text"])


def test_missing_parent_is_a_problem_and_nothing_else(replay, warehouse):
    recorded = serve_single_page(replay, "twarc-csv__withheld.line3.jsonl")
    batches = load(connector(replay), warehouse)
    missing = recorded["errors"][0]["resource_id"]
    problems = [p for b in batches for p in b.problems]
    assert problems == [f"X tweet {missing} unavailable (Not Found Error): "
                        f"Could not find tweet with referenced_tweets.id: [{missing}]."]
    stored = _posts(warehouse)
    assert f"x:{missing}" not in stored
    assert stored[f"x:{recorded['data'][0]['id']}"]["parent_id"] == f"x:{missing}"


@pytest.mark.parametrize("lookup", ["twarc-csv__edited_before.jsonl", "twarc-csv__edited_after.jsonl"])
def test_versions_of_an_edited_post_are_one_post_with_the_current_text(replay, warehouse, lookup):
    recorded = serve_single_page(replay, lookup)
    load(connector(replay), warehouse)
    history = recorded["data"][0]["edit_history_tweet_ids"]
    current = next(t for t in recorded["includes"]["tweets"] if t["id"] == history[-1])
    rows = warehouse.query("select * from posts")
    assert [(r["post_id"], r["state"], r["body"]) for r in rows] == [
        (f"x:{history[0]}", "edited", current["text"])]


# -- an account ----------------------------------------------------------------------------------


def test_account_followers_become_a_snapshot_and_the_account_a_manager(replay, warehouse):
    serve_account(replay)
    load(connector(replay, query=None, account=ACCOUNT), warehouse)
    followers = account_user()["public_metrics"]["followers_count"]
    assert [r["members_count"] for r in warehouse.query("select * from community_snapshots")] == [followers]
    member = warehouse.query("select * from members where member_id = $m", {"m": f"x:{ACCOUNT_ID}"})[0]
    assert (member["handle"], member["is_manager"]) == (ACCOUNT, True)


def test_account_timeline_and_mentions_are_loaded(replay, warehouse):
    serve_account(replay)
    conn = connector(replay, query=None, account=ACCOUNT)
    load(conn, warehouse)
    timeline = page(TIMELINE_PAGE)
    stored = _posts(warehouse)
    assert all(f"x:{t['id']}" in stored for t in timeline["data"])
    assert conn.run_stats.posts_read == len(timeline["data"]) + 10  # + tweepy's 10 mentions
    streams = warehouse.cursor("x-test")["streams"]
    assert streams[f"tweets:{ACCOUNT}"] == {"since_id": timeline["meta"]["newest_id"]}
    assert set(streams) == {f"tweets:{ACCOUNT}", f"mentions:{ACCOUNT}"}


# -- faults --------------------------------------------------------------------------------------


def test_429_waits_for_the_reset_then_succeeds(replay, warehouse):
    limited = Reply(429, b'{"title":"Too Many Requests"}',
                    {"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(time.time()) + 600)})
    replay.add_sequence(SEARCH, [limited, ok(page_bytes("twarc-csv__withheld.line1.jsonl"))])
    load(connector(replay), warehouse)
    rows = warehouse.query("select status, ratelimit_remaining from api_requests order by requested_at")
    assert [(r["status"], r["ratelimit_remaining"]) for r in rows] == [(429, 0), (200, 449)]
    assert warehouse.query("select count(*) n from posts")[0]["n"] == 1


def test_429_with_retry_after_then_succeeds(replay, warehouse):
    limited = Reply(429, b"", {"Retry-After": "0"})
    replay.add_sequence(SEARCH, [limited, limited, ok(page_bytes("twarc-csv__withheld.line1.jsonl"))])
    load(connector(replay), warehouse)
    assert [s.status for s in replay.seen] == [429, 429, 200]


def test_429_that_never_clears_fails_the_source(replay, warehouse):
    replay.add(SEARCH, b"", status=429, headers={"x-rate-limit-reset": str(int(time.time()) + 600)})
    with pytest.raises(SourceError, match="429 Too Many Requests"):
        load(connector(replay), warehouse)
    assert warehouse.query("select count(*) n from api_requests")[0]["n"] == FAST.attempts


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_retried_then_fail_the_source(replay, warehouse, status):
    replay.add(SEARCH, b'{"title":"Service Unavailable"}', status=status)
    with pytest.raises(SourceError) as caught:
        load(connector(replay), warehouse)
    assert f"X gave {status}" in str(caught.value)
    assert "next run resumes from the stored cursor" in str(caught.value)
    statuses = [r["status"] for r in warehouse.query("select status from api_requests")]
    assert statuses == [status] * FAST.attempts


def test_server_error_then_success_loads_the_page(replay, warehouse):
    replay.add_sequence(SEARCH, [Reply(503), ok(page_bytes("twarc-csv__withheld.line1.jsonl"))])
    load(connector(replay), warehouse)
    assert warehouse.query("select count(*) n from posts")[0]["n"] == 1


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_names_x_bearer_token(replay, warehouse, status):
    replay.add(SEARCH, b'{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}',
               status=status)
    with pytest.raises(SourceError) as caught:
        load(connector(replay), warehouse)
    assert caught.value.reason.startswith(
        "X rejected the bearer token for source x-test: check X_BEARER_TOKEN")
    assert len(replay.seen) == 1  # permanent: not retried


def test_missing_token_names_x_bearer_token(replay, warehouse, monkeypatch):
    monkeypatch.delenv("X_BEARER_TOKEN")
    with pytest.raises(SourceError, match="X_BEARER_TOKEN"):
        load(connector(replay), warehouse)
    assert replay.seen == []


def test_truncated_json_is_retried_then_loaded(replay, warehouse):
    body = page_bytes("twarc-csv__withheld.line1.jsonl")
    replay.add_sequence(SEARCH, [Reply(200, body, rate_headers(), fault="truncate"), ok(body)])
    load(connector(replay), warehouse)
    assert [r["status"] for r in warehouse.query("select status from api_requests order by requested_at")] == [200, 200]
    assert warehouse.query("select count(*) n from raw_pages")[0]["n"] == 1


def test_truncated_json_every_time_fails_the_source_clearly(replay, warehouse):
    cut = page_bytes("twarc-csv__streaming_output_with_error.jsonl").splitlines()[-1]  # recorded cut
    replay.add(SEARCH, cut, headers=rate_headers())
    with pytest.raises(SourceError, match="truncated or invalid JSON body"):
        load(connector(replay), warehouse)
    assert warehouse.query("select count(*) n from raw_pages")[0]["n"] == 0


def test_connection_reset_and_timeout_are_retried(replay, warehouse):
    body = page_bytes("twarc-csv__withheld.line1.jsonl")
    replay.add_sequence(SEARCH, [Reply(200, body, rate_headers(), fault="reset"),
                                 Reply(200, body, rate_headers(), delay_s=0.6), ok(body)])
    load(connector(replay, timeout_s=0.2), warehouse)
    rows = warehouse.query("select status from api_requests order by requested_at")
    assert [r["status"] for r in rows] == [None, None, 200]


def test_bad_query_fails_with_x_own_words(replay, warehouse):
    refused = {"errors": [{"message": "There were errors processing your request: no viable "
                           "alternative at input '('"}], "title": "Invalid Request"}
    replay.add(SEARCH, json.dumps(refused), status=400)
    with pytest.raises(SourceError, match="no viable alternative"):
        load(connector(replay, query="("), warehouse)


def test_failed_source_keeps_the_pages_it_stored(replay, warehouse):
    first, _ = serve_search_chain(replay)
    replay.add(SEARCH, b"", status=503, query={"next_token": first["meta"]["next_token"]})
    with pytest.raises(SourceError):
        load(connector(replay), warehouse)
    assert warehouse.query("select count(*) n from raw_pages")[0]["n"] == 1
    pending = warehouse.cursor("x-test")["streams"]["search:blacklivesmatter"]["pending"]
    assert pending["next_token"] == first["meta"]["next_token"]


# -- the token stays secret ----------------------------------------------------------------------


def test_bearer_token_never_leaves_the_authorization_header(replay, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    serve_search_chain(replay)
    path = tmp_path / "secret-check.duckdb"
    with Warehouse.open(path) as wh:
        batches = load(connector(replay), wh)
        replay.add(SEARCH, b'{"title":"Unauthorized"}', status=401, query={"since_id": page(SEARCH_PAGE_1)["meta"]["newest_id"]})
        with pytest.raises(SourceError) as caught:
            load(connector(replay), wh)
    assert all(s.headers.get("Authorization") == f"Bearer {TOKEN}" for s in replay.seen)
    assert TOKEN.encode() not in path.read_bytes()
    assert not any(TOKEN in page.request for b in batches for page in b.raw)
    assert not any(TOKEN in repr(r) for b in batches for r in b.requests)
    assert TOKEN not in str(caught.value) and caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert TOKEN not in caplog.text
    assert not [r for r in caplog.records if r.name.startswith("tweepy") and r.levelno <= logging.DEBUG]


def test_posts_without_edit_history_raise_no_tweepy_warning(replay, warehouse):
    serve_search_chain(replay)  # 2021 posts: no edit_history_tweet_ids anywhere
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load(connector(replay), warehouse)


def test_connector_reads_nothing_before_fetch(replay):
    conn = XConnector(x_source(replay))
    assert conn.run_stats is None and replay.seen == []


# -- the demo ------------------------------------------------------------------------------------


def test_demo_serves_the_recorded_chain_and_a_second_run_reads_nothing(replay, warehouse):
    add_x_routes(replay, resources.files("majlis") / "demo_data")
    config = parse_config(tomllib.loads(demo_source_toml(replay.base_url)))
    first = XConnector(config.sources[0], retry=FAST)
    load(first, warehouse, "x-demo")
    again = XConnector(config.sources[0], retry=FAST)
    load(again, warehouse, "x-demo")
    assert (first.run_stats.posts_read, again.run_stats.posts_read) == (200, 0)
    assert config.sources[0].query == DEMO_QUERY
    assert warehouse.query("select count(*) n from posts where lang = 'ar'")[0]["n"] >= 1
    assert warehouse.query("select count(*) n from posts where kind = 'reply'")[0]["n"] >= 18


def test_demo_pages_are_the_recorded_bytes():
    demo = resources.files("majlis") / "demo_data" / "x"
    for name in (SEARCH_PAGE_1, SEARCH_PAGE_2):
        assert (demo / name).read_bytes() == page_bytes(name)
