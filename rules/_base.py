from __future__ import annotations

import hashlib
import importlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable

from warehouse import Warehouse, utcnow

# Rule modules, in the order they run. A new rule is a new module named here.
RULE_MODULES = [
    "rules.unanswered_questions", "rules.managers_quiet", "rules.data_gaps",
    "rules.quality_vs_growth", "rules.promises_kept", "rules.members_quiet",
    "rules.spotlight_members",
]


@dataclass(frozen=True)
class RuleMeta:
    id: str  # kebab-case, permanent: tasks and findings are keyed on it
    title: str
    description: str
    principle: str  # the seed principle it serves
    goal: str  # default goal id; `[[goals]]` in the config may name it
    severity: str  # low | medium | high
    params: dict[str, Any] = field(default_factory=dict)
    false_positives: tuple[str, ...] = ()


@dataclass(frozen=True)
class Finding:
    finding_id: str
    rule: str
    goal: str
    subject_id: str  # what the finding is about: a post id, a member id, a source name
    source: str | None
    severity: str
    summary: str  # one line a manager reads
    url: str | None
    details: dict[str, Any]
    detected_at: datetime
    due_at: datetime | None = None  # when a task made from it should be done
    lang: str | None = None  # the language a responder needs


@dataclass(frozen=True)
class RuleContext:
    now: datetime
    sla_hours: dict[str, float]  # per source name, where configured
    manager_ids: tuple[str, ...]


def fingerprint(rule: str, subject_id: str) -> str:
    return hashlib.sha256(f"{rule}\x00{subject_id}".encode()).hexdigest()[:24]


def registered_rules() -> list[Any]:
    return [importlib.import_module(name) for name in RULE_MODULES]


def run_rules(
    wh: Warehouse, rule_params: dict[str, dict], context: RuleContext,
    only: list[str] | None = None, log: Callable[[str], None] = print,
) -> dict[str, list[Finding]]:
    """Run every rule, store its findings, clear findings whose condition no longer holds."""
    out: dict[str, list[Finding]] = {}
    for module in registered_rules():
        meta: RuleMeta = module.RULE
        if only and meta.id not in only:
            continue
        params = {**meta.params, **rule_params.get(meta.id.replace("-", "_"), {})}
        findings = module.detect(wh, params, context)
        store_findings(wh, meta.id, findings, context.now)
        log(f"rule {meta.id}: {len(findings)} finding(s)")
        out[meta.id] = findings
    return out


def store_findings(wh: Warehouse, rule: str, findings: list[Finding], now: datetime) -> None:
    """Upsert this rule's current findings; the ones it no longer reports are cleared."""
    import pyarrow as pa

    rows = [
        {"finding_id": f.finding_id, "rule": f.rule, "goal": f.goal, "subject_id": f.subject_id,
         "source": f.source, "severity": f.severity, "detected_at": f.detected_at,
         "details": json.dumps({**f.details, "summary": f.summary, "url": f.url,
                                "due_at": f.due_at.isoformat() if f.due_at else None,
                                "lang": f.lang}, ensure_ascii=False, default=str)}
        for f in findings
    ]
    table = pa.Table.from_pylist(rows, schema=pa.schema([
        ("finding_id", pa.string()), ("rule", pa.string()), ("goal", pa.string()),
        ("subject_id", pa.string()), ("source", pa.string()), ("severity", pa.string()),
        ("detected_at", pa.timestamp("us")), ("details", pa.string()),
    ]))
    con = wh.con
    con.execute("begin transaction")
    try:
        con.register("incoming_findings", table)
        con.execute(
            """
            insert into findings
            select finding_id, rule, goal, subject_id, source, severity, detected_at, null, details::json
            from incoming_findings
            on conflict (finding_id) do update set
                details = excluded.details, severity = excluded.severity, cleared_at = null
            """
        )
        con.execute(
            "update findings set cleared_at = $now where rule = $rule and cleared_at is null"
            " and finding_id not in (select finding_id from incoming_findings)",
            {"now": now, "rule": rule},
        )
        con.unregister("incoming_findings")
        con.execute("commit")
    except Exception:
        con.execute("rollback")
        raise
