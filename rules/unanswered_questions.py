"""Unanswered questions: a member asked, and no one else has answered within the source's SLA.

Why: seed principle 2, "never belittle a question, however simple" - a question left hanging
tells the asker, and every reader, that asking here is pointless. Newcomers' questions come
first: a first question that gets no answer is often the last one.

What counts as an answer is `question_answers.sql` (its header says it), shared with the
goals' response metrics (majlis/goals.py). Whether a post is a question was decided when it
was loaded (`majlis.text.annotate` fills `posts.is_question`), so this rule reads only the
warehouse. Questions older than `max_age_days` are not chased: a first ingest of years of
history must not bury managers in questions long gone cold.
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


def question_answers(wh: Warehouse, *, now: datetime, since: datetime | None, default_hours: float,
                     sla_hours: dict[str, float], manager_ids: list[str]) -> list[dict]:
    """Every question asked in [since, now] with its replies' roles and first answer time."""
    sources = sorted(sla_hours)
    return wh.query(resources.files("rules").joinpath("question_answers.sql").read_text(encoding="utf-8"), {
        "now": now, "since": since, "default_hours": float(default_hours),
        "sla_sources": sources, "sla_hours": [float(sla_hours[s]) for s in sources],
        "manager_ids": list(manager_ids), "not_an_answer": NOT_AN_ANSWER,
    })


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    max_age_days = int(params["max_age_days"])
    asked = question_answers(
        wh, now=context.now, since=context.now - timedelta(days=max_age_days) if max_age_days > 0 else None,
        default_hours=float(params["after_hours"]), sla_hours=context.sla_hours,
        manager_ids=list(context.manager_ids))
    overdue = [q for q in asked if q["answers"] == 0 and q["due_at"] <= context.now]
    rows = _prioritised(overdue, _first_posts(wh, {q["author_id"] for q in overdue if q["author_id"]}))
    suggested = responders.suggest(
        wh, rows, NOT_AN_ANSWER, now=context.now, top=int(params.get("suggest_responders", 3)),
        min_similarity=float(params.get("responder_min_similarity", 0.2)))
    return [_finding(row, context.now, suggested.get(row["post_id"], [])) for row in rows]


def _first_posts(wh: Warehouse, author_ids: set[str]) -> dict[str, datetime | None]:
    rows = wh.query("select author_id, min(created_at) as first_post_at from posts"
                    " where author_id in (select unnest($ids::varchar[])) group by author_id",
                    {"ids": sorted(author_ids)}) if author_ids else []
    return {r["author_id"]: r["first_post_at"] for r in rows}


def _prioritised(overdue: list[dict], first_posts: dict[str, datetime | None]) -> list[dict]:
    """Newcomers' questions first (they had posted nothing before), then the oldest."""
    for q in overdue:
        first = first_posts.get(q["author_id"])
        q["asker_is_newcomer"] = q["author_id"] is not None and (first is None or first >= q["created_at"])
        q["reason"] = _reason(q)
    overdue.sort(key=lambda q: (not q["asker_is_newcomer"], q["created_at"], q["post_id"]))
    for priority, q in enumerate(overdue, start=1):
        q["priority"] = priority
    return overdue


def _reason(q: dict) -> str:
    parts = [f"{q['self_replies']} from the asker" if q["self_replies"] else None,
             f"{q['bot_replies']} from bots" if q["bot_replies"] else None,
             f"{q['thanks_replies']} only thanking or +1" if q["thanks_replies"] else None]
    parts = [p for p in parts if p]
    return "no answer: " + ", ".join(parts) if parts else "no replies"


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
