"""Dispatch against real receivers: aiosmtpd and a JSON webhook recorder on 127.0.0.1."""
from __future__ import annotations

import email
import json
import logging
import os
import re
import signal
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from connectors import Batch, Post
from dispatch import (
    TaskError, ack, create_tasks, deliver, list_tasks, resolve, resolve_cleared, run_dispatch,
    show_task, snooze,
)
from mail_and_hooks import HookServer, MailServer, free_port
from majlis.config import parse_config
from rules import Finding, fingerprint
from rules._base import store_findings
from warehouse import Warehouse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).parent / "fixtures" / "injection"
T0 = datetime(2026, 3, 1, 12, 0)
RULE = "unanswered-questions"
FSI, PDI = "\u2068", "\u2069"


def finding(subject, source="blog", lang="en", summary=None, excerpt=None,
            url="https://blog.example.org/q", due_at=None, rule=RULE):
    return Finding(
        finding_id=fingerprint(rule, subject), rule=rule, goal="answer-every-question",
        subject_id=subject, source=source, severity="medium",
        summary=summary or f"Unanswered question {subject}", url=url,
        details={"excerpt": excerpt} if excerpt is not None else {},
        detected_at=T0, due_at=due_at, lang=lang,
    )


def seed(wh, *findings, rule=RULE, now=T0):
    """The rule's full current output: findings it no longer reports are cleared."""
    store_findings(wh, rule, list(findings), now)


def config(*managers, sources=()):
    return parse_config({
        "sources": [{"kind": "rss", "name": name, "url": f"http://127.0.0.1/{name}", **extra}
                    for name, extra in (sources or [("blog", {}), ("forum", {})])],
        "managers": list(managers),
    })


def statuses(wh):
    return {r["task_id"]: r["status"] for r in list_tasks(wh)}


def deliveries(wh):
    return wh.query("select * from deliveries order by task_id, kind, channel")




# -- tasks and routing --------------------------------------------------------------------

def test_each_open_finding_gets_one_task_across_reruns(warehouse):
    cfg = config({"name": "amal"})
    seed(warehouse, finding("p1"), finding("p2"))
    first = create_tasks(warehouse, cfg, T0)
    seed(warehouse, finding("p1"), finding("p2"), finding("p3"))
    second = create_tasks(warehouse, cfg, T0 + timedelta(hours=1))
    third = create_tasks(warehouse, cfg, T0 + timedelta(hours=2))
    assert sorted(t["task_id"] for t in first) == sorted([fingerprint(RULE, "p1"), fingerprint(RULE, "p2")])
    assert [t["task_id"] for t in second] == [fingerprint(RULE, "p3")]
    assert third == []
    assert len(list_tasks(warehouse)) == 3


def test_task_carries_goal_summary_url_and_due_from_finding(warehouse):
    seed(warehouse, finding("p1", summary="Why is the feed empty?", due_at=T0 + timedelta(hours=4)))
    (task,) = create_tasks(warehouse, config({"name": "amal"}), T0)
    assert (task["goal"], task["summary"], task["url"], task["due_at"], task["status"]) == (
        "answer-every-question", "Why is the feed empty?", "https://blog.example.org/q",
        T0 + timedelta(hours=4), "open")


def test_excerpt_comes_from_the_post_when_the_rule_gives_none(warehouse):
    post = Post(post_id="rss:blog:c1", platform="rss", source="blog", kind="comment",
                thread_id="rss:blog:p1", parent_id="rss:blog:p1", author_id="rss:blog:sara",
                created_at=T0, title=None, body="كيف أضيف خلاصة ثانية؟", url="https://blog.example.org/c1",
                lang="ar")
    warehouse.write_batch(Batch(source="blog", posts=[post]))
    seed(warehouse, finding("rss:blog:c1", lang=None))
    (task,) = create_tasks(warehouse, config({"name": "amal"}), T0)
    assert (task["excerpt"], task["lang"]) == ("كيف أضيف خلاصة ثانية؟", "ar")


