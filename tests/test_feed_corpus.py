"""Every recorded feed we have, through the RSS connector into one DuckDB warehouse.

The corpus: feedparser's own test suite (ill-formed documents, character encodings, every RSS,
RDF, Atom and CDF variant) and 22 real blog and forum feeds. Each file is served from 127.0.0.1
with the HTTP headers its `Header:` lines ask for (feedparser's harness does the same; the
default Content-Type is application/xml). Each one either loads rows, or is reported (a
SourceError or a problem naming the feed), or is a valid feed without entries; no other
exception may escape. Real blogs must load rows. Every batch is written to one DuckDB
warehouse, several batches per transaction to keep the module fast. Comment links point at
the live sites, so comment following is off here.

Run with `-s` to see how the corpus splits.
"""
from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from connectors import Batch, SourceError
from connectors.rss import RssConnector
from majlis.config import RssSource
from majlis.replay import ReplayServer
from warehouse import Warehouse

FEEDS = Path(__file__).parent / "fixtures" / "feeds"
BLOGS = FEEDS / "blogs"
CORPUS = sorted((FEEDS / "feedparser").rglob("*.xml")) + sorted(
    p for p in BLOGS.iterdir()
    if p.is_file() and not p.name.startswith(("LICENSE", ".")) and p.suffix != ".md"
)
HEADER_LINE = re.compile(rb"^Header:\s*([A-Za-z-]+):[ \t]*(.*?)[ \t]*$", re.MULTILINE)


def recorded_headers(body: bytes) -> dict[str, str]:
    """The response headers a feedparser test file declares in its leading comment."""
    headers = {name.decode(): value.decode("latin-1")
               for name, value in HEADER_LINE.findall(body[:2048])}
    if not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/xml"
    return headers


@pytest.fixture(scope="module")
def server():
    with ReplayServer() as replay:
        yield replay


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    """Batches go to one DuckDB file in merged writes: one transaction per file took 25 ms."""
    with Warehouse.open(tmp_path_factory.mktemp("corpus") / "majlis.duckdb") as wh:
        writer = MergedWrites(wh)
        yield writer
        writer.flush()
        stored_sources = wh.query("select count(distinct source) as n from raw_pages")[0]["n"]
        assert stored_sources == writer.sources, "every fetched feed has its raw page stored"


class MergedWrites:
    EVERY = 64

    def __init__(self, warehouse: Warehouse):
        self.warehouse = warehouse
        self.pending: list[Batch] = []
        self.sources = 0
        self.posts_seen = 0

    def add(self, batch: Batch) -> None:
        self.pending.append(batch)
        self.sources += 1
        if len(self.pending) >= self.EVERY:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        merged = Batch("corpus")
        for batch in self.pending:
            merged.raw += batch.raw
            merged.posts += batch.posts
            merged.members += batch.members
            merged.requests += batch.requests
        stats = self.warehouse.write_batch(merged)
        assert (stats.pages, stats.posts_seen) == (len(merged.raw), len(merged.posts))
        self.pending.clear()


@pytest.fixture(scope="module")
def outcomes():
    counts: Counter[str] = Counter()
    yield counts
    print(f"\nfeed corpus: {sum(counts.values())} files: " + ", ".join(
        f"{n} {what}" for what, n in counts.most_common()))


def test_corpus_holds_every_fixture_feed():
    assert len(CORPUS) > 1000
    assert len([p for p in CORPUS if p.parent == BLOGS]) == 22


@pytest.mark.parametrize("path", CORPUS, ids=[str(p.relative_to(FEEDS)) for p in CORPUS])
def test_feed_loads_rows_or_is_reported_by_name(path, server, stored, outcomes):
    index = CORPUS.index(path)
    body = path.read_bytes()
    server.add(f"/corpus/{index}", body, headers=recorded_headers(body))
    source = RssSource(kind="rss", name=f"corpus-{index}", url=server.url(f"/corpus/{index}"),
                       follow_comments=False)

    try:
        batches = list(RssConnector(source, retries=0).fetch({}))
    except SourceError as err:
        outcomes["refused with a SourceError"] += 1
        assert source.url in err.reason
        assert path.parent != BLOGS, "a real blog feed must load"
        return
    (batch,) = batches
    stored.add(batch)

    assert [page.status for page in batch.raw] == [200]
    assert all(problem.startswith(f"feed {source.name} ({source.url}): ") for problem in batch.problems)
    if path.parent == BLOGS:
        assert batch.posts
    if batch.problems:
        outcomes["reported with a problem" + (", rows loaded" if batch.posts else ", no rows")] += 1
    elif batch.posts:
        outcomes["loaded rows"] += 1
    else:
        outcomes["valid feed without entries"] += 1
        assert [r.items for r in batch.requests] == [0]
