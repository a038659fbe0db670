"""rules/quality_vs_growth on seeded synthetic communities, and its statistics on their own."""
from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import numpy as np
import pytest

from connectors import Batch, Member, Post, Snapshot
from rules import RuleContext, quality_vs_growth
from rules.charts import quality_chart_png

NOW = datetime(2026, 3, 5, 12, 0)  # a Thursday: the last analysed week starts 2026-02-23
LAST_WEEK = date(2026, 2, 23)
WEEKS = 14
GOOD = {"reply": 0.8, "low": 0.1, "removed": 0.02}
POOR = {"reply": 0.4, "low": 0.35, "removed": 0.08}


def seed_community(wh, *, members: list[int], quality: list[dict], snapshots: bool = True,
                   source: str = "r-test", posts_per_week: int = 60, seed: int = 1) -> None:
    """One source over len(members) weeks ending LAST_WEEK: threads, replies, snapshots.

    `members[i]` is week i's membership (snapshot count; with no snapshots, the number of
    distinct authors drawn from); `quality[i]` the chance a thread is answered, a post is
    low-effort and a post is removed.
    """
    rng = random.Random(seed)
    posts, snaps = [], []
    first_week = LAST_WEEK - timedelta(days=7 * (len(members) - 1))
    for i, (count, q) in enumerate(zip(members, quality)):
        week = datetime.combine(first_week + timedelta(days=7 * i), datetime.min.time())
        authors = [f"reddit:u{k}" for k in range(max(count // (1 if not snapshots else 20), 2))]
        if snapshots:
            snaps.append(Snapshot(source, week + timedelta(days=3), count))
        for n in range(posts_per_week):
            at = week + timedelta(hours=rng.uniform(0, 167))
            post_id = f"reddit:{source}:{i}:{n}"
            author = rng.choice(authors)
            low = rng.random() < q["low"]
            posts.append(Post(
                post_id, "reddit", source, "submission", post_id, None, author, at, "a title",
                "thanks!" if low else "A proper question with enough words to be substantive " * 2,
                None, lang="en", is_question=False,
                state="removed" if rng.random() < q["removed"] else "live"))
            if rng.random() < q["reply"]:
                for r in range(rng.choice([1, 1, 2, 3])):
                    replier = rng.choice([a for a in authors if a != author])
                    posts.append(Post(
                        f"{post_id}:r{r}", "reddit", source, "comment", post_id, post_id, replier,
                        at + timedelta(hours=rng.uniform(1, 40)), None,
                        "Here is a reply that actually helps with the question asked.", None,
                        lang="en", is_question=False))
    wh.write_batch(Batch(source=source, posts=posts, snapshots=snaps))


def detect(wh, **params):
    context = RuleContext(now=NOW, sla_hours={}, manager_ids=())
    return quality_vs_growth.detect(wh, {**quality_vs_growth.RULE.params, **params}, context)


def growing(start: int = 1000, end: int = 1600) -> list[int]:
    return [round(start + (end - start) * i / (WEEKS - 1)) for i in range(WEEKS)]


def flat(level: int = 1000) -> list[int]:
    return [level] * WEEKS


def dropping_at_the_end() -> list[dict]:
    return [GOOD] * (WEEKS - 3) + [POOR] * 3


def test_growth_with_a_quality_drop_is_flagged(warehouse):
    seed_community(warehouse, members=growing(), quality=dropping_at_the_end())
    (finding,) = detect(warehouse)
    assert finding.source == "r-test" and finding.severity == "medium"
    assert finding.details["p_value"] < 0.01
    assert finding.details["relative_drop"] >= 0.10
    assert finding.details["membership_growth"] >= 0.05
    assert finding.details["recent_weeks"] == ["2026-02-09", "2026-02-16", "2026-02-23"]
    assert "quality index down" in finding.summary and "membership grew" in finding.summary


def test_growth_with_stable_quality_is_not_flagged(warehouse):
    seed_community(warehouse, members=growing(), quality=[GOOD] * WEEKS)
    assert detect(warehouse) == []


def test_quality_drop_without_growth_is_not_flagged(warehouse):
    seed_community(warehouse, members=flat(), quality=dropping_at_the_end())
    assert detect(warehouse) == []


def test_quality_drop_while_membership_shrinks_is_not_flagged(warehouse):
    seed_community(warehouse, members=growing(1600, 1000), quality=dropping_at_the_end())
    assert detect(warehouse) == []


@pytest.mark.parametrize("seed", range(6))
def test_noisy_quality_while_growing_is_not_flagged(warehouse, seed):
    rng = random.Random(100 + seed)
    noisy = [{"reply": rng.uniform(0.65, 0.85), "low": rng.uniform(0.05, 0.15),
              "removed": rng.uniform(0.0, 0.04)} for _ in range(WEEKS)]
    seed_community(warehouse, members=growing(), quality=noisy, seed=seed)
    assert detect(warehouse) == []


def test_one_bad_week_is_not_a_drop(warehouse):
    quality = [GOOD] * (WEEKS - 2) + [POOR, GOOD]
    seed_community(warehouse, members=growing(), quality=quality)
    assert detect(warehouse) == []


def test_without_snapshots_active_authors_are_the_membership(warehouse):
    seed_community(warehouse, members=growing(20, 60), quality=dropping_at_the_end(),
                   snapshots=False)
    (finding,) = detect(warehouse)
    assert finding.details["membership_basis"] == "active authors"


def test_too_few_posts_are_not_judged(warehouse):
    seed_community(warehouse, members=growing(), quality=dropping_at_the_end(), posts_per_week=3)
    assert detect(warehouse) == []


def test_finding_carries_both_series_and_a_png_chart(warehouse):
    seed_community(warehouse, members=growing(), quality=dropping_at_the_end())
    (finding,) = detect(warehouse)
    weeks = finding.details["weeks"]
    assert weeks[-1]["week"] == "2026-02-23" and weeks[-1]["members"] == 1600
    assert all({"members", "quality_index", "reply_share", "low_effort_share"} <= set(w) for w in weeks)
    chart = warehouse.path.parent / "charts" / "r-test-quality.png"
    assert finding.details["chart"] == str(chart)
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_drop_that_persists_stays_one_finding(warehouse):
    from rules import run_rules

    members = [round(1000 + 50 * i) for i in range(WEEKS + 1)]
    seed_community(warehouse, members=members, quality=[GOOD] * (WEEKS - 3) + [POOR] * 4)
    week_before = RuleContext(now=NOW - timedelta(days=7), sla_hours={}, manager_ids=())
    first = run_rules(warehouse, {}, week_before, only=["quality-vs-growth"], log=lambda _: None)
    context = RuleContext(now=NOW, sla_hours={}, manager_ids=())
    second = run_rules(warehouse, {}, context, only=["quality-vs-growth"], log=lambda _: None)
    (before,), (after,) = first["quality-vs-growth"], second["quality-vs-growth"]
    assert before.details["recent_weeks"] != after.details["recent_weeks"]
    assert before.finding_id == after.finding_id


def test_bots_and_managers_posts_are_not_scored(warehouse):
    seed_community(warehouse, members=growing(), quality=[GOOD] * WEEKS)
    week = datetime.combine(LAST_WEEK, datetime.min.time())
    spam = [Post(f"reddit:bot{n}", "reddit", "r-test", "comment", "t", "t", "reddit:automod",
                 week + timedelta(hours=n), None, "ok", None, lang="en", is_question=False)
            for n in range(150)]
    bot = Member("reddit:automod", "reddit", "AutoModerator", None, None, None, is_bot=True)
    warehouse.write_batch(Batch(source="r-test", posts=spam, members=[bot]))
    assert detect(warehouse) == []


# -- the statistics on their own ----------------------------------------------------------

def test_post_score_averages_answered_breadth_substance_and_kept():
    scores = quality_vs_growth.post_scores(
        repliers=np.array([0, 1, 3, 5, 2]), low_effort=np.array([True, False, False, False, False]),
        removed=np.array([False, False, False, False, True]), opens_conversation=np.ones(5, bool))
    assert scores.tolist() == pytest.approx([0.25, (1 + 1 / 3 + 1 + 1) / 4, 1.0, 1.0,
                                             (1 + 2 / 3 + 1 + 0) / 4])


def test_a_reply_is_scored_on_substance_and_kept_only():
    scores = quality_vs_growth.post_scores(
        repliers=np.array([0, 0, 0]), low_effort=np.array([False, True, False]),
        removed=np.array([False, False, True]), opens_conversation=np.zeros(3, bool))
    assert scores.tolist() == pytest.approx([1.0, 0.5, 0.5])


@pytest.mark.parametrize("now, expected", [
    (datetime(2026, 3, 5, 12), date(2026, 2, 23)),  # Thursday: last week has had 3 days
    (datetime(2026, 3, 4, 23), date(2026, 2, 16)),  # Wednesday: last week's Sunday posts have not
    (datetime(2026, 3, 5, 0), date(2026, 2, 23)),   # exactly three days after the week ended
])
def test_last_analysed_week_leaves_a_full_reply_window(now, expected):
    assert quality_vs_growth.last_analysed_week(now, 3) == expected


def _series(baseline: list[np.ndarray], recent: list[np.ndarray], membership: list[float]):
    weeks = [date(2026, 1, 5) + timedelta(days=7 * k) for k in range(len(baseline) + len(recent))]
    scores = baseline + recent
    return quality_vs_growth.WeeklySeries(
        "s", weeks, "snapshots", membership, [100 * float(s.mean()) for s in scores],
        [len(s) for s in scores], *[[None] * len(weeks)] * 6, scores=scores)


def test_mann_whitney_separates_a_shift_from_noise():
    rng = np.random.default_rng(7)
    base = [rng.choice([0.5, 0.75, 1.0], size=50, p=[0.1, 0.3, 0.6]) for _ in range(8)]
    same = [rng.choice([0.5, 0.75, 1.0], size=50, p=[0.1, 0.3, 0.6]) for _ in range(3)]
    worse = [rng.choice([0.5, 0.75, 1.0], size=50, p=[0.4, 0.4, 0.2]) for _ in range(3)]
    growth = [100.0] * 8 + [120.0] * 3
    shifted = quality_vs_growth.assess_drop(_series(base, worse, growth), 8, 3, 5)
    steady = quality_vs_growth.assess_drop(_series(base, same, growth), 8, 3, 5)
    assert shifted.flagged(0.01, 0.10, 0.05) and shifted.p_value < 1e-6
    assert not steady.flagged(0.01, 0.10, 0.05) and steady.p_value > 0.01
    assert shifted.membership_growth == pytest.approx(0.2)


def test_a_significant_but_tiny_drop_is_not_flagged():
    base = [np.full(2000, 0.9)] * 8
    slightly = [np.concatenate([np.full(1900, 0.9), np.full(100, 0.5)])] * 3
    test = quality_vs_growth.assess_drop(_series(base, slightly, [1.0] * 8 + [2.0] * 3), 8, 3, 5)
    assert test.p_value < 0.01 and test.relative_drop < 0.10
    assert not test.flagged(0.01, 0.10, 0.05)


def test_chart_png_draws_without_a_display():
    png = quality_chart_png([date(2026, 1, 5), date(2026, 1, 12)], [10, 12], [80.0, None],
                            title="s", recent=(date(2026, 1, 12), date(2026, 1, 12)))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_flow_can_get_any_sources_chart_as_png_bytes(warehouse):
    seed_community(warehouse, members=growing(), quality=[GOOD] * WEEKS)
    png = quality_vs_growth.source_chart_png(warehouse, "r-test", NOW)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert quality_vs_growth.source_chart_png(warehouse, "no-such-source", NOW) is None