def test_due_at_falls_back_to_source_sla(warehouse):
    cfg = config({"name": "amal"}, sources=[("blog", {"sla_hours": 6})])
    seed(warehouse, finding("p1"))
    (task,) = create_tasks(warehouse, cfg, T0)
    assert task["due_at"] == T0 + timedelta(hours=6)


def test_routing_follows_source_and_language(warehouse):
    cfg = config({"name": "forum-en", "sources": ["forum"], "languages": ["en"]},
                 {"name": "blog-ar", "sources": ["blog"], "languages": ["ar"]},
                 {"name": "blog-any", "sources": ["blog"]})
    seed(warehouse, finding("f-en", source="forum", lang="en"),
         finding("b-ar", source="blog", lang="ar"), finding("b-en", source="blog", lang="en"))
    create_tasks(warehouse, cfg, T0)
    by_subject = {r["finding_id"]: r["assignee"] for r in list_tasks(warehouse)}
    assert by_subject == {fingerprint(RULE, "f-en"): "forum-en", fingerprint(RULE, "b-ar"): "blog-ar",
                          fingerprint(RULE, "b-en"): "blog-any"}


def test_routing_balances_open_load(warehouse):
    cfg = config({"name": "amal"}, {"name": "badr"})
    seed(warehouse, *[finding(f"p{i}") for i in range(6)])
    create_tasks(warehouse, cfg, T0)
    load = [r["assignee"] for r in list_tasks(warehouse)]
    assert load.count("amal") == load.count("badr") == 3


def test_resolved_tasks_do_not_count_as_load(warehouse):
    cfg = config({"name": "amal"}, {"name": "badr"})
    seed(warehouse, finding("p1"), finding("p2"))
    create_tasks(warehouse, cfg, T0)
    amal_task = next(t for t in list_tasks(warehouse) if t["assignee"] == "amal")
    resolve(warehouse, amal_task["task_id"], T0)
    seed(warehouse, finding("p1"), finding("p2"), finding("p3"))
    (new,) = create_tasks(warehouse, cfg, T0)
    assert new["assignee"] == "amal"


def test_task_nobody_covers_goes_to_the_first_manager(warehouse):
    cfg = config({"name": "ar-only", "languages": ["ar"]}, {"name": "blog-only", "sources": ["blog"]})
    seed(warehouse, finding("p1", lang="fr", source="forum"))
    (task,) = create_tasks(warehouse, cfg, T0)
    assert task["assignee"] == "ar-only"


def test_without_managers_tasks_are_kept_open_and_unassigned(warehouse):
    seed(warehouse, finding("p1"))
    result = run_dispatch(warehouse, config(), T0)
    assert [t["assignee"] for t in result.new_tasks] == [None]
    assert [t["task_id"] for t in result.delivery.unassigned] == [fingerprint(RULE, "p1")]
    assert statuses(warehouse) == {fingerprint(RULE, "p1"): "open"}
    assert deliveries(warehouse) == []


def test_cleared_finding_resolves_its_task(warehouse):
    seed(warehouse, finding("p1"), finding("p2"))
    create_tasks(warehouse, config({"name": "amal"}), T0)
    seed(warehouse, finding("p2"), now=T0 + timedelta(hours=2))  # p1 got its answer
    assert resolve_cleared(warehouse, T0 + timedelta(hours=3)) == [fingerprint(RULE, "p1")]
    task = show_task(warehouse, fingerprint(RULE, "p1"))
    assert (task["status"], task["resolution"], task["resolved_at"]) == (
        "resolved", "cleared", T0 + timedelta(hours=2))
    assert statuses(warehouse)[fingerprint(RULE, "p2")] == "open"


def test_cleared_finding_gets_no_task(warehouse):
    seed(warehouse, finding("p1"))
    seed(warehouse, now=T0 + timedelta(hours=1))
    assert run_dispatch(warehouse, config({"name": "amal"}), T0 + timedelta(hours=2)).new_tasks == []


