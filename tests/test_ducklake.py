"""The DuckLake backend: a catalog in PostgreSQL, Parquet data files, two workers at once.

PostgreSQL comes from Debian's packages (`.ci/run` installs them; locally
`apt-get install -y postgresql`); the test starts its own cluster in a temporary folder,
listening on a unix socket only, and removes it at the end.
"""
from __future__ import annotations

import glob
import logging
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import textwrap
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path

import pytest

from flows._ingest import ingest_into_warehouse
from majlis.config import load_config
from majlis.demo import add_blog_routes
from majlis.inbox import WebhookInbox, free_port
from majlis.replay import ReplayServer
from warehouse import Warehouse
from warehouse.ducklake import lake_migration, merge_statement, split_returning

pytest.importorskip("duckdb_extension_ducklake", reason="pip install 'majlis[ducklake]'")

ITEMS, COMMENTS = 12, 4  # per generated forum: 12 threads of 4 comments, one comment feed each
FORUMS = ("forum-a", "forum-b")


# -- PostgreSQL -----------------------------------------------------------------------------

def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    # initdb and postgres refuse to run as root; CI runs as root.
    if os.geteuid() != 0:
        return cmd
    return [_runuser(), "-u", "postgres", "--", *cmd]


def _runuser() -> str:
    # A clean PATH (a CI runner, `env -i`) may leave out /usr/sbin, where runuser lives.
    return shutil.which("runuser") or shutil.which("runuser", path="/usr/sbin:/sbin") or "runuser"


