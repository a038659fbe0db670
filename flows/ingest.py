"""Ingest: fetch every configured source into the warehouse, one task run per source.

A source that fails is reported by name and fails its own task run; the others still run
and every batch already written stays (each batch commits with its cursor).
"""
from __future__ import annotations

import time

from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from connectors import SourceError, connector_for
from majlis.config import load_config
from warehouse import Warehouse, utcnow


class SourcesFailed(Exception):
    """Some sources could not be fetched; their names and reasons are in the message."""


@task(name="ingest-source", task_run_name="ingest {source_name}")
def ingest_source(config_path: str, source_name: str, run_id: str) -> dict:
    logger = get_run_logger()
    config = load_config(config_path)
    source = config.source(source_name)
    started = utcnow()
    totals = {"source": source_name, "pages": 0, "posts_seen": 0, "posts_new": 0,
              "requests": 0, "problems": [], "status": "ok", "error": None}
    clock = time.monotonic()
    with Warehouse.open(config.warehouse.path, wait_s=60) as wh:
        connector = connector_for(source)
        try:
            for batch in connector.fetch(wh.cursor(source_name)):
                stats = wh.write_batch(batch)
                totals["pages"] += stats.pages
                totals["posts_seen"] += stats.posts_seen
                totals["posts_new"] += stats.posts_new
                totals["requests"] += len(batch.requests)
                for problem in batch.problems:
                    logger.warning(problem)
                totals["problems"].extend(batch.problems)
                logger.info("%s: %d page(s), %d post(s) so far, %d new",
                            source_name, totals["pages"], totals["posts_seen"], totals["posts_new"])
        except SourceError as err:
            totals.update(status="failed", error=str(err))
        except Exception as err:  # an unexpected bug must not hide which source hit it
            totals.update(status="failed", error=f"source {source_name}: unexpected {type(err).__name__}: {err}")
        finally:
            wh.record_source_run(run_id, source_name, started, totals["status"], totals["pages"],
                                 totals["posts_seen"], totals["posts_new"], totals["problems"],
                                 totals["error"])
            wh.mark_managers(h for m in config.managers for h in m.handles)
        stats = getattr(connector, "run_stats", None)
        if stats is not None:
            totals["stats"] = stats if isinstance(stats, dict) else vars(stats)
    totals["seconds"] = round(time.monotonic() - clock, 2)
    if totals["error"]:
        raise SourcesFailed(totals["error"])
    logger.info("%s done: %d new post(s) in %.1fs", source_name, totals["posts_new"], totals["seconds"])
    return totals


@flow(name="ingest", flow_run_name="ingest {config_path}")
def ingest(config_path: str = "majlis.toml", sources: list[str] | None = None) -> list[dict]:
    """Fetch every configured source (or only `sources`) into the warehouse."""
    logger = get_run_logger()
    config = load_config(config_path)
    run_id = flow_run.id or utcnow().isoformat()
    names = [s.name for s in config.sources if not sources or s.name in sources]
    results, failures = [], []
    for name in names:
        state = ingest_source(config_path, name, run_id, return_state=True)
        if state.is_completed():
            results.append(state.result())
        else:
            reason = _state_reason(state)
            failures.append(reason)
            logger.error(reason)
    if failures:
        raise SourcesFailed(f"{len(failures)} of {len(names)} source(s) failed:\n  " + "\n  ".join(failures))
    return results


def _state_reason(state) -> str:
    try:
        state.result()
    except Exception as err:  # the task's own exception, already worded for the operator
        return str(err)
    return state.message or state.name