def test_list_filters_and_manual_commands(warehouse):
    cfg = config({"name": "amal", "sources": ["blog"]}, {"name": "badr", "sources": ["forum"]})
    seed(warehouse, finding("b1"), finding("f1", source="forum"))
    create_tasks(warehouse, cfg, T0)
    b1, f1 = fingerprint(RULE, "b1"), fingerprint(RULE, "f1")
    assert [t["task_id"] for t in list_tasks(warehouse, assignee="badr")] == [f1]
    assert [t["task_id"] for t in list_tasks(warehouse, source="blog", rule=RULE)] == [b1]
    assert ack(warehouse, b1, T0)["status"] == "acknowledged"
    assert snooze(warehouse, f1, T0 + timedelta(days=1), T0)["snoozed_until"] == T0 + timedelta(days=1)
    assert [t["task_id"] for t in list_tasks(warehouse, status="snoozed")] == [f1]
    assert resolve(warehouse, b1, T0)["resolution"] == "manual"
    with pytest.raises(TaskError, match="resolved"):
        ack(warehouse, b1, T0)
    with pytest.raises(TaskError, match="no task"):
        ack(warehouse, "nope", T0)


# -- delivery -----------------------------------------------------------------------------

def test_email_arrives_with_subject_and_body(warehouse, mail):
    cfg = config({"name": "amal", "notify": [mail.url()]})
    seed(warehouse, finding("p1", summary="How do I import my feed?", excerpt="How do I import my feed? I tried twice."))
    report = run_dispatch(warehouse, cfg, T0).delivery
    assert (report.sent, report.failed) == (1, 0)
    (msg,) = mail.mails
    assert msg.rcpt_tos == ["mgr@example.org"]
    assert msg.subject == f"[Majlis] {RULE}: {FSI}How do I import my feed?{PDI}"
    assert f"> {FSI}How do I import my feed? I tried twice.{PDI}" in msg.body
    assert "Goal: answer-every-question" in msg.body
    assert "Link: https://blog.example.org/q" in msg.body


def test_webhook_receives_json(warehouse, hook):
    cfg = config({"name": "amal", "notify": [hook.url()]})
    seed(warehouse, finding("p1", summary="Where is the API key?"))
    run_dispatch(warehouse, cfg, T0)
    (req,) = hook.received
    assert req["path"] == "/hook"
    assert req["json"]["title"] == f"[Majlis] {RULE}: {FSI}Where is the API key?{PDI}"
    assert "Task: " + fingerprint(RULE, "p1") in req["json"]["message"]


def test_task_with_every_delivery_sent_becomes_notified(warehouse, mail, hook):
    cfg = config({"name": "amal", "notify": [mail.url(), hook.url()]})
    seed(warehouse, finding("p1"))
    report = run_dispatch(warehouse, cfg, T0).delivery
    assert report.notified == [fingerprint(RULE, "p1")]
    assert [d["status"] for d in deliveries(warehouse)] == ["sent", "sent"]
    assert statuses(warehouse) == {fingerprint(RULE, "p1"): "notified"}


def test_second_run_sends_nothing_new(warehouse, mail, hook):
    cfg = config({"name": "amal", "notify": [mail.url(), hook.url()]})
    seed(warehouse, finding("p1"), finding("p2"))
    run_dispatch(warehouse, cfg, T0)
    seed(warehouse, finding("p1"), finding("p2"), now=T0 + timedelta(hours=1))
    again = run_dispatch(warehouse, cfg, T0 + timedelta(hours=1))
    assert (again.new_tasks, again.delivery.queued, again.delivery.sent) == ([], 0, 0)
    assert len(mail.mails) == 2 and len(hook.received) == 2


