"""Members to spotlight: who gave the community the most lately, with a reason to say so.

Signals, per source and member over the last `window_days` (the query is
`spotlight_members.sql`; bots and managers are never candidates):
  helpful      answered at least `min_answers` questions from others (not thanks or +1),
               weighted up for first answers and for newcomers helped;
  consistent   posted in at least `min_active_weeks` of the last `consistency_weeks` weeks;
  milestone    reached their Nth post (N in `milestones`) in the window;
  anniversary  their first post was one year ago, within the window, and they are still here;
  rising       posted at least `rising_factor` times as often as the window before, and at
               least `rising_min_posts` times.
A candidate has at least one signal; candidates are ranked by
  3 x answers + 2 x first answers + 3 x newcomers helped + active weeks (when consistent)
  + 10 per milestone or anniversary + 5 when rising.

History comes from the `findings` table itself. Anyone spotlighted (a finding of this rule
detected) in the last `cooldown_weeks` weeks is not a candidate. A spotlight stays open for
`hold_days`, re-reported unchanged by each run so its task is not cleared the next morning;
at most `per_source` spotlights are open per source at once, so with the defaults a source
gets up to three names a week. Each spotlight is a new subject (member and date), so a member
can be spotlighted again, as a new task, after the cooldown.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources

from rules._base import Finding, RuleContext, RuleMeta, fingerprint
from rules.unanswered_questions import NOT_AN_ANSWER
from warehouse import Warehouse

RULE = RuleMeta(
    id="spotlight-members",
    title="A member to thank in public",
    description=(
        "A member who answered others' questions (newcomers' especially), kept showing up, "
        "reached a milestone or is engaging more and more; with a one-sentence reason a manager "
        "can paste into a thank-you post."
    ),
    principle="5 recognise those who give",
    goal="recognise-contributors",
    severity="low",
    params={
        "window_days": 30, "min_answers": 3, "newcomer_days": 30, "consistency_weeks": 12,
        "min_active_weeks": 10, "milestones": [100, 500, 1000], "rising_factor": 2.0,
        "rising_min_posts": 8, "cooldown_weeks": 8, "hold_days": 7, "per_source": 3,
    },
    false_positives=(
        "answers that are wrong or unkind: the rule counts replies, it does not judge them",
        "a member who posts a lot in a dispute (rising engagement, consistency)",
        "a bot or staff account not marked as such in members or the config",
    ),
)


def _sql() -> str:
    return resources.files("rules").joinpath("spotlight_members.sql").read_text(encoding="utf-8")


@dataclass(frozen=True)
class Candidate:
    source: str
    member_id: str
    handle: str | None
    score: float
    reason: str
    signals: tuple[str, ...]
    facts: dict


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    now = context.now
    held = _held_spotlights(wh, now, int(params["hold_days"]))
    recent = _recently_spotlighted(wh, now, int(params["cooldown_weeks"]))
    open_per_source: dict[str, int] = {}
    for finding in held:
        open_per_source[finding.source] = open_per_source.get(finding.source, 0) + 1
    chosen: set[str] = {f.details["member_id"] for f in held}
    findings = list(held)
    for candidate in candidates(wh, params, context):
        if candidate.member_id in recent or candidate.member_id in chosen:
            continue
        if open_per_source.get(candidate.source, 0) >= int(params["per_source"]):
            continue
        chosen.add(candidate.member_id)  # once per run, in the source they gave most to
        open_per_source[candidate.source] = open_per_source.get(candidate.source, 0) + 1
        findings.append(_finding(candidate, now))
    return findings


def candidates(wh: Warehouse, params: dict, context: RuleContext) -> list[Candidate]:
    """Everyone with at least one signal, best first."""
    now = context.now
    window = timedelta(days=int(params["window_days"]))
    rows = wh.query(_sql(), {
        "now": now, "window_start": now - window, "previous_start": now - 2 * window,
        "consistency_start": now - timedelta(weeks=int(params["consistency_weeks"])),
        "newcomer_days": int(params["newcomer_days"]),
        "milestones": [int(m) for m in params["milestones"]],
        "manager_ids": list(context.manager_ids), "not_an_answer": NOT_AN_ANSWER,
    })
    found = [c for c in (_candidate(row, params, now) for row in rows) if c is not None]
    return sorted(found, key=lambda c: (-c.score, c.source, c.member_id))


def _candidate(row: dict, params: dict, now: datetime) -> Candidate | None:
    window_days = int(params["window_days"])
    parts: list[tuple[str, str]] = []  # (signal, clause), strongest first
    score = 0.0
    if row["answers"] >= int(params["min_answers"]):
        clause = f"answered {row['answers']} questions from {row['askers']} member{_s(row['askers'])} in the last {window_days} days"
        if row["newcomers_helped"]:
            clause += f", {row['newcomers_helped']} of them newcomer{_s(row['newcomers_helped'])}"
        parts.append(("helpful", clause))
        score += 3 * row["answers"] + 2 * row["first_answers"] + 3 * row["newcomers_helped"]
    if row["milestone"]:
        parts.append(("milestone", f"made their {_ordinal(row['milestone'])} post on {row['milestone_at']:%Y-%m-%d}"))
        score += 10
    anniversary = _anniversary(row["first_post_at"], now, window_days)
    if anniversary:
        parts.append(("anniversary", f"marked one year in the community on {anniversary:%Y-%m-%d}"))
        score += 10
    if row["active_weeks"] >= int(params["min_active_weeks"]):
        parts.append(("consistent", f"posted in {row['active_weeks']} of the last {params['consistency_weeks']} weeks"))
        score += row["active_weeks"]
    before = row["posts_before_window"]
    if (before >= 1 and row["posts_in_window"] >= int(params["rising_min_posts"])
            and row["posts_in_window"] >= float(params["rising_factor"]) * before):
        parts.append(("rising", f"posted {row['posts_in_window']} times in the last {window_days} days, up from {before} the {window_days} days before"))
        score += 5
    if not parts:
        return None
    who = f"@{row['handle']}" if row["handle"] else row["member_id"]
    reason = f"{who} " + " and ".join(clause for _, clause in parts[:2]) + "."
    facts = {k: row[k] for k in ("answers", "askers", "newcomers_helped", "first_answers",
                                 "active_weeks", "posts_in_window", "posts_before_window", "milestone")}
    facts["first_post_at"] = row["first_post_at"].isoformat() if row["first_post_at"] else None
    return Candidate(row["source"], row["member_id"], row["handle"], score, reason,
                     tuple(s for s, _ in parts), facts)


def _anniversary(first_post_at: datetime | None, now: datetime, window_days: int) -> datetime | None:
    if first_post_at is None:
        return None
    try:
        day = first_post_at.replace(year=first_post_at.year + 1)
    except ValueError:  # 29 February
        day = first_post_at.replace(year=first_post_at.year + 1, day=28)
    return day if now - timedelta(days=window_days) <= day <= now else None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _finding(candidate: Candidate, now: datetime) -> Finding:
    subject = f"{candidate.member_id}@{now:%Y-%m-%d}"
    return Finding(
        finding_id=fingerprint(RULE.id, subject), rule=RULE.id, goal=RULE.goal,
        subject_id=subject, source=candidate.source, severity=RULE.severity,
        summary=f"Spotlight: {candidate.reason}", url=None,
        details={"member_id": candidate.member_id, "handle": candidate.handle,
                 "reason": candidate.reason, "signals": list(candidate.signals),
                 "score": candidate.score, **candidate.facts},
        detected_at=now,
    )


def _held_spotlights(wh: Warehouse, now: datetime, hold_days: int) -> list[Finding]:
    """Open spotlights younger than `hold_days`, re-reported as stored."""
    rows = wh.query(
        "select subject_id, source, severity, detected_at, details from findings"
        " where rule = $rule and cleared_at is null and detected_at >= $since",
        {"rule": RULE.id, "since": now - timedelta(days=hold_days)})
    held = []
    for row in rows:
        stored = json.loads(row["details"]) if isinstance(row["details"], str) else row["details"]
        details = {k: v for k, v in stored.items() if k not in ("summary", "url", "due_at", "lang")}
        if "member_id" not in details:
            continue
        held.append(Finding(
            finding_id=fingerprint(RULE.id, row["subject_id"]), rule=RULE.id, goal=RULE.goal,
            subject_id=row["subject_id"], source=row["source"], severity=row["severity"],
            summary=stored.get("summary") or f"Spotlight: {details.get('reason', '')}",
            url=stored.get("url"), details=details, detected_at=row["detected_at"]))
    return held


def _recently_spotlighted(wh: Warehouse, now: datetime, cooldown_weeks: int) -> set[str]:
    rows = wh.query(
        "select distinct details ->> 'member_id' as member_id from findings"
        " where rule = $rule and detected_at >= $since",
        {"rule": RULE.id, "since": now - timedelta(weeks=cooldown_weeks)})
    return {r["member_id"] for r in rows if r["member_id"]}
