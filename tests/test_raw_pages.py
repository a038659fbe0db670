"""Raw pages are stored zlib-compressed (migration 0033) and read back byte for byte; the
warehouse's DuckDB connections cap their memory and checkpoint rarely (warehouse/_warehouse.py)."""
from __future__ import annotations

import os
import zlib
from datetime import datetime

from connectors import Batch, RawPage
from warehouse import Warehouse

FETCHED = datetime(2026, 1, 1, 12, 0)
# Not UTF-8, with a NUL and bytes zlib must keep exactly.
ODD_BODY = "<rss><title>caf\u00e9</title></rss>".encode("latin-1") + b"\x00\xff\xfe"


def store(warehouse: Warehouse, *bodies: bytes | None) -> list[int]:
    pages = [RawPage("blog", f"/feed/?page={i}", FETCHED, 200 if body is not None else 304, body,
                     "application/rss+xml") for i, body in enumerate(bodies)]
    warehouse.write_batch(Batch("blog", raw=pages))
    return [row["page_id"] for row in warehouse.query("select page_id from raw_pages order by page_id")]


def test_a_body_reads_back_byte_for_byte(warehouse):
    (page_id,) = store(warehouse, ODD_BODY)

    assert warehouse.raw_body(page_id) == ODD_BODY


def test_bodies_are_stored_compressed(warehouse):
    body = b'{"kind": "Listing", "data": {"children": []}}' * 200
    store(warehouse, body)

    (row,) = warehouse.query("select body, body_zlib from raw_pages")
    assert row["body"] is None
    assert len(row["body_zlib"]) < len(body) // 10
    assert zlib.decompress(row["body_zlib"]) == body


def test_a_not_modified_page_has_no_body(warehouse):
    (page_id,) = store(warehouse, None)

    assert warehouse.query("select body, body_zlib from raw_pages") == [{"body": None, "body_zlib": None}]
    assert warehouse.raw_body(page_id) is None


def test_a_page_stored_before_compression_reads_back_from_body(warehouse):
    warehouse.con.execute("insert into raw_pages (page_id, source, request, fetched_at, status, body)"
                          " values (nextval('raw_pages_seq'), 'blog', '/feed/', ?, 200, ?)", [FETCHED, ODD_BODY])
    (page_id,) = [r["page_id"] for r in warehouse.query("select page_id from raw_pages")]

    assert warehouse.raw_body(page_id) == ODD_BODY


def test_connections_cap_duckdb_memory(tmp_path):
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        (limit,) = wh.con.execute("select current_setting('memory_limit')").fetchone()

    assert limit == "953.6 MiB"  # 1 GB, where DuckDB's default is 80 % of RAM


def test_the_memory_cap_can_be_set_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("MAJLIS_DUCKDB_MEMORY_LIMIT", "500MB")
    with Warehouse.open(tmp_path / "w.duckdb") as wh:
        (limit,) = wh.con.execute("select current_setting('memory_limit')").fetchone()

    assert limit == "476.8 MiB"


def test_commits_are_checkpointed_every_64_mb_of_wal_not_every_16(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        for _ in range(3):  # 24 MB that zlib cannot shrink, in three commits
            store(wh, *[os.urandom(1_000_000) for _ in range(8)])
        wal = path.with_name(path.name + ".wal")
        # DuckDB's default would have checkpointed, rewriting every raw page stored so far.
        assert wal.exists() and wal.stat().st_size > 20_000_000


def test_majlis_sql_inflates_a_body_for_analysts(warehouse):
    from warehouse.readonly import run_query

    store(warehouse, b"<rss>hello</rss>", None)
    warehouse.close()

    names, rows, _ = run_query(warehouse.path, "select decode(inflate(body_zlib)) as text from raw_pages"
                                               " order by page_id", 10)
    assert names == ["text"] and rows == [("<rss>hello</rss>",), (None,)]
