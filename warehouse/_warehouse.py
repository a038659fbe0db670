from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Sequence

import duckdb
import pyarrow as pa

from connectors import ApiRequest, Batch, Member, Post, RawPage, Snapshot

MIGRATIONS = "warehouse.migrations"


class WarehouseBusy(Exception):
    """Another process holds the DuckDB file for writing; try again when it finishes."""


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_naive(value: datetime | None) -> datetime | None:
    """The warehouse stores naive UTC timestamps."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


RAW_SCHEMA = pa.schema([
    ("source", pa.string()), ("request", pa.string()), ("fetched_at", pa.timestamp("us")),
    ("status", pa.int32()), ("content_type", pa.string()), ("body", pa.binary()),
])
POST_SCHEMA = pa.schema([
    ("post_id", pa.string()), ("platform", pa.string()), ("source", pa.string()),
    ("kind", pa.string()), ("thread_id", pa.string()), ("parent_id", pa.string()),
    ("author_id", pa.string()), ("created_at", pa.timestamp("us")), ("title", pa.string()),
    ("body", pa.string()), ("url", pa.string()), ("score", pa.int64()),
    ("reply_count", pa.int64()), ("lang", pa.string()), ("is_question", pa.bool_()),
    ("state", pa.string()),
])
MEMBER_SCHEMA = pa.schema([
    ("member_id", pa.string()), ("platform", pa.string()), ("handle", pa.string()),
    ("display_name", pa.string()), ("first_seen_at", pa.timestamp("us")),
    ("last_seen_at", pa.timestamp("us")), ("is_manager", pa.bool_()), ("is_bot", pa.bool_()),
])
REQUEST_SCHEMA = pa.schema([
    ("source", pa.string()), ("requested_at", pa.timestamp("us")), ("method", pa.string()),
    ("endpoint", pa.string()), ("status", pa.int32()), ("items", pa.int64()),
    ("elapsed_ms", pa.int64()), ("ratelimit_remaining", pa.float64()),
    ("ratelimit_reset_s", pa.float64()),
])
SNAPSHOT_SCHEMA = pa.schema([
    ("source", pa.string()), ("captured_at", pa.timestamp("us")),
    ("members_count", pa.int64()), ("active_members", pa.int64()),
])


def _arrow(records: Sequence[Any], schema: pa.Schema) -> pa.Table:
    rows = []
    for record in records:
        row = asdict(record)
        for name, value in row.items():
            if isinstance(value, datetime):
                row[name] = utc_naive(value)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=schema)


@dataclass(frozen=True)
class BatchStats:
    pages: int
    posts_seen: int
    posts_new: int


class Warehouse:
    """One open DuckDB file. Use as a context manager, or call `close()`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None):
        self.con = con
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, read_only: bool = False, wait_s: float = 0.0) -> "Warehouse":
        """Open (creating if needed) and migrate. With `wait_s`, retry a held lock that long."""
        path = Path(path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only)
                break
            except duckdb.IOException as err:
                if "lock" not in str(err).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise WarehouseBusy(
                        f"the warehouse {path} is in use by another process (a flow writing?); "
                        "retry when it finishes"
                    ) from None
                time.sleep(0.2)
        warehouse = cls(con, path)
        if not read_only:
            warehouse.migrate()
        return warehouse

    @classmethod
    def in_memory(cls) -> "Warehouse":
        warehouse = cls(duckdb.connect(":memory:"), None)
        warehouse.migrate()
        return warehouse

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Warehouse":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply migrations not yet recorded; return the names applied."""
        self.con.execute(
            "create table if not exists schema_migrations ("
            " version integer primary key, name varchar not null, applied_at timestamp not null)"
        )
        done = {v for (v,) in self.con.execute("select version from schema_migrations").fetchall()}
        applied = []
        for version, name, sql in _migration_files():
            if version in done:
                continue
            self.con.execute("begin transaction")
            try:
                self.con.execute(sql)
                self.con.execute(
                    "insert into schema_migrations values (?, ?, ?)", [version, name, utcnow()]
                )
                self.con.execute("commit")
            except Exception:
                self.con.execute("rollback")
                raise
            applied.append(name)
        return applied

    def tables(self) -> dict[str, list[str]]:
        """Every table and view in the main schema with its columns, for the docs check."""
        rows = self.con.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_schema = 'main' order by table_name, ordinal_position"
        ).fetchall()
        out: dict[str, list[str]] = {}
        for table, column in rows:
            out.setdefault(table, []).append(column)
        return out

    # -- reads ----------------------------------------------------------------------------

    def query(self, sql: str, params: dict | list | None = None) -> list[dict]:
        cur = self.con.execute(sql, params or [])
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def cursor(self, source: str) -> dict:
        row = self.con.execute(
            "select state from source_cursors where source = ?", [source]
        ).fetchone()
        return json.loads(row[0]) if row else {}

    # -- writes ---------------------------------------------------------------------------

    def write_batch(self, batch: Batch) -> BatchStats:
        """Store a batch's raw pages, records and cursor in one transaction."""
        con = self.con
        con.execute("begin transaction")
        try:
            self._insert_raw(batch.raw)
            posts_new = self._upsert_posts(_annotated(batch.posts))
            self._upsert_members(batch.members)
            self._insert_snapshots(batch.snapshots)
            self._insert_requests(batch.requests)
            if batch.cursor is not None:
                con.execute(
                    "insert or replace into source_cursors values (?, ?, ?)",
                    [batch.source, json.dumps(batch.cursor, default=str), utcnow()],
                )
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise
        return BatchStats(pages=len(batch.raw), posts_seen=len(batch.posts), posts_new=posts_new)

    def _insert_raw(self, pages: list[RawPage]) -> None:
        if not pages:
            return
        incoming = _arrow(pages, RAW_SCHEMA)
        self.con.register("incoming_raw", incoming)
        try:
            self.con.execute(
                "insert into raw_pages select nextval('raw_pages_seq'), source, request,"
                " fetched_at, status, content_type, body from incoming_raw"
            )
        finally:
            self.con.unregister("incoming_raw")

    def _upsert_posts(self, posts: list[Post]) -> int:
        if not posts:
            return 0
        incoming = _arrow(posts, POST_SCHEMA)
        now = utcnow()
        self.con.register("incoming_posts", incoming)
        try:
            (new,) = self.con.execute(
                "select count(distinct post_id) from incoming_posts"
                " where post_id not in (select post_id from posts)"
            ).fetchone()
            # The last copy of a post within a batch wins; a deleted or removed post keeps
            # the last text we saw, and its state says what happened.
            self.con.execute(
                """
                insert into posts
                select *, $now as fetched_at, $now as updated_at from incoming_posts
                qualify row_number() over (partition by post_id) = count(*) over (partition by post_id)
                on conflict (post_id) do update set
                    kind = excluded.kind,
                    thread_id = coalesce(excluded.thread_id, posts.thread_id),
                    parent_id = coalesce(excluded.parent_id, posts.parent_id),
                    author_id = coalesce(excluded.author_id, posts.author_id),
                    created_at = coalesce(posts.created_at, excluded.created_at),
                    title = case when excluded.state in ('deleted', 'removed')
                                 then posts.title else coalesce(excluded.title, posts.title) end,
                    body = case when excluded.state in ('deleted', 'removed')
                                then posts.body else coalesce(excluded.body, posts.body) end,
                    url = coalesce(excluded.url, posts.url),
                    score = coalesce(excluded.score, posts.score),
                    reply_count = coalesce(excluded.reply_count, posts.reply_count),
                    lang = coalesce(excluded.lang, posts.lang),
                    is_question = coalesce(excluded.is_question, posts.is_question),
                    state = excluded.state,
                    updated_at = excluded.updated_at
                """,
                {"now": now},
            )
        finally:
            self.con.unregister("incoming_posts")
        return int(new)

    def _upsert_members(self, members: list[Member]) -> None:
        if not members:
            return
        self.con.register("incoming_members", _arrow(members, MEMBER_SCHEMA))
        try:
            self.con.execute(
                """
                insert into members
                select member_id, any_value(platform), max(handle), max(display_name),
                       min(first_seen_at), max(last_seen_at),
                       bool_or(is_manager), bool_or(is_bot)
                from incoming_members group by member_id
                on conflict (member_id) do update set
                    handle = coalesce(excluded.handle, members.handle),
                    display_name = coalesce(excluded.display_name, members.display_name),
                    first_seen_at = least(members.first_seen_at, excluded.first_seen_at),
                    last_seen_at = greatest(members.last_seen_at, excluded.last_seen_at),
                    is_manager = members.is_manager or excluded.is_manager,
                    is_bot = members.is_bot or excluded.is_bot
                """
            )
        finally:
            self.con.unregister("incoming_members")

    def _insert_snapshots(self, snapshots: list[Snapshot]) -> None:
        if not snapshots:
            return
        self.con.register("incoming_snapshots", _arrow(snapshots, SNAPSHOT_SCHEMA))
        try:
            self.con.execute(
                "insert or replace into community_snapshots"
                " select * from incoming_snapshots"
                " qualify row_number() over (partition by source, captured_at) = 1"
            )
        finally:
            self.con.unregister("incoming_snapshots")

    def _insert_requests(self, requests: list[ApiRequest]) -> None:
        if not requests:
            return
        self.con.register("incoming_requests", _arrow(requests, REQUEST_SCHEMA))
        try:
            self.con.execute("insert into api_requests select * from incoming_requests")
        finally:
            self.con.unregister("incoming_requests")

    def mark_managers(self, member_ids: Iterable[str]) -> None:
        """Members named as managers in the config (their handles)."""
        ids = list(member_ids)
        if ids:
            self.con.execute(
                "update members set is_manager = true where member_id in (select unnest($ids))",
                {"ids": ids},
            )

    def record_source_run(
        self, run_id: str, source: str, started_at: datetime, status: str,
        pages: int = 0, posts_seen: int = 0, posts_new: int = 0,
        problems: list[str] | None = None, error: str | None = None,
    ) -> None:
        self.con.execute(
            "insert or replace into source_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, source, utc_naive(started_at), utcnow(), status, pages, posts_seen,
             posts_new, problems or [], error],
        )


def _annotated(posts: list[Post]) -> list[Post]:
    """Fill language (where the platform did not say) and the question flag."""
    todo = [i for i, p in enumerate(posts) if p.is_question is None or p.lang is None]
    if not todo:
        return posts
    from majlis.text import annotate

    langs, questions = annotate(
        [posts[i].title for i in todo], [posts[i].body for i in todo], [posts[i].lang for i in todo]
    )
    out = list(posts)
    for i, lang, question in zip(todo, langs, questions):
        post = posts[i]
        out[i] = replace(
            post, lang=post.lang or lang,
            is_question=question if post.is_question is None else post.is_question,
        )
    return out


def _migration_files() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files(MIGRATIONS).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)
