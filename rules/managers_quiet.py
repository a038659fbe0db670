"""Managers gone quiet: a source where no manager has posted for a while."""
from __future__ import annotations

from importlib import resources

from rules._base import Finding, RuleContext, RuleMeta, fingerprint

RULE = RuleMeta(
    id="managers-quiet",
    title="Managers have gone quiet",
    description="No manager has posted in a source for `quiet_days` days while the community goes on.",
    principle="3 make the community a lasting priority: a neglected garden withers",
    goal="managers-present",
    severity="medium",
    params={"quiet_days": 7, "min_member_posts": 1},
    false_positives=("A planned break announced to the community.",
                     "Managers who answer through another source."),
)
QUERY = resources.files("rules").joinpath("managers_quiet.sql").read_text(encoding="utf-8")


def detect(wh, params: dict, context: RuleContext) -> list[Finding]:
    rows = wh.query(QUERY, {"now": context.now, "quiet_days": int(params["quiet_days"]),
                          "min_member_posts": int(params["min_member_posts"])})
    return [
        Finding(
            finding_id=fingerprint(RULE.id, row["source"]),
            rule=RULE.id, goal=RULE.goal, subject_id=row["source"], source=row["source"],
            severity=RULE.severity,
            summary=(f"No manager has posted in {row['source']} for {row['quiet_days']} days"
                     f" ({row['member_posts_since']} member post(s) since)."),
            url=None,
            details={"last_manager_post": row["last_manager_post"], "quiet_days": row["quiet_days"],
                     "member_posts_since": row["member_posts_since"], "reason": row["reason"]},
            detected_at=context.now,
        )
        for row in rows
    ]
