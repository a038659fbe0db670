"""No config value or post text is formatted into SQL, and `majlis sql` cannot write or reach out.

1. An AST check of every module of the product: the SQL handed to `.execute`, `.executemany`,
   `.sql`, `.query` (and friends) is never an f-string, a `%` or `+` of strings, or a
   `.format()` call, nor a local variable assigned one. Values travel as `?`/`$name`
   parameters. Allowed inside an f-string: the quoting helpers `_literal` / `_identifier`
   (ATTACH paths and database names cannot be parameters) and UPPER_CASE constants. The
   check sees the statement at its call site; SQL text built by a helper function elsewhere
   is not followed (a known limit), so `REVIEWED` lists such places with the reason they are safe.
2. The quoting helpers survive hostile text (hypothesis): quoted, any string comes back as itself.
3. `majlis sql` (read-only, external access off, configuration locked): every way to write,
   copy out, read local files, load or install code, or unlock the settings is refused, and
   the DuckDB file is byte-identical afterwards.
"""
from __future__ import annotations

import ast
import hashlib
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from majlis.cli import app
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("connectors", "warehouse", "dispatch", "rules", "flows", "majlis")
SQL_METHODS = {"execute", "executemany", "sql", "query", "query_df", "from_query"}
QUOTING_HELPERS = {"_literal", "_identifier"}
# (file, function): reviewed by hand, with the reason the formatting there is safe.
REVIEWED = {
    ("warehouse/ducklake.py", "connect"):
        "ATTACH options: the data path goes through _literal, the rest are fixed words",
}


def product_modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _is_constant_name(name: str) -> bool:
    return name.isupper() or name.strip("_").isupper()


class _Finder(ast.NodeVisitor):
    """Calls whose SQL argument is built by string formatting, with the function they are in."""

    def __init__(self) -> None:
        self.found: list[tuple[int, str, str]] = []
        self.scopes: list[ast.AST] = []

    def visit_FunctionDef(self, node) -> None:
        self.scopes.append(node)
        self.generic_visit(node)
        self.scopes.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in SQL_METHODS and node.args:
            if self._formatted(node.args[0]):
                scope = self.scopes[-1].name if self.scopes else "<module>"
                self.found.append((node.lineno, scope, ast.unparse(node.args[0])[:120]))
        self.generic_visit(node)

    def _safe(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.Constant):
            return True
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in QUOTING_HELPERS:
            return True
        if isinstance(expr, ast.Name):
            return _is_constant_name(expr.id) or self._loops_over_constant(expr.id)
        if isinstance(expr, ast.Attribute):
            return _is_constant_name(expr.attr)
        return False

    def _loops_over_constant(self, name: str) -> bool:
        scope = self.scopes[-1] if self.scopes else None
        for node in ast.walk(scope) if scope else []:
            if (isinstance(node, ast.For) and isinstance(node.target, ast.Name) and node.target.id == name
                    and isinstance(node.iter, ast.Name) and _is_constant_name(node.iter.id)):
                return True
        return False

    def _formatted(self, expr: ast.AST) -> bool:
        if isinstance(expr, ast.JoinedStr):
            return any(isinstance(v, ast.FormattedValue) and not self._safe(v.value) for v in expr.values)
        if isinstance(expr, ast.BinOp):
            if isinstance(expr.op, ast.Mod):
                return True
            if isinstance(expr.op, ast.Add):
                return any(self._formatted(side) or not (self._safe(side) or isinstance(side, ast.JoinedStr))
                           for side in (expr.left, expr.right))
        if isinstance(expr, ast.Call) and isinstance(expr.func, ast.Attribute) and expr.func.attr == "format":
            return True
        if isinstance(expr, ast.Name) and self.scopes:
            return any(self._formatted(node.value) for node in ast.walk(self.scopes[-1])
                       if isinstance(node, ast.Assign) and any(
                           isinstance(t, ast.Name) and t.id == expr.id for t in node.targets))
        return False


def formatted_sql(source: str) -> list[tuple[int, str, str]]:
    finder = _Finder()
    finder.visit(ast.parse(source))
    return finder.found


def test_no_sql_is_built_by_string_formatting():
    offenders = []
    for path in product_modules():
        relative = path.relative_to(ROOT).as_posix()
        for line, scope, text in formatted_sql(path.read_text(encoding="utf-8")):
            if (relative, scope) not in REVIEWED:
                offenders.append(f"{relative}:{line} in {scope}(): {text}")
    assert offenders == [], "SQL built by formatting; use ? or $name parameters:\n" + "\n".join(offenders)


