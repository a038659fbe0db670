"""Read-only queries for analysts: `majlis sql`.

The connection is opened read-only, with external access disabled and the configuration
locked, so a query can neither write the warehouse nor `COPY` it out or `INSTALL` anything.
"""
from __future__ import annotations

from pathlib import Path

import duckdb


class ReadOnlyError(Exception):
    """The query could not run; the message says why and what to do."""


def connect_read_only(path: Path) -> duckdb.DuckDBPyConnection:
    if not Path(path).exists():
        raise ReadOnlyError(f"no warehouse at {path}: run `majlis run` (or `majlis demo`) first")
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.IOException as err:
        if "lock" in str(err).lower():
            raise ReadOnlyError(
                f"the warehouse {path} is being written by a running flow; "
                "retry in a minute, when the run finishes"
            ) from None
        raise ReadOnlyError(f"cannot open {path}: {err}") from None
    con.execute("set enable_external_access = false")
    con.execute("set lock_configuration = true")
    return con


def run_query(path: Path, query: str, limit: int) -> tuple[list[str], list[tuple], bool]:
    """Column names, up to `limit` rows, and whether there were more."""
    con = connect_read_only(path)
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
