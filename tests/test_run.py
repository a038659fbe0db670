"""`majlis run`: one broken source fails the run by name; the others still land."""
import pytest
from typer.testing import CliRunner

from majlis.cli import app
from majlis.demo import add_blog_routes
from warehouse import Warehouse

pytestmark = pytest.mark.slow


def test_failing_source_is_named_and_the_others_are_kept(tmp_path, replay):
    add_blog_routes(replay)
    replay.add("/gone/feed/", b"not here", status=404)
    config = tmp_path / "majlis.toml"
    config.write_text(f"""
[warehouse]
path = "majlis.duckdb"

[[sources]]
kind = "rss"
name = "gone-blog"
url = "{replay.url('/gone/feed/')}"

[[sources]]
kind = "rss"
name = "majlis-blog"
url = "{replay.url('/blog/feed/')}"
""")
    result = CliRunner().invoke(app, ["run", "--config", str(config)], env={"COLUMNS": "250"})

    assert result.exit_code == 1, result.output
    assert "1 of 2 source(s) failed" in result.output
    assert "gone-blog" in result.output and "404" in result.output
    with Warehouse.open(tmp_path / "majlis.duckdb") as wh:
        kept = wh.query("select count(*) as n from posts where source = 'majlis-blog'")[0]["n"]
        runs = {r["source"]: r["status"] for r in wh.query("select source, status from source_runs")}
        tasks = wh.query("select count(*) as n from tasks")[0]["n"]
    assert kept == 13
    assert runs == {"gone-blog": "failed", "majlis-blog": "ok"}
    assert tasks > 0  # detect and dispatch ran on what the healthy source brought in
