"""Promises kept: a manager committed to something in a thread and never came back to it.

A promise is a manager's post (members.is_manager, or a member id named in the config) with
a commitment in it: English "we will", "we'll", "we are going to", "coming soon", "will be
fixed / released / published ...", "I'll look into / follow up ..."; Arabic "سنقوم", "سوف",
"سننشر", "سيتم", "سنعمل", "سنضيف", "قريبا" (any spelling: Arabic text is folded first), with
an optional و / ف prefix. Not a promise: a negated one ("we will not", "we'll never"), or one
inside a question ("do you think we will win?").

Its due date is the post's time plus the delay it names, where it names one cheaply
("within two weeks", "in 3 days", "next week", "tomorrow", "خلال أسبوعين", "خلال ٣ أيام",
"الأسبوع القادم", "غدًا"), else plus `due_days`. It is flagged once due with no later post by
the same manager in the same thread. A follow-up after the due date still clears it: the
task is to follow up, and that is done. Promises older than `lookback_days` are not judged.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from majlis.text import normalize_arabic
from rules._base import Finding, RuleContext, RuleMeta, fingerprint
from rules.unanswered_questions import excerpt
from warehouse import Warehouse

RULE = RuleMeta(
    id="promises-kept",
    title="A manager's promise has no follow-up",
    description=(
        "A manager said the community would get something (\"we will\", \"coming soon\", "
        "\"سننشر\", \"قريبًا\") and has not posted again in that thread by the date it was due."
    ),
    principle="3 make the community a lasting priority: keep your word",
    goal="promises-kept",
    severity="medium",
    params={"due_days": 14, "lookback_days": 120},
    false_positives=(
        "a promise kept somewhere else: a new post or thread, another source, a changelog",
        "a promise kept by another manager in the thread",
        "future tense that commits to nothing (\"we will see\", \"سوف تجدون\" - you will find)",
        "a manager quoting someone else's \"we will\"",
    ),
)

# Loose: run in SQL on lower-cased text, before Arabic folding, to keep only candidates.
PREFILTER = r"we will|we'll|we’ll|we are going to|coming soon|will be |i'll|i’ll|i will|سوف|سنقوم|سننشر|سيتم|سنعمل|سنضيف|قريب"

_EN_PROMISES = [
    r"\bwe(?: will|'ll|’ll| are going to| shall)\b",
    r"\bcoming soon\b",
    r"\bwill be (?:fixed|released|published|posted|added|shared|available|back|out|updated|"
    r"resolved|restored|announced|sent|uploaded)\b",
    r"\bi(?:'ll|’ll| will) (?:look into|check|fix|post|share|update|follow up|get back|send|upload|add)\b",
]
_AR_PROMISES = [
    r"(?<!\w)[وف]?(?:سوف|سنقوم|سننشر|سيتم|سنعمل|سنضيف|سنعلن|سنرسل|سنرفع)(?!\w)",
    r"(?<!\w)قريبا(?!\w)",
]
COMMITMENT = re.compile("|".join(_EN_PROMISES + _AR_PROMISES), re.IGNORECASE)
_NEGATED = re.compile(r"\s*(?:not|never|no longer)\b|\s+لن\b", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?؟\n]")

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
                 "six": 6, "seven": 7, "ten": 10, "few": 3, "couple of": 2}
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
_EN_DELAY = re.compile(
    r"\b(?:within|in)(?: the next)? (a|an|one|two|three|four|five|six|seven|ten|few|couple of|\d+) "
    r"(day|week|month)s?\b", re.IGNORECASE)
_AR_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩", "0123456789")
# After normalize_arabic: أسبوع -> اسبوع, ساعة -> ساعه.
_AR_DELAYS = [
    (re.compile(r"خلال (?:ال)?يومين"), 2), (re.compile(r"خلال (?:ال)?اسبوعين"), 14),
    (re.compile(r"خلال (?:ال)?شهرين"), 60), (re.compile(r"خلال (?:ال)?(?:اسبوع|اسبوع واحد)(?!\w)"), 7),
    (re.compile(r"خلال (?:ال)?شهر(?!\w)"), 30),
    (re.compile(r"(?:ال)?اسبوع (?:ال)?(?:قادم|مقبل|جاي)"), 7),
    (re.compile(r"(?<!\w)(?:غدا|بكره|بكرا)(?!\w)"), 1),
]
_AR_DAYS_N = re.compile(r"خلال (\d+) (?:ايام|يوم|يوما)")
_AR_WEEKS_N = re.compile(r"خلال (\d+) (?:اسابيع|اسبوع)")
_EN_FIXED = [(re.compile(r"\bnext week\b", re.I), 7), (re.compile(r"\btomorrow\b", re.I), 1)]


def _sql() -> str:
    return resources.files("rules").joinpath("promises_kept.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Promise:
    phrase: str  # the words that make it a promise, as folded
    due_days: int
    named_delay: bool  # the post named its own delay


def find_promise(text: str | None, default_days: int) -> Promise | None:
    """The commitment in a manager's post and when it falls due; None when it makes none."""
    folded = normalize_arabic(text or "")
    for match in COMMITMENT.finditer(folded):
        if _NEGATED.match(folded, match.end()) or _in_question(folded, match):
            continue
        days = named_delay_days(folded)
        return Promise(match.group(0), days or default_days, days is not None)
    return None


