"""`majlis demo`, run as a user runs it: a real process, a real DuckDB file, real deliveries."""
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

pytestmark = pytest.mark.slow

MAJLIS = [sys.executable, "-m", "majlis.cli"]


def run_demo(workdir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "200", "PREFECT_HOME": str(workdir / "prefect-home")}
    return subprocess.run([*MAJLIS, "demo", "--dir", str(workdir)], capture_output=True, text=True,
                          env=env, timeout=300)


@pytest.fixture(scope="module")
def demo_runs(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    first = run_demo(workdir)
    second = run_demo(workdir)
    return workdir, first, second


def _tasks(workdir: Path) -> dict[str, dict]:
    con = duckdb.connect(str(workdir / "majlis.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "select p.author_id, p.lang, t.status, t.summary, t.assignee from tasks t"
            " join findings f using (finding_id) join posts p on p.post_id = f.subject_id"
            " where t.rule = 'unanswered-questions'"
        ).fetchall()
    finally:
        con.close()
    return {author: {"lang": lang, "status": status, "summary": summary, "assignee": assignee}
            for author, lang, status, summary, assignee in rows}


def test_demo_succeeds_and_says_where_the_warehouse_is(demo_runs):
    workdir, first, _ = demo_runs
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert str(workdir / "majlis.duckdb") in first.stdout
    assert "majlis sql" in first.stdout


def test_demo_summary_shows_request_cost_and_x_spend(demo_runs):
    workdir, first, _ = demo_runs
    con = duckdb.connect(str(workdir / "majlis.duckdb"), read_only=True)
    try:
        summaries = dict(con.execute(
            "select source, summary from source_runs qualify row_number() over"
            " (partition by source order by started_at) = 1").fetchall())
    finally:
        con.close()
    assert "per 1000)" in summaries["r-askreddit"]  # requests per 1000 new items
    assert "posts read (~$" in summaries["x-demo"]  # posts read and estimated spend


def test_demo_flags_unanswered_arabic_and_english_questions_only(demo_runs):
    workdir, first, _ = demo_runs
    tasks = _tasks(workdir)
    assert set(tasks) == {
        "rss:majlis-blog:sara al-harbi",  # Arabic, no reply
        "rss:majlis-blog:james porter",  # English without "?", only a "+1" reply
        "rss:majlis-blog:nadia farouk",  # Arabic, no reply
    }, first.stdout[-3000:]
    assert tasks["rss:majlis-blog:sara al-harbi"]["lang"] == "ar"
    assert tasks["rss:majlis-blog:james porter"]["lang"] == "en"
    assert all(t["assignee"] == "Hala Mansour" for t in tasks.values())


def test_demo_delivers_once_and_second_run_sends_nothing_new(demo_runs):
    workdir, first, second = demo_runs
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    con = duckdb.connect(str(workdir / "majlis.duckdb"), read_only=True)
    try:
        tasks = con.execute("select count(*) from tasks").fetchone()[0]
        sent = con.execute("select count(*) from deliveries where status = 'sent'").fetchone()[0]
    finally:
        con.close()
    assert tasks >= 3
    assert sent == 2 * tasks  # one e-mail and one webhook call per task, across both runs
    assert (f"Delivered this run: {tasks} e-mail(s) to the local SMTP server, "
            f"{tasks} webhook call(s)") in first.stdout
    assert "Delivered this run: 0 e-mail(s) to the local SMTP server, 0 webhook call(s)" in second.stdout
