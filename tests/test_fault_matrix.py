"""Every fault, for every source, on a real socket: a retry that recovers, or an error naming the source.

One table, `CASES`: each row serves a fault (through `majlis.replay.ReplayServer`) where a
source's first page should be, and says what must happen:

    loads    the fault is retried and the source loads everything a clean run loads;
             the failed attempt is in api_requests
    fails    SourceError for that source, in words that say what is wrong (`words`), after
             the stated number of attempts (no retry for what no retry can fix)
    partial  what arrived is loaded and the damage is a problem line naming the feed
    empty    nothing to load; the cursor does not move, so the next run loses nothing
    stops    a page that repeats its cursor: paging stops, with a problem line

RSS has no paging, so it has no "repeated page" row. Retries are milliseconds apart (the
connectors' backoff knobs, tests/crash_worker.make_connector); a 429's Retry-After is
honoured up to the connector's cap. `test_other_sources_finish_*` run three sources in turn
as flows/ingest.py does, with one of them failing; the slow test runs the real
`majlis run --only ingest` once for the whole matrix.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from connectors import SourceError
from crash_worker import ingest, make_source
from majlis.demo_reddit import END_OF_LISTING
from majlis.replay import Reply, ReplayServer
from reddit_replay import NEW, SUBREDDIT, add_end_of_listing, recorded, serve_subreddit
from warehouse import Warehouse
from x_replay import CHAIN_END, SEARCH, SEARCH_PAGE_1, SEARCH_PAGE_2, page, page_bytes, rate_headers

ROOT = Path(__file__).resolve().parent.parent
FEED = Path(__file__).parent / "fixtures" / "feeds" / "blogs" / "wp-norm2782.rss"
NEW_PATH = f"/r/{SUBREDDIT}/new/"
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>Service temporarily unavailable</h1></body></html>"
EMPTY_FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>quiet</title></channel></rss>'
SLOW_TIMEOUT_S = 0.3
ATTEMPTS = 4  # the first try and three retries, for every connector as make_connector builds it


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    monkeypatch.setenv("REDDIT_CLIENT_ID", "fault-client")
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "fault-secret")
    monkeypatch.setenv("REDDIT_USER_AGENT", "majlis-fault-tests/0.1")
    monkeypatch.setenv("X_BEARER_TOKEN", "fault-bearer")


# -- the three sources, each with a first page where a fault can be put -----------------------


@dataclass(frozen=True)
class Target:
    kind: str
    name: str
    path: str  # the first page's path: where the fault is served
    content_type: str

    def good(self) -> bytes:
        return {"rss": FEED.read_bytes, "reddit": lambda: recorded(NEW, "/new").body,
                "x": lambda: page_bytes(SEARCH_PAGE_1)}[self.kind]()

    def settings(self, server: ReplayServer, **overrides) -> dict:
        common = {"name": self.name, "timeout_s": 5.0, **overrides}
        if self.kind == "rss":
            return {"kind": "rss", "url": server.url(self.path), "follow_comments": False, **common}
        if self.kind == "reddit":
            return {"kind": "reddit", "subreddit": SUBREDDIT, "base_url": server.base_url, **common}
        return {"kind": "x", "query": "blacklivesmatter", "base_url": server.base_url, **common}

    def serve(self, server: ReplayServer, replies: list[Reply] | None = None, *,
              continuation: bool = True) -> None:
        """The source as recorded, with `replies` served in turn for its first page.

        Without `continuation`, the first page's route answers every later page too.
        """
        headers = rate_headers() if self.kind == "x" else {"Content-Type": self.content_type}
        replies = [replace(r, headers={**headers, **r.headers}) for r in replies or [Reply(200, self.good())]]
        if self.kind == "reddit":
            serve_subreddit(server)
        server.add_sequence(self.path, replies)
        if not continuation:
            return
        if self.kind == "reddit":  # the second page ends the listing, as in the recording
            add_end_of_listing(server, self.path, recorded(NEW, "/new").json()["data"]["after"])
        if self.kind == "x":  # the rest of the recorded chain, then X's "nothing left"
            first, second = page(SEARCH_PAGE_1), page(SEARCH_PAGE_2)
            server.add(SEARCH, page_bytes(SEARCH_PAGE_2), headers=rate_headers(),
                       query={"next_token": first["meta"]["next_token"]})
            server.add(SEARCH, CHAIN_END, headers=rate_headers(), query={"next_token": second["meta"]["next_token"]})
            server.add(SEARCH, CHAIN_END, headers=rate_headers(), query={"since_id": first["meta"]["newest_id"]})


RSS = Target("rss", "blog", "/feed/", "application/rss+xml; charset=UTF-8")
REDDIT = Target("reddit", "r-askreddit", NEW_PATH, "application/json; charset=UTF-8")
X = Target("x", "x-search", SEARCH, "application/json; charset=utf-8")
TARGETS = {"rss": RSS, "reddit": REDDIT, "x": X}


@dataclass
class Outcome:
    batches: list
    error: SourceError | None
    posts: int
    attempts: list  # statuses of the requests to the faulty path, in order
    cursor: dict


def run_source(target: Target, server: ReplayServer, wh: Warehouse, **overrides) -> Outcome:
    error = None
    batches: list = []
    try:
        batches = ingest(wh, make_source(target.settings(server, **overrides)))
    except SourceError as err:
        error = err
    attempts = [s.status for s in server.seen if s.path.rstrip("/") == target.path.rstrip("/")
                and s.query.get("after") is None and "next_token" not in s.query]
    posts = wh.query("select count(*) as n from posts where source = $s", {"s": target.name})[0]["n"]
    return Outcome(batches, error, posts, attempts, wh.cursor(target.name))


@pytest.fixture(scope="module")
def clean_posts(tmp_path_factory):
    """How many posts each source loads when nothing goes wrong."""
    counts = {}
    os.environ.update({"REDDIT_CLIENT_ID": "c", "REDDIT_CLIENT_SECRET": "s", "REDDIT_USER_AGENT": "u",
                       "X_BEARER_TOKEN": "t"})
    for kind, target in TARGETS.items():
        with ReplayServer() as server, Warehouse.open(tmp_path_factory.mktemp(kind) / "w.duckdb") as wh:
            target.serve(server)
            outcome = run_source(target, server, wh)
            assert outcome.error is None, outcome.error
            counts[kind] = outcome.posts
    return counts


# -- the matrix ----------------------------------------------------------------------------------

def good(kind: str, **reply) -> Reply:
    return Reply(200, TARGETS[kind].good(), **reply)


def repeated_page(kind: str) -> list[Reply]:
    """A first page whose cursor points at itself: every later request gets it again."""
    if kind == "reddit":
        body = json.loads(TARGETS[kind].good())
        body["data"]["after"] = body["data"]["children"][-1]["data"]["name"]
        return [Reply(200, json.dumps(body).encode())]
    return [good(kind)]  # x: served for every request, so next_token never advances


def case(kind, fault, replies, expect, words="", attempts=None, **settings):
    return pytest.param(kind, replies, expect, words, attempts, settings, id=f"{kind}-{fault}")


def cases():
    out = []
    for kind in ("rss", "reddit", "x"):
        g = lambda **reply: good(kind, **reply)  # noqa: E731 - the good first page, varied per row
        out += [
            case(kind, "429-retry-after", [Reply(429, b"slow down", {"Retry-After": "1"}), g()], "loads"),
            case(kind, "429-no-retry-after", [Reply(429, b"slow down"), g()], "loads"),
            case(kind, "500", [Reply(500, b"oops"), g()], "loads"),
            case(kind, "502", [Reply(502, HTML_PAGE, {"Content-Type": "text/html"}), g()], "loads"),
            case(kind, "503", [Reply(503, b""), g()], "loads"),
            case(kind, "slow-past-timeout", [g(delay_s=SLOW_TIMEOUT_S + 0.7), g()], "loads",
                 timeout_s=SLOW_TIMEOUT_S),
            case(kind, "reset-mid-body", [g(fault="reset"), g()], "loads"),
            case(kind, "wrong-content-type", [g(headers={"Content-Type": "text/plain"})], "loads"),
            case(kind, "empty-page", [Reply(200, {"rss": EMPTY_FEED, "reddit": END_OF_LISTING,
                                                  "x": CHAIN_END}[kind])], "empty"),
        ]
    out += [
        case("rss", "503-persists", [Reply(503, b"")], "fails", "server error: HTTP 503", ATTEMPTS),
        case("reddit", "503-persists", [Reply(503, b"")], "fails", "server error: HTTP 503", ATTEMPTS),
        case("x", "503-persists", [Reply(503, b"")], "fails", "503", ATTEMPTS),
        case("rss", "timeout-persists", [good("rss", delay_s=SLOW_TIMEOUT_S + 0.7)], "fails",
             f"no answer within {SLOW_TIMEOUT_S:g} s", ATTEMPTS, timeout_s=SLOW_TIMEOUT_S),
        case("rss", "truncated-xml", [good("rss", fault="truncate")], "partial", "not well-formed XML"),
        case("reddit", "truncated-json", [good("reddit", fault="truncate"), good("reddit")], "loads"),
        case("x", "truncated-json", [good("x", fault="truncate"), good("x")], "loads"),
        case("reddit", "truncated-json-persists", [good("reddit", fault="truncate")], "fails",
             "the JSON body was cut short", ATTEMPTS),
        case("x", "truncated-json-persists", [good("x", fault="truncate")], "fails",
             "truncated or invalid JSON", ATTEMPTS),
        case("rss", "html-instead", [Reply(200, HTML_PAGE, {"Content-Type": "text/html"})], "fails",
             "is not an RSS or Atom feed", 1),
        case("reddit", "html-instead", [Reply(200, HTML_PAGE, {"Content-Type": "text/html"})], "fails",
             "the JSON body was cut short", ATTEMPTS),
        case("x", "html-instead", [Reply(200, HTML_PAGE, {"Content-Type": "text/html"})], "fails",
             "truncated or invalid JSON", ATTEMPTS),
        case("rss", "zero-bytes", [Reply(200, b"")], "fails", "is not an RSS or Atom feed", 1),
        case("x", "zero-bytes", [Reply(200, b"")], "fails", "truncated or invalid JSON", ATTEMPTS),
        case("rss", "401", [Reply(401, b"")], "fails", "HTTP 401 Unauthorized", 1),
        case("rss", "403", [Reply(403, b"")], "fails", "HTTP 403 Forbidden", 1),
        case("reddit", "401", [Reply(401, b'{"error": 401}')], "fails", "Reddit rejected the credentials", 1),
        case("reddit", "403", [Reply(403, b'{"error": 403}')], "fails", "Reddit refused access to r/askreddit", 1),
        case("x", "401", [Reply(401, b'{"title": "Unauthorized"}')], "fails", "X rejected the bearer token", 1),
        case("x", "403", [Reply(403, b'{"title": "Forbidden"}')], "fails", "X rejected the bearer token", 1),
        case("reddit", "repeated-page", repeated_page("reddit"), "stops", "repeated"),
        case("x", "repeated-page", repeated_page("x"), "stops", "same next_token twice"),
    ]
    return out


@pytest.mark.parametrize("kind, replies, expect, words, attempts, settings", cases())
def test_fault_is_retried_or_named(replay, warehouse, clean_posts, kind, replies, expect, words, attempts,
                                   settings):
    target = TARGETS[kind]
    target.serve(replay, replies, continuation=expect != "stops")

    outcome = run_source(target, replay, warehouse, **settings)

    problems = [p for b in outcome.batches for p in b.problems]
    if expect == "loads":
        assert outcome.error is None, outcome.error
        assert outcome.posts == clean_posts[kind]
        assert outcome.attempts[-1] == 200 and len(outcome.attempts) == len(replies)
    elif expect == "fails":
        assert outcome.error is not None and outcome.error.source == target.name
        assert words in outcome.error.reason and target.name in str(outcome.error)
        assert len(outcome.attempts) == attempts
        failed = warehouse.query("select count(*) as n from api_requests where source = $s", {"s": target.name})
        assert failed[0]["n"] >= attempts  # the failed attempts are on record
    elif expect == "partial":
        assert outcome.error is None
        assert 0 < outcome.posts < clean_posts[kind]
        assert any(words in p and target.name in p for p in problems), problems
    elif expect == "empty":
        assert outcome.error is None and outcome.posts < clean_posts[kind]
        served_again = ReplayServer()
        with served_again:
            target.serve(served_again)
            again = run_source(target, served_again, warehouse)
        assert again.error is None and again.posts == clean_posts[kind]  # the empty page cost nothing
    elif expect == "stops":
        assert outcome.error is None
        assert len(replay.requests_to(target.path)) <= 2  # the page, and the one that repeats it
        assert any(words in p for p in problems), problems


# -- one source failing, the others finishing ------------------------------------------------------


def run_like_the_flow(server: ReplayServer, wh: Warehouse, targets) -> dict[str, str | None]:
    """flows/ingest.py's loop: each source on its own, a failure named and the next one run."""
    errors: dict[str, str | None] = {}
    for target in targets:
        try:
            ingest(wh, make_source(target.settings(server)))
            errors[target.name] = None
        except SourceError as err:
            errors[target.name] = str(err)
        except Exception as err:  # what the flow reports as "unexpected": must not happen
            errors[target.name] = f"unexpected {type(err).__name__}: {err}"
    return errors