@pytest.fixture(scope="module")
def postgres():
    """A throwaway PostgreSQL cluster; yields a libpq DSN for a fresh `lake` database."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are not installed (apt-get install -y postgresql; "
                    ".ci/run does it in CI)")
    if os.geteuid() == 0:
        try:
            owner = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
    # Not under pytest's tmp_path: that is private to root, and the cluster runs as `postgres`.
    folder = Path(tempfile.mkdtemp(prefix="majlis-pg-"))
    if os.geteuid() == 0:
        os.chown(folder, owner.pw_uid, owner.pw_gid)
    port = free_port()
    data = folder / "data"
    run = lambda *cmd: subprocess.run(_as_postgres_user([str(c) for c in cmd]), check=True,
                                      capture_output=True, text=True, timeout=120)
    try:
        run(bin_dir / "initdb", "-D", data, "-A", "trust", "-U", "majlis", "-E", "UTF8", "--no-sync")
        run(bin_dir / "pg_ctl", "-D", data, "-l", folder / "log", "-w", "-t", "60", "start", "-o",
            f"-p {port} -k {folder} -c listen_addresses='' -c fsync=off")
        try:
            run(bin_dir / "createdb", "-h", folder, "-p", port, "-U", "majlis", "lake")
            yield f"dbname=lake host={folder} port={port} user=majlis"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# -- sources ----------------------------------------------------------------------------------

def _rss(title: str, items: str, extra_ns: str = "") -> str:
    return ('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            f'xmlns:dc="http://purl.org/dc/elements/1.1/" {extra_ns}><channel>'
            f"<title>{title}</title><link>http://127.0.0.1/</link><description>d</description>"
            f"{items}</channel></rss>")


def add_forum_routes(replay: ReplayServer, name: str) -> None:
    """A forum feed of ITEMS threads, each with a comment feed of COMMENTS questions."""
    start = datetime.now(timezone.utc) - timedelta(days=3)
    items = []
    for i in range(ITEMS):
        thread = f"/{name}/t/{i}/"
        items.append(
            f"<item><title>{name} thread {i}</title><link>{replay.url(thread)}</link>"
            f"<guid>{name}-t{i}</guid><dc:creator>host of {name}</dc:creator>"
            f"<pubDate>{format_datetime(start + timedelta(minutes=i))}</pubDate>"
            f"<description>Thread {i} opens here.</description>"
            f"<wfw:commentRss>{replay.url(thread + 'feed/')}</wfw:commentRss></item>")
        comments = "".join(
            f"<item><title>re {i}</title><link>{replay.url(thread)}#c{j}</link>"
            f"<guid>{name}-t{i}-c{j}</guid><dc:creator>member {j} of {name}</dc:creator>"
            f"<pubDate>{format_datetime(start + timedelta(minutes=i, seconds=j + 1))}</pubDate>"
            f"<description>{_comment_text(i, j)}</description></item>"
            for j in range(COMMENTS))
        replay.add(thread + "feed/", _rss(f"Comments on {i}", comments), content_type="application/rss+xml")
    replay.add(f"/{name}/feed/", _rss(name, "".join(items), 'xmlns:wfw="http://wellformedweb.org/CommentAPI/"'),
               content_type="application/rss+xml")


def _comment_text(i: int, j: int) -> str:
    # The last comment of each thread asks; nobody answers it (an unanswered question).
    return f"Where can I find the schedule for meeting {i}?" if j == COMMENTS - 1 else f"Thanks, see you at meeting {i}."


def _config_toml(replay: ReplayServer, warehouse: str, notify: str = "") -> str:
    sources = [("majlis-blog", replay.url("/blog/feed/"))] + [(f, replay.url(f"/{f}/feed/")) for f in FORUMS]
    text = warehouse
    for name, url in sources:
        text += f'\n[[sources]]\nkind = "rss"\nname = "{name}"\nurl = "{url}"\nsla_hours = 24\n'
    return text + ('\n[[managers]]\nname = "Hala Mansour"\nhandles = ["rss:majlis-blog:hala mansour"]\n'
                   f'notify = [{notify}]\n')


# Each worker ingests its sources through the function the ingest flow's task runs, starting
# together with the other worker (both wait for the `go` file).
WORKER = textwrap.dedent("""
    import logging, sys, time
    from pathlib import Path
    from flows._ops import open_warehouse
    from flows._ingest import ingest_into_warehouse
    from majlis.config import load_config

    config, go, sources = load_config(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
    with open_warehouse(config):  # attach and migrate before the race starts
        pass
    print("ready", flush=True)
    while not go.exists():
        time.sleep(0.01)
    for name in sources:
        totals = ingest_into_warehouse(config, name, "run-" + "-".join(sources), logging.getLogger(name))
        print(name, totals["pages"], totals["posts_new"], flush=True)
""")

# The detect flow (Prefect, ephemeral mode), imported while the workers run and started when
# they are done.
DETECT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from flows.detect import detect
    while not Path(sys.argv[2]).exists():
        time.sleep(0.05)
    print(detect(sys.argv[1]))
""")


@pytest.fixture(scope="module")
def lake_run(postgres, tmp_path_factory):
    """Two workers ingest different sources into one DuckLake at once; then `detect` runs.
    The same sources are also ingested one after another into a DuckDB file, for reference.
    Every process is stopped by the time this returns (communicate waits for each)."""
    folder = tmp_path_factory.mktemp("lake")
    with ReplayServer() as replay, WebhookInbox() as hala:
        add_blog_routes(replay)
        for forum in FORUMS:
            add_forum_routes(replay, forum)
        lake_toml = folder / "lake" / "majlis.toml"
        lake_toml.parent.mkdir()
        lake_toml.write_text(_config_toml(replay, (
            f'[warehouse]\nbackend = "ducklake"\ncatalog = "{postgres}"\n'
            f'data_path = "{folder / "parquet"}"\n'), notify=f'"{hala.apprise_url("/hala")}"'),
            encoding="utf-8")
        file_toml = folder / "file" / "majlis.toml"
        file_toml.parent.mkdir()
        file_toml.write_text(_config_toml(replay, '[warehouse]\npath = "majlis.duckdb"\n'), encoding="utf-8")

        go, ingested = folder / "go", folder / "ingested"
        env = {**os.environ, "PREFECT_HOME": str(folder / "prefect-home")}
        detect = subprocess.Popen([sys.executable, "-c", DETECT, str(lake_toml), str(ingested)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(lake_toml), str(go), *names],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                   for names in (["majlis-blog", "forum-a"], ["forum-b"])]
        for worker in workers:
            assert worker.stdout.readline().strip() == "ready", worker.communicate(timeout=60)
        go.touch()
        outputs = [worker.communicate(timeout=120) for worker in workers]
        codes = [worker.returncode for worker in workers]
        ingested.touch()
        for name in ("majlis-blog", *FORUMS):  # the reference, here while detect runs
            ingest_into_warehouse(load_config(file_toml), name, "reference", logging.getLogger(name))
        detected = detect.communicate(timeout=180)
        dispatched = _dispatch_twice(load_config(lake_toml)) if detect.returncode == 0 else None
        delivered = len(hala.received)
    return {"lake": load_config(lake_toml), "file": load_config(file_toml), "codes": codes,
            "outputs": outputs, "detect": (detect.returncode, *detected),
            "dispatch": dispatched, "delivered": delivered}


