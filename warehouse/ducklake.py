"""The DuckLake backend: a catalog in PostgreSQL, Parquet data files, many writers at once.

`warehouse.backend = "ducklake"` in `majlis.toml`. Every worker attaches the same catalog;
DuckLake gives each transaction a snapshot and detects conflicting commits (two workers
updating the same table at once), which `Warehouse` retries.

The SQL the rest of Majlis writes is DuckDB's. DuckLake differs in four ways, and this module
is the one place that knows them:

1. No PRIMARY KEY / UNIQUE constraints and no sequences: migrations are applied with the key
   clauses and `create sequence` removed (`lake_migration`); the keys are kept in `KEYS`,
   read from the same migration files.
2. No `INSERT ... ON CONFLICT` / `INSERT OR REPLACE` (they need a key): such statements are
   rewritten into the equivalent `MERGE INTO` (`merge_statement`).
3. `nextval('raw_pages_seq')`: page ids are random 63-bit integers instead (`SEQUENCE_IDS`);
   order raw pages by `fetched_at` there.
4. No `UPDATE ... RETURNING`: the rows are selected with the same `WHERE`, then updated, in one
   transaction (`split_returning`).

`LakeConnection` wraps the DuckDB connection so callers keep writing one dialect.
"""
from __future__ import annotations

import re
import threading
import time
from functools import lru_cache
from importlib import import_module
from pathlib import Path
from typing import Any

import duckdb

LAKE = "lake"  # the catalog's name inside each DuckDB session
ATTACH_ATTEMPTS = 5
EXTENSIONS = {"ducklake": "duckdb_extension_ducklake", "postgres": "duckdb_extension_postgres"}
# Random, not ordered: there is no sequence to draw from; hash() is 64-bit unsigned.
SEQUENCE_IDS = {"raw_pages_seq": "(hash(gen_random_uuid()) >> 1)::bigint"}


class LakeUnavailable(Exception):
    """The DuckLake backend cannot start; the message says what to install or fix."""


# -- connecting ------------------------------------------------------------------------------

def extension_file(name: str) -> Path:
    """The `.duckdb_extension` shipped inside the PyPI package for `name`."""
    package = EXTENSIONS[name]
    try:
        module = import_module(package)
    except ImportError:
        raise LakeUnavailable(
            f"the DuckDB {name} extension is not installed: pip install 'majlis[ducklake]' "
            f"(package {package.replace('_', '-')}, same version as duckdb {duckdb.__version__})"
        ) from None
    found = sorted(Path(module.__file__).parent.rglob("*.duckdb_extension"))
    if not found:
        raise LakeUnavailable(f"{package} holds no .duckdb_extension file; reinstall it")
    return found[0]


def load_extensions(con: duckdb.DuckDBPyConnection) -> None:
    """Install the extensions from their PyPI packages (offline) once, then load them.

    Workers starting together on a fresh machine would install into the same extension folder
    at once and read each other's half-written files: one installs while the others wait.
    """
    import fcntl
    import tempfile

    with open(Path(tempfile.gettempdir()) / "majlis-duckdb-extensions.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        installed = {name for (name,) in con.execute(
            "select extension_name from duckdb_extensions() where installed").fetchall()}
        for name in EXTENSIONS:
            # DuckDB names the PostgreSQL extension postgres_scanner once installed.
            if name not in installed and f"{name}_scanner" not in installed:
                con.execute(f"install {_literal(str(extension_file(name)))}")
            con.execute(f"load {name}")


