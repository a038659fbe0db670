"""Suggested responders (rules/responders.py) and how unanswered-questions names them."""
from __future__ import annotations

from datetime import datetime, timedelta

from connectors import Batch, Member, Post
from rules import RuleContext, responders, unanswered_questions

NOW = datetime(2026, 3, 1, 12, 0)

# Answered questions: (question id, asker, text, [(answerer, reply text)]).
HISTORY = [
    ("q1", "ann", "How do I reset my password? The reset mail never arrives",
     [("bob", "Check spam, then use Settings > Account > Reset password.")]),
    ("q2", "cat", "Forgot my password, how can I reset it from the app?",
     [("bob", "In the app: Profile, Security, Reset password."), ("dan", "thanks!")]),
    ("q3", "eve", "Password reset link expired, what now?",
     [("bob", "Request a new one, links last an hour."), ("automod", "Please read the FAQ about passwords.")]),
    ("q4", "ann", "كيف أغير كلمة المرور في التطبيق؟",
     [("sara", "من الإعدادات ثم الأمان ثم تغيير كلمة المرور.")]),
    ("q5", "cat", "نسيت كلمة المرور، كيف استعيدها؟",
     [("sara", "اضغط على نسيت كلمة المرور في صفحة الدخول.")]),
    ("q6", "eve", "When is the next community meetup in Amman?",
     [("omar", "The first Saturday of next month, details on the events page.")]),
    ("q7", "zed", "How do I reset my password on the website?",
     [("zed2", "Use the reset page.")]),
]


def _lang(text: str) -> str:
    # Set here so loading skips language detection (the tests are about similarity).
    return "ar" if any("\u0600" <= c <= "\u06ff" for c in text) else "en"


def _id(short: str) -> str:
    return f"rss:forum:{short}"


def seed(wh, unanswered: list[tuple[str, str, str]], source: str = "forum") -> None:
    posts, names = [], set()
    for n, (qid, asker, text, answers) in enumerate(HISTORY):
        at = NOW - timedelta(days=30 - n)
        posts.append(Post(_id(qid), "rss", source, "comment", _id(qid), None, _id(asker), at, None,
                          text, None, lang=_lang(text), is_question=True))
        names.add(asker)
        for k, (who, reply) in enumerate(answers):
            posts.append(Post(_id(f"{qid}a{k}"), "rss", source, "comment", _id(qid), _id(qid), _id(who),
                              at + timedelta(hours=1), None, reply, None, lang=_lang(reply), is_question=False))
            names.add(who)
    for qid, asker, text in unanswered:
        posts.append(Post(_id(qid), "rss", source, "comment", _id(qid), None, _id(asker),
                          NOW - timedelta(hours=30), None, text, None, lang=_lang(text), is_question=True))
        names.add(asker)
    members = [Member(_id(n), "rss", n, None, None, None, is_bot=(n == "automod")) for n in sorted(names)]
    wh.write_batch(Batch(source=source, posts=posts, members=members))


def suggested(wh, question_id: str) -> list[str]:
    rows = wh.query("select post_id, source, title, body, author_id from posts where post_id = $id",
                    {"id": _id(question_id)})
    found = responders.suggest(wh, rows, unanswered_questions.NOT_AN_ANSWER)
    return [r.handle for r in found.get(_id(question_id), [])]


def test_who_answered_similar_english_questions_is_suggested_first(warehouse):
    seed(warehouse, [("new", "newbie", "how can I reset my password, the mail did not come")])
    assert suggested(warehouse, "new")[0] == "bob"


def test_arabic_question_finds_arabic_answerers_across_spelling_variants(warehouse):
    seed(warehouse, [("new", "newbie", "كيف اغير كلمه المرور؟")])
    assert suggested(warehouse, "new")[0] == "sara"


def test_asker_is_never_suggested_for_their_own_question(warehouse):
    seed(warehouse, [("new", "bob", "How do I reset my password again?")])
    assert "bob" not in suggested(warehouse, "new")


def test_bots_and_thank_you_replies_earn_no_suggestion(warehouse):
    seed(warehouse, [("new", "newbie", "Password reset: how do I do it?")])
    names = suggested(warehouse, "new")
    assert "automod" not in names and "dan" not in names


def test_unrelated_question_gets_no_suggestion(warehouse):
    seed(warehouse, [("new", "newbie", "Which camera lens do you recommend for birds?")])
    assert suggested(warehouse, "new") == []


def test_at_most_three_are_suggested_with_a_reason(warehouse):
    seed(warehouse, [("new", "newbie", "How do I reset my password?")])
    rows = warehouse.query("select post_id, source, title, body, author_id from posts where post_id = $id",
                           {"id": _id("new")})
    (found,) = responders.suggest(warehouse, rows, unanswered_questions.NOT_AN_ANSWER).values()
    assert 1 <= len(found) <= 3
    bob = found[0]
    assert bob.similar_answers == 3 and "password" in bob.example.lower()


def test_answerers_in_another_source_are_not_suggested(warehouse):
    seed(warehouse, [])
    other = [Post("rss:other:q", "rss", "other", "comment", "rss:other:q", None, "rss:other:newbie",
                  NOW - timedelta(hours=30), None, "How do I reset my password?", None,
                  lang="en", is_question=True)]
    warehouse.write_batch(Batch(source="other", posts=other))
    rows = warehouse.query("select post_id, source, title, body, author_id from posts where post_id = 'rss:other:q'")
    assert responders.suggest(warehouse, rows, unanswered_questions.NOT_AN_ANSWER) == {}


def test_unanswered_finding_names_responders_in_summary_and_details(warehouse):
    seed(warehouse, [("new", "newbie", "How do I reset my password? Nothing arrives.")])
    context = RuleContext(now=NOW, sla_hours={}, manager_ids=())
    findings = unanswered_questions.detect(warehouse, unanswered_questions.RULE.params, context)
    (finding,) = [f for f in findings if f.subject_id == _id("new")]
    assert "— could answer: @bob" in finding.summary
    first = finding.details["suggested_responders"][0]
    assert first["member_id"] == _id("bob") and first["handle"] == "bob"
    assert first["similar_answers"] >= 2


def test_suggestions_can_be_turned_off(warehouse):
    seed(warehouse, [("new", "newbie", "How do I reset my password?")])
    context = RuleContext(now=NOW, sla_hours={}, manager_ids=())
    params = {**unanswered_questions.RULE.params, "suggest_responders": 0}
    findings = unanswered_questions.detect(warehouse, params, context)
    assert all(f.details["suggested_responders"] == [] and "could answer" not in f.summary
               for f in findings)