def _dispatch_twice(config) -> list:
    import dispatch
    from warehouse import utcnow

    with Warehouse.open(config.warehouse) as wh:
        return [dispatch.run_dispatch(wh, config, utcnow()) for _ in range(2)]


def _counts(config) -> dict:
    with Warehouse.open(config.warehouse) as wh:
        return {
            "posts": wh.query("select source, count(*) as n, count(distinct post_id) as ids from posts"
                              " group by source order by source"),
            "members": wh.query("select count(*) as n, count(distinct member_id) as ids from members")[0],
            "pages": wh.query("select source, count(*) as n from raw_pages group by source order by source"),
            "cursors": wh.query("select count(*) as n from source_cursors")[0]["n"],
            "runs": wh.query("select source, status, posts_new from source_runs order by source"),
        }


def _findings(config) -> set[tuple[str, str]]:
    with Warehouse.open(config.warehouse) as wh:
        return {(r["rule"], r["subject_id"])
                for r in wh.query("select rule, subject_id from findings where cleared_at is null")}


def test_two_workers_write_at_once_and_neither_fails(lake_run):
    for code, (out, err) in zip(lake_run["codes"], lake_run["outputs"]):
        assert code == 0, err[-3000:]
    assert sorted(lake_run["outputs"][0][0].split("\n")[:2] + lake_run["outputs"][1][0].split("\n")[:1]) == [
        f"forum-a {ITEMS + 1} {ITEMS * (1 + COMMENTS)}", f"forum-b {ITEMS + 1} {ITEMS * (1 + COMMENTS)}",
        "majlis-blog 3 13"]


def test_no_row_is_lost_or_duplicated(lake_run):
    lake = _counts(lake_run["lake"])
    forum_posts = ITEMS * (1 + COMMENTS)
    posts = {r["source"]: (r["n"], r["ids"]) for r in lake["posts"]}
    assert posts == {"majlis-blog": (13, 13), "forum-a": (forum_posts, forum_posts),
                     "forum-b": (forum_posts, forum_posts)}
    assert lake["members"]["n"] == lake["members"]["ids"]
    assert {r["source"]: r["n"] for r in lake["pages"]} == {"majlis-blog": 3, "forum-a": ITEMS + 1,
                                                            "forum-b": ITEMS + 1}
    assert lake["cursors"] == 3
    assert [(r["source"], r["status"]) for r in lake["runs"]] == [
        ("forum-a", "ok"), ("forum-b", "ok"), ("majlis-blog", "ok")]


def test_lake_holds_what_one_sequential_writer_stores_in_a_file(lake_run):
    lake, reference = _counts(lake_run["lake"]), _counts(lake_run["file"])
    assert lake["posts"] == reference["posts"]
    assert lake["members"] == reference["members"]
    assert lake["pages"] == reference["pages"]


