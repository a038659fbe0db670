"""Data gaps: time ranges a connector could not reach (Reddit listings stop at ~1000 items).

The connector records each gap in its cursor when the stored position fell out of reach of a
listing; this rule turns each into a finding so a manager knows that activity in that range
may have been missed, instead of it being silently absent.
"""
from __future__ import annotations

import json

from rules._base import Finding, RuleContext, RuleMeta, fingerprint

RULE = RuleMeta(
    id="data-gaps",
    title="Activity may have been missed",
    description="A source's listing ran out before reaching the last stored item; posts in the gap were not fetched.",
    principle="2 listen well: nothing members said should go unseen",
    goal="complete-data",
    severity="medium",
    params={},
    false_positives=("A community that was genuinely silent in the range.",),
)

QUERY = """
select source, unnest(cast(json_extract(state, '$.gaps') as json[])) as gap
from source_cursors
where json_array_length(json_extract(state, '$.gaps')) > 0
"""


def detect(wh, params: dict, context: RuleContext) -> list[Finding]:
    findings = []
    for row in wh.query(QUERY):
        gap = json.loads(row["gap"]) if isinstance(row["gap"], str) else row["gap"]
        start, end = gap.get("from"), gap.get("to")
        subject = f"{row['source']}:{start}"
        findings.append(Finding(
            finding_id=fingerprint(RULE.id, subject), rule=RULE.id, goal=RULE.goal,
            subject_id=subject, source=row["source"], severity=RULE.severity,
            summary=f"{row['source']}: posts between {start} and {end} could not be fetched "
                    "(the listing stops at about 1000 items); check them by hand.",
            url=None, details={"from": start, "to": end}, detected_at=context.now,
        ))
    return findings