def connect(catalog: str, data_path: str | None, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB session with the lake attached as `lake` and selected (`USE lake`)."""
    con = duckdb.connect()
    options = ["read_only"] if read_only else []
    if data_path and not read_only:
        options.append(f"data_path {_literal(_folder(data_path))}")
    clause = f" ({', '.join(options)})" if options else ""
    # Identifiers and paths cannot be bound as parameters in ATTACH; both are quoted.
    attach = f"attach {_literal('ducklake:postgres:' + catalog)} as {LAKE}{clause}"
    for attempt in range(1, ATTACH_ATTEMPTS + 1):
        try:
            load_extensions(con)
            con.execute(attach)
            con.execute(f"use {LAKE}")
            return con
        except duckdb.Error as err:
            # Workers attaching a new catalog at once race to create its tables in PostgreSQL;
            # the losers see them "already exist" and succeed on the next attempt.
            if attempt < ATTACH_ATTEMPTS and _lost_a_race(err):
                time.sleep(0.2 * attempt)
                continue
            con.close()
            raise LakeUnavailable(f"cannot attach the DuckLake catalog ({_without_password(catalog)}): "
                                  f"{err}") from None
    raise AssertionError("unreachable")


def _lost_a_race(err: Exception) -> bool:
    text = str(err).lower()
    return any(sign in text for sign in ("already exists", "duplicate key", "conflict"))


_sessions: dict[tuple, duckdb.DuckDBPyConnection] = {}
_sessions_lock = threading.Lock()


def session(catalog: str, data_path: str | None, *, read_only: bool = False) -> tuple[duckdb.DuckDBPyConnection, bool]:
    """A connection to the lake, and whether it is the process's first to this catalog.

    Loading the extensions and attaching the catalog takes most of a second, and flows open
    the warehouse for every batch. So each process attaches once and hands out cursors
    (DuckDB connections sharing that attachment); closing one leaves the attachment.
    """
    key = (catalog, data_path, read_only)
    with _sessions_lock:
        base, first = _sessions.get(key), False
        if base is None:
            base = _sessions[key] = connect(catalog, data_path, read_only=read_only)
            first = True
    cursor = base.cursor()
    try:
        cursor.execute(f"use {LAKE}")
    except duckdb.Error:  # the attachment broke (the catalog restarted?): attach afresh
        cursor.close()
        with _sessions_lock:
            _sessions.pop(key, None)
        return session(catalog, data_path, read_only=read_only)
    return cursor, first


def _folder(data_path: str) -> str:
    return data_path if data_path.endswith("/") else data_path + "/"


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _without_password(dsn: str) -> str:
    return re.sub(r"password=\S+", "password=***", dsn)


def is_conflict(err: Exception) -> bool:
    """Another worker committed a conflicting change first; the transaction can be retried."""
    return isinstance(err, duckdb.TransactionException) or "conflict" in str(err).lower()


# -- migrations ------------------------------------------------------------------------------

_COLUMN_KEY = re.compile(r"\s+primary\s+key\b", re.I)
_TABLE_KEY = re.compile(r",\s*primary\s+key\s*\(([^)]*)\)", re.I)
_SEQUENCE = re.compile(r"create\s+sequence\s+\w+\s*;", re.I)
_CREATE_TABLE = re.compile(r"create\s+table\s+(?:if\s+not\s+exists\s+)?(\w+)\s*\((.*?)\);", re.I | re.S)
_COMMENT = re.compile(r"--[^\n]*")


def lake_migration(sql: str) -> str:
    """A migration as DuckLake can apply it: no key constraints, no sequences."""
    sql = _COMMENT.sub("", sql)
    sql = _SEQUENCE.sub("", sql)
    sql = _TABLE_KEY.sub("", sql)
    return _COLUMN_KEY.sub("", sql)


def keys_of(sql: str) -> dict[str, tuple[str, ...]]:
    """The primary key of every table a migration creates, by table name."""
    keys: dict[str, tuple[str, ...]] = {}
    for table, body in _CREATE_TABLE.findall(_COMMENT.sub("", sql)):
        table_key = _TABLE_KEY.search(body)
        if table_key:
            keys[table.lower()] = tuple(c.strip().lower() for c in table_key.group(1).split(","))
            continue
        for line in body.split(","):
            if _COLUMN_KEY.search(line):
                keys[table.lower()] = (line.split()[0].lower(),)
    return keys


@lru_cache(maxsize=1)
def migration_keys() -> dict[str, tuple[str, ...]]:
    from warehouse._warehouse import _migration_files

    keys = {"schema_migrations": ("version",)}
    for _, _, sql in _migration_files():
        keys.update(keys_of(sql))
    return keys


# -- statements ------------------------------------------------------------------------------

_ON_CONFLICT = re.compile(
    r"^\s*insert\s+into\s+(?P<table>\w+)\s*(?:\((?P<columns>[^)]*)\))?\s*(?P<source>.*?)"
    r"\s+on\s+conflict\s*\((?P<keys>[^)]*)\)\s*do\s+(?P<action>nothing|update\s+set\s+(?P<set>.*?))\s*;?\s*$",
    re.I | re.S,
)
_OR_REPLACE = re.compile(
    r"^\s*insert\s+or\s+replace\s+into\s+(?P<table>\w+)\s*(?:\((?P<columns>[^)]*)\))?\s*(?P<source>.*?)\s*;?\s*$",
    re.I | re.S,
)
_VALUES = re.compile(r"^values\s*\((.*)\)$", re.I | re.S)
_NEXTVAL = re.compile(r"nextval\(\s*'(\w+)'\s*\)", re.I)


def merge_statement(sql: str, columns_of) -> str | None:
    """The MERGE that does what an upsert statement does; None when `sql` is no upsert.

    `columns_of(table)` gives a table's columns in order (for statements without a list).
    The source rows are named `excluded` with the target's column names, so an ON CONFLICT
    `set` clause (`excluded.x`, `table.x`) carries over unchanged.
    """
    match = _ON_CONFLICT.match(sql)
    if match:
        keys = _names(match["keys"])
        action = "nothing" if match["action"].lower() == "nothing" else match["set"]
    else:
        match = _OR_REPLACE.match(sql)
        if not match:
            return None
        keys = migration_keys()[match["table"].lower()]
        action = None  # replace: every column takes the new value
    table = match["table"]
    columns = _names(match["columns"]) if match["columns"] else list(columns_of(table))
    source = _as_select(match["source"])
    if action is None:
        action = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in keys)
    on = " and ".join(f"{table}.{k} = excluded.{k}" for k in keys)
    merge = (f"merge into {table} using ({source}) as excluded({', '.join(columns)}) on ({on})")
    if action != "nothing" and action.strip():
        merge += f" when matched then update set {action}"
    return (merge + f" when not matched then insert ({', '.join(columns)})"
            f" values ({', '.join('excluded.' + c for c in columns)})")


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def _as_select(source: str) -> str:
    values = _VALUES.match(source.strip())
    return f"select {values.group(1)}" if values else source


_UPDATE_RETURNING = re.compile(
    r"^\s*update\s+(?P<table>\w+)\s+set\s+(?P<set>.*?)(?:\s+from\s+(?P<from>.*?))?"
    r"\s+where\s+(?P<where>.*)\s+returning\s+(?P<returning>[^;]*?)\s*;?\s*$",
    re.I | re.S,
)
_NAMED_PARAMETER = re.compile(r"\$(\w+)")


def split_returning(sql: str) -> tuple[str, str] | None:
    """(a SELECT of the RETURNING columns, the UPDATE without them); None for other SQL."""
    match = _UPDATE_RETURNING.match(sql)
    if not match:
        return None
    tables = match["table"] + (f", {match['from']}" if match["from"] else "")
    select = f"select {match['returning']} from {tables} where {match['where']}"
    update = f"update {match['table']} set {match['set']}"
    if match["from"]:
        update += f" from {match['from']}"
    return select, f"{update} where {match['where']}"


def _parameters_of(sql: str, parameters: Any) -> Any:
    """The named parameters `sql` uses (DuckDB refuses extra ones)."""
    if not isinstance(parameters, dict):
        return parameters
    used = set(_NAMED_PARAMETER.findall(sql))
    return {k: v for k, v in parameters.items() if k in used}


class _Rows:
    """The rows an `UPDATE ... RETURNING` would have returned."""

    def __init__(self, rows: list[tuple], description):
        self._rows = rows
        self.description = description

    def fetchall(self) -> list[tuple]:
        rows, self._rows = self._rows, []
        return rows

    def fetchone(self) -> tuple | None:
        return self._rows.pop(0) if self._rows else None


def lake_statement(sql: str, columns_of) -> str:
    """`sql` in the DuckLake dialect (see the module docstring)."""
    sql = _NEXTVAL.sub(lambda m: SEQUENCE_IDS[m.group(1)], sql)
    return merge_statement(sql, columns_of) or sql


class LakeConnection:
    """A DuckDB connection to the lake that rewrites upserts into MERGE; all else passes through."""

    def __init__(self, con: duckdb.DuckDBPyConnection):
        self._con = con
        self._columns: dict[str, list[str]] = {}

    def execute(self, sql: str, parameters: Any = None):
        split = split_returning(sql)
        if split:
            return self._update_returning(*split, parameters)
        statement = lake_statement(sql, self._columns_of)
        if parameters is None:
            return self._con.execute(statement)
        return self._con.execute(statement, parameters)

    def _update_returning(self, select: str, update: str, parameters: Any) -> _Rows:
        try:
            self._con.begin()
            own = True
        except duckdb.TransactionException:  # the caller's transaction holds both statements
            own = False
        try:
            cursor = self._con.execute(select, _parameters_of(select, parameters or []))
            description, rows = cursor.description, cursor.fetchall()
            self._con.execute(update, _parameters_of(update, parameters or []))
            if own:
                self._con.commit()
        except Exception:
            if own:
                try:
                    self._con.rollback()
                except duckdb.Error:
                    pass
            raise
        return _Rows(rows, description)

    def sql(self, sql: str, *args, **kwargs):
        return self._con.sql(lake_statement(sql, self._columns_of), *args, **kwargs)

    def _columns_of(self, table: str) -> list[str]:
        if table not in self._columns:
            rows = self._con.execute(
                "select column_name from information_schema.columns"
                " where table_catalog = $lake and table_schema = 'main' and table_name = $table"
                " order by ordinal_position", {"lake": LAKE, "table": table}).fetchall()
            self._columns[table] = [r[0] for r in rows]
        return self._columns[table]

    def __getattr__(self, name: str):
        return getattr(self._con, name)