@pytest.mark.parametrize("code", [
    'con.execute(f"select * from posts where source = {name!r}")',
    'con.execute("select * from posts where source = \'%s\'" % name)',
    'con.execute("select * from posts where source = " + name)',
    'con.sql("select * from {}".format(table))',
    'def f(con, name):\n    sql = f"delete from posts where source = \'{name}\'"\n    con.execute(sql)',
    'wh.query(f"select {column} from posts")',
])
def test_the_check_catches_formatted_sql(code):
    assert formatted_sql(code)


@pytest.mark.parametrize("code", [
    'con.execute("select * from posts where source = ?", [name])',
    'con.execute("select 1" " from posts where source = $s", {"s": name})',
    'con.execute(f"attach {_literal(path)} as replica")',
    'con.execute(f"use {LAKE}")',
    'def f(con):\n    for name in EXTENSIONS:\n        con.execute(f"load {name}")',
    'con.execute(SQL_FILE.read_text())',
])
def test_the_check_lets_parameters_and_quoted_names_through(code):
    assert formatted_sql(code) == []


@settings(max_examples=100, deadline=None)
@given(text=st.text().map(lambda s: s.replace("\x00", "").encode("utf-16-le", "surrogatepass")
                          .decode("utf-16-le", "replace")))
def test_quoting_helpers_cannot_be_broken_out_of(text):
    from warehouse._warehouse import _identifier, _literal

    con = duckdb.connect()
    try:
        assert con.execute("select " + _literal(text)).fetchone()[0] == text
        assert con.execute(f"select 1 as {_identifier(text or 'x')}").description[0][0] == (text or "x")
    finally:
        con.close()


# -- majlis sql ----------------------------------------------------------------------------------

runner = CliRunner()

REFUSED = [
    "insert into posts (post_id) values ('x')",
    "update posts set title = 'x'",
    "delete from posts",
    "create table t (a int)",
    "create view v as select 1",
    "create sequence s",
    "alter table posts add column z int",
    "drop table posts",
    "select 1; drop table posts",
    "select nextval('raw_pages_seq')",
    "attach '{dir}/other.duckdb' as other",
    "attach ':memory:' as scratch",
    "copy posts to '{dir}/leak.csv'",
    "copy posts from '/etc/passwd'",
    "export database '{dir}/export'",
    "pragma memory_limit = '1MB'",
    "set threads = 1",
    "set enable_external_access = true",
    "reset enable_external_access",
    "set lock_configuration = false",
    "install httpfs",
    "load httpfs",
    "load '{dir}/evil.duckdb_extension'",
    "create secret s (type s3)",
    "select * from read_csv('/etc/passwd')",
    "select * from read_text('/etc/passwd')",
    "select * from read_blob('/etc/passwd')",
    "select * from read_json('/etc/passwd')",
    "select * from read_parquet('/etc/passwd')",
    "select * from '/etc/passwd'",
    "select * from glob('/etc/*')",
    "select * from sniff_csv('/etc/passwd')",
]
# Accepted, but they touch nothing on disk: a temporary (in-memory) table, a no-op checkpoint.
HARMLESS = ["create temp table t as select 1", "checkpoint", "force checkpoint", "vacuum", "begin transaction"]


@pytest.fixture(scope="module")
def warehouse_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sql")
    path = folder / "majlis.duckdb"
    with Warehouse.open(path) as wh:
        wh.con.execute("insert into community_snapshots values ('blog', '2026-01-01', 10, 2)")
    return path


def fingerprint(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("query", REFUSED)
def test_majlis_sql_refuses(warehouse_file, query):
    folder = warehouse_file.parent
    before = fingerprint(folder)

    result = runner.invoke(app, ["sql", "--db", str(warehouse_file), query.format(dir=folder)])

    assert result.exit_code != 0, result.output
    assert "the query failed" in result.output
    assert "root:" not in result.output  # nothing of /etc/passwd came back
    assert fingerprint(folder) == before  # no byte written, no file made


@pytest.mark.parametrize("query", HARMLESS)
def test_majlis_sql_accepts_only_what_leaves_the_file_as_it_was(warehouse_file, query):
    folder = warehouse_file.parent
    before = fingerprint(folder)

    runner.invoke(app, ["sql", "--db", str(warehouse_file), query])

    assert fingerprint(folder) == before
    again = runner.invoke(app, ["sql", "--db", str(warehouse_file), "select count(*) as n from community_snapshots"])
    assert again.exit_code == 0 and "1" in again.output