def _in_question(text: str, match: re.Match) -> bool:
    end = _SENTENCE_END.search(text, match.end())
    return end is not None and end.group(0) in "?؟"


def named_delay_days(text: str) -> int | None:
    """The delay a promise names ("within two weeks", "خلال أسبوعين"), in days, if any."""
    text = normalize_arabic(text).translate(_AR_DIGITS)
    found = _EN_DELAY.search(text)
    if found:
        amount = found.group(1).lower()
        count = int(amount) if amount.isdigit() else _NUMBER_WORDS[amount]
        return count * _UNIT_DAYS[found.group(2).lower()]
    for pattern, days in _EN_FIXED + _AR_DELAYS:
        if pattern.search(text):
            return days
    for pattern, unit in ((_AR_DAYS_N, 1), (_AR_WEEKS_N, 7)):
        found = pattern.search(text)
        if found:
            return int(found.group(1)) * unit
    return None


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    rows = wh.query(_sql(), {
        "now": context.now, "since": context.now - timedelta(days=int(params["lookback_days"])),
        "manager_ids": list(context.manager_ids), "commitment": PREFILTER,
    })
    findings = []
    for row in rows:
        text = " ".join(t for t in (row["title"], row["body"]) if t)
        promise = find_promise(text, int(params["due_days"]))
        if promise is None or row["first_follow_up_at"] is not None:
            continue
        due_at = row["created_at"] + timedelta(days=promise.due_days)
        if due_at > context.now:
            continue
        findings.append(_finding(row, promise, due_at, context.now))
    return findings


def _finding(row: dict, promise: Promise, due_at: datetime, now: datetime) -> Finding:
    who = f"@{row['handle']}" if row["handle"] else (row["author_id"] or "a manager")
    return Finding(
        finding_id=fingerprint(RULE.id, row["post_id"]), rule=RULE.id, goal=RULE.goal,
        subject_id=row["post_id"], source=row["source"], severity=RULE.severity,
        summary=(f'{who} promised on {row["created_at"]:%Y-%m-%d} "{excerpt(row["title"], row["body"])}"'
                 f" - due {due_at:%Y-%m-%d}, no follow-up from them in the thread yet."),
        url=row["url"],
        details={
            "manager_id": row["author_id"], "manager_handle": row["handle"],
            "thread_id": row["thread_id"], "promised_at": row["created_at"].isoformat(),
            "promise_due_at": due_at.isoformat(), "phrase": promise.phrase,
            "delay_named_in_post": promise.named_delay, "due_days": promise.due_days,
            "overdue_days": (now - due_at).days,
        },
        detected_at=now,
        lang=row["lang"],
    )
