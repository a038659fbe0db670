"""Operating Majlis the Prefect way: `prefect server start`, a process work pool, the
deployments of `prefect.yaml`, a worker, and runs triggered through the API.

Everything listens on 127.0.0.1: the Prefect server (its own PREFECT_HOME, its own process
group, killed at the end), the replay server with the sample blog, and a webhook standing in
for the operators' channel.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from majlis.demo import DEMO_CREDENTIALS, add_blog_routes
from majlis.demo_reddit import DEMO_SUBREDDIT, add_reddit_routes
from majlis.inbox import WebhookInbox, free_port
from majlis.replay import ReplayServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PREFECT = shutil.which("prefect", path=str(Path(sys.executable).parent)) or shutil.which("prefect")
DONE = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _stop(process: subprocess.Popen, grace_s: float = 10) -> None:
    """Stop a process started with its own session, and everything it started."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def _api(env: dict, method: str, path: str, **body) -> object:
    """One call to the server's REST API, waiting out its brief 503s (right after a deploy)."""
    url = env["PREFECT_API_URL"] + path
    for _ in range(30):
        response = requests.request(method, url, json=body or None, timeout=30)
        if response.status_code != 503:
            response.raise_for_status()
            return response.json() if response.content else None
        time.sleep(1)
    response.raise_for_status()


