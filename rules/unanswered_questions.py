"""Unanswered questions: a member asked, and no one else has answered within the source's SLA.

The query is `unanswered_questions.sql` (its header says what counts as an answer). Whether
a post is a question was decided when it was loaded (`majlis.text.annotate` fills
`posts.is_question`), so this rule reads only the warehouse.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from importlib import resources

from rules import responders
from rules._base import Finding, RuleContext, RuleMeta, fingerprint
from warehouse import Warehouse

RULE = RuleMeta(
    id="unanswered-questions",
    title="Question with no answer",
    description=(
        "A member's question has had no answer from anyone else (bots and thank-you or +1 "
        "replies do not count) for longer than the source's reply time. Newcomers' questions "
        "and the oldest come first."
    ),
    principle="2 listen: never belittle a question",
    goal="answer-every-question",
    severity="high",
    # suggest_responders: how many members to name per question (0: none); they are members
    # who answered similar questions in the same source before (rules/responders.py).
    params={"after_hours": 4, "max_age_days": 30, "suggest_responders": 3, "responder_min_similarity": 0.2},
    false_positives=(
        "a rhetorical question or headline the detector took for a real one (Arabic social "
        "text is full of them; `majlis bench accuracy` measures its precision)",
        "a question answered somewhere we do not ingest (a DM, another thread, a live call)",
        "a question answered in a reply we could not place in its thread (no parent id)",
        "a blog article that asks its readers, when the blog's author is not listed as a manager",
    ),
)

# A reply made only of thanks, agreement or a bump, in English or Arabic, or only of emoji
# and punctuation ("👍"), is not an answer. Lower-cased text must match it in full.
_NOT_AN_ANSWER_WORDS = [
    r"thanks?(?: you)?(?: so much| a lot| very much)?", r"thx", r"ty", r"tysm", r"cheers",
    r"\+ ?1", r"\+١", r"same(?: here| question)?", r"me too", r"following", r"bump", r"up+",
    r"this", r"interesting", r"good question", r"great question", r"i (?:also )?want to know too",
    r"شكرا(?:ً|ًً)?(?: جزيلا(?:ً)?| لك| لكم)?", r"شكرًا(?: جزيلًا)?", r"مشكور(?:ه|ة)?", r"تسلم(?:ي|و)?",
    r"جزاك(?:م)? الله خير(?:ا|اً)?", r"الله يعطيك(?:م)? العافي(?:ه|ة)", r"يعطيك العافي(?:ه|ة)",
    r"متابع(?:ه|ة)?", r"نفس السؤال", r"وانا كمان", r"وأنا كمان", r"وانا ايضا", r"وأنا أيضا(?:ً)?",
    r"سؤال (?:جميل|مهم|حلو)", r"للرفع",
]
NOT_AN_ANSWER = (
    r"^[\s\p{P}\p{S}]*(?:(?:" + "|".join(_NOT_AN_ANSWER_WORDS) + r")[\s\p{P}\p{S}]*)*$"
)
SUMMARY_EXCERPT_CHARS = 120


def _query() -> str:
    return resources.files("rules").joinpath("unanswered_questions.sql").read_text(encoding="utf-8")


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    sla_sources = sorted(context.sla_hours)
    rows = wh.query(_query(), {
        "now": context.now,
        "default_hours": float(params["after_hours"]),
        "max_age_days": int(params["max_age_days"]),
        "sla_sources": sla_sources,
        "sla_hours": [float(context.sla_hours[s]) for s in sla_sources],
        "manager_ids": list(context.manager_ids),
        "not_an_answer": NOT_AN_ANSWER,
    })
    suggested = responders.suggest(
        wh, rows, NOT_AN_ANSWER, now=context.now, top=int(params.get("suggest_responders", 3)),
        min_similarity=float(params.get("responder_min_similarity", 0.2)))
    return [_finding(row, context.now, suggested.get(row["post_id"], [])) for row in rows]


def _finding(row: dict, now: datetime, suggested: list[responders.Responder]) -> Finding:
    age = now - row["created_at"]
    summary = f'Unanswered for {_age(age)}: "{excerpt(row["title"], row["body"])}"'
    if suggested:
        summary += " — could answer: " + ", ".join(responders.mention(r) for r in suggested)
    return Finding(
        finding_id=fingerprint(RULE.id, row["post_id"]),
        rule=RULE.id,
        goal=RULE.goal,
        subject_id=row["post_id"],
        source=row["source"],
        severity=RULE.severity,
        summary=summary,
        url=row["url"],
        details={
            "priority": row["priority"],
            "asker_is_newcomer": row["asker_is_newcomer"],
            "asker_id": row["author_id"],
            "kind": row["kind"],
            "asked_at": row["created_at"].isoformat(),
            "age_hours": round(age.total_seconds() / 3600, 1),
            "sla_hours": row["sla_hours"],
            "reason": row["reason"],
            "suggested_responders": [r.as_detail() for r in suggested],
        },
        detected_at=now,
        due_at=row["due_at"],
        lang=row["lang"],
    )


def excerpt(title: str | None, body: str | None, limit: int = SUMMARY_EXCERPT_CHARS) -> str:
    """The question on one line, cut at a word boundary to at most `limit` characters."""
    text = " ".join(" - ".join(t for t in (title, body) if t).split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1].rsplit(" ", 1)[0]
    return (cut if len(cut) > limit // 2 else text[: limit - 1]) + "…"


def _age(age: timedelta) -> str:
    hours = age.total_seconds() / 3600
    if hours < 48:
        return f"{hours:.0f} h"
    return f"{hours / 24:.0f} days"
