from __future__ import annotations

import json
import os
import random
import time
import zlib
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib import resources
from operator import attrgetter
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TypeVar

import duckdb
import pyarrow as pa

from connectors import ApiRequest, Batch, Member, Post, RawPage, Snapshot

MIGRATIONS = "warehouse.migrations"
# DuckDB caches up to 80 % of RAM by default: a long ingest grew to 3.5 GB of cached blocks.
# Past this limit it evicts clean blocks and spills large sorts and joins to disk instead.
# MAJLIS_DUCKDB_MEMORY_LIMIT overrides it ("2GB", "500MB").
MEMORY_LIMIT = "1GB"
# A checkpoint rewrites the last row group of every table appended to, raw_pages' included
# (~120k pages share one), so it costs as much as the page bytes stored so far: checkpoint
# every 64 MB of WAL rather than DuckDB's 16 MB (closing a connection checkpoints too).
CHECKPOINT_WAL = "64MB"
# zlib level 1: ~250 MB/s here and ~5x smaller for JSON (zstd is not in the standard library).
RAW_COMPRESSION_LEVEL = 1
# DuckLake: a commit that conflicts with another worker's is retried this many times.
LAKE_ATTEMPTS = 12
T = TypeVar("T")


class WarehouseBusy(Exception):
    """Another process holds the DuckDB file for writing; try again when it finishes."""


