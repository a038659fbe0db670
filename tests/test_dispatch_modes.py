"""Delivery modes against real receivers: digests, quiet hours, capacity routing, expiry.

Riyadh is UTC+3 all year, so the local times in comments are exact. `now` is passed to
every run; nothing sleeps.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from connectors import Batch, Post
from dispatch import ack, create_tasks, deliver, list_tasks, run_dispatch, show_task
from dispatch.modes import digest_due, quiet_until
from mail_and_hooks import HookServer, MailServer
from majlis.config import ConfigError, Manager, parse_config
from rules import fingerprint
from test_dispatch import (
    CRASHING_RUN, FSI, PDI, ROOT, RULE, assert_inert, config, corpus, deliveries, seed, statuses,
)
from test_dispatch import finding as medium_finding
from warehouse import Warehouse

T0 = datetime(2026, 3, 1, 12, 0)  # 15:00 in Riyadh
DAY2_0900_RIYADH = datetime(2026, 3, 2, 6, 0)
NIGHT = datetime(2026, 3, 1, 20, 0)  # 23:00 in Riyadh
MORNING = datetime(2026, 3, 2, 4, 0)  # 07:00 in Riyadh, the end of its quiet hours
RIYADH = {"timezone": "Asia/Riyadh"}


def finding(subject, severity="medium", **details):
    return replace(medium_finding(subject, **details), severity=severity)


def task_id(subject):
    return fingerprint(RULE, subject)


def manager(name="amal", **keys):
    return {"name": name, **keys}




# -- digests ------------------------------------------------------------------------------

def test_digest_collects_new_tasks_into_one_message_per_channel(warehouse, mail, hook):
    cfg = config(manager(notify=[mail.url(), hook.url()], digest="daily", digest_at="09:00", **RIYADH))
    seed(warehouse, *[finding(f"p{i}") for i in range(3)])
    first = run_dispatch(warehouse, cfg, T0)  # today's 09:00 digest came before these tasks
    assert (first.delivery.queued, mail.mails, hook.received) == (0, [], [])
    due = run_dispatch(warehouse, cfg, DAY2_0900_RIYADH + timedelta(minutes=5)).delivery
    assert (due.sent, due.digests) == (2, 2)
    (msg,), (req,) = mail.mails, hook.received
    assert msg.subject == req["json"]["title"] == "[Majlis] digest: 3 new tasks for amal"
    for body in (msg.body, req["json"]["message"]):
        for i in range(3):
            assert f"{FSI}Unanswered question p{i}{PDI}" in body
            assert f"majlis tasks ack {task_id(f'p{i}')}" in body
    assert set(statuses(warehouse).values()) == {"notified"}
    rows = deliveries(warehouse)
    assert [(d["kind"], d["task_id"], d["period_start"]) for d in rows] == [
        ("digest", None, DAY2_0900_RIYADH)] * 2
    assert all(sorted(d["task_ids"]) == sorted(task_id(f"p{i}") for i in range(3)) for d in rows)
    assert [d["kind"] for d in show_task(warehouse, task_id("p1"))["deliveries"]] == ["digest"] * 2
    later = run_dispatch(warehouse, cfg, DAY2_0900_RIYADH + timedelta(hours=3)).delivery
    assert (later.queued, later.sent, len(hook.received)) == (0, 0, 1)


def test_next_digest_lists_only_tasks_since_the_last(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], digest="hourly"))
    seed(warehouse, finding("p1"), finding("p2"))
    run_dispatch(warehouse, cfg, T0 + timedelta(minutes=10))
    run_dispatch(warehouse, cfg, T0 + timedelta(hours=1))  # the 13:00 digest
    seed(warehouse, finding("p1"), finding("p2"), finding("p3"))
    quiet = run_dispatch(warehouse, cfg, T0 + timedelta(hours=1, minutes=20)).delivery
    assert (quiet.queued, len(hook.received)) == (0, 1)  # one digest per period
    run_dispatch(warehouse, cfg, T0 + timedelta(hours=2))
    first, second = (r["json"]["message"] for r in hook.received)
    assert "question p1" in first and "question p2" in first and "question p3" not in first
    assert "question p3" in second and "question p1" not in second
    assert hook.received[1]["json"]["title"] == "[Majlis] digest: 1 new task for amal"


def test_high_severity_is_sent_at_once_despite_a_digest(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], digest="daily"))
    seed(warehouse, finding("urgent", severity="high"), finding("later"))
    run_dispatch(warehouse, cfg, T0)
    (req,) = hook.received
    assert "question urgent" in req["json"]["title"] and "digest" not in req["json"]["title"]
    assert statuses(warehouse) == {task_id("urgent"): "notified", task_id("later"): "open"}


def test_task_done_before_its_digest_is_left_out(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], digest="hourly"))
    seed(warehouse, finding("p1"), finding("p2"))
    run_dispatch(warehouse, cfg, T0 + timedelta(minutes=10))
    ack(warehouse, task_id("p1"), T0 + timedelta(minutes=20))
    run_dispatch(warehouse, cfg, T0 + timedelta(hours=1))
    (req,) = hook.received
    assert "question p2" in req["json"]["message"] and "question p1" not in req["json"]["message"]


def test_injection_corpus_in_a_digest_arrives_inert(warehouse, mail, hook):
    texts = [param.values[0] for param in corpus()]
    cfg = config(manager(notify=[mail.url(), hook.url()], digest="hourly"))
    seed(warehouse, *[finding(f"p{i}", summary=text.split("\n", 1)[0], excerpt=text,
                              url="javascript:alert(1)") for i, text in enumerate(texts)])
    run_dispatch(warehouse, cfg, T0 + timedelta(minutes=10))
    assert run_dispatch(warehouse, cfg, T0 + timedelta(hours=1)).delivery.digests == 2
    (msg,), (req,) = mail.mails, hook.received
    for arrived in (msg.subject, msg.body, req["json"]["title"], req["json"]["message"]):
        assert_inert(arrived)
    assert req["json"]["message"].count("Link: (no safe link)") == len(texts)
    assert len(req["json"]["message"]) < 600 * len(texts)  # excerpts, never whole posts


def test_kill_after_sending_a_digest_resends_only_that_digest(tmp_path, hook):
    db = tmp_path / "majlis.duckdb"
    raw_config = {"managers": [{"name": "amal", "digest": "hourly",
                                "notify": [hook.url("a"), hook.url("b")]}]}
    with Warehouse.open(db) as wh:
        seed(wh, finding("p1"), finding("p2"))
        create_tasks(wh, parse_config(raw_config), T0)
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_RUN, str(db), json.dumps(raw_config),
         (T0 + timedelta(hours=1)).isoformat()],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    hook.on_request = lambda: os.kill(proc.pid, signal.SIGKILL)  # received, never marked
    assert proc.wait(timeout=60) == -signal.SIGKILL
    hook.on_request = None
    with Warehouse.open(db) as wh:
        cfg = parse_config(raw_config)
        assert deliver(wh, cfg, T0 + timedelta(hours=1, minutes=5)).sent == 2
        assert deliver(wh, cfg, T0 + timedelta(hours=1, minutes=30)).sent == 0
        assert [d["status"] for d in deliveries(wh)] == ["sent", "sent"]
    paths = Counter(r["path"] for r in hook.received)
    assert sorted(paths.values()) == [1, 2]
    twice = [r["json"] for r in hook.received if paths[r["path"]] == 2]
    assert twice[0] == twice[1] and "question p1" in twice[0]["message"]


# -- quiet hours --------------------------------------------------------------------------

def test_quiet_hours_hold_deliveries_until_they_end(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], quiet_hours="22:00-07:00", **RIYADH))
    seed(warehouse, finding("p1"), finding("p2", severity="high"))
    night = run_dispatch(warehouse, cfg, NIGHT).delivery
    assert (night.held, night.sent, hook.received) == (2, 0, [])
    assert [(d["status"], d["attempts"], d["next_attempt_at"]) for d in deliveries(warehouse)] == [
        ("queued", 0, MORNING)] * 2
    assert deliver(warehouse, cfg, MORNING - timedelta(minutes=1)).sent == 0
    assert deliver(warehouse, cfg, MORNING).sent == 2
    assert len(hook.received) == 2 and set(statuses(warehouse).values()) == {"notified"}


def test_quiet_hours_let_excepted_severity_through(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], quiet_hours="22:00-07:00",
                         quiet_hours_except=["high"], **RIYADH))
    seed(warehouse, finding("p1"), finding("p2", severity="high"))
    night = run_dispatch(warehouse, cfg, NIGHT).delivery
    assert (night.sent, night.held) == (1, 1)
    assert "question p2" in hook.received[0]["json"]["title"]


def test_digest_due_in_quiet_hours_waits_for_their_end(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], digest="daily", digest_at="06:00",
                         quiet_hours="22:00-07:00", quiet_hours_except=["high"], **RIYADH))
    seed(warehouse, finding("p1"))
    run_dispatch(warehouse, cfg, T0)
    dawn = run_dispatch(warehouse, cfg, MORNING - timedelta(minutes=30)).delivery  # 06:30
    assert (dawn.queued, dawn.held, hook.received) == (1, 1, [])
    assert run_dispatch(warehouse, cfg, MORNING).delivery.digests == 1


QUIET_CASES = [
    # quiet_hours, local time, end of quiet (local) or None
    ("22:00-07:00", "23:00", "07:00 next day"),
    ("22:00-07:00", "03:00", "07:00"),
    ("22:00-07:00", "07:00", None),
    ("22:00-07:00", "21:59", None),
    ("13:00-14:30", "13:00", "14:30"),
    ("13:00-14:30", "14:30", None),
]


@pytest.mark.parametrize("hours, local, end", QUIET_CASES)
def test_quiet_hours_in_the_managers_time_zone(hours, local, end):
    m = Manager(name="amal", quiet_hours=hours, **RIYADH)
    h, mi = map(int, local.split(":"))
    now = datetime(2026, 3, 1, h, mi) - timedelta(hours=3)  # the UTC moment of that local time
    expected = None
    if end:
        eh, em = map(int, end[:5].split(":"))
        day = 2 if end.endswith("next day") else 1
        expected = datetime(2026, 3, day, eh, em) - timedelta(hours=3)
    assert quiet_until(m, now) == expected


def test_daily_digest_comes_due_at_local_time():
    m = Manager(name="amal", digest="daily", digest_at="09:00", **RIYADH)
    assert digest_due(m, DAY2_0900_RIYADH - timedelta(minutes=1)) == DAY2_0900_RIYADH - timedelta(days=1)
    assert digest_due(m, DAY2_0900_RIYADH) == DAY2_0900_RIYADH


# -- escalation with modes ----------------------------------------------------------------

def test_escalation_waits_for_the_digest_and_counts_from_it(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], escalate_to=[hook.url("boss")], digest="daily",
                         digest_at="09:00", **RIYADH))
    seed(warehouse, finding("p1", due_at=T0 + timedelta(hours=4)))
    run_dispatch(warehouse, cfg, T0)
    overdue = run_dispatch(warehouse, cfg, T0 + timedelta(hours=5)).delivery
    assert (overdue.escalated, hook.received) == ([], [])  # the manager has not been told yet
    told = run_dispatch(warehouse, cfg, DAY2_0900_RIYADH).delivery
    assert (told.digests, told.escalated) == (1, [])
    # Told 18 h after the task was made: the 4 h allowance runs from then, to 10:00 UTC.
    assert run_dispatch(warehouse, cfg, DAY2_0900_RIYADH + timedelta(hours=3, minutes=59)).delivery.escalated == []
    late = run_dispatch(warehouse, cfg, DAY2_0900_RIYADH + timedelta(hours=4)).delivery
    assert late.escalated == [task_id("p1")]
    assert [r["path"] for r in hook.received] == ["/hook", "/boss"]


def test_escalation_due_in_quiet_hours_is_sent_when_they_end(warehouse, hook):
    cfg = config(manager(notify=[hook.url()], escalate_to=[hook.url("boss")],
                         quiet_hours="22:00-07:00", **RIYADH))
    seed(warehouse, finding("p1", due_at=T0 + timedelta(hours=6)))  # 21:00 in Riyadh
    run_dispatch(warehouse, cfg, T0)
    night = run_dispatch(warehouse, cfg, NIGHT).delivery
    assert (night.escalated, night.held) == ([task_id("p1")], 1)
    assert [r["path"] for r in hook.received] == ["/hook"]
    assert deliver(warehouse, cfg, MORNING).sent == 1
    assert [r["path"] for r in hook.received] == ["/hook", "/boss"]


# -- capacity routing ---------------------------------------------------------------------

def assignees(wh):
    return Counter(t["assignee"] for t in list_tasks(wh))


def test_manager_at_weekly_capacity_is_skipped(warehouse):
    cfg = config(manager("amal", capacity_per_week=1), manager("badr"))
    seed(warehouse, *[finding(f"p{i}") for i in range(4)])
    create_tasks(warehouse, cfg, T0)
    assert assignees(warehouse) == {"amal": 1, "badr": 3}


def test_task_whose_managers_are_all_at_capacity_goes_to_the_fallback(warehouse):
    cfg = config(manager("lead", languages=["en"], fallback=True),
                 manager("hala", languages=["ar"], capacity_per_week=1))
    seed(warehouse, finding("a1", lang="ar"), finding("a2", lang="ar"))
    create_tasks(warehouse, cfg, T0)
    assert assignees(warehouse) == {"hala": 1, "lead": 1}  # hala took one, then was full


def test_capacity_counts_the_last_seven_days(warehouse):
    cfg = config(manager("amal", capacity_per_week=1), manager("badr", capacity_per_week=1))
    seed(warehouse, finding("p1"), finding("p2"))
    create_tasks(warehouse, cfg, T0)
    seed(warehouse, finding("p1"), finding("p2"), finding("p3"), finding("p4"))
    create_tasks(warehouse, cfg, T0 + timedelta(days=6))  # both full: the fallback (amal) takes it
    seed(warehouse, *[finding(f"p{i}") for i in range(1, 6)])
    (fresh,) = create_tasks(warehouse, cfg, T0 + timedelta(days=8))
    assert assignees(warehouse)["amal"] == 3 and fresh["assignee"] == "badr"


# -- expiry -------------------------------------------------------------------------------

def test_unacknowledged_task_expires_after_the_horizon(warehouse):
    cfg = config(manager(expire_after_days=2))
    seed(warehouse, finding("p1"), finding("p2"))
    run_dispatch(warehouse, cfg, T0)
    ack(warehouse, task_id("p2"), T0 + timedelta(hours=1))
    assert run_dispatch(warehouse, cfg, T0 + timedelta(days=1)).expired == []
    result = run_dispatch(warehouse, cfg, T0 + timedelta(days=2))
    assert (result.expired, result.new_tasks) == ([task_id("p1")], [])  # no second task for it
    task = show_task(warehouse, task_id("p1"))
    assert (task["status"], task["resolution"], task["resolved_at"]) == (
        "expired", "too_old", T0 + timedelta(days=2))
    assert statuses(warehouse)[task_id("p2")] == "acknowledged"


def test_task_whose_post_was_deleted_expires(warehouse):
    post = Post(post_id="rss:blog:c1", platform="rss", source="blog", kind="comment",
                thread_id="rss:blog:p1", parent_id="rss:blog:p1", author_id="rss:blog:sara",
                created_at=T0, title=None, body="How do I add a feed?", url="https://blog.example.org/c1")
    warehouse.write_batch(Batch(source="blog", posts=[post]))
    cfg = config(manager())
    seed(warehouse, finding("rss:blog:c1"))
    run_dispatch(warehouse, cfg, T0)
    ack(warehouse, task_id("rss:blog:c1"), T0)
    warehouse.write_batch(Batch(source="blog", posts=[replace(post, state="deleted")]))
    assert run_dispatch(warehouse, cfg, T0 + timedelta(hours=1)).expired == [task_id("rss:blog:c1")]
    assert show_task(warehouse, task_id("rss:blog:c1"))["resolution"] == "subject_gone"


def test_expired_task_cancels_its_queued_delivery(warehouse, hook):
    hook.status = 500
    cfg = config(manager(notify=[hook.url()], expire_after_days=1))
    seed(warehouse, finding("p1"))
    run_dispatch(warehouse, cfg, T0)
    hook.status = 200
    report = run_dispatch(warehouse, cfg, T0 + timedelta(days=1)).delivery
    assert (report.sent, report.cancelled, hook.received) == (0, 1, [])
    assert deliveries(warehouse)[0]["last_error"] == "task expired before delivery"


# -- config -------------------------------------------------------------------------------

@pytest.mark.parametrize("key, value, why", [
    ("timezone", "Mars/Olympus", "unknown time zone"),
    ("quiet_hours", "22-7", "HH:MM-HH:MM"),
    ("quiet_hours", "07:00-07:00", "two different times"),
    ("digest", "weekly", "hourly"),
    ("digest_at", "25:00", "24-hour time"),
    ("capacity_per_week", -1, "greater than or equal to 0"),
])
def test_bad_mode_settings_name_the_key_and_value(key, value, why):
    with pytest.raises(ConfigError) as err:
        parse_config({"managers": [{"name": "amal", key: value}]})
    assert f"managers[0] (name='amal').{key} = {value!r}" in str(err.value)
    assert why in str(err.value)
