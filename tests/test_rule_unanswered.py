"""rules/unanswered_questions against a real DuckDB warehouse, cases from rule_cases/*.yaml."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

import rules
from connectors import Batch, Member, Post
from majlis.text import annotate
from rules import unanswered_questions
from warehouse import Warehouse

CASES_FILE = Path(__file__).parent / "rule_cases" / "unanswered_questions.yaml"
SPEC = yaml.safe_load(CASES_FILE.read_text(encoding="utf-8"))
NOW = datetime.fromisoformat(str(SPEC["now"]))
SOURCE = "blog"


def _id(short: str | None) -> str | None:
    return f"rss:{SOURCE}:{short}" if short is not None else None


def _posts(case: dict) -> list[Post]:
    raw = case["posts"]
    titles = [p.get("title") for p in raw]
    bodies = [p.get("body") for p in raw]
    langs, flags = annotate(titles, bodies, [None] * len(raw))
    return [
        Post(
            post_id=_id(p["id"]), platform="rss", source=SOURCE,
            kind=p.get("kind", "item_comment"), thread_id=_id(p.get("thread", "t1")),
            parent_id=_id(p.get("parent")), author_id=_id(p.get("author")),
            created_at=NOW - timedelta(hours=p["hours_ago"]), title=p.get("title"),
            body=p.get("body"), url=f"https://blog.example/{p['id']}",
            lang=lang, is_question=p.get("is_question", flag), state=p.get("state", "live"),
        )
        for p, lang, flag in zip(raw, langs, flags)
    ]


def _members(case: dict, posts: list[Post]) -> list[Member]:
    listed = {m["id"]: m for m in case.get("members", [])}
    authors = {p.author_id for p in posts if p.author_id}
    out = []
    for member_id in sorted(authors | {_id(m) for m in listed}):
        spec = listed.get(member_id.rsplit(":", 1)[-1], {})
        out.append(Member(
            member_id=member_id, platform="rss", handle=member_id.rsplit(":", 1)[-1],
            display_name=None, first_seen_at=None, last_seen_at=None,
            is_manager=spec.get("is_manager", False), is_bot=spec.get("is_bot", False),
        ))
    return out


def _detect(wh: Warehouse, case: dict) -> list[rules.Finding]:
    posts = _posts(case)
    wh.write_batch(Batch(source=SOURCE, posts=posts, members=_members(case, posts)))
    context = rules.RuleContext(now=NOW, sla_hours=case.get("sla_hours", {}), manager_ids=())
    params = {**unanswered_questions.RULE.params, **case.get("params", {})}
    return unanswered_questions.detect(wh, params, context)


@pytest.mark.parametrize("case", SPEC["cases"], ids=[c["name"] for c in SPEC["cases"]])
def test_flags_exactly_the_expected_posts_in_priority_order(warehouse, case):
    findings = _detect(warehouse, case)
    assert [f.subject_id for f in findings] == [_id(i) for i in case["flagged"]]


def _case(name: str) -> dict:
    return next(c for c in SPEC["cases"] if c["name"] == name)


def test_finding_carries_priority_newcomer_due_date_and_language(warehouse):
    (finding,) = _detect(warehouse, _case("arabic_question_unanswered"))
    assert finding.finding_id == rules.fingerprint("unanswered-questions", _id("q"))
    assert finding.details["priority"] == 1
    assert finding.details["asker_is_newcomer"] is True
    assert finding.details["reason"] == "no replies"
    assert finding.due_at == NOW - timedelta(hours=30) + timedelta(hours=4)
    assert finding.lang == "ar"
    assert finding.url == "https://blog.example/q"
    assert finding.source == SOURCE


def test_summary_is_one_english_line_with_age_and_excerpt(warehouse):
    (finding,) = _detect(warehouse, _case("arabic_question_unanswered"))
    assert finding.summary.startswith("Unanswered for 30 h: ")
    assert "حد يعرف ليه الموقع" in finding.summary
    assert "\n" not in finding.summary


def test_reason_names_the_replies_that_did_not_answer(warehouse):
    (finding,) = _detect(warehouse, _case("thanks_and_plus_one_replies_do_not_answer"))
    assert finding.details["reason"] == "no answer: 3 only thanking or +1"


def test_excerpt_is_cut_at_a_word_to_120_characters():
    long_question = "How do I " + "really " * 40 + "reset my password?"
    text = unanswered_questions.excerpt(None, long_question)
    assert len(text) <= 120 and text.endswith("…") and "  " not in text


def test_second_run_gives_the_same_finding_ids(warehouse):
    case = _case("only_self_reply")
    first = _detect(warehouse, case)
    context = rules.RuleContext(now=NOW, sla_hours={}, manager_ids=())
    second = unanswered_questions.detect(warehouse, unanswered_questions.RULE.params, context)
    assert [f.finding_id for f in first] == [f.finding_id for f in second]


def test_runs_through_run_rules_and_stores_findings(warehouse):
    _detect(warehouse, _case("only_bot_reply"))
    context = rules.RuleContext(now=NOW, sla_hours={}, manager_ids=())
    rules.run_rules(warehouse, {}, context, only=["unanswered-questions"], log=lambda _: None)
    stored = warehouse.query("select subject_id, cleared_at from findings")
    assert stored == [{"subject_id": _id("q"), "cleared_at": None}]