def connection_config() -> dict[str, str]:
    """Settings of every connection to a warehouse file: memory and checkpoints, not results."""
    return {"memory_limit": os.environ.get("MAJLIS_DUCKDB_MEMORY_LIMIT") or MEMORY_LIMIT,
            "checkpoint_threshold": CHECKPOINT_WAL}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def utc_naive(value: datetime | None) -> datetime | None:
    """The warehouse stores naive UTC timestamps."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


RAW_SCHEMA = pa.schema([
    ("source", pa.string()), ("request", pa.string()), ("fetched_at", pa.timestamp("us")),
    ("status", pa.int32()), ("content_type", pa.string()), ("body_zlib", pa.binary()),
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


def _arrow(records: Sequence[Any], schema: pa.Schema, given: dict[str, list] | None = None) -> pa.Table:
    """The records as a table of `schema`; `given` columns are taken as they are, not read
    from the records."""
    # Column by column: dataclasses.asdict deep-copies every record and was a fifth of ingest.
    columns = {}
    for field_ in schema:
        if given and field_.name in given:
            columns[field_.name] = given[field_.name]
            continue
        # Aware datetimes need no conversion here: pyarrow stores them as UTC in a zone-less
        # timestamp column (tests/test_warehouse.py checks it).
        columns[field_.name] = list(map(attrgetter(field_.name), records))
    try:
        return pa.Table.from_pydict(columns, schema=schema)
    except UnicodeEncodeError:
        # A lone surrogate (JSON's "\ud83d" from a post cut mid-emoji) has no UTF-8 form:
        # it becomes U+FFFD and the record is stored, instead of failing the whole batch.
        fixed = {name: [_valid_unicode(v) for v in values] for name, values in columns.items()}
        return pa.Table.from_pydict(fixed, schema=schema)


def _valid_unicode(value: Any) -> Any:
    if not isinstance(value, str) or value.isascii():
        return value
    # Through UTF-16: a split but complete pair joins up again, a lone half becomes U+FFFD.
    return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


@dataclass(frozen=True)
class BatchStats:
    pages: int
    posts_seen: int
    posts_new: int


class Warehouse:
    """One open warehouse. Use as a context manager, or call `close()`.

    `backend` is "duckdb" (one file, one writing process at a time) or "ducklake" (a catalog in
    PostgreSQL shared by many workers; `con` then rewrites upserts, see warehouse/ducklake.py).
    """

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path | None, backend: str = "duckdb"):
        self.con = con
        self.path = path
        self.backend = backend

    @classmethod
    def open(cls, path: "Path | str | Any", *, read_only: bool = False, wait_s: float = 0.0) -> "Warehouse":
        """Open (creating if needed) and migrate. With `wait_s`, retry a held lock that long.

        `path` is the DuckDB file, or the config's `[warehouse]` table (`WarehouseConfig`),
        whose `backend` chooses between that file and a DuckLake catalog.
        """
        if hasattr(path, "backend"):  # a WarehouseConfig; duck-typed to keep config out of here
            if path.backend == "ducklake":
                return cls._open_lake(path, read_only=read_only)
            path = path.path
        path = Path(path)
        if not read_only:
            path.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + wait_s
        while True:
            try:
                con = duckdb.connect(str(path), read_only=read_only, config=connection_config())
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
    def _open_lake(cls, config: Any, *, read_only: bool) -> "Warehouse":
        from warehouse import ducklake

        con, first = ducklake.session(config.catalog, config.data_path, read_only=read_only)
        warehouse = cls(ducklake.LakeConnection(con), Path(config.path), backend="ducklake")
        if first and not read_only:  # once per process: the schema does not change under it
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
        """Apply migrations not yet recorded; return the names applied.

        On DuckLake several workers may start at once: a migration another worker applied
        first makes this one's commit conflict, and it is then skipped, not applied twice.
        """
        lake = self.backend == "ducklake"
        ledger = ("create table if not exists schema_migrations ("
                  " version integer primary key, name varchar not null, applied_at timestamp not null)")
        if lake:
            from warehouse.ducklake import lake_migration

            ledger = lake_migration(ledger)
        self.in_transaction(lambda: self.con.execute(ledger), retry_any=lake)
        done = {v for (v,) in self.con.execute("select version from schema_migrations").fetchall()}
        applied = []
        for version, name, sql in _migration_files():
            if version in done:
                continue
            if lake:
                sql = lake_migration(sql)

            def apply(version=version, name=name, sql=sql) -> bool:
                if self.con.execute("select 1 from schema_migrations where version = ?",
                                    [version]).fetchall():
                    return False  # done, by an earlier run or by another worker just now
                self.con.execute(sql)
                self.con.execute("insert into schema_migrations values (?, ?, ?)",
                                 [version, name, utcnow()])
                return True

            if self.in_transaction(apply, retry_any=lake):
                applied.append(name)
        return applied

    def in_transaction(self, work: Callable[[], T], *, retry_any: bool = False) -> T:
        """Run `work` in one transaction. On DuckLake, retry it when its commit conflicts with
        another worker's (or, with `retry_any`, on any error: a migration racing another)."""
        attempts = LAKE_ATTEMPTS if self.backend == "ducklake" else 1
        for attempt in range(1, attempts + 1):
            self.con.execute("begin transaction")
            try:
                result = work()
                self.con.execute("commit")
                return result
            except Exception as err:
                self._rollback()
                from warehouse.ducklake import is_conflict

                if attempt == attempts or not (retry_any or is_conflict(err)):
                    raise
                time.sleep(min(2.0, 0.05 * 2 ** attempt) * random.uniform(0.5, 1.5))
        raise AssertionError("unreachable")

    def _rollback(self) -> None:
        try:
            self.con.execute("rollback")
        except duckdb.Error:
            pass  # a failed commit has already rolled back

    def publish_read_replica(self) -> Path | None:
        """Copy a consistent snapshot of the file to `<name>.read.duckdb`, for readers.

        Readers (`majlis sql`, the duckdb CLI) open the replica, never the file flows write,
        so they cannot hold its lock. The copy is written under a temporary name and renamed
        over the replica: a reader sees the old snapshot or the new one, never half of one.
        DuckLake needs no replica (readers attach the catalog read-only); returns None there.
        """
        if self.backend != "duckdb" or self.path is None:
            return None
        from warehouse.readonly import replica_path

        target = replica_path(self.path)
        partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
        for leftover in (partial, Path(f"{partial}.wal")):
            leftover.unlink(missing_ok=True)
        (source,) = self.con.execute("select current_database()").fetchone()
        # ATTACH and COPY FROM DATABASE take names and paths, not parameters: both are quoted.
        self.con.execute(f"attach {_literal(str(partial))} as majlis_read_replica")
        try:
            self.con.execute(f"copy from database {_identifier(source)} to majlis_read_replica")
        finally:
            self.con.execute("detach majlis_read_replica")
        os.replace(partial, target)
        return target

    def tables(self) -> dict[str, list[str]]:
        """Every table and view in the main schema with its columns, for the docs check."""
        rows = self.con.execute(
            "select table_name, column_name from information_schema.columns"
            " where table_catalog = current_database() and table_schema = 'main'"
            " order by table_name, ordinal_position"
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

    def raw_body(self, page_id: int) -> bytes | None:
        """The bytes page `page_id` of `raw_pages` arrived with (None: no body, e.g. a 304)."""
        row = self.con.execute("select body, body_zlib from raw_pages where page_id = ?",
                               [page_id]).fetchone()
        return page_body(*row) if row else None

    def cursor(self, source: str) -> dict:
        row = self.con.execute(
            "select state from source_cursors where source = ?", [source]
        ).fetchone()
        return json.loads(row[0]) if row else {}

    # -- writes ---------------------------------------------------------------------------

    def write_batch(self, batch: Batch, annotations: dict[str, list] | None = None) -> BatchStats:
        """Store a batch's raw pages, records and cursor in one transaction.

        `annotations` are the posts' `lang` and `is_question` columns if they were computed
        already (`annotations_from`, e.g. in another process while the next batch was fetched);
        without them they are computed here.
        """
        if batch.posts and annotations is None:
            annotations = _annotations(batch.posts)
        posts = _arrow(batch.posts, POST_SCHEMA, annotations) if batch.posts else None

        def write() -> int:
            self._insert_raw(batch.raw)
            posts_new = self._upsert_posts(posts)
            self._upsert_members(batch.members)
            self._insert_snapshots(batch.snapshots)
            self._insert_requests(batch.requests)
            if batch.cursor is not None:
                self.con.execute(
                    "insert or replace into source_cursors values (?, ?, ?)",
                    [batch.source, json.dumps(batch.cursor, default=str), utcnow()],
                )
            return posts_new

        posts_new = self.in_transaction(write)
        return BatchStats(pages=len(batch.raw), posts_seen=len(batch.posts), posts_new=posts_new)

    def _insert_raw(self, pages: list[RawPage]) -> None:
        if not pages:
            return
        compressed = [compress_body(page.body) for page in pages]
        incoming = _arrow(pages, RAW_SCHEMA, {"body_zlib": compressed})
        self.con.register("incoming_raw", incoming)
        try:
            self.con.execute(
                "insert into raw_pages (page_id, source, request, fetched_at, status, content_type, body_zlib)"
                " select nextval('raw_pages_seq'), source, request, fetched_at, status, content_type,"
                " body_zlib from incoming_raw"
            )
        finally:
            self.con.unregister("incoming_raw")

    def _upsert_posts(self, incoming: pa.Table | None) -> int:
        if incoming is None or not incoming.num_rows:
            return 0
        now = utcnow()
        self.con.register("incoming_posts", incoming)
        try:
            # New posts are the rows the upsert adds. Counted before and after, not by an anti
            # join, which hashes every stored post_id on each batch (0.7 s a batch at 3M posts).
            (before,) = self.con.execute("select count(*) from posts").fetchone()
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
            (after,) = self.con.execute("select count(*) from posts").fetchone()
        finally:
            self.con.unregister("incoming_posts")
        return int(after - before)

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
            self.in_transaction(lambda: self.con.execute(
                "update members set is_manager = true where member_id in (select unnest($ids))"
                " and not is_manager",  # an unchanged row is not rewritten (no DuckLake conflict)
                {"ids": ids},
            ))

    def record_source_run(
        self, run_id: str, source: str, started_at: datetime, status: str,
        pages: int = 0, posts_seen: int = 0, posts_new: int = 0,
        problems: list[str] | None = None, error: str | None = None, summary: str | None = None,
    ) -> None:
        self.in_transaction(lambda: self.con.execute(
            "insert or replace into source_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [run_id, source, utc_naive(started_at), utcnow(), status, pages, posts_seen,
             posts_new, problems or [], error, summary],
        ))


