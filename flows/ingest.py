"""Ingest: fetch every configured source into the warehouse, one task run per source.

A source that fails is reported by name and fails its own task run; the others still run
and every group of batches already written stays (each group commits with its cursor; groups
of up to 5000 posts or 10 s of fetching, X page by page: flows/_ingest.py `commit_groups`).

The warehouse is opened for each group and closed again, not held while pages download: on
the DuckDB file, another writer (a concurrent run, `majlis tasks ack`) gets its turn between
groups, and DuckLake commits stay short. After the sources, the read replica that
`majlis sql` reads is refreshed (docs/warehouse.md, "Concurrent readers and writers").
"""
from __future__ import annotations

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.runtime import flow_run

from flows._ingest import SourceFailed, SourcesFailed, ingest_into_warehouse
from flows._ops import (flow_run_namer, notify_operators, page_limiter, publish_read_replica,
                        table_rows, task_run_namer)
from majlis.config import load_config
from warehouse import utcnow

__all__ = ["SourceFailed", "SourcesFailed", "ingest", "ingest_into_warehouse"]


def _retry_unless_permanent(task, task_run, state) -> bool:
    """Connectors already retry HTTP errors; a task retry is for the unexpected only."""
    try:
        state.result()
    except SourceFailed as err:
        return not err.permanent
    except Exception:
        return True
    return False


@task(name="ingest-source", task_run_name=task_run_namer(lambda p: f"ingest {p['source_name']}"),
      retries=1, retry_delay_seconds=30, retry_condition_fn=_retry_unless_permanent,
      timeout_seconds=30 * 60)
def ingest_source(config_path: str, source_name: str, run_id: str) -> dict:
    logger = get_run_logger()
    config = load_config(config_path)
    limiter = page_limiter(config.source(source_name).kind, logger)
    return ingest_into_warehouse(config, source_name, run_id, logger, before_page=limiter)


@task(name="publish-read-replica", task_run_name=task_run_namer(lambda p: "publish read replica"),
      retries=1, retry_delay_seconds=10, timeout_seconds=10 * 60)
def publish_replica(config_path: str) -> str | None:
    """Refresh the snapshot analysts query, so they never touch the file flows write."""
    replica = publish_read_replica(load_config(config_path))
    if replica:
        get_run_logger().info("read replica refreshed: %s", replica)
    return replica


@flow(name="ingest", flow_run_name=flow_run_namer("ingest"), on_failure=[notify_operators])
def ingest(config_path: str = "majlis.toml", sources: list[str] | None = None,
           publish: bool = True) -> list[dict]:
    """Fetch every configured source (or only `sources`) into the warehouse; with `publish`,
    refresh the read replica analysts query (the pipeline does that once, at its end)."""
    logger = get_run_logger()
    config = load_config(config_path)
    run_id = flow_run.id or utcnow().isoformat()
    names = [s.name for s in config.sources if not sources or s.name in sources]
    results, failures, rows = [], [], []
    for name in names:
        state = ingest_source(config_path, name, run_id, return_state=True)
        if state.is_completed():
            results.append(state.result())
            rows.append(results[-1])
        else:
            reason = _state_reason(state)
            failures.append(reason)
            rows.append({"source": name, "status": "failed", "error": reason})
            logger.error(reason)
    if publish:
        publish_replica(config_path)
    create_table_artifact(
        key="ingest-sources", description="Sources fetched by this ingest run",
        table=table_rows(rows, ("source", "status", "pages", "posts_seen", "posts_new",
                                "requests", "seconds", "error")),
    )
    if failures:
        raise SourcesFailed(f"{len(failures)} of {len(names)} source(s) failed:\n  " + "\n  ".join(failures))
    return results


def _state_reason(state) -> str:
    try:
        state.result()
    except Exception as err:  # the task's own exception, already worded for the operator
        return str(err)
    return state.message or state.name
