"""The body of the ingest flow's task, in plain Python: no Prefect import, so a script, a
test or another orchestrator can run it (and start fast)."""
from __future__ import annotations

import logging
import time
from typing import Callable

from connectors import SourceError, connector_for
from flows._ops import open_warehouse
from majlis.config import Config
from warehouse import utcnow


class SourcesFailed(Exception):
    """Some sources could not be fetched; their names and reasons are in the message."""


class SourceFailed(SourcesFailed):
    """One source failed. `permanent`: retrying now cannot help (bad config, gone, denied)."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def ingest_into_warehouse(
    config: Config, source_name: str, run_id: str, logger: logging.Logger | logging.LoggerAdapter,
    before_page: Callable[[], None] = lambda: None,
) -> dict:
    """Fetch one source batch by batch, each batch in its own short write; record the run.

    Plain Python (no Prefect needed): the task below runs it, and so can a test or a script.
    """
    source = config.source(source_name)
    started = utcnow()
    totals = {"source": source_name, "pages": 0, "posts_seen": 0, "posts_new": 0,
              "requests": 0, "problems": [], "status": "ok", "error": None}
    permanent = True
    clock = time.monotonic()
    with open_warehouse(config) as wh:
        cursor = wh.cursor(source_name)
    connector = connector_for(source)
    try:
        batches = iter(connector.fetch(cursor))
        while True:
            before_page()
            batch = next(batches, None)
            if batch is None:
                break
            with open_warehouse(config) as wh:
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
        permanent = False
        totals.update(status="failed", error=f"source {source_name}: unexpected {type(err).__name__}: {err}")
    finally:
        totals["summary"] = run_summary(totals, getattr(connector, "run_stats", None))
        with open_warehouse(config) as wh:
            wh.record_source_run(run_id, source_name, started, totals["status"], totals["pages"],
                                 totals["posts_seen"], totals["posts_new"], totals["problems"],
                                 totals["error"], totals["summary"])
            wh.mark_managers(h for m in config.managers for h in m.handles)
    logger.info("%s: %s", source_name, totals["summary"])
    totals["seconds"] = round(time.monotonic() - clock, 2)
    if totals["error"]:
        raise SourceFailed(totals["error"], permanent=permanent)
    logger.info("%s done: %d new post(s) in %.1fs", source_name, totals["posts_new"], totals["seconds"])
    return totals


def run_summary(totals: dict, connector_stats=None) -> str:
    """One line for operators: what the source cost in requests (and, for X, in money)."""
    requests, new = totals["requests"], totals["posts_new"]
    line = f"{requests} request(s) for {new} new post(s)"
    if new:
        line += f" ({requests * 1000 / new:.0f} per 1000)"
    summary = getattr(connector_stats, "summary", None)
    return f"{line}; {summary()}" if callable(summary) else line