def _cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"prefect {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not PREFECT:
        pytest.skip("the `prefect` command is not installed in this environment")
    home = tmp_path_factory.mktemp("prefect-home")
    port = free_port()
    env = {**os.environ,
           "PREFECT_HOME": str(home),
           "PREFECT_API_URL": f"http://127.0.0.1:{port}/api",
           # Runs are triggered by the test; no cron run may start in the middle of it.
           "PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED": "false",
           "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "DO_NOT_TRACK": "1",
           "PREFECT_UI_ENABLED": "false",
           "MAJLIS_HOME": str(ROOT),
           **DEMO_CREDENTIALS}  # the replayed Reddit takes any; the worker's runs inherit them
    log = open(home / "server.log", "w")
    process = subprocess.Popen([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        _wait_healthy(env, process, home / "server.log")
        yield env
    finally:
        _stop(process)
        log.close()


def _wait_healthy(env: dict, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert process.poll() is None, f"prefect server exited:\n{log.read_text()}"
        try:
            if requests.get(env["PREFECT_API_URL"] + "/health", timeout=2).ok:
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server did not answer within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="module")
def deployed(server):
    _cli(server, "work-pool", "create", "majlis", "--type", "process")
    # Slots decay slowly here, so the test can count the ones the run took.
    _cli(server, "gcl", "create", "reddit-api", "--limit", "100", "--slot-decay-per-second", "0.01")
    _cli(server, "deploy", "--all")
    return server


@pytest.fixture(scope="module")
def worker(deployed, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("worker") / "worker.log"
    log = open(log_path, "w")
    env = {**deployed, "PREFECT_WORKER_QUERY_SECONDS": "1", "PREFECT_WORKER_PREFETCH_SECONDS": "5"}
    process = subprocess.Popen([PREFECT, "worker", "start", "--pool", "majlis", "--type", "process"],
                               cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        yield log_path
    finally:
        _stop(process)
        log.close()


@pytest.fixture(scope="module")
def communities(tmp_path_factory):
    """Two configs: the sample blog and subreddit (with an operators' webhook), and a blog that
    is gone."""
    folder = tmp_path_factory.mktemp("communities")
    with ReplayServer() as replay, WebhookInbox() as operators:
        add_blog_routes(replay)
        add_reddit_routes(replay)
        reddit = (f'[[sources]]\nkind = "reddit"\nname = "r-{DEMO_SUBREDDIT}"\n'
                  f'subreddit = "{DEMO_SUBREDDIT}"\nbase_url = "{replay.base_url}"\n')

        def config(name: str, feed: str, more: str = "") -> str:
            path = folder / name / "majlis.toml"
            path.parent.mkdir()
            path.write_text(f"""
[warehouse]
path = "majlis.duckdb"

[operators]
notify = ["{operators.apprise_url('/operators')}"]

[[sources]]
kind = "rss"
name = "majlis-blog"
url = "{replay.url(feed)}"
sla_hours = 24

{more}
[[managers]]
name = "Hala Mansour"
handles = ["rss:majlis-blog:hala mansour"]
""", encoding="utf-8")
            return str(path)

        yield {"demo": config("demo", "/blog/feed/", reddit), "gone": config("gone", "/no/such/feed/"),
               "operators": operators}


def _run_deployment(env: dict, name: str, config_path: str) -> str:
    deployment = _api(env, "GET", f"/deployments/name/{name}")
    run = _api(env, "POST", f"/deployments/{deployment['id']}/create_flow_run",
               parameters={"config_path": config_path})
    return run["id"]


def _wait_for(env: dict, run_id: str, worker_log: Path, timeout_s: float = 150) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        run = _api(env, "GET", f"/flow_runs/{run_id}")
        if run["state_type"] in DONE:
            return run
        time.sleep(1)
    raise AssertionError(f"flow run {run_id} did not finish; worker log:\n{worker_log.read_text()[-4000:]}")


@pytest.fixture(scope="module")
def finished_runs(deployed, worker, communities):
    """A pipeline run on the sample blog and an ingest run on a gone blog, at once."""
    pipeline = _run_deployment(deployed, "pipeline/pipeline", communities["demo"])
    failing = _run_deployment(deployed, "ingest/ingest", communities["gone"])
    return {"pipeline": _wait_for(deployed, pipeline, worker),
            "failing": _wait_for(deployed, failing, worker)}


def _artifacts(env: dict, root_run_id: str) -> dict[str, dict]:
    children = _api(env, "POST", "/flow_runs/filter",
                    flow_runs={"parent_flow_run_id": {"any_": [root_run_id]}})
    run_ids = [root_run_id] + [c["id"] for c in children]
    found = _api(env, "POST", "/artifacts/filter", artifacts={"flow_run_id": {"any_": run_ids}})
    return {a["key"]: a for a in found}


def test_every_flow_is_deployed_with_its_schedule_tags_and_pool(deployed):
    deployments = {d["name"]: d for d in _api(deployed, "POST", "/deployments/filter")}
    assert set(deployments) == {"pipeline", "ingest", "detect", "dispatch"}
    for name, d in deployments.items():
        assert d["work_pool_name"] == "majlis"
        assert "majlis" in d["tags"] and name in d["tags"]
        assert d["parameters"] == {"config_path": "majlis.toml"}
        assert [s["schedule"]["cron"] for s in d["schedules"]], name
    assert deployments["pipeline"]["schedules"][0]["active"] is True
    assert deployments["pipeline"]["global_concurrency_limit"]["limit"] == 1


def test_pipeline_run_through_the_api_completes_with_readable_names(deployed, finished_runs):
    run = finished_runs["pipeline"]
    assert run["state_type"] == "COMPLETED", run["state"]
    assert run["name"].startswith("pipeline demo ")
    children = _api(deployed, "POST", "/flow_runs/filter",
                    flow_runs={"parent_flow_run_id": {"any_": [run["id"]]}})
    assert sorted(c["name"].split()[0] for c in children) == ["detect", "dispatch", "ingest"]
    tasks = _api(deployed, "POST", "/task_runs/filter",
                 flow_runs={"id": {"any_": [c["id"] for c in children]}})
    assert any(t["name"].startswith("ingest majlis-blog ") for t in tasks)


def test_pipeline_run_leaves_tables_of_findings_and_tasks(deployed, finished_runs):
    artifacts = _artifacts(deployed, finished_runs["pipeline"]["id"])
    assert {"pipeline-summary", "ingest-sources", "open-findings", "open-tasks"} <= set(artifacts)
    findings = _rows(artifacts["open-findings"]["data"])
    tasks = _rows(artifacts["open-tasks"]["data"])
    blog_questions = [r for r in findings if r["rule"] == "unanswered-questions" and r["source"] == "majlis-blog"]
    assert len(blog_questions) == 3
    assert {r["summary"] for r in tasks} >= {r["summary"] for r in blog_questions}
    sources = {r["source"]: r["status"] for r in _rows(artifacts["ingest-sources"]["data"])}
    assert sources == {"majlis-blog": "ok", f"r-{DEMO_SUBREDDIT}": "ok"}
    assert "| unanswered-questions |" in artifacts["pipeline-summary"]["data"]


def test_reddit_pages_take_slots_of_the_reddit_api_rate_limit(deployed, finished_runs):
    assert finished_runs["pipeline"]["state_type"] == "COMPLETED"
    limit = _api(deployed, "GET", "/v2/concurrency_limits/reddit-api")
    # One slot per page fetched (the demo subreddit is 5 pages), minus the little that decayed.
    assert limit["active_slots"] >= 4


def _rows(data) -> list[dict]:
    import json

    return json.loads(data) if isinstance(data, str) else data


def test_pipeline_run_leaves_the_read_replica_for_queries(communities, finished_runs):
    replica = Path(communities["demo"]).parent / "majlis.read.duckdb"
    from warehouse.readonly import run_query

    assert replica.exists()
    names, rows, _ = run_query(replica.with_name("majlis.duckdb"),
                               "select count(*) from tasks where rule = 'unanswered-questions'", 10)
    assert rows == [(3,)]


def test_a_failed_run_is_told_to_operators_through_apprise(communities, finished_runs):
    run = finished_runs["failing"]
    assert run["state_type"] == "FAILED"
    notices = [r["json"] for r in communities["operators"].received if r["path"] == "/operators"]
    assert len(notices) == 1
    assert notices[0]["title"] == f"Majlis: {run['name']} failed"
    assert "majlis-blog" in notices[0]["message"] and "404" in notices[0]["message"]