def test_webhook_answering_500_leaves_delivery_queued_then_delivers_once(warehouse, mail, hook):
    hook.status = 500
    cfg = config({"name": "amal", "notify": [mail.url(), hook.url()]})
    seed(warehouse, finding("p1"))
    first = run_dispatch(warehouse, cfg, T0).delivery
    assert (first.sent, first.failed, first.pending) == (1, 1, 1)
    failed = next(d for d in deliveries(warehouse) if d["channel"].startswith("json"))
    assert (failed["status"], failed["attempts"]) == ("queued", 1)
    assert "500" in failed["last_error"] and failed["next_attempt_at"] == T0 + timedelta(minutes=5)
    assert statuses(warehouse) == {fingerprint(RULE, "p1"): "open"}
    hook.status = 200
    second = deliver(warehouse, cfg, T0 + timedelta(hours=1))
    third = deliver(warehouse, cfg, T0 + timedelta(hours=2))
    assert (second.sent, third.sent) == (1, 0)
    assert len(hook.received) == 1 and len(mail.mails) == 1
    assert statuses(warehouse) == {fingerprint(RULE, "p1"): "notified"}


def test_webhook_server_down_then_up_delivers_once(warehouse):
    port = free_port()
    cfg = config({"name": "amal", "notify": [f"json://127.0.0.1:{port}/hook"]})
    seed(warehouse, finding("p1"))
    assert run_dispatch(warehouse, cfg, T0).delivery.failed == 1
    with HookServer(port=port) as hook:
        assert deliver(warehouse, cfg, T0 + timedelta(hours=1)).sent == 1
        assert deliver(warehouse, cfg, T0 + timedelta(hours=2)).sent == 0
    assert len(hook.received) == 1
    assert [(d["status"], d["attempts"]) for d in deliveries(warehouse)] == [("sent", 1)]


def test_retry_waits_for_its_backoff(warehouse, hook):
    hook.status = 500
    cfg = config({"name": "amal", "notify": [hook.url()]})
    seed(warehouse, finding("p1"))
    run_dispatch(warehouse, cfg, T0)
    hook.status = 200
    early = deliver(warehouse, cfg, T0 + timedelta(minutes=1))
    assert (early.sent, early.pending, hook.received) == (0, 1, [])
    later = deliver(warehouse, cfg, T0 + timedelta(minutes=6))
    assert later.sent == 1 and len(hook.received) == 1


def test_resolved_task_cancels_its_queued_delivery(warehouse, hook):
    hook.status = 500
    cfg = config({"name": "amal", "notify": [hook.url()]})
    seed(warehouse, finding("p1"))
    run_dispatch(warehouse, cfg, T0)
    seed(warehouse, now=T0 + timedelta(minutes=30))
    hook.status = 200
    report = run_dispatch(warehouse, cfg, T0 + timedelta(hours=1)).delivery
    assert (report.sent, report.cancelled, hook.received) == (0, 1, [])
    assert [d["status"] for d in deliveries(warehouse)] == ["cancelled"]


def test_channel_removed_from_config_cancels_its_delivery(warehouse, hook):
    hook.status = 500
    seed(warehouse, finding("p1"))
    run_dispatch(warehouse, config({"name": "amal", "notify": [hook.url("old")]}), T0)
    report = deliver(warehouse, config({"name": "amal", "notify": []}), T0 + timedelta(hours=1))
    assert report.cancelled == 1
    assert deliveries(warehouse)[0]["last_error"] == "channel no longer in the config"


def test_unacknowledged_task_escalates_once(warehouse, mail, hook):
    cfg = config({"name": "amal", "notify": [mail.url()], "escalate_to": [hook.url("boss")]})
    seed(warehouse, finding("p1", due_at=T0 + timedelta(hours=4)))
    run_dispatch(warehouse, cfg, T0)
    assert hook.received == []
    late = run_dispatch(warehouse, cfg, T0 + timedelta(hours=5)).delivery
    later = run_dispatch(warehouse, cfg, T0 + timedelta(hours=9)).delivery
    assert (late.escalated, later.escalated) == ([fingerprint(RULE, "p1")], [])
    (req,) = hook.received
    assert req["path"] == "/boss" and req["json"]["title"].startswith("[Majlis] ESCALATED")
    assert "assigned to amal" in req["json"]["message"]
    assert statuses(warehouse) == {fingerprint(RULE, "p1"): "escalated"}
    assert len(mail.mails) == 1


