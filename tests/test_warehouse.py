from datetime import datetime

from connectors import Batch, Member, Post, RawPage, Snapshot
from warehouse import Warehouse


def _post(post_id, **kw):
    base = dict(post_id=post_id, platform="rss", source="blog", kind="item", thread_id=post_id,
                parent_id=None, author_id="rss:blog:a", created_at=datetime(2026, 1, 1),
                title="t", body="b", url="http://x/1")
    base.update(kw)
    return Post(**base)


def test_migrations_are_idempotent(tmp_path):
    path = tmp_path / "w.duckdb"
    with Warehouse.open(path) as wh:
        first = wh.query("select version from schema_migrations order by 1")
    with Warehouse.open(path) as wh:
        assert wh.migrate() == []
        assert wh.query("select version from schema_migrations order by 1") == first


def test_second_write_of_a_batch_adds_no_rows(warehouse):
    batch = Batch(source="blog", raw=[RawPage("blog", "http://x", datetime(2026, 1, 1), 200, b"<rss/>")],
                  posts=[_post("p1"), _post("p2")],
                  members=[Member("rss:blog:a", "rss", "a", "A", datetime(2026, 1, 1), datetime(2026, 1, 1))],
                  snapshots=[Snapshot("blog", datetime(2026, 1, 1), 10)], cursor={"etag": "e"})
    assert warehouse.write_batch(batch).posts_new == 2
    assert warehouse.write_batch(batch).posts_new == 0
    assert warehouse.query("select count(*) n from posts")[0]["n"] == 2
    assert warehouse.query("select count(*) n from members")[0]["n"] == 1
    assert warehouse.query("select count(*) n from community_snapshots")[0]["n"] == 1
    assert warehouse.cursor("blog") == {"etag": "e"}


def test_deleted_post_keeps_last_known_text(warehouse):
    warehouse.write_batch(Batch(source="blog", posts=[_post("p1", body="original words")]))
    warehouse.write_batch(Batch(source="blog", posts=[_post("p1", body="[deleted]", state="deleted")]))
    row = warehouse.query("select body, state from posts")[0]
    assert row == {"body": "original words", "state": "deleted"}


def test_member_seen_range_widens(warehouse):
    m = lambda t: Member("x:1", "x", "h", "H", t, t)
    warehouse.write_batch(Batch(source="s", members=[m(datetime(2026, 3, 1))]))
    warehouse.write_batch(Batch(source="s", members=[m(datetime(2026, 1, 1)), m(datetime(2026, 5, 1))]))
    row = warehouse.query("select first_seen_at, last_seen_at from members")[0]
    assert row == {"first_seen_at": datetime(2026, 1, 1), "last_seen_at": datetime(2026, 5, 1)}


def test_failed_batch_leaves_cursor_and_rows_untouched(warehouse):
    warehouse.write_batch(Batch(source="blog", posts=[_post("p1")], cursor={"n": 1}))
    bad = Batch(source="blog", posts=[_post("p2"), _post(None)], cursor={"n": 2})
    try:
        warehouse.write_batch(bad)
    except Exception:
        pass
    else:
        raise AssertionError("a post without an id must be refused")
    assert warehouse.cursor("blog") == {"n": 1}
    assert [r["post_id"] for r in warehouse.query("select post_id from posts")] == ["p1"]


def test_aware_times_are_stored_as_naive_utc(warehouse):
    from datetime import timedelta, timezone

    riyadh = timezone(timedelta(hours=3))
    at = datetime(2026, 1, 1, 12, tzinfo=riyadh)
    warehouse.write_batch(Batch(source="blog", posts=[_post("p1", created_at=at)],
                                members=[Member("rss:blog:a", "rss", "a", "A", at, at)]))
    assert warehouse.query("select created_at from posts")[0]["created_at"] == datetime(2026, 1, 1, 9)
    assert warehouse.query("select first_seen_at from members")[0]["first_seen_at"] == datetime(2026, 1, 1, 9)
