"""Read-only queries for analysts: `majlis sql`.

The connection is opened read-only, with external access disabled and the configuration
locked, so a query can neither write the warehouse nor `COPY` it out or `INSTALL` anything.

Which file: DuckDB lets one process open a file for writing and nobody else, readers
included, while it is open. So queries read the read replica, `<name>.read.duckdb`, which
every flow refreshes when it finishes (`Warehouse.publish_read_replica`): a query never holds
the lock flows need, and it answers from one consistent snapshot, as of the last flow run.
Only when no replica exists yet does a query open the warehouse file itself; if a flow holds
it then, the message says to retry when the run finishes.

`inflate(blob)` is defined on the connection: raw page bodies are stored zlib-compressed
(`raw_pages.body_zlib`), and `decode(inflate(body_zlib))` shows one as text.
"""
from __future__ import annotations

import zlib
from pathlib import Path

import duckdb
from duckdb.sqltypes import BLOB

REPLICA_TAG = ".read"


class ReadOnlyError(Exception):
    """The query could not run; the message says why and what to do."""


def replica_path(path: Path | str) -> Path:
    """`majlis.duckdb` -> `majlis.read.duckdb`, beside it."""
    path = Path(path)
    return path.with_name(f"{path.stem}{REPLICA_TAG}{path.suffix}")


def file_to_read(path: Path | str) -> Path:
    """The replica of `path` when there is one, else `path` itself."""
    path = Path(path)
    replica = replica_path(path)
    if not path.stem.endswith(REPLICA_TAG) and replica.exists():
        return replica
    return path


def connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():
        raise ReadOnlyError(f"no warehouse at {path}: run `majlis run` (or `majlis demo`) first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise ReadOnlyError(
                f"the warehouse {path} is being written by a running flow and has no read "
                "replica yet; retry in a minute, when the run finishes (each run then leaves "
                f"{replica_path(path).name} for queries)"
            ) from None
        raise ReadOnlyError(f"cannot open {path}: {err}") from None
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    con.create_function("inflate", _inflate, [BLOB], BLOB, null_handling="special")
    return con


def _inflate(body_zlib: bytes | None) -> bytes | None:
    return None if body_zlib is None else zlib.decompress(body_zlib)


def run_query(path: Path, query: str, limit: int) -> tuple[list[str], list[tuple], bool]:
    """Column names, up to `limit` rows, and whether there were more.

    Reads the read replica of `path` when there is one (see the module docstring).
    """
    con = connect_read_only(file_to_read(path))
    try:
        try:
            cur = con.execute(query)
        except duckdb.Error as err:
            raise ReadOnlyError(f"the query failed: {err}") from None
        if cur.description is None:
            return [], [], False
        names = [d[0] for d in cur.description]
        rows = cur.fetchmany(limit + 1)
        return names, rows[:limit], len(rows) > limit
    finally:
        con.close()
