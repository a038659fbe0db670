"""End to end without Prefect: a question becomes a task, is e-mailed, escalates, and closes
itself when someone answers it in the data."""
from datetime import datetime, timedelta

from connectors import Batch, Member, Post
from dispatch import run_dispatch
from majlis.config import parse_config
from majlis.inbox import SmtpInbox
from rules import RuleContext, run_rules

ASKED = datetime(2026, 11, 20, 9, 0)


def _post(post_id, author, at, body, parent=None):
    return Post(post_id=post_id, platform="rss", source="blog", kind="item_comment",
                thread_id="rss:item", parent_id=parent or "rss:item", author_id=author,
                created_at=at, title=None, body=body, url=f"http://blog.example/{post_id}")


def _detect(wh, now):
    context = RuleContext(now=now, sla_hours={"blog": 4.0}, manager_ids=())
    run_rules(wh, {}, context, only=["unanswered-questions"], log=lambda line: None)


def test_question_is_sent_escalates_and_resolves_when_answered(warehouse):
    with SmtpInbox() as inbox:
        config = parse_config({
            "sources": [{"kind": "rss", "name": "blog", "url": "http://blog.example/feed", "sla_hours": 4}],
            "managers": [{"name": "Hala", "notify": [inbox.apprise_url("hala@example.org")],
                          "escalate_to": [inbox.apprise_url("lead@example.org")]}],
        })
        members = [Member(m, "rss", m, m, ASKED, ASKED) for m in ("rss:blog:sara", "rss:blog:omar")]
        question = _post("rss:q", "rss:blog:sara", ASKED, "كيف أضيف عضوًا جديدًا إلى المجموعة؟")
        warehouse.write_batch(Batch(source="blog", posts=[question], members=members))

        now = ASKED + timedelta(hours=5)
        _detect(warehouse, now)
        first = run_dispatch(warehouse, config, now)
        assert len(first.new_tasks) == 1
        assert [m["To"] for m in inbox.messages] == ["hala@example.org"]

        later = ASKED + timedelta(hours=12)  # past due, nobody acknowledged it
        _detect(warehouse, later)
        run_dispatch(warehouse, config, later)
        assert [m["To"] for m in inbox.messages] == ["hala@example.org", "lead@example.org"]

        answer = _post("rss:a", "rss:blog:omar", later, "من الإعدادات، ثم دعوة عضو.", parent="rss:q")
        warehouse.write_batch(Batch(source="blog", posts=[answer]))
        done = ASKED + timedelta(hours=13)
        _detect(warehouse, done)
        result = run_dispatch(warehouse, config, done)

        (task,) = warehouse.query("select status, resolution from tasks")
        assert result.resolved and task == {"status": "resolved", "resolution": "cleared"}
        assert len(inbox.messages) == 2  # nothing more is sent about an answered question