def test_acknowledged_task_does_not_escalate(warehouse, hook):
    cfg = config({"name": "amal", "notify": [hook.url()], "escalate_to": [hook.url("boss")]})
    seed(warehouse, finding("p1", due_at=T0 + timedelta(hours=4)))
    run_dispatch(warehouse, cfg, T0)
    ack(warehouse, fingerprint(RULE, "p1"), T0 + timedelta(hours=1))
    assert run_dispatch(warehouse, cfg, T0 + timedelta(hours=5)).delivery.escalated == []
    assert [r["path"] for r in hook.received] == ["/hook"]


def test_snoozed_task_escalates_only_after_its_snooze(warehouse, hook):
    cfg = config({"name": "amal", "notify": [hook.url()], "escalate_to": [hook.url("boss")]})
    seed(warehouse, finding("p1", due_at=T0 + timedelta(hours=4)))
    run_dispatch(warehouse, cfg, T0)
    snooze(warehouse, fingerprint(RULE, "p1"), T0 + timedelta(hours=10), T0 + timedelta(hours=1))
    assert run_dispatch(warehouse, cfg, T0 + timedelta(hours=6)).delivery.escalated == []
    woke = run_dispatch(warehouse, cfg, T0 + timedelta(hours=11))
    assert woke.woken == [fingerprint(RULE, "p1")]
    assert woke.delivery.escalated == [fingerprint(RULE, "p1")]


# -- untrusted text -----------------------------------------------------------------------

ACTIVE = [
    r"<!\w", r"<@", r"<#", r"(?<![\w\u200b])@(everyone|here|channel)\b", r"<\s*/?\s*(script|img|iframe|svg|a|b|style|html)\b",
    r"javascript:", r"vbscript:", r"data:text/html", r"\]\(", r"\x00", r"\ufffd",
    "[\u202a-\u202e\u2066\u2067]",
]


def corpus():
    cases = []
    for path in sorted(CORPUS.iterdir()):
        if path.name == "README.md":
            continue
        # Connectors hand dispatch text decoded with replacement characters, never bytes.
        text = path.read_bytes().decode("utf-8", errors="replace")
        cases.append(pytest.param(text, id=path.stem))
    cases.append(pytest.param("word " * 20_000 + "<!channel> @everyone", id="post_100kb"))
    return cases


def assert_inert(text: str) -> None:
    for pattern in ACTIVE:
        assert not re.search(pattern, text, re.I), f"{pattern!r} survived in {text[:400]!r}"
    # Our own isolates are the only ones, and they are balanced.
    assert text.count(FSI) == text.count(PDI)


@pytest.mark.parametrize("text", corpus())
def test_injection_corpus_arrives_inert_on_every_channel(warehouse, mail, hook, text):
    cfg = config({"name": "amal", "notify": [mail.url(), hook.url()]})
    summary = text.split("\n", 1)[0] if "\r\n" not in text else text
    seed(warehouse, finding("p1", summary=summary, excerpt=text, url="javascript:alert(1)"))
    assert run_dispatch(warehouse, cfg, T0).delivery.sent == 2
    (msg,), (req,) = mail.mails, hook.received
    parsed = email.message_from_bytes(msg.raw)
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "\n" not in msg.subject and "\r" not in msg.subject
    for arrived in (msg.subject, msg.body, req["json"]["title"], req["json"]["message"]):
        assert_inert(arrived)
    assert len(req["json"]["message"]) < 2000  # an excerpt, never the whole post
    assert "Link: (no safe link)" in req["json"]["message"]


