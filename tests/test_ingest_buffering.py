"""The ingest flow commits a source's batches in groups, each with the cursor that holds once
it is stored (flows/_ingest.py `commit_groups`; docs/reliability.md section 1).

The grouping is checked on plain batches; then a blog with comment feeds, replayed on
127.0.0.1, is ingested through `ingest_into_warehouse` in a real process that is SIGKILLed
while it fetches a page: the warehouse must hold exactly the groups committed before, with
their cursor, and the re-run must end as an uninterrupted run does.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from connectors import Batch, RawPage, SourceError, connector_for
from flows._ingest import commit_groups, ingest_into_warehouse
from majlis.config import load_config
from majlis.replay import Reply
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
ITEMS = 6
COMMENTS_PER_ITEM = 3
START = datetime(2026, 1, 1, tzinfo=timezone.utc)
SLOW_S = 30.0  # the comment feed the child is killed while fetching


def page_batch(posts: int, cursor: dict | None, source: str = "blog") -> Batch:
    fetched = datetime(2026, 1, 1)
    return Batch(source, raw=[RawPage(source, f"/page/{cursor}", fetched, 200, b"{}", "application/json")],
                 posts=[f"{cursor}-{i}" for i in range(posts)], cursor=cursor)


def test_a_group_closes_once_it_holds_enough_posts():
    batches = [page_batch(3, {"n": n}) for n in range(5)]

    groups = list(commit_groups(batches, max_posts=6, max_seconds=float("inf")))

    assert [len(g.posts) for g in groups] == [6, 6, 3]
    assert [len(g.raw) for g in groups] == [2, 2, 1]
    assert [g.cursor for g in groups] == [{"n": 1}, {"n": 3}, {"n": 4}]


def test_a_group_keeps_the_last_cursor_a_batch_set():
    batches = [page_batch(1, {"n": 0}), page_batch(1, None), page_batch(1, None)]

    (group,) = commit_groups(batches, max_posts=10, max_seconds=float("inf"))

    assert group.cursor == {"n": 0}


def test_a_group_closes_once_its_first_batch_is_old_enough():
    ticks = iter([0.0, 1.0, 4.0, 5.0, 5.5])  # clock readings: at each arrival, then checks

    groups = list(commit_groups([page_batch(1, {"n": n}) for n in range(3)], max_posts=100,
                                max_seconds=3.0, clock=lambda: next(ticks)))

    assert [g.cursor for g in groups] == [{"n": 1}, {"n": 2}]


def test_one_post_a_group_is_one_batch_a_commit():
    batches = [page_batch(2, {"n": n}) for n in range(3)]

    groups = list(commit_groups(batches, max_posts=1))

    assert [g.cursor for g in groups] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_grouping_leaves_the_connectors_batches_as_they_were():
    batches = [page_batch(2, {"n": n}) for n in range(3)]

    list(commit_groups(batches, max_posts=100))

    assert [len(b.posts) for b in batches] == [2, 2, 2]
    assert [b.cursor for b in batches] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_the_open_group_is_handed_over_before_the_source_error():
    def source():
        yield page_batch(1, {"n": 0})
        yield Batch("blog", requests=["the failed attempt"])
        raise SourceError("blog", "the feed is gone; fix the URL")

    handed_over = []
    with pytest.raises(SourceError, match="the feed is gone"):
        for group in commit_groups(source(), max_posts=100):
            handed_over.append(group)

    assert [(g.cursor, g.requests) for g in handed_over] == [({"n": 0}, ["the failed attempt"])]


def test_batches_of_two_sources_never_share_a_commit():
    with pytest.raises(ValueError, match="cannot share a commit"):
        list(commit_groups([page_batch(1, {"n": 0}), page_batch(1, {"n": 1}, source="other")]))


# -- a blog with comment feeds, through ingest_into_warehouse ---------------------------------


def blog_feed(base: str) -> str:
    items = "".join(
        f"<item><title>Article {i}</title><link>{base}/a/{i}</link><guid>article-{i}</guid>"
        f"<dc:creator>author {i % 2}</dc:creator><pubDate>{format_datetime(START + timedelta(days=i))}</pubDate>"
        f"<description>Article number {i}.</description>"
        f"<wfw:commentRss>{base}/a/{i}/feed/</wfw:commentRss></item>"
        for i in range(ITEMS))
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:wfw="http://wellformedweb.org/CommentAPI/">'
            f'<channel><title>blog</title><link>{base}/</link><description>d</description>{items}</channel></rss>')


def comment_feed(base: str, item: int) -> str:
    comments = "".join(
        f"<item><title>By member {c}</title><link>{base}/a/{item}/#comment-{item}{c}</link>"
        f"<guid>comment-{item}-{c}</guid><dc:creator>member {c}</dc:creator>"
        f"<pubDate>{format_datetime(START + timedelta(days=item, hours=c + 1))}</pubDate>"
        f"<description>Who else is coming to meeting {item}?</description></item>"
        for c in range(COMMENTS_PER_ITEM))
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            'xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<channel><title>Comments on: Article {item}</title><link>{base}/a/{item}/</link>'
            f'<description>d</description>{comments}</channel></rss>')


def serve_blog(replay, slow_item: int | None = None) -> None:
    base = replay.base_url
    replay.add("/feed/", blog_feed(base), content_type="application/rss+xml")
    for item in range(ITEMS):
        body = comment_feed(base, item).encode()
        delay = SLOW_S if item == slow_item else 0.0
        replay.add_sequence(f"/a/{item}/feed/", [
            Reply(200, body, {"Content-Type": "application/rss+xml"}, delay_s=delay),
            Reply(200, body, {"Content-Type": "application/rss+xml"})])


def write_config(folder: Path, replay) -> Path:
    path = folder / "majlis.toml"
    path.write_text(
        '[warehouse]\npath = "majlis.duckdb"\n[[sources]]\nkind = "rss"\nname = "blog"\n'
        f'url = "{replay.url("/feed/")}"\n', encoding="utf-8")
    return path


def stored(db: Path) -> dict:
    with Warehouse.open(db) as wh:
        posts = wh.query("select * exclude (fetched_at, updated_at) from posts order by post_id")
        members = wh.query("select * from members order by member_id")
        return {"posts": posts, "members": members, "cursor": wh.cursor("blog")}


def test_grouped_commits_store_what_one_commit_a_page_stores(replay, tmp_path):
    serve_blog(replay)
    (tmp_path / "paged").mkdir()
    for folder, commit_posts in ((tmp_path, 7), (tmp_path / "paged", 1)):
        config = load_config(write_config(folder, replay))
        ingest_into_warehouse(config, "blog", "run", logging.getLogger("test"), commit_posts=commit_posts)

    assert stored(tmp_path / "majlis.duckdb") == stored(tmp_path / "paged" / "majlis.duckdb")
    assert len(stored(tmp_path / "majlis.duckdb")["posts"]) == ITEMS * (1 + COMMENTS_PER_ITEM)


CHILD = textwrap.dedent("""
    import logging, sys
    from flows._ingest import ingest_into_warehouse
    from majlis.config import load_config

    ingest_into_warehouse(load_config(sys.argv[1]), "blog", "killed", logging.getLogger("child"),
                          commit_posts=int(sys.argv[2]))