@pytest.mark.parametrize("faulty", ["rss", "reddit", "x"])
def test_other_sources_finish_when_one_fails(replay, warehouse, clean_posts, faulty):
    for kind, target in TARGETS.items():
        target.serve(replay, [Reply(503, b"")] if kind == faulty else None)

    errors = run_like_the_flow(replay, warehouse, TARGETS.values())

    failed = TARGETS[faulty].name
    assert errors[failed] is not None and errors[failed].startswith(f"source {failed}: ")
    assert "unexpected" not in errors[failed]
    for kind, target in TARGETS.items():
        if kind != faulty:
            assert errors[target.name] is None
            stored = warehouse.query("select count(*) as n from posts where source = $s", {"s": target.name})
            assert stored[0]["n"] == clean_posts[kind]


@pytest.mark.slow
def test_majlis_run_names_the_failing_source_and_loads_the_others(replay, tmp_path):
    """The real flow, once: Prefect's temporary server, three sources, Reddit refusing the token."""
    for kind, target in TARGETS.items():
        target.serve(replay)
    replay.add("/api/v1/access_token", b'{"error": 401}', method="POST", status=401,
               headers={"Connection": "close"})
    config = tmp_path / "majlis.toml"
    lines = [f'[warehouse]\npath = "{tmp_path / "majlis.duckdb"}"\n']
    for target in TARGETS.values():
        lines.append("[[sources]]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in target.settings(replay).items()]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "COLUMNS": "200",
           # A busy machine can take longer than the default 20 s to start the temporary server.
           "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180", "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}

    done = subprocess.run([sys.executable, "-m", "majlis.cli", "run", "--only", "ingest", "-c", str(config)],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)

    assert done.returncode == 1, done.stdout[-2000:] + done.stderr[-2000:]
    assert "1 of 3 source(s) failed" in done.stderr and "source r-askreddit: Reddit rejected the credentials" \
        in " ".join(done.stderr.split())
    with Warehouse.open(tmp_path / "majlis.duckdb") as wh:
        runs = {r["source"]: r["status"] for r in wh.query("select source, status from source_runs")}
        loaded = {r["source"] for r in wh.query("select distinct source from posts")}
    assert runs == {"blog": "ok", "r-askreddit": "failed", "x-search": "ok"}
    assert loaded == {"blog", "x-search"}
