"""flows._ingest.annotated_ahead: a group's questions found in a worker process while the next
group is fetched, with the same answers, in order, and nothing lost when the source or the
worker fails."""
from __future__ import annotations

import logging
from datetime import datetime

import pytest

from connectors import Batch, Post, RawPage, SourceError
from flows._ingest import AnnotationWorker, annotated_ahead, ingest_into_warehouse
from majlis.config import load_config
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
        later = list(annotated_ahead([group(3)], worker, min_posts=1))
    finally:
        worker.close()
    # Groups sent to the dead worker come back without columns (the write then annotates
    # them); none is lost, and later groups are annotated by a fresh worker.
    assert [g.cursor for g, _ in out] == [{"page": 1}, {"page": 2}]
    assert [(g.cursor, a is not None) for g, a in later] == [({"page": 3}, True)]


def test_the_worker_is_used_only_for_big_groups_on_two_cores(monkeypatch):
    assert AnnotationWorker.if_worthwhile(1) is None  # X commits page by page
    monkeypatch.setenv("MAJLIS_ANNOTATION_WORKER", "off")
    assert AnnotationWorker.if_worthwhile(5_000) is None


# -- through ingest_into_warehouse: a blog big enough for the worker ----------------------------

ITEMS, COMMENTS = 4, 550  # one group of 2,204 posts, over ANNOTATE_AHEAD_MIN_POSTS
COMMENT_TEXTS = ["Who else is coming to meeting {i}?", "Thanks, see you at meeting {i}.",
                 "Does anyone know where meeting {i} is held", "حد يعرف موعد اللقاء {i}؟",
                 "شكرا على التنظيم {i}"]


def serve_big_blog(replay) -> None:
    base = replay.base_url
    items = "".join(
        f"<item><title>Article {i}</title><link>{base}/a/{i}</link><guid>article-{i}</guid>"
        f"<description>Article number {i}.</description>"
        f"<wfw:commentRss>{base}/a/{i}/feed/</wfw:commentRss></item>" for i in range(ITEMS))
    replay.add("/feed/", '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
               'xmlns:wfw="http://wellformedweb.org/CommentAPI/"><channel><title>blog</title>'
               f'<link>{base}/</link><description>d</description>{items}</channel></rss>',
               content_type="application/rss+xml")
    for i in range(ITEMS):
        comments = "".join(
            f"<item><title>By member {c}</title><link>{base}/a/{i}/#comment-{i}-{c}</link>"
            f"<guid>comment-{i}-{c}</guid><dc:creator>member {c % 40}</dc:creator>"
            f"<description>{COMMENT_TEXTS[c % len(COMMENT_TEXTS)].format(i=c)}</description></item>"
            for c in range(COMMENTS))
        replay.add(f"/a/{i}/feed/", '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
                   'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
                   f'<title>Comments on: Article {i}</title><link>{base}/a/{i}/</link>'
                   f'<description>d</description>{comments}</channel></rss>',
                   content_type="application/rss+xml")


def test_the_ingest_flow_body_stores_the_same_with_and_without_the_worker(replay, tmp_path, monkeypatch):
    serve_big_blog(replay)
    monkeypatch.setattr(AnnotationWorker, "_shared", None)  # this test's ingest starts its own
    found = {}
    for worker in ("on", "off"):
        folder = tmp_path / worker
        folder.mkdir()
        (folder / "majlis.toml").write_text(
            '[warehouse]\npath = "majlis.duckdb"\n[[sources]]\nkind = "rss"\nname = "blog"\n'
            f'url = "{replay.url("/feed/")}"\n', encoding="utf-8")
        monkeypatch.setenv("MAJLIS_ANNOTATION_WORKER", worker)
        ingest_into_warehouse(load_config(folder / "majlis.toml"), "blog", "run", logging.getLogger("test"))
        with Warehouse.open(folder / "majlis.duckdb") as wh:
            found[worker] = wh.query("select post_id, lang, is_question from posts order by post_id")
        if worker == "on":
            assert AnnotationWorker._shared is not None and AnnotationWorker._shared.started
            AnnotationWorker._shared.close()

    assert len(found["on"]) == ITEMS * (1 + COMMENTS)
    assert found["on"] == found["off"]
    assert sum(r["is_question"] for r in found["on"]) == ITEMS * COMMENTS * 3 // 5
