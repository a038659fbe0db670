"""The body of the ingest flow's task, in plain Python: no Prefect import, so a script, a
test or another orchestrator can run it (and start fast)."""
from __future__ import annotations

import atexit
import logging
import multiprocessing
import os
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Callable, Iterable, Iterator

from connectors import Batch, SourceError, connector_for
from flows._ops import open_warehouse
from majlis.config import Config
from warehouse import annotations_from, texts_to_annotate, utcnow

log = logging.getLogger(__name__)


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
# Question detection is pure Python per post. With two cores or more, the questions of a
# group holding at least ANNOTATE_AHEAD_MIN_POSTS posts to annotate are found in a worker
# process while this one fetches and maps the next group; smaller groups (and X's page-by-page
# commits) stay in this process, where a worker would cost more to start (~1 s) than it saves.
# Languages are still detected here: lingua's models would double the memory in a worker.
ANNOTATE_AHEAD_MIN_POSTS = 2_000
ANNOTATE_AHEAD_GROUPS = 1  # groups annotated while the one before them waits to be written


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
    group_posts = commit_posts or COMMIT_POSTS_BY_KIND.get(source.kind, COMMIT_POSTS)
    annotator = AnnotationWorker.if_worthwhile(group_posts)
    try:
        groups = commit_groups(_paced(connector.fetch(cursor), before_page), group_posts)
        for batch, annotations in annotated_ahead(groups, annotator):
            with open_warehouse(config) as wh:
                stats = wh.write_batch(batch, annotations)
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


class AnnotationWorker:
    """One process running `majlis.text.annotate_questions`, started when first given work
    and shared by every source this process ingests."""

    _shared: "AnnotationWorker | None" = None

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False
        self.peak_rss_mb: float | None = None  # the worker's, once closed (None: never started)

    @classmethod
    def if_worthwhile(cls, group_posts: int) -> "AnnotationWorker | None":
        """The shared worker when groups can be big enough and a second core can run it
        (`MAJLIS_ANNOTATION_WORKER=off` keeps annotation in this process)."""
        if os.environ.get("MAJLIS_ANNOTATION_WORKER", "").lower() in ("off", "0", "false", "no"):
            return None
        if (os.cpu_count() or 1) < 2 or group_posts < ANNOTATE_AHEAD_MIN_POSTS:
            return None
        if cls._shared is None or cls._shared._closed:
            cls._shared = cls()
            atexit.register(cls._shared.close)
        return cls._shared

    def questions(self, titles: list, bodies: list, langs: list) -> Future:
        """`annotate_questions` of these posts, in the worker."""
        from majlis.text import annotate_questions

        if self._closed:
            raise RuntimeError("the annotation worker was closed")
        try:
            return self._started().submit(annotate_questions, bodies, langs, titles)
        except BrokenProcessPool:  # the worker died (killed, out of memory): start another once
            self._pool = None
            return self._started().submit(annotate_questions, bodies, langs, titles)

    def answers(self, future: Future) -> list[bool]:
        """What `questions` sent came back with; a dead worker is let go, so the next group
        starts a fresh one."""
        try:
            return future.result()
        except BrokenProcessPool:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            raise

    @property
    def started(self) -> bool:
        return self._pool is not None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the flow's process has threads (Prefect's), which fork copies badly.
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
        return self._pool

    def close(self) -> None:
        self._closed = True
        if self._pool is not None:
            try:
                self.peak_rss_mb = self._pool.submit(peak_rss_mb).result(timeout=10)
            except Exception:  # a dead worker has no peak to tell
                pass
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: a spawned process's ru_maxrss
    also counts the parent's memory it was forked with before it exec'd Python."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def annotated_ahead(groups: Iterable[Batch], worker: AnnotationWorker | None,
                    ahead: int = ANNOTATE_AHEAD_GROUPS,
                    min_posts: int = ANNOTATE_AHEAD_MIN_POSTS) -> Iterator[tuple[Batch, dict | None]]:
    """Each group, in order, with its posts' `lang` and `is_question` columns for
    `Warehouse.write_batch` (None: the write computes them).

    A group with at least `min_posts` posts to annotate goes to `worker` as it arrives and is
    yielded once annotated, while up to `ahead` later groups are fetched and sent; a group
    that needs no worker is yielded as soon as those before it are. If the source fails, the
    groups already fetched are yielded before its error goes on; if the worker fails, the
    group is yielded without columns, so nothing fetched is lost either way.
    """
    pending: deque[tuple[Batch, list[int], list, Future | None]] = deque()
    source = iter(groups)
    while True:
        try:
            group = next(source, None)
        except Exception:
            while pending:
                yield _collected(worker, *pending.popleft())
            raise
        if group is None:
            break
        pending.append((group, *_sent(group, worker, min_posts)))
        while pending and (len(pending) > ahead or pending[0][3] is None):
            yield _collected(worker, *pending.popleft())
    while pending:
        yield _collected(worker, *pending.popleft())


def _sent(group: Batch, worker: AnnotationWorker | None, min_posts: int) -> tuple[list[int], list, Future | None]:
    if worker is None:
        return [], [], None
    todo, (titles, bodies, langs) = texts_to_annotate(group.posts)
    if len(todo) < min_posts:
        return [], [], None
    from majlis.text import fill_languages

    filled = fill_languages(titles, bodies, langs)
    try:
        return todo, filled, worker.questions(titles, bodies, filled)
    except Exception as err:  # no worker could start: annotate at the write, as without one
        log.warning("annotating %s in this process: %s", group.source, err)
        return [], [], None


def _collected(worker: AnnotationWorker | None, group: Batch, todo: list[int], langs: list,
               future: Future | None) -> tuple[Batch, dict | None]:
    if worker is None or future is None:
        return group, None
    try:
        questions = worker.answers(future)
    except Exception as err:
        log.warning("annotation worker failed on %s (%s: %s); annotating in this process",
                    group.source, type(err).__name__, err)
        return group, None
    return group, annotations_from(group.posts, todo, langs, questions)


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
