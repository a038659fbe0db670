"""Analysts query while flows write: real processes on one DuckDB warehouse.

DuckDB lets one process open a file for writing and nobody else, readers included, while it
is open. Flows hold the file only for short transactions and wait out a held lock; after
each run they publish `<name>.read.duckdb`, which `majlis sql` reads. The writer must never
fail; readers must get a consistent answer or a message saying when to retry.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import duckdb
import pytest

from warehouse import Warehouse
from warehouse.readonly import ReadOnlyError, replica_path, run_query

ROUNDS = 6
POSTS_PER_ROUND = 15

# Ingests a feed that grows by POSTS_PER_ROUND items a round, through the same functions the
# ingest flow's tasks run (short writes, lock waits), publishing the replica after each round.
WRITER = textwrap.dedent("""
    import logging, sys
    from email.utils import format_datetime
    from datetime import datetime, timedelta, timezone
    from pathlib import Path
    from flows._ops import publish_read_replica
    from flows._ingest import ingest_into_warehouse
    from majlis.config import load_config
    from majlis.replay import ReplayServer

    folder, rounds, per_round = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)

    def feed(count):
        items = "".join(
            f"<item><title>Post {i}</title><link>http://127.0.0.1/p/{i}</link>"
            f"<guid>grow-{i}</guid><dc:creator>member {i % 7}</dc:creator>"
            f"<pubDate>{format_datetime(start + timedelta(hours=i))}</pubDate>"
            f"<description>How do I join the reading circle number {i}?</description></item>"
            for i in range(count))
        return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>grow</title>'
                f'<link>http://127.0.0.1/</link><description>d</description>{items}</channel></rss>')

    with ReplayServer() as replay:
        (folder / "majlis.toml").write_text(
            '[warehouse]\\npath = "majlis.duckdb"\\n[[sources]]\\nkind = "rss"\\nname = "grow"\\n'
            f'url = "{replay.url("/feed.xml")}"\\nfollow_comments = false\\n', encoding="utf-8")
        config = load_config(folder / "majlis.toml")
        log = logging.getLogger("writer")
        for n in range(1, rounds + 1):
            replay.add("/feed.xml", feed(n * per_round), content_type="application/rss+xml",
                       etag=f'"round-{n}"')
            ingest_into_warehouse(config, "grow", f"run-{n}", log)
            publish_read_replica(config)
            print(f"round {n}", flush=True)
""")

# `majlis sql` as an analyst runs it, in a loop: each answer must be one consistent snapshot,
# where every stored post is accounted for by the runs that stored it.
SQL_READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from warehouse.readonly import ReadOnlyError, run_query

    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    seen = {"answers": 0, "retry": 0, "inconsistent": [], "errors": []}
    query = ("select (select count(*) from posts), (select coalesce(sum(posts_new), 0) from source_runs),"
             " (select count(*) from source_runs)")
    while not stop.exists():
        time.sleep(0.02)  # an eager analyst, not a busy loop starving the writer of CPU
        try:
            _, rows, _ = run_query(path, query, 10)
        except ReadOnlyError as err:
            if "retry" in str(err):
                seen["retry"] += 1
            else:
                seen["errors"].append(str(err))
            continue
        posts, accounted, runs = rows[0]
        seen["answers"] += 1
        if posts != accounted:
            seen["inconsistent"].append(rows[0])
    print(json.dumps(seen))
""")

# The duckdb CLI pointed at the file flows write (what docs/warehouse.md asks analysts not to
# do): it may be refused while a flow writes, and must not make the flow fail either.
FILE_READER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    import duckdb

    path, stop = Path(sys.argv[1]), Path(sys.argv[2])
    seen = {"answers": 0, "locked": 0, "errors": []}
    while not stop.exists():
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.IOException as err:
            if "lock" in str(err).lower():
                seen["locked"] += 1
            else:
                seen["errors"].append(str(err))
            time.sleep(0.01)
            continue
        try:
            con.execute("select count(*) from posts").fetchall()
            seen["answers"] += 1
        finally:
            con.close()
        time.sleep(0.01)
    print(json.dumps(seen))