""")


def test_a_kill_mid_group_keeps_the_groups_committed_and_the_rerun_fetches_the_rest(replay, tmp_path):
    # Comment feeds are polled newest first, so item 0's is the last page; groups of 7 posts
    # close after the main feed (6) + one comment feed (3), then after three more comment feeds.
    commit_posts, slow_item = 7, 0
    reference = tmp_path / "reference"
    reference.mkdir()
    serve_blog(replay)
    batches = list(connector_for(load_config(write_config(reference, replay)).source("blog")).fetch({}))
    groups = list(commit_groups(batches, commit_posts, max_seconds=float("inf")))
    ingest_into_warehouse(load_config(write_config(reference, replay)), "blog", "reference",
                          logging.getLogger("test"), commit_posts=commit_posts)

    serve_blog(replay, slow_item=slow_item)
    config_path = write_config(tmp_path, replay)
    slow_path = f"/a/{slow_item}/feed/"
    asked_before = len(replay.requests_to(slow_path))
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(config_path), str(commit_posts)],
                             cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while len(replay.requests_to(slow_path)) == asked_before and child.poll() is None:
            assert time.monotonic() < deadline, "the child never asked for the slow comment feed"
            time.sleep(0.02)
        os.killpg(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # The groups whose last batch came before the slow feed were committed; the batches fetched
    # since (the open group) were not, and neither was their cursor.
    fetched_before = next(i for i, b in enumerate(batches) if any(slow_path in p.request for p in b.raw))
    ends = [sum(len(b.raw) for b in groups[:j + 1]) for j in range(len(groups))]
    committed = sum(1 for end in ends if end <= fetched_before)
    assert 0 < committed < len(groups) and ends[committed - 1] < fetched_before  # a group was open
    after_kill = stored(tmp_path / "majlis.duckdb")
    expected_ids = sorted(p.post_id for g in groups[:committed] for p in g.posts)
    assert [p["post_id"] for p in after_kill["posts"]] == sorted(set(expected_ids))
    assert after_kill["cursor"] == json.loads(json.dumps(groups[committed - 1].cursor, default=str))

    ingest_into_warehouse(load_config(config_path), "blog", "rerun", logging.getLogger("test"),
                          commit_posts=commit_posts)
    assert stored(tmp_path / "majlis.duckdb") == stored(reference / "majlis.duckdb")
