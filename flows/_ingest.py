"""The body of the ingest flow's task, in plain Python: no Prefect import, so a script, a
test or another orchestrator can run it (and start fast)."""
from __future__ import annotations

import logging
import time
from typing import Callable, Iterable, Iterator

from connectors import Batch, SourceError, connector_for
from flows._ops import open_warehouse
from majlis.config import Config
from warehouse import utcnow


# A source's batches are committed in groups, not one transaction per page: a commit costs a
# WAL write and a warehouse open (and a checkpoint at close), which made one page per commit
# half as fast as big groups. A group is written when it holds COMMIT_POSTS posts or its
# first page is COMMIT_SECONDS old (checked as each page arrives), and at the end. A crash
# loses only the group not yet written; its cursor was not stored either, so the next run
# fetches those pages again (docs/reliability.md, section 1).
COMMIT_POSTS = 5_000
COMMIT_SECONDS = 10.0
# X bills every post read, so its pages are committed one by one: a crash then re-reads at
# most the page in flight, not a group's worth of paid reads.
COMMIT_POSTS_BY_KIND = {"x": 1}


class SourcesFailed(Exception):
    """Some sources could not be fetched; their names and reasons are in the message."""


class SourceFailed(SourcesFailed):
    """One source failed. `permanent`: retrying now cannot help (bad config, gone, denied)."""

    def __init__(self, message: str, permanent: bool):
        super().__init__(message)
        self.permanent = permanent


def ingest_into_warehouse(
    config: Config, source_name: str, run_id: str, logger: logging.Logger | logging.LoggerAdapter,
    before_page: Callable[[], None] = lambda: None, commit_posts: int | None = None,
) -> dict:
    """Fetch one source, writing its batches in groups (`commit_groups`), each group in its own
    short write with the cursor that holds once it is stored; record the run. `commit_posts`
    overrides the group size (COMMIT_POSTS, or the source kind's in COMMIT_POSTS_BY_KIND).

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
        group_posts = commit_posts or COMMIT_POSTS_BY_KIND.get(source.kind, COMMIT_POSTS)
        for batch in commit_groups(_paced(connector.fetch(cursor), before_page), group_posts):
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


def _paced(batches: Iterable[Batch], before_page: Callable[[], None]) -> Iterator[Batch]:
    """`batches`, calling `before_page` before each one is fetched (the provider's rate limit)."""
    pages = iter(batches)
    while True:
        before_page()
        batch = next(pages, None)
        if batch is None:
            return
        yield batch


def commit_groups(batches: Iterable[Batch], max_posts: int = COMMIT_POSTS,
                  max_seconds: float = COMMIT_SECONDS,
                  clock: Callable[[], float] = time.monotonic) -> Iterator[Batch]:
    """Consecutive batches of one source merged into one, to be written in one transaction.

    A group is yielded once it holds `max_posts` posts or `max_seconds` have passed since its
    first batch arrived (checked when a batch arrives), at the end, and before an error the
    source raises goes on (what was fetched until then, failed attempts' requests included, is
    stored as with one commit per batch). Its cursor is the last one its batches set: each
    cursor is the source's whole state once the rows before it are stored, so the group's last
    cursor holds once the group is stored.
    """
    group: Batch | None = None
    started = 0.0
    pages = iter(batches)
    while True:
        try:
            batch = next(pages, None)
        except Exception:
            if group is not None:
                yield group
            raise
        if batch is None:
            break
        if group is None:
            group, started = _copy(batch), clock()
        else:
            _append(group, batch)
        if len(group.posts) >= max_posts or clock() - started >= max_seconds:
            yield group
            group = None
    if group is not None:
        yield group


def _copy(batch: Batch) -> Batch:
    # The connector's batch is left as it was: callers may keep it (the tests compare them).
    return Batch(batch.source, raw=list(batch.raw), posts=list(batch.posts),
                 members=list(batch.members), snapshots=list(batch.snapshots),
                 requests=list(batch.requests), cursor=batch.cursor, problems=list(batch.problems))


def _append(group: Batch, batch: Batch) -> None:
    if batch.source != group.source:
        raise ValueError(f"batches of {batch.source} and {group.source} cannot share a commit")
    group.raw.extend(batch.raw)
    group.posts.extend(batch.posts)
    group.members.extend(batch.members)
    group.snapshots.extend(batch.snapshots)
    group.requests.extend(batch.requests)
    group.problems.extend(batch.problems)
    if batch.cursor is not None:
        group.cursor = batch.cursor


def run_summary(totals: dict, connector_stats=None) -> str:
    """One line for operators: what the source cost in requests (and, for X, in money)."""
    requests, new = totals["requests"], totals["posts_new"]
    line = f"{requests} request(s) for {new} new post(s)"
    if new:
        line += f" ({requests * 1000 / new:.0f} per 1000)"
    summary = getattr(connector_stats, "summary", None)
    return f"{line}; {summary()}" if callable(summary) else line
