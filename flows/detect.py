"""Detect: run every rule over the warehouse and store the findings."""
from __future__ import annotations

from prefect import flow, get_run_logger, task

from majlis.config import load_config
from rules import RuleContext, run_rules
from warehouse import Warehouse, utcnow


@task(name="run-rules", task_run_name="rules on {config_path}")
def run_all_rules(config_path: str) -> dict[str, int]:
    logger = get_run_logger()
    config = load_config(config_path)
    context = RuleContext(
        now=utcnow(),
        sla_hours={s.name: s.sla_hours for s in config.sources if s.sla_hours},
        manager_ids=tuple(h for m in config.managers for h in m.handles),
    )
    with Warehouse.open(config.warehouse.path, wait_s=60) as wh:
        found = run_rules(wh, config.rules, context, log=logger.info)
    return {rule: len(findings) for rule, findings in found.items()}


@flow(name="detect", flow_run_name="detect {config_path}")
def detect(config_path: str = "majlis.toml") -> dict[str, int]:
    """Run every rule in `rules/` and store what they find in `findings`."""
    return run_all_rules(config_path)
