"""What rules/promises_kept takes for a promise and when it falls due (cases: rule_cases/promises_kept.yaml)."""
from __future__ import annotations

from datetime import datetime

import pytest

from connectors import Batch, Member, Post
from rules import RuleContext, promises_kept


@pytest.mark.parametrize("text", [
    "We will publish the slides tomorrow.",
    "we'll look at it",
    "We’ll fix this, promise.",
    "New guide coming soon!",
    "The bug will be fixed in the next release.",
    "I'll look into it tonight.",
    "سنقوم بتحديث الصفحة",
    "وسوف نرسل الروابط للجميع",
    "سننشر التسجيل",
    "سيتم إصلاح المشكلة",
    "الدليل قريبا",
    "الدليل قريبًا",
    "الدليل قريباً",
])
def test_commitments_in_english_and_arabic_are_promises(text):
    assert promises_kept.find_promise(text, 14) is not None


@pytest.mark.parametrize("text", [
    "We will not run the meetup in August.",
    "We'll never sell your data.",
    "Do you think we will reach 1000 members?",
    "هل تعتقدون أننا سوف نصل إلى ألف عضو؟",
    "Thanks everyone for coming yesterday.",
    "قرأت كتاب الفيلسوف اليوم",  # contains سوف inside a word
    "The shop is nearby: قريب من المحطة",
])
def test_negations_questions_and_lookalikes_are_not_promises(text):
    assert promises_kept.find_promise(text, 14) is None


@pytest.mark.parametrize("text, days", [
    ("We will share it within two weeks.", 14),
    ("We'll reply in 3 days.", 3),
    ("We'll send it within a month", 30),
    ("Coming next week!", 7),
    ("We will post it tomorrow", 1),
    ("سننشر الرابط خلال أسبوعين", 14),
    ("سيتم الرد خلال يومين", 2),
    ("سنقوم بذلك خلال ٣ أيام", 3),
    ("سيتم التحديث الأسبوع القادم", 7),
    ("سننشر غداً", 1),
    ("We will publish the slides.", None),
])
def test_named_delays_are_read_in_days(text, days):
    assert promises_kept.named_delay_days(text) == days


def test_named_delay_sets_the_due_date_else_the_default():
    assert promises_kept.find_promise("We'll send it in 3 days", 14).due_days == 3
    assert promises_kept.find_promise("We'll send it", 14).due_days == 14


def test_finding_names_the_manager_the_phrase_and_the_due_date(warehouse):
    manager = Member("rss:blog:huda", "rss", "huda", "Huda", None, None, is_manager=True)
    post = Post("rss:blog:p", "rss", "blog", "item_comment", "rss:blog:t", "rss:blog:t",
                "rss:blog:huda", datetime(2026, 2, 1), None, "We will upload the recording within two weeks.",
                "https://blog.example/p", lang="en", is_question=False)
    warehouse.write_batch(Batch(source="blog", posts=[post], members=[manager]))
    context = RuleContext(now=datetime(2026, 3, 1), sla_hours={}, manager_ids=())
    (finding,) = promises_kept.detect(warehouse, promises_kept.RULE.params, context)
    assert finding.summary.startswith('@huda promised on 2026-02-01 "We will upload')
    assert "due 2026-02-15" in finding.summary
    assert finding.details["phrase"] == "We will" and finding.details["delay_named_in_post"] is True
    assert finding.details["overdue_days"] == 14
    assert finding.url == "https://blog.example/p" and finding.lang == "en"
