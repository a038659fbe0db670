"""The real connectors against replayed APIs on 127.0.0.1: their cost, and a no-op pipeline.

`reddit_cost`        requests per 1000 new items: a subreddit with about 1500 new posts
                     (generated listing pages chained by `after`), then a quiet run.
`rss_unchanged_bytes` bytes handed to the feed parser on a second run when nothing changed
                     (main feed and comment feeds answer 304 to their validators).
`x_reread`           posts read on a second run that the first already read (X bills them).
`noop_community`     a config and warehouse whose sources (the demo's blog, subreddit and X
                     search) have nothing new, for timing the pipeline when there is nothing to do.
"""
from __future__ import annotations

import json
import os
import random
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from majlis.replay import ReplayServer

JSON = "application/json; charset=UTF-8"
RSS = "application/rss+xml; charset=UTF-8"


def _credentials() -> None:
    from majlis.demo import DEMO_CREDENTIALS

    for name, value in DEMO_CREDENTIALS.items():
        os.environ.setdefault(name, value)


def _drain(connector, cursor: dict) -> tuple[list, dict]:
    batches = list(connector.fetch(cursor))
    last = next((b.cursor for b in reversed(batches) if b.cursor is not None), cursor)
    return batches, last


# -- Reddit ---------------------------------------------------------------------------------------


def reddit_cost(workdir: Path, posts: int = 1500) -> dict:
    from connectors import reddit
    from majlis.bench.generator import SUBREDDIT, _RedditWriter
    from majlis.config import RedditSource
    from majlis.demo_reddit import DATA, both_slash_forms

    _credentials()
    folder = workdir / "reddit-replay"
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.json"):
        old.unlink()
    writer = _RedditWriter(folder, random.Random("bench:reddit-replay"), posts)
    writer.month(23, posts)
    with ReplayServer() as server:
        server.add("/api/v1/access_token", (DATA / "token.json").read_bytes(), method="POST",
                   content_type=JSON, headers={"Connection": "close"})
        for path in both_slash_forms(f"/r/{SUBREDDIT}/about/"):
            server.add(path, (DATA / "about.json").read_bytes(), content_type=JSON)
        for listing in ("new", "comments"):
            previous_after = None
            for file in sorted(folder.glob(f"{listing}-*.json")):
                body = file.read_bytes()
                query = {"after": previous_after} if previous_after else None
                for path in both_slash_forms(f"/r/{SUBREDDIT}/{listing}/"):
                    server.add(path, body, content_type=JSON, query=query)
                previous_after = json.loads(body)["data"]["after"]
        source = RedditSource(kind="reddit", name="reddit-replay", subreddit=SUBREDDIT,
                              base_url=server.base_url)
        first, cursor = _drain(reddit.RedditConnector(source), {})
        quiet, _ = _drain(reddit.RedditConnector(source), cursor)
    cost = reddit.requests_per_1000_items(first)
    return {"reddit_requests_per_1000_items": cost.per_1000_items, "reddit_new_items": cost.new_items,
            "reddit_requests_first_run": cost.requests,
            "reddit_requests_quiet_run": sum(len(b.requests) for b in quiet)}


# -- RSS ------------------------------------------------------------------------------------------


def rss_unchanged_bytes(workdir: Path) -> dict:
    from connectors.rss import RssConnector
    from majlis.config import RssSource

    with ReplayServer() as server:
        _add_generated_blog(server)
        source = RssSource(kind="rss", name="blog-replay", url=server.url("/blog/feed/"))
        first, cursor = _drain(RssConnector(source), {})
        second, _ = _drain(RssConnector(source), cursor)
    return {"rss_bytes_parsed_first_run": _parsed_bytes(first),
            "rss_bytes_parsed_unchanged": _parsed_bytes(second),
            "rss_requests_unchanged": sum(len(b.requests) for b in second)}


def _parsed_bytes(batches) -> int:
    return sum(len(page.body) for b in batches for page in b.raw if page.body and 200 <= page.status < 300)