def test_detect_reads_the_lake_and_finds_what_it_finds_in_a_file(lake_run):
    from rules import RuleContext, run_rules
    from warehouse import utcnow

    code, _, err = lake_run["detect"]
    assert code == 0, err[-3000:]
    reference = lake_run["file"]
    with Warehouse.open(reference.warehouse) as wh:
        run_rules(wh, reference.rules, RuleContext(
            now=utcnow(), sla_hours={s.name: s.sla_hours for s in reference.sources},
            manager_ids=("rss:majlis-blog:hala mansour",)), log=lambda _: None)
    found = _findings(lake_run["lake"])
    assert found == _findings(reference)
    assert sum(rule == "unanswered-questions" for rule, _ in found) > 3  # the blog's 3, and forums'


def test_detect_twice_updates_findings_instead_of_duplicating_them(lake_run):
    from rules import RuleContext, run_rules
    from warehouse import utcnow

    config = lake_run["lake"]
    before = _findings(config)
    with Warehouse.open(config.warehouse) as wh:
        run_rules(wh, config.rules, RuleContext(now=utcnow(), sla_hours={}, manager_ids=()),
                  log=lambda _: None)
        total, ids = wh.query("select count(*) as n, count(distinct finding_id) as ids from findings")[0].values()
    assert total == ids
    assert _findings(config) == before


def test_dispatch_on_the_lake_makes_each_task_once_and_sends_it_once(lake_run):
    first, second = lake_run["dispatch"]
    with Warehouse.open(lake_run["lake"].warehouse) as wh:
        total, ids = wh.query("select count(*) as n, count(distinct task_id) as ids from tasks")[0].values()
        open_findings = wh.query("select count(*) as n from findings where cleared_at is null")[0]["n"]
    assert total == ids == len(first.new_tasks) == open_findings
    assert first.delivery.sent == lake_run["delivered"] == total
    assert (len(second.new_tasks), second.delivery.sent) == (0, 0)


def test_update_returning_becomes_a_select_then_the_update():
    select, update = split_returning(
        "update tasks set status = 'resolved' from findings f"
        " where f.finding_id = tasks.finding_id and f.cleared_at is not null returning tasks.task_id")
    assert select == ("select tasks.task_id from tasks, findings f"
                      " where f.finding_id = tasks.finding_id and f.cleared_at is not null")
    assert update == ("update tasks set status = 'resolved' from findings f"
                      " where f.finding_id = tasks.finding_id and f.cleared_at is not null")
    assert split_returning("update tasks set status = 'open' where task_id = $id") is None


def test_migrations_apply_without_keys_or_sequences():
    sql = ("create table t (id varchar primary key, n int);\ncreate sequence t_seq;\n"
           "create table u (a varchar not null, b int, primary key (a, b));")
    assert lake_migration(sql).split() == (
        "create table t (id varchar, n int);\n\ncreate table u (a varchar not null, b int);").split()


def test_upserts_become_merges_that_keep_their_update_rules():
    merge = merge_statement(
        "insert into findings select finding_id, rule from incoming on conflict (finding_id)"
        " do update set rule = excluded.rule", lambda table: ["finding_id", "rule"])
    assert merge == (
        "merge into findings using (select finding_id, rule from incoming) as excluded(finding_id, rule)"
        " on (findings.finding_id = excluded.finding_id)"
        " when matched then update set rule = excluded.rule"
        " when not matched then insert (finding_id, rule) values (excluded.finding_id, excluded.rule)")
    replace = merge_statement("insert or replace into source_cursors values (?, ?, ?)",
                              lambda table: ["source", "state", "updated_at"])
    assert replace.startswith("merge into source_cursors using (select ?, ?, ?) as excluded(source, state, updated_at)"
                              " on (source_cursors.source = excluded.source)"
                              " when matched then update set state = excluded.state, updated_at = excluded.updated_at")
    assert merge_statement("select 1", lambda table: []) is None
