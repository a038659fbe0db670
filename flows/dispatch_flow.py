"""Dispatch: turn open findings into tasks, resolve cleared ones, deliver notifications."""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

import dispatch
from flows._ops import (community, flow_run_namer, notify_operators, open_warehouse,
                        table_rows, task_run_namer)
from flows.ingest import publish_replica
from majlis.config import load_config
from warehouse import utcnow

TASK_COLUMNS = ("task_id", "rule", "assignee", "status", "severity", "due_at", "summary", "url")


# Retrying is safe: deliveries go through the outbox, so a retry sends only what is unsent.
@task(name="dispatch-tasks", task_run_name=task_run_namer(lambda p: f"dispatch {community(p['config_path'])}"),
      retries=1, retry_delay_seconds=30, timeout_seconds=15 * 60)
def dispatch_tasks(config_path: str) -> dict:
    logger = get_run_logger()
    config = load_config(config_path)
    now = utcnow()
    with open_warehouse(config) as wh:
        result = dispatch.run_dispatch(wh, config, now)
        open_tasks = [t for t in dispatch.list_tasks(wh) if t["status"] not in ("resolved", "expired")]
    created, resolved, report = result.new_tasks, result.resolved, result.delivery
    delivery = _delivery_line(report)
    logger.info("%d new task(s), %d resolved; deliveries: %s", len(created), len(resolved), delivery)
    if report.unassigned:
        logger.warning("%d task(s) have no manager to notify (configure [[managers]]); "
                       "they stay open: majlis tasks list", len(report.unassigned))
    if open_tasks:
        create_table_artifact(
            key="open-tasks", table=table_rows(open_tasks, TASK_COLUMNS),
            description=f"{len(open_tasks)} task(s) open after this dispatch run",
        )
    create_markdown_artifact(
        key="dispatch-summary",
        markdown=f"**{len(created)}** new task(s), **{len(resolved)}** resolved, "
                 f"**{len(open_tasks)}** open.\n\nDeliveries: {delivery}",
    )
    return {"created": len(created), "resolved": len(resolved), "open": len(open_tasks),
            "delivery": delivery}


def _delivery_line(report) -> str:
    """The report's counts in one line (its lists hold whole tasks: too much for a log)."""
    counts = {name: value if isinstance(value, int) else len(value)
              for name, value in vars(report).items()}
    return ", ".join(f"{name} {value}" for name, value in counts.items())


@flow(name="dispatch", flow_run_name=flow_run_namer("dispatch"), on_failure=[notify_operators])
def dispatch_flow(config_path: str = "majlis.toml") -> dict:
    """Create, resolve and deliver tasks for managers."""
    result = dispatch_tasks(config_path)
    publish_replica(config_path)
    return result
