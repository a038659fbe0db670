"""Dispatch: turn open findings into tasks, resolve cleared ones, deliver notifications."""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

import dispatch
from majlis.config import load_config
from warehouse import Warehouse, utcnow


@task(name="dispatch-tasks", task_run_name="dispatch for {config_path}")
def dispatch_tasks(config_path: str) -> dict:
    logger = get_run_logger()
    config = load_config(config_path)
    now = utcnow()
    with Warehouse.open(config.warehouse.path, wait_s=60) as wh:
        result = dispatch.run_dispatch(wh, config, now)
        open_tasks = [t for t in dispatch.list_tasks(wh) if t["status"] != "resolved"]
    created, resolved, report = result.new_tasks, result.resolved, result.delivery
    logger.info("%d new task(s), %d resolved, %s", len(created), len(resolved), report)
    if report.unassigned:
        logger.warning("%d task(s) have no manager to notify (configure [[managers]]); "
                       "they stay open: majlis tasks list", len(report.unassigned))
    if open_tasks:
        create_table_artifact(
            key="open-tasks",
            table=[{k: str(t.get(k) or "") for k in ("task_id", "rule", "assignee", "status", "summary")}
                   for t in open_tasks],
            description="Tasks open after this dispatch run",
        )
    create_markdown_artifact(
        key="dispatch-summary",
        markdown=f"**{len(created)}** new task(s), **{len(resolved)}** resolved, "
                 f"**{len(open_tasks)}** open.\n\nDelivery: {report}",
    )
    return {"created": len(created), "resolved": len(resolved), "open": len(open_tasks),
            "delivery": str(report)}


@flow(name="dispatch", flow_run_name="dispatch {config_path}")
def dispatch_flow(config_path: str = "majlis.toml") -> dict:
    """Create, resolve and deliver tasks for managers."""
    return dispatch_tasks(config_path)