def compress_body(body: bytes | None) -> bytes | None:
    """A raw page's body as `raw_pages.body_zlib` stores it."""
    return None if body is None else zlib.compress(body, RAW_COMPRESSION_LEVEL)


def page_body(body: bytes | None, body_zlib: bytes | None) -> bytes | None:
    """The bytes a page arrived with, from its `raw_pages` row (`body` holds pages stored
    before migration 0033, verbatim; `body_zlib` the later ones)."""
    return zlib.decompress(body_zlib) if body_zlib is not None else body


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def texts_to_annotate(posts: list[Post]) -> tuple[list[int], tuple[list, list, list]]:
    """The posts the platform left without a language or question flag (their positions), and
    the titles, bodies and languages `majlis.text.annotate` reads of them."""
    todo = [i for i, p in enumerate(posts) if p.is_question is None or p.lang is None]
    # lingua takes valid Unicode only; what it reads needs no lone surrogates (see _valid_unicode).
    return todo, ([_valid_unicode(posts[i].title) for i in todo], [_valid_unicode(posts[i].body) for i in todo],
                  [_valid_unicode(posts[i].lang) for i in todo])


def _annotations(posts: list[Post]) -> dict[str, list]:
    """The `lang` and `is_question` columns, filled where the platform did not say."""
    todo, texts = texts_to_annotate(posts)
    if not todo:
        return {}
    from majlis.text import annotate

    return annotations_from(posts, todo, *annotate(*texts))


def annotations_from(posts: list[Post], todo: list[int], langs: list, questions: list) -> dict[str, list]:
    """`write_batch`'s `annotations`: what `annotate` found for the posts at `todo`, merged
    with what the platform said."""
    if not todo:
        return {}
    # Columns, not new records: dataclasses.replace per post cost 2 s per 100k posts.
    lang = [p.lang for p in posts]
    is_question = [p.is_question for p in posts]
    for i, found_lang, question in zip(todo, langs, questions):
        lang[i] = lang[i] or found_lang
        if is_question[i] is None:
            is_question[i] = question
    return {"lang": lang, "is_question": is_question}


def _migration_files() -> list[tuple[int, str, str]]:
    out = []
    for entry in resources.files(MIGRATIONS).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            out.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(out)
