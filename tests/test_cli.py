"""The `majlis` command as a user meets it: exit codes, messages, read-only SQL."""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from majlis.cli import app
from warehouse import Warehouse

runner = CliRunner()


@pytest.fixture
def filled_warehouse(tmp_path):
    path = tmp_path / "majlis.duckdb"
    with Warehouse.open(path) as wh:
        wh.con.execute("insert into community_snapshots values ('blog', '2026-01-01', 10, 2)")
    return path


def test_every_command_has_help():
    for args in (["--help"], ["demo", "--help"], ["run", "--help"], ["sql", "--help"],
                 ["rules", "--help"], ["goals", "--help"], ["bench", "accuracy", "--help"],
                 ["bench", "rules", "--help"], ["bench", "perf", "--help"], ["tasks", "show", "--help"], ["tasks", "ack", "--help"], ["tasks", "snooze", "--help"],
                 ["tasks", "--help"], ["tasks", "list", "--help"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage" in result.output


def test_sql_shows_rows(filled_warehouse):
    result = runner.invoke(app, ["sql", "--db", str(filled_warehouse),
                                 "select source, members_count from community_snapshots"])
    assert result.exit_code == 0, result.output
    assert "blog" in result.output and "10" in result.output


@pytest.mark.parametrize("query", [
    "insert into community_snapshots values ('x', '2026-01-02', 1, 1)",
    "drop table posts",
    "copy posts to '/tmp/majlis-leak.csv'",
    "install httpfs",
    "set enable_external_access = true",
])
def test_sql_cannot_write_or_reach_outside(filled_warehouse, query):
    result = runner.invoke(app, ["sql", "--db", str(filled_warehouse), query])
    assert result.exit_code != 0
    assert "the query failed" in result.output
    with Warehouse.open(filled_warehouse) as wh:
        assert wh.query("select count(*) n from community_snapshots")[0]["n"] == 1
    assert not Path("/tmp/majlis-leak.csv").exists()


def test_sql_while_a_writer_holds_the_file_says_when_to_retry(filled_warehouse):
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import duckdb, sys, time
            con = duckdb.connect({str(filled_warehouse)!r})
            print("ready", flush=True)
            sys.stdin.read()
        """)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = runner.invoke(app, ["sql", "--db", str(filled_warehouse), "select 1"])
        assert result.exit_code != 0
        assert "being written by a running flow" in result.output and "retry" in result.output
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)


def test_sql_on_a_missing_warehouse_says_how_to_make_one(tmp_path):
    result = runner.invoke(app, ["sql", "--db", str(tmp_path / "none.duckdb"), "select 1"])
    assert result.exit_code != 0
    assert "run `majlis run`" in result.output


def test_run_with_a_broken_config_names_the_key(tmp_path):
    config = tmp_path / "majlis.toml"
    config.write_text('[[sources]]\nkind = "rss"\nname = "blog"\nurl = "not a url"\n')
    result = runner.invoke(app, ["run", "--config", str(config)])
    assert result.exit_code == 2
    assert "sources[0] (name='blog').url" in result.output


def test_rules_lists_every_registered_rule_with_its_goal():
    from rules import registered_rules

    result = runner.invoke(app, ["rules"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    for module in registered_rules():
        assert module.RULE.id in result.output
        assert module.RULE.goal in result.output


def test_sql_on_a_ducklake_config_says_how_to_query_it(tmp_path):
    config = tmp_path / "majlis.toml"
    config.write_text('[warehouse]\nbackend = "ducklake"\ncatalog = "dbname=majlis"\ndata_path = "lake/"\n')
    result = runner.invoke(app, ["sql", "--config", str(config), "select 1"])
    assert result.exit_code == 2
    assert "attaching its catalog with the duckdb CLI" in result.output
