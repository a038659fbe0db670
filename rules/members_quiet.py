"""Members gone quiet: regulars who stopped posting (principle 3, a neglected garden withers).

A regular posted in at least `min_active_weeks` of the `regular_weeks` weeks before the last
`quiet_weeks`, and has posted nowhere since. The query is `members_quiet.sql`. Each quiet
spell is its own subject (the member and the date of their last post), so a member who comes
back and later goes quiet again gets a new task, and the finding clears when they post again
or when their regular weeks slide out of the window.
"""
from __future__ import annotations

from datetime import timedelta
from importlib import resources

from rules._base import Finding, RuleContext, RuleMeta, fingerprint
from warehouse import Warehouse

RULE = RuleMeta(
    id="members-quiet",
    title="A regular member has gone quiet",
    description=(
        "A member who posted in most weeks (at least `min_active_weeks` of `regular_weeks`) has "
        "not posted anywhere for `quiet_weeks` weeks while their community carried on."
    ),
    principle="3 make the community a lasting priority: a neglected garden withers",
    goal="members-stay",
    severity="low",
    params={"quiet_weeks": 4, "regular_weeks": 12, "min_active_weeks": 6},
    false_positives=(
        "a member on holiday, parental leave or Ramadan schedule: they come back by themselves",
        "a member who now posts under another account or in a source we do not ingest",
        "a member who reads and reacts (likes) but no longer writes: we see only posts",
    ),
)


def _sql() -> str:
    return resources.files("rules").joinpath("members_quiet.sql").read_text(encoding="utf-8")


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    quiet_since = context.now - timedelta(weeks=int(params["quiet_weeks"]))
    rows = wh.query(_sql(), {
        "now": context.now, "quiet_since": quiet_since,
        "regular_since": quiet_since - timedelta(weeks=int(params["regular_weeks"])),
        "min_active_weeks": int(params["min_active_weeks"]),
        "manager_ids": list(context.manager_ids),
    })
    return [_finding(row, params, context) for row in rows]


def _finding(row: dict, params: dict, context: RuleContext) -> Finding:
    subject = f"{row['member_id']}@{row['last_post_at']:%Y-%m-%d}"
    who = f"@{row['handle']}" if row["handle"] else row["member_id"]
    weeks_quiet = row["quiet_days"] // 7
    return Finding(
        finding_id=fingerprint(RULE.id, subject), rule=RULE.id, goal=RULE.goal,
        subject_id=subject, source=row["source"], severity=RULE.severity,
        summary=(f"{who} posted in {row['active_weeks']} of {params['regular_weeks']} weeks and has "
                 f"been silent for {weeks_quiet} weeks (last post {row['last_post_at']:%Y-%m-%d} "
                 f"in {row['source']}); a personal word may bring them back."),
        url=row["last_post_url"],
        details={
            "member_id": row["member_id"], "handle": row["handle"],
            "active_weeks": row["active_weeks"], "regular_weeks": int(params["regular_weeks"]),
            "posts_before": row["posts_before"], "last_post_at": row["last_post_at"].isoformat(),
            "quiet_days": row["quiet_days"], "reason": row["reason"],
        },
        detected_at=context.now,
    )
