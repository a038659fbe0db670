"""Detect: run every rule over the warehouse and store the findings."""
from __future__ import annotations

import base64
from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from flows._ops import (community, flow_run_namer, notify_operators, open_warehouse,
                        table_rows, task_run_namer)
from flows.ingest import publish_replica
from majlis.config import load_config
from rules import RuleContext, run_rules
from warehouse import utcnow

FINDING_COLUMNS = ("rule", "severity", "source", "summary", "url", "detected_at")
INLINE_CHART_BYTES = 300_000  # larger charts are linked by path only


@task(name="run-rules", task_run_name=task_run_namer(lambda p: f"rules {community(p['config_path'])}"),
      retries=1, retry_delay_seconds=30, timeout_seconds=15 * 60)
def run_all_rules(config_path: str) -> dict[str, int]:
    logger = get_run_logger()
    config = load_config(config_path)
    context = RuleContext(
        now=utcnow(),
        sla_hours={s.name: s.sla_hours for s in config.sources if s.sla_hours},
        manager_ids=tuple(h for m in config.managers for h in m.handles),
    )
    with open_warehouse(config) as wh:
        found = run_rules(wh, config.rules, context, log=logger.info)
        open_findings = wh.query(
            "select rule, severity, source, details->>'summary' as summary, details->>'url' as url,"
            " detected_at from findings where cleared_at is null order by detected_at desc, rule"
        )
    _findings_artifacts(open_findings, Path(config.warehouse.path).parent / "charts")
    return {rule: len(findings) for rule, findings in found.items()}


def _findings_artifacts(open_findings: list[dict], charts: Path) -> None:
    if open_findings:
        create_table_artifact(key="open-findings", table=table_rows(open_findings, FINDING_COLUMNS),
                              description=f"{len(open_findings)} open finding(s) after this run")
    pngs = sorted(charts.glob("*.png")) if charts.is_dir() else []
    if pngs:
        create_markdown_artifact(key="quality-charts", markdown=_charts_markdown(pngs),
                                 description="Quality vs growth charts (evidence for findings)")


def _charts_markdown(pngs: list[Path]) -> str:
    parts = ["# Quality vs growth", ""]
    for png in pngs:
        parts.append(f"**{png.stem}**: `{png}`")
        data = png.read_bytes()
        if len(data) <= INLINE_CHART_BYTES:
            parts.append(f"![{png.stem}](data:image/png;base64,{base64.b64encode(data).decode()})")
        parts.append("")
    return "\n".join(parts)


@flow(name="detect", flow_run_name=flow_run_namer("detect"), on_failure=[notify_operators])
def detect(config_path: str = "majlis.toml", publish: bool = True) -> dict[str, int]:
    """Run every rule in `rules/` and store what they find in `findings`; with `publish`,
    refresh the read replica."""
    found = run_all_rules(config_path)
    if publish:
        publish_replica(config_path)
    return found