def test_arabic_text_arrives_whole_and_isolated(warehouse, mail, hook):
    text = (CORPUS / "arabic_question.txt").read_text(encoding="utf-8")
    cfg = config({"name": "amal", "notify": [mail.url(), hook.url()], "languages": ["ar"]})
    seed(warehouse, finding("p1", lang="ar", summary="سؤال بلا جواب: هل يمكن استخدام مجلس؟", excerpt=text))
    run_dispatch(warehouse, cfg, T0)
    question = "هل يمكن استخدام مجلس مع خلاصات RSS؟ أحتاج إلى مساعدة في الإعداد"
    for body in (mail.mails[0].body, hook.received[0]["json"]["message"]):
        assert f"> {FSI}{question}" in body
        assert "\u202e" not in body
    assert mail.mails[0].subject.endswith(f"{FSI}سؤال بلا جواب: هل يمكن استخدام مجلس؟{PDI}")


def test_secrets_in_apprise_urls_never_reach_the_warehouse_or_logs(warehouse, hook, caplog):
    dead = free_port()
    secret_urls = [
        f"json://majlis:Pa55w0rdSecret@127.0.0.1:{hook.port}/hooks/T0kenInPath?+X-Api-Key=HeaderS3cret",
        f"json://majlis:Pa55w0rdSecret@127.0.0.1:{dead}/hooks/T0kenInPath",
        f"mailto://majlis:Pa55w0rdSecret@127.0.0.1:{dead}"
        "?from=majlis@example.org&to=a@example.org&mode=insecure",
    ]
    cfg = config({"name": "amal", "notify": secret_urls})
    seed(warehouse, finding("p1"))
    with caplog.at_level(logging.DEBUG):
        report = run_dispatch(warehouse, cfg, T0).delivery
    assert (report.sent, report.failed) == (1, 2)
    assert hook.received[0]["headers"]["X-Api-Key"] == "HeaderS3cret"  # the secret did its job
    stored = json.dumps(deliveries(warehouse), default=str)
    # Every logger, apprise's and urllib3's included, as a Prefect or CLI handler would see them.
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "JSON" in logged  # apprise did log at DEBUG
    for secret in ("Pa55w0rdSecret", "T0kenInPath", "HeaderS3cret"):
        assert secret not in stored
        assert secret not in logged
    assert {d["channel"] for d in deliveries(warehouse)} == {
        f"json://127.0.0.1:{hook.port}", f"json://127.0.0.1:{dead}", f"mailto://127.0.0.1:{dead}"}


CRASHING_RUN = """
import json, sys
from datetime import datetime
from dispatch import deliver
from majlis.config import parse_config
from warehouse import Warehouse
with Warehouse.open(sys.argv[1]) as wh:
    deliver(wh, parse_config(json.loads(sys.argv[2])), datetime.fromisoformat(sys.argv[3]))
"""


def test_kill_between_send_and_mark_resends_once(tmp_path, hook):
    """At-least-once: the killed run's message was received, so the next run repeats it once."""
    db = tmp_path / "majlis.duckdb"
    raw_config = {"managers": [{"name": "amal", "notify": [hook.url()]}]}
    cfg = parse_config(raw_config)
    with Warehouse.open(db) as wh:
        seed(wh, finding("p1"))
        create_tasks(wh, cfg, T0)
    proc = subprocess.Popen(
        [sys.executable, "-c", CRASHING_RUN, str(db), json.dumps(raw_config), T0.isoformat()],
        cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    hook.on_request = lambda: os.kill(proc.pid, signal.SIGKILL)  # received, never marked
    assert proc.wait(timeout=60) == -signal.SIGKILL
    hook.on_request = None
    with Warehouse.open(db) as wh:
        assert [d["status"] for d in deliveries(wh)] == ["queued"]
        assert deliver(wh, cfg, T0 + timedelta(minutes=1)).sent == 1
        assert deliver(wh, cfg, T0 + timedelta(hours=1)).sent == 0
        assert [d["status"] for d in deliveries(wh)] == ["sent"]
    assert len(hook.received) == 2
    assert hook.received[0]["json"] == hook.received[1]["json"]