""")


def _python(code: str, *args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.fixture(scope="module")
def concurrent_run(tmp_path_factory):
    """A writer ingesting ROUNDS times while two `majlis sql` readers and one file reader loop."""
    tmp_path = tmp_path_factory.mktemp("concurrent")
    stop = tmp_path / "stop"
    writer = _python(WRITER, tmp_path, ROUNDS, POSTS_PER_ROUND)
    # Readers start once the first round is stored, as they would on a warehouse in service.
    first = writer.stdout.readline()
    assert first.strip() == "round 1", writer.communicate(timeout=60)
    warehouse = tmp_path / "majlis.duckdb"
    readers = [_python(SQL_READER, warehouse, stop), _python(SQL_READER, warehouse, stop)]
    file_reader = _python(FILE_READER, warehouse, stop)
    try:
        out, err = writer.communicate(timeout=120)
    finally:
        stop.touch()
    results = [json.loads(r.communicate(timeout=60)[0]) for r in readers]
    file_result = json.loads(file_reader.communicate(timeout=60)[0])
    return {"writer": (writer.returncode, first + out, err), "readers": results,
            "file_reader": file_result, "warehouse": warehouse}


def test_writer_never_fails_while_readers_query(concurrent_run):
    code, out, err = concurrent_run["writer"]
    assert code == 0, err[-3000:]
    assert out.split() == [w for n in range(1, ROUNDS + 1) for w in ("round", str(n))]
    with Warehouse.open(concurrent_run["warehouse"]) as wh:
        counts = wh.query("select count(*) as posts, count(distinct post_id) as ids from posts")[0]
    assert counts == {"posts": ROUNDS * POSTS_PER_ROUND, "ids": ROUNDS * POSTS_PER_ROUND}


def test_sql_readers_always_get_a_consistent_snapshot(concurrent_run):
    for seen in concurrent_run["readers"]:
        assert seen["errors"] == [] and seen["inconsistent"] == []
        assert seen["answers"] > 0
        assert seen["retry"] == 0  # the replica exists from the first round on


def test_readers_of_the_live_file_are_refused_or_answered_never_broken(concurrent_run):
    seen = concurrent_run["file_reader"]
    assert seen["errors"] == []
    assert seen["answers"] + seen["locked"] > 0


def test_replica_answers_the_last_finished_run(concurrent_run):
    _, rows, _ = run_query(concurrent_run["warehouse"], "select count(*), count(distinct source) from posts", 5)
    assert rows == [(ROUNDS * POSTS_PER_ROUND, 1)]


@pytest.fixture
def held_warehouse(tmp_path):
    """A warehouse with one snapshot row, held open for writing by another process."""
    path = tmp_path / "majlis.duckdb"
    with Warehouse.open(path) as wh:
        wh.con.execute("insert into community_snapshots values ('blog', '2026-01-01', 10, 2)")

    def hold():
        holder = subprocess.Popen(
            [sys.executable, "-c", "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
                                   "print('ready', flush=True); sys.stdin.read()", str(path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert holder.stdout.readline().strip() == "ready"
        return holder

    return path, hold


def test_sql_answers_from_the_replica_while_a_flow_holds_the_file(held_warehouse):
    path, hold = held_warehouse
    with Warehouse.open(path) as wh:
        wh.publish_read_replica()
    holder = hold()
    try:
        _, rows, _ = run_query(path, "select members_count from community_snapshots", 10)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert rows == [(10,)]


def test_sql_without_a_replica_says_when_to_retry(held_warehouse):
    path, hold = held_warehouse
    holder = hold()
    try:
        with pytest.raises(ReadOnlyError, match="retry in a minute, when the run finishes"):
            run_query(path, "select 1", 10)
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_publishing_replaces_the_replica_without_disturbing_an_open_reader(tmp_path):
    path = tmp_path / "majlis.duckdb"
    with Warehouse.open(path) as wh:
        wh.con.execute("insert into community_snapshots values ('blog', '2026-01-01', 10, 2)")
        wh.publish_read_replica()
        reader = duckdb.connect(str(replica_path(path)), read_only=True)
        wh.con.execute("insert into community_snapshots values ('blog', '2026-01-02', 11, 2)")
        wh.publish_read_replica()
    try:
        assert reader.execute("select count(*) from community_snapshots").fetchall() == [(1,)]
    finally:
        reader.close()
    _, rows, _ = run_query(path, "select count(*) from community_snapshots", 10)
    assert rows == [(2,)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["majlis.duckdb", "majlis.read.duckdb"]
