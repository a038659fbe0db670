"""`majlis demo`: the whole pipeline, offline, on bundled sample data.

Everything the demo talks to runs in this process on 127.0.0.1: a replay server with the
sample blog (the Arabic article the product comes from, with its comment feed), a local
SMTP server and a webhook endpoint standing in for a manager's inbox.
"""
from __future__ import annotations

import os
import re
import shlex
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from importlib import resources
from pathlib import Path

from rich.console import Console

from majlis.demo_reddit import DEMO_SUBREDDIT, add_reddit_routes
from majlis.demo_x import DEMO_BEARER_TOKEN, add_x_routes, demo_source_toml
from majlis.inbox import SmtpInbox, WebhookInbox
from majlis.replay import ReplayServer

DATA = resources.files("majlis") / "demo_data"
BLOG_POST = "/blog/2026/11/10/steps-to-build-a-strong-digital-community/"
BLOG_WELCOME = "/blog/2026/11/01/welcome/"
# The sample blog's dates were written as of this day; the demo moves them so that they keep
# the same age whenever it runs (questions older than a month are not chased by default).
BLOG_WRITTEN_ON = date(2026, 11, 25)
DEMO_CREDENTIALS = {
    "REDDIT_CLIENT_ID": "majlis-demo-client",
    "REDDIT_CLIENT_SECRET": "majlis-demo-secret",
    "REDDIT_USER_AGENT": "majlis-demo/0.1 (offline replay)",
    "X_BEARER_TOKEN": DEMO_BEARER_TOKEN,
}
_RFC822_DATE = re.compile(r"<(pubDate|lastBuildDate)>([^<]+)</\1>")


def _shift_dates(xml: str, days: int) -> str:
    def moved(match: re.Match) -> str:
        when = parsedate_to_datetime(match.group(2)) + timedelta(days=days)
        return f"<{match.group(1)}>{format_datetime(when)}</{match.group(1)}>"

    return _RFC822_DATE.sub(moved, xml)


def add_blog_routes(server: ReplayServer) -> None:
    """The sample WordPress blog: its feed and one comment feed per post."""
    blog = DATA / "blog"
    days = (datetime.now(timezone.utc).date() - BLOG_WRITTEN_ON).days

    def page(name: str) -> bytes:
        xml = (blog / name).read_text(encoding="utf-8").replace("{{BASE}}", server.base_url)
        return _shift_dates(xml, days).encode()

    rss = "application/rss+xml; charset=UTF-8"
    server.add("/blog/feed/", page("feed.xml"), content_type=rss,
               etag='"blog-feed-1"', last_modified="Fri, 20 Nov 2026 09:12:00 GMT")
    server.add(BLOG_POST + "feed/", page("comments-101.xml"), content_type=rss, etag='"comments-101-1"')
    server.add(BLOG_WELCOME + "feed/", page("comments-95.xml"), content_type=rss, etag='"comments-95-1"')


def demo_config(base_url: str, smtp: SmtpInbox, hook: WebhookInbox, warehouse: Path) -> str:
    q = lambda s: '"' + str(s).replace("\\", "\\\\").replace('"', '\\"') + '"'  # TOML string
    return f"""# Written by `majlis demo`; the URLs point at servers that live only while the demo runs.
[warehouse]
path = {q(warehouse)}

[[sources]]
kind = "rss"
name = "majlis-blog"
url = {q(base_url + "/blog/feed/")}
sla_hours = 24

[[sources]]
kind = "reddit"
name = "r-{DEMO_SUBREDDIT}"
subreddit = "{DEMO_SUBREDDIT}"
base_url = {q(base_url)}
refresh_days = 3

{demo_source_toml(base_url)}
[[managers]]
name = "Hala Mansour"
languages = ["ar", "en"]
handles = ["rss:majlis-blog:hala mansour"]
notify = [{q(smtp.apprise_url("hala@example.org"))}, {q(hook.apprise_url("/hala"))}]

[[goals]]
id = "answer-every-question"
description = "Every member's question gets an answer from the community or a manager within a day."
metric = "answered_within_sla"
target = 0.95

[rules.unanswered_questions]
after_hours = 4
"""


def run_demo(workdir: Path, console: Console) -> int:
    from majlis.cli import print_tasks
    from majlis.runner import run_stage

    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    config_path = workdir / "majlis.toml"
    warehouse_path = workdir / "majlis.duckdb"
    for name, value in DEMO_CREDENTIALS.items():
        os.environ.setdefault(name, value)
    with ReplayServer() as server, SmtpInbox() as smtp, WebhookInbox() as hook:
        add_blog_routes(server)
        add_reddit_routes(server)
        add_x_routes(server, DATA / "x")
        config_path.write_text(demo_config(server.base_url, smtp, hook, warehouse_path), encoding="utf-8")
        console.print(f"[bold]Majlis demo[/]: sample sources served from {server.base_url}")
        ok, message = run_stage(str(config_path))
        emails, hooks = len(smtp.messages), len(hook.received)

    import dispatch
    from warehouse import Warehouse

    with Warehouse.open(warehouse_path) as wh:
        tasks = dispatch.list_tasks(wh)
    from majlis.cli import print_source_runs

    print_source_runs(warehouse_path)
    print_tasks(tasks, title="Tasks for managers")
    console.print(f"Delivered this run: {emails} e-mail(s) to the local SMTP server, "
                  f"{hooks} webhook call(s).")
    console.print(f"Warehouse: {warehouse_path}")
    query = "select rule, status, summary from tasks order by created_at"
    console.print(f"Try: majlis sql --db {shlex.quote(str(warehouse_path))} {shlex.quote(query)}",
                  highlight=False, soft_wrap=True)
    if not ok:
        console.print(f"[bold red]Some sources failed:[/] {message}")
        return 1
    return 0
