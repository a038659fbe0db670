"""flows._ingest.annotated_ahead: a group's questions found in a worker process while the next
group is fetched, with the same answers, in order, and nothing lost when the source or the
worker fails."""
from __future__ import annotations

from datetime import datetime

import pytest

from connectors import Batch, Post, RawPage, SourceError
from flows._ingest import AnnotationWorker, annotated_ahead
from warehouse import Warehouse

TEXTS = [
    ("Anyone know a good dentist in Leeds", None),
    ("Great post, thanks!", "en"),
    ("حد يعرف مطعم كويس في جدة", None),
    ("ما رأيكم في التحديث الجديد؟", "ar"),
    ("How do I reset my password?", None),
    ("اللهم ارحمنا برحمتك", None),
]


def group(n: int, source: str = "forum") -> Batch:
    posts = [Post(post_id=f"{source}:{n}:{i}", platform="rss", source=source, kind="comment",
                  thread_id=f"{source}:{n}", parent_id=None, author_id=None, created_at=None, title=None,
                  body=text, url=None, lang=lang)
             for i, (text, lang) in enumerate(TEXTS)]
    raw = [RawPage(source, f"/page/{n}", datetime(2026, 1, 1), 200, b"<rss/>", "application/rss+xml")]
    return Batch(source, raw=raw, posts=posts, cursor={"page": n})


@pytest.fixture(scope="module")
def worker():
    worker = AnnotationWorker()
    yield worker
    worker.close()


def test_the_worker_finds_what_the_write_would(worker, tmp_path):
    ahead = list(annotated_ahead([group(0), group(1)], worker, min_posts=1))

    assert [g.cursor for g, _ in ahead] == [{"page": 0}, {"page": 1}]
    with Warehouse.open(tmp_path / "ahead.duckdb") as wh:
        for g, annotations in ahead:
            assert annotations is not None
            wh.write_batch(g, annotations)
        found = wh.query("select post_id, lang, is_question from posts order by post_id")
    with Warehouse.open(tmp_path / "here.duckdb") as wh:
        for n in (0, 1):
            wh.write_batch(group(n))
        expected = wh.query("select post_id, lang, is_question from posts order by post_id")
    assert found == expected
    assert [r["is_question"] for r in found[:6]] == [True, False, True, True, True, False]


def test_small_groups_and_no_worker_leave_annotation_to_the_write(worker):
    assert [a for _, a in annotated_ahead([group(0)], worker, min_posts=100)] == [None]
    assert [a for _, a in annotated_ahead([group(0), group(1)], None, min_posts=1)] == [None, None]


def test_fetched_groups_are_handed_over_before_the_source_error(worker):
    def groups():
        yield group(0)
        yield group(1)
        raise SourceError("forum", "the feed is gone; fix the URL")

    handed_over = []
    with pytest.raises(SourceError, match="the feed is gone"):
        for g, annotations in annotated_ahead(groups(), worker, min_posts=1):
            handed_over.append((g.cursor, annotations is not None))

    assert handed_over == [({"page": 0}, True), ({"page": 1}, True)]


def test_a_worker_that_cannot_take_work_loses_nothing(caplog):
    closed = AnnotationWorker()
    closed.close()

    out = list(annotated_ahead([group(0), group(1)], closed, min_posts=1))

    assert [(g.cursor, a) for g, a in out] == [({"page": 0}, None), ({"page": 1}, None)]
    assert "annotating forum in this process" in caplog.text


def test_a_worker_killed_mid_run_is_replaced(tmp_path):
    worker = AnnotationWorker()
    try:
        list(annotated_ahead([group(0)], worker, min_posts=1))  # started
        for process in list(worker._started()._processes.values()):
            process.kill()
            process.join()
        out = list(annotated_ahead([group(1), group(2)], worker, min_posts=1))
    finally:
        worker.close()
    # The group in flight when the worker died may come back without columns (the write then
    # annotates it); none is lost, and the next ones are annotated by a fresh worker.
    assert [g.cursor for g, _ in out] == [{"page": 1}, {"page": 2}]
    assert out[-1][1] is not None


def test_the_worker_is_used_only_for_big_groups_on_two_cores(monkeypatch):
    assert AnnotationWorker.if_worthwhile(1) is None  # X commits page by page
    monkeypatch.setenv("MAJLIS_ANNOTATION_WORKER", "off")
    assert AnnotationWorker.if_worthwhile(5_000) is None
