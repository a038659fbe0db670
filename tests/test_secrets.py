"""Sentinel secrets through the whole demo pipeline: none may appear in any output.

`majlis run` runs in a real process (Prefect's temporary server included) on the demo's own
config (`majlis.demo.demo_config`) and sources (the sample blog, the recorded subreddit and X
search, served from 127.0.0.1 by the demo's own route functions), with sentinel values in
REDDIT_CLIENT_ID / REDDIT_CLIENT_SECRET / X_BEARER_TOKEN and in the managers' apprise URLs: an
SMTP password (aiosmtpd offers no AUTH, so that delivery fails and its error is stored) and a
webhook's password and API-key header (that delivery succeeds). Logging is at DEBUG, the worst
case. Then every output is searched for every sentinel, plain, URL-quoted and inside a Basic
Authorization value: stdout and stderr, every file the run left (the DuckDB file after its
checkpoint on close, its WAL if any, PREFECT_HOME with Prefect's SQLite database, logs and
results), the e-mails and webhook bodies received. The one file allowed to hold them is the
config that was given them.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest

from mail_and_hooks import HookServer, MailServer
from majlis.demo import add_blog_routes, demo_config
from majlis.demo_reddit import add_reddit_routes
from majlis.demo_x import add_x_routes
from majlis.replay import ReplayServer

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
DEMO_DATA = ROOT / "majlis" / "demo_data"
REDDIT_ID = "SENTINEL-reddit-id-5f1c"
REDDIT_SECRET = "SENTINEL-reddit-secret-8e2a"
X_TOKEN = "SENTINEL-x-bearer-0b7d"
SMTP_PASSWORD = "SENTINEL-smtp-pw-4c90"
HOOK_PASSWORD = "SENTINEL-hook-pw-a13e"
HOOK_HEADER = "SENTINEL-hook-key-77f0"
SENTINELS = (REDDIT_ID, REDDIT_SECRET, X_TOKEN, SMTP_PASSWORD, HOOK_PASSWORD, HOOK_HEADER)


# A busy machine can take longer than the default 20 s to start Prefect's temporary server;
# telemetry would try to leave 127.0.0.1.
PREFECT_QUIET = {"PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
                 "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def forms(secret: str, user: str | None = None) -> list[bytes]:
    """The ways a secret can be written down: as is, URL-quoted, in a Basic Authorization value."""
    out = [secret.encode(), quote(secret, safe="").encode()]
    if user is not None:
        out.append(base64.b64encode(f"{user}:{secret}".encode()))
    return out


NEEDLES = ([f for s in SENTINELS for f in forms(s)] + forms(REDDIT_SECRET, REDDIT_ID)
           + forms(HOOK_PASSWORD, "majlis") + forms(SMTP_PASSWORD, "majlis"))


class SecretMail:
    """The demo's SMTP inbox as the config names it, with a password in the URL."""

    def __init__(self, server: MailServer) -> None:
        self.server = server

    def apprise_url(self, to: str) -> str:
        return (f"mailto://majlis:{SMTP_PASSWORD}@127.0.0.1:{self.server.port}"
                f"?from=majlis@example.org&to={to}&mode=insecure")


class SecretHook:
    def __init__(self, server: HookServer) -> None:
        self.server = server

    def apprise_url(self, path: str = "/hook") -> str:
        return f"json://majlis:{HOOK_PASSWORD}@127.0.0.1:{self.server.port}{path}?+X-Api-Key={HOOK_HEADER}"


def leaks(data: bytes) -> list[str]:
    return [needle.decode() for needle in NEEDLES if needle in data]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("secrets")
    with ReplayServer() as server, MailServer() as mail, HookServer() as hook:
        add_blog_routes(server)
        add_reddit_routes(server)
        add_x_routes(server, DEMO_DATA / "x")
        config = workdir / "majlis.toml"
        config.write_text(demo_config(server.base_url, SecretMail(mail), SecretHook(hook),
                                      workdir / "majlis.duckdb"), encoding="utf-8")
        env = {**os.environ, "REDDIT_CLIENT_ID": REDDIT_ID, "REDDIT_CLIENT_SECRET": REDDIT_SECRET,
               "REDDIT_USER_AGENT": "majlis-secret-test/0.1", "X_BEARER_TOKEN": X_TOKEN,
               "PREFECT_HOME": str(workdir / "prefect-home"), "PREFECT_LOGGING_LEVEL": "DEBUG",
               "COLUMNS": "200", **PREFECT_QUIET}
        done = subprocess.run([sys.executable, "-m", "majlis.cli", "run", "-c", str(config)], cwd=ROOT,
                              env=env, capture_output=True, timeout=300)
        seen_by_servers = {"token request": server.requests_to("/api/v1/access_token"),
                           "search": server.requests_to("/2/tweets/search/recent")}
        received = {"mails": [m.raw for m in mail.mails],
                    "hooks": [json.dumps(r["json"]).encode() for r in hook.received],
                    "hook headers": [r["headers"] for r in hook.received]}
    return workdir, config, done, received, seen_by_servers


def test_the_run_used_every_secret(demo_run):
    """Otherwise finding none of them would prove nothing."""
    _, _, done, received, seen = demo_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    basic = base64.b64encode(f"{REDDIT_ID}:{REDDIT_SECRET}".encode()).decode()
    assert seen["token request"][0].headers["Authorization"] == f"Basic {basic}"
    assert seen["search"][0].headers["Authorization"] == f"Bearer {X_TOKEN}"
    assert received["hooks"] and received["hook headers"][0]["X-Api-Key"] == HOOK_HEADER


def test_no_secret_in_stdout_or_stderr(demo_run):
    _, _, done, _, _ = demo_run
    assert done.stdout and done.stderr  # DEBUG logging: there is plenty to search
    assert leaks(done.stdout) == [] and leaks(done.stderr) == []


def test_no_secret_in_any_file_the_run_left(demo_run):
    workdir, config, _, _, _ = demo_run
    searched = 0
    for path in sorted(p for p in workdir.rglob("*") if p.is_file() and p != config):
        assert leaks(path.read_bytes()) == [], path
        searched += 1
    names = {p.name for p in workdir.rglob("*")}
    assert "majlis.duckdb" in names and any(n.endswith(".db") for n in names), names  # Prefect's SQLite
    assert searched >= 2


def test_no_secret_in_the_warehouse_tables(demo_run):
    import duckdb

    workdir, _, _, _, _ = demo_run
    con = duckdb.connect(str(workdir / "majlis.duckdb"), read_only=True)
    try:
        tables = [t for (t,) in con.execute(
            "select table_name from information_schema.tables where table_schema = 'main'").fetchall()]
        dumped = json.dumps({t: con.table(t).fetchall() for t in tables}, default=repr).encode()
        failed = con.execute("select count(*) from deliveries where last_error is not null").fetchone()[0]
    finally:
        con.close()
    assert leaks(dumped) == []
    assert failed >= 1  # the SMTP delivery failed, and its error is stored: without the password


def test_no_secret_in_mails_or_webhook_bodies(demo_run):
    _, _, _, received, _ = demo_run
    for body in received["mails"] + received["hooks"]:
        assert leaks(body) == []
