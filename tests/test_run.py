"""`majlis run`: one broken source fails the run by name; the others still land."""
import os
import subprocess
import sys

import pytest

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
    # A process of its own, as a user runs it (Prefect's temporary server lives and dies with it).
    result = subprocess.run([sys.executable, "-m", "majlis.cli", "run", "--config", str(config)],
                            capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COLUMNS": "250", "PREFECT_HOME": str(tmp_path / "prefect")})
    output = result.stdout + result.stderr

    assert result.returncode == 1, output
    assert "1 of 2 source(s) failed" in output
    assert "gone-blog" in output and "404" in output
    with Warehouse.open(tmp_path / "majlis.duckdb") as wh:
        kept = wh.query("select count(*) as n from posts where source = 'majlis-blog'")[0]["n"]
        runs = {r["source"]: r["status"] for r in wh.query("select source, status from source_runs")}
        tasks = wh.query("select count(*) as n from tasks")[0]["n"]
    assert kept == 13
    assert runs == {"gone-blog": "failed", "majlis-blog": "ok"}
    assert tasks > 0  # detect and dispatch ran on what the healthy source brought in