def _add_generated_blog(server: ReplayServer, articles: int = 20) -> None:
    """A generated WordPress blog: one feed, a comment feed per article, all with ETags."""
    from majlis.bench.generator import _comments_xml, _feed_xml

    rng = random.Random("bench:blog-replay")
    site = server.base_url + "/blog"
    items = []
    for n in range(articles):
        link = f"{site}/article-{n}/"
        comments = [{"when": 1.7e9 + n * 1000 + c, "id": n * 100 + c, "parent": None,
                     "author": f"Reader {rng.randrange(50)}", "body": "Thanks, this helped. How do I start?"}
                    for c in range(rng.randrange(1, 6))]
        items.append({"when": 1.7e9 + n * 1000, "guid": f"{site}/?p={n}", "link": link,
                      "comments_url": f"{link}feed/", "title": f"Article {n}", "author": "Editor",
                      "body": "A post about the community.", "comments": comments,
                      "reply_count": len(comments)})
    items.reverse()
    server.add("/blog/feed/", _feed_xml("blog", "en", site, items), content_type=RSS, etag='"feed-1"')
    for item in items:
        path = item["comments_url"][len(server.base_url):]
        server.add(path, _comments_xml("en", item), content_type=RSS, etag=f'"c-{item["guid"][-3:]}"')


# -- X --------------------------------------------------------------------------------------------


def x_reread(workdir: Path) -> dict:
    from connectors.x import XConnector
    from majlis.config import XSource
    from majlis.demo import DATA
    from majlis.demo_x import DEMO_QUERY, add_x_routes

    _credentials()
    with ReplayServer() as server:
        add_x_routes(server, DATA / "x")
        source = XSource(kind="x", name="x-replay", query=DEMO_QUERY, base_url=server.base_url)
        first_connector = XConnector(source)
        first, cursor = _drain(first_connector, {})
        second_connector = XConnector(source)
        second, _ = _drain(second_connector, cursor)
    read_first = _x_ids(first)
    read_second = _x_ids(second)
    return {"x_posts_read_first_run": len(read_first), "x_posts_read_second_run": len(read_second),
            "x_posts_read_twice": len(read_first & read_second)}


def _x_ids(batches) -> set[str]:
    ids = set()
    for batch in batches:
        for page in batch.raw:
            if page.body:
                data = json.loads(page.body).get("data")
                ids.update(t["id"] for t in (data if isinstance(data, list) else []))
    return ids


# -- a community with nothing new -------------------------------------------------------------------


@contextmanager
def noop_community(workdir: Path) -> Iterator[Path]:
    """The demo's three sources, already ingested once: the next run finds nothing new."""
    from connectors import connector_for
    from majlis.config import load_config
    from majlis.demo import add_blog_routes
    from majlis.demo import DATA as DEMO_DATA
    from majlis.demo_reddit import DEMO_SUBREDDIT, add_reddit_routes
    from majlis.demo_x import add_x_routes, demo_source_toml
    from warehouse import Warehouse

    _credentials()
    workdir.mkdir(parents=True, exist_ok=True)
    warehouse = workdir / "noop.duckdb"
    warehouse.unlink(missing_ok=True)
    with ReplayServer() as server:
        add_blog_routes(server)
        add_reddit_routes(server)
        add_x_routes(server, DEMO_DATA / "x")
        config_path = workdir / "majlis.toml"
        config_path.write_text(
            f'[warehouse]\npath = "{warehouse}"\n\n'
            f'[[sources]]\nkind = "rss"\nname = "blog"\nurl = "{server.url("/blog/feed/")}"\n\n'
            f'[[sources]]\nkind = "reddit"\nname = "r-{DEMO_SUBREDDIT}"\nsubreddit = "{DEMO_SUBREDDIT}"\n'
            f'base_url = "{server.base_url}"\n\n{demo_source_toml(server.base_url)}',
            encoding="utf-8")
        config = load_config(config_path)
        with Warehouse.open(warehouse) as wh:
            for source in config.sources:
                for batch in connector_for(source).fetch(wh.cursor(source.name)):
                    wh.write_batch(batch)
        yield config_path
