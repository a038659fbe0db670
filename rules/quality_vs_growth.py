"""Quality vs growth: a source's quality fell, for real, while its membership grew.

Weeks are ISO weeks (Monday 00:00 UTC). A week is analysed only once every post in it has
had `reply_window_days` to collect replies, so the newest week is not judged half-grown.

Quality index. Each member post (bots and managers excluded) scores, in [0, 1], the mean of
the components that apply to it; a week's index is 100 x the mean score of its posts:
  answered   1 if at least one other, non-bot member replied within the reply window;
  breadth    distinct other repliers, capped at 3, divided by 3 (one helper versus a crowd);
  substance  0 if the post is low-effort (under `min_chars` characters once links are
             removed, or only thanks / +1 / emoji), else 1;
  kept       0 if the post was deleted or removed, else 1.
All four apply to a post that opens a conversation (starts a thread or asks a question);
a reply is scored on substance and kept only, since a good answer needs no answer itself.
(Scoring replies on "answered" too made the index rise when replies dried up: fewer
low-scoring replies in the mix hid the drop. Measured on the simulated drops below.)
The weekly series also reports the share of conversation openers answered, their replies
and distinct repliers per post, low-effort share,
removed share and median length without links, for the reader; they are evidence, not
extra terms of the index (length would reward verbosity, replies per post a quarrel).

Membership: the last `community_snapshots.members_count` of each week (carried forward over
weeks without a capture), else distinct non-bot authors active in the week.

Test (rolling baseline). The last `recent_weeks` analysed weeks are compared with the
`baseline_weeks` before them. A drop is reported only when all of these hold:
  1. significant: one-sided Mann-Whitney U (scipy) on the per-post scores, recent lower than
     baseline, p < `alpha`. Rank-based, so no normality assumption and robust to outliers;
  2. large enough to matter: the recent mean score is at least `min_drop` (relative) below
     the baseline's; with thousands of posts a trivial drop is also "significant";
  3. persistent: every recent week's index is below the median weekly index of the
     baseline, so one bad week (a holiday, a spam wave) cannot carry it;
  4. membership grew over the same span: mean membership of the recent weeks at least
     `min_growth` (relative) above that of the first `recent_weeks` weeks of the baseline;
  and both windows have enough posts (`min_posts_per_week` in each analysed week on average).
Posts in one thread are not independent, so the p-value is optimistic; conditions 2 and 3
are what keep ordinary noise from alarming (tests/test_rules_quality.py checks noise).
Measured on simulated communities (60 posts a week, answered share drawn each week from
0.65-0.85, low-effort 5-15 %, membership +1.5 % a week): no false alarm in 424 weekly
evaluations (8 community-years) with `min_drop` 0.05, 0.07 or 0.10; a planted drop (answered
share -0.3, low-effort +0.2, an index drop of about 10 %) was found in 8 of 8 communities,
when the third poor week was analysed (about 3 weeks and 3 days after it began).

Evidence: the two series in `details["weeks"]` and a PNG chart written to
`<warehouse folder>/charts/<source>-quality.png` (`details["chart"]`). `quality_series` and
`rules.charts` let a flow draw the same chart for any source as an artifact.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from importlib import resources
from pathlib import Path

import numpy as np

from rules._base import Finding, RuleContext, RuleMeta, fingerprint
from rules.charts import quality_chart_png, write_quality_chart
from rules.unanswered_questions import NOT_AN_ANSWER
from warehouse import Warehouse

RULE = RuleMeta(
    id="quality-vs-growth",
    title="Quality is dropping while membership grows",
    description=(
        "Over the last weeks, a source's posts get fewer replies from fewer members, are more "
        "often low-effort or removed, by a statistically real margin (Mann-Whitney U against a "
        "rolling baseline), while its membership grew over the same weeks."
    ),
    principle="4 quality must not drop as membership grows",
    goal="quality-holds-with-growth",
    severity="medium",
    params={
        "baseline_weeks": 8, "recent_weeks": 3, "alpha": 0.01, "min_drop": 0.07,
        "min_growth": 0.05, "reply_window_days": 3, "min_chars": 20,
        "min_posts_per_week": 5, "chart_weeks": 26, "charts": True,
    },
    false_positives=(
        "a wave of newcomers whose first posts are short greetings: real, but a welcome task "
        "rather than a quality problem",
        "a moderation clean-up that removes many posts at once (removed share rises)",
        "replies we do not ingest (a Reddit source fetched without comments, X replies beyond "
        "the API window) make posts look unanswered",
        "a seasonal low (holidays) that coincides with a membership campaign",
    ),
)

COMPONENTS = ("answered", "breadth", "substance", "kept")


def _sql(name: str) -> str:
    return resources.files("rules").joinpath(name).read_text(encoding="utf-8")


@dataclass
class WeeklySeries:
    """One source's weeks, oldest first: membership and the quality index with its parts."""

    source: str
    weeks: list[date]
    membership_basis: str  # 'snapshots' | 'active authors' | 'none'
    membership: list[float | None]
    index: list[float | None]  # 0-100; None for a week without member posts
    posts: list[int]
    reply_share: list[float | None]  # of posts opening a conversation, as the next two
    replies_per_post: list[float | None]
    repliers_per_post: list[float | None]  # mean distinct other repliers per post
    low_effort_share: list[float | None]
    removed_share: list[float | None]
    median_chars: list[float | None]
    scores: list[np.ndarray] = field(repr=False, default_factory=list)  # per-post, per week

    def rows(self) -> list[dict]:
        """The series as one dict per week, for a finding's details."""
        return [
            {"week": w.isoformat(), "members": self.membership[i], "quality_index": self.index[i],
             "posts": self.posts[i], "reply_share": self.reply_share[i],
             "replies_per_post": self.replies_per_post[i],
             "repliers_per_post": self.repliers_per_post[i],
             "low_effort_share": self.low_effort_share[i], "removed_share": self.removed_share[i],
             "median_chars": self.median_chars[i]}
            for i, w in enumerate(self.weeks)
        ]


@dataclass(frozen=True)
class DropTest:
    baseline_posts: int
    recent_posts: int
    baseline_mean: float
    recent_mean: float
    relative_drop: float
    p_value: float
    persistent: bool
    membership_growth: float | None
    enough_posts: bool

    def drop_is_real(self, alpha: float, min_drop: float) -> bool:
        return (self.enough_posts and self.p_value < alpha and self.relative_drop >= min_drop
                and self.persistent)

    def flagged(self, alpha: float, min_drop: float, min_growth: float) -> bool:
        return (self.drop_is_real(alpha, min_drop) and self.membership_growth is not None
                and self.membership_growth >= min_growth)


def post_scores(repliers: np.ndarray, low_effort: np.ndarray, removed: np.ndarray,
                opens_conversation: np.ndarray) -> np.ndarray:
    """Per-post quality in [0, 1]: the mean of answered, breadth, substance and kept for a
    post that opens a conversation; of substance and kept for a reply."""
    answered = (repliers >= 1).astype(float)
    breadth = np.minimum(repliers, 3) / 3.0
    substance = 1.0 - low_effort.astype(float)
    kept = 1.0 - removed.astype(float)
    return np.where(opens_conversation, (answered + breadth + substance + kept) / 4.0,
                    (substance + kept) / 2.0)


def last_analysed_week(now: datetime, reply_window_days: float) -> date:
    """The newest week whose every post has had the whole reply window."""
    cutoff = (now - timedelta(days=reply_window_days)).date()
    return cutoff - timedelta(days=cutoff.weekday()) - timedelta(days=7)


def weekly_series(wh: Warehouse, now: datetime, params: dict, manager_ids: tuple[str, ...] = (),
                  weeks: int | None = None) -> dict[str, WeeklySeries]:
    """Every source's weekly membership and quality over the last `weeks` analysed weeks."""
    last = last_analysed_week(now, float(params["reply_window_days"]))
    span = weeks or max(int(params["chart_weeks"]),
                        int(params["baseline_weeks"]) + int(params["recent_weeks"]))
    week_starts = [last - timedelta(days=7 * k) for k in range(span - 1, -1, -1)]
    since = datetime.combine(week_starts[0], datetime.min.time())
    until = datetime.combine(last + timedelta(days=7), datetime.min.time())
    posts = wh.con.execute(_sql("quality_vs_growth.sql"), {
        "since": since, "until": until, "reply_window_days": int(params["reply_window_days"]),
        "min_chars": int(params["min_chars"]), "manager_ids": list(manager_ids),
        "not_an_answer": NOT_AN_ANSWER,
    }).fetchnumpy()
    members = wh.query(_sql("quality_vs_growth_membership.sql"), {"since": since, "until": until})
    sources = sorted(set(posts["source"].tolist()))
    return {s: _series_for(s, week_starts, posts, members) for s in sources}


def _series_for(source: str, week_starts: list[date], posts: dict, members: list[dict]) -> WeeklySeries:
    mine = posts["source"] == source
    post_weeks = np.asarray(posts["week"][mine]).astype("datetime64[D]")
    repliers = np.asarray(posts["repliers"][mine], dtype=float)
    replies = np.asarray(posts["replies"][mine], dtype=float)
    chars = np.asarray(posts["chars"][mine], dtype=float)
    low = np.asarray(posts["low_effort"][mine], dtype=bool)
    removed = np.asarray(posts["removed"][mine], dtype=bool)
    opens = np.asarray(posts["opens_conversation"][mine], dtype=bool)
    scores = post_scores(repliers, low, removed, opens)
    basis, membership = _membership(source, week_starts, members)
    series = WeeklySeries(source, week_starts, basis, membership, [], [], [], [], [], [], [], [], [])
    for week in week_starts:
        at = post_weeks == np.datetime64(week, "D")
        n = int(at.sum())
        series.posts.append(n)
        series.scores.append(scores[at])
        if n == 0:
            for column in (series.index, series.reply_share, series.replies_per_post,
                           series.repliers_per_post, series.low_effort_share, series.removed_share, series.median_chars):
                column.append(None)
            continue
        series.index.append(round(100 * float(scores[at].mean()), 1))
        openers = at & opens  # reply measures are about posts that expect replies
        series.reply_share.append(_mean(repliers[openers] >= 1, 3))
        series.replies_per_post.append(_mean(replies[openers], 2))
        series.repliers_per_post.append(_mean(repliers[openers], 2))
        series.low_effort_share.append(round(float(low[at].mean()), 3))
        series.removed_share.append(round(float(removed[at].mean()), 3))
        series.median_chars.append(float(np.median(chars[at])))
    return series


def _mean(values: np.ndarray, digits: int) -> float | None:
    return round(float(values.mean()), digits) if len(values) else None


def _membership(source: str, week_starts: list[date], rows: list[dict]) -> tuple[str, list[float | None]]:
    mine = [r for r in rows if r["source"] == source]
    if not mine:
        return "none", [None] * len(week_starts)
    basis = mine[0]["basis"]
    by_week = {r["week"].date(): float(r["members"]) for r in mine}
    if basis == "active authors":
        return basis, [by_week.get(w, 0.0) for w in week_starts]
    out, last = [], None
    known = sorted(by_week)
    for week in week_starts:
        earlier = [k for k in known if k <= week]
        last = by_week[earlier[-1]] if earlier else last
        out.append(last)
    return basis, out


def assess_drop(series: WeeklySeries, baseline_weeks: int, recent_weeks: int,
                min_posts_per_week: float) -> DropTest:
    """Compare the last `recent_weeks` with the `baseline_weeks` before them (see module doc)."""
    recent_slice = slice(len(series.weeks) - recent_weeks, len(series.weeks))
    baseline_slice = slice(len(series.weeks) - recent_weeks - baseline_weeks,
                           len(series.weeks) - recent_weeks)
    recent = _concat(series.scores[recent_slice])
    baseline = _concat(series.scores[baseline_slice])
    enough = (len(recent) >= min_posts_per_week * recent_weeks
              and len(baseline) >= min_posts_per_week * baseline_weeks)
    if len(recent) == 0 or len(baseline) == 0:
        return DropTest(len(baseline), len(recent), float("nan"), float("nan"), 0.0, 1.0, False,
                        None, False)
    baseline_mean, recent_mean = float(baseline.mean()), float(recent.mean())
    p_value = _p_lower(recent, baseline) if recent_mean < baseline_mean else 1.0
    weekly_baseline = [i for i in series.index[baseline_slice] if i is not None]
    weekly_recent = series.index[recent_slice]
    persistent = bool(weekly_baseline) and all(
        i is not None and i < float(np.median(weekly_baseline)) for i in weekly_recent)
    return DropTest(
        baseline_posts=len(baseline), recent_posts=len(recent),
        baseline_mean=baseline_mean, recent_mean=recent_mean,
        relative_drop=(1 - recent_mean / baseline_mean) if baseline_mean > 0 else 0.0,
        p_value=p_value, persistent=persistent,
        # The baseline's first weeks against the recent weeks: growth over the whole span,
        # averaged over as many weeks at each end so one odd week (or capture) cannot decide.
        membership_growth=_growth(series.membership[baseline_slice][:recent_weeks],
                                  series.membership[recent_slice]),
        enough_posts=enough,
    )


def _p_lower(recent: np.ndarray, baseline: np.ndarray) -> float:
    """One-sided Mann-Whitney U: how likely recent scores this much lower by chance. Only
    asked when the recent mean is lower (else no drop can be flagged and p counts as 1):
    importing scipy.stats costs ~0.7 s of a detect run that has nothing to report."""
    from scipy.stats import mannwhitneyu

    return float(mannwhitneyu(recent, baseline, alternative="less").pvalue)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts) if parts else np.array([])


def _growth(baseline: list[float | None], recent: list[float | None]) -> float | None:
    before = [m for m in baseline if m is not None]
    after = [m for m in recent if m is not None]
    if not before or not after or np.mean(before) <= 0:
        return None
    return float(np.mean(after) / np.mean(before) - 1)


def chart_path(wh: Warehouse, source: str) -> Path | None:
    """`<warehouse folder>/charts/<source>-quality.png`; None for an in-memory warehouse."""
    if wh.path is None:
        return None
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", source)
    return Path(wh.path).parent / "charts" / f"{safe}-quality.png"


def draw_chart(series: WeeklySeries, path: Path, baseline_weeks: int | None = None,
               recent_weeks: int | None = None) -> Path:
    """The source's membership and quality index over the weeks, as a PNG at `path`."""
    spans = {}
    if baseline_weeks and recent_weeks:
        weeks = series.weeks
        spans = {"baseline": (weeks[-recent_weeks - baseline_weeks], weeks[-recent_weeks - 1]),
                 "recent": (weeks[-recent_weeks], weeks[-1])}
    return write_quality_chart(
        path, weeks=series.weeks, membership=series.membership, quality=series.index,
        title=f"{series.source}: membership and quality per week",
        membership_label=f"members ({series.membership_basis})", **spans,
    )


def source_chart_png(wh: Warehouse, source: str, now: datetime, params: dict | None = None,
                     manager_ids: tuple[str, ...] = ()) -> bytes | None:
    """A source's chart as PNG bytes (for a Prefect artifact); None when it has no posts."""
    params = {**RULE.params, **(params or {})}
    series = weekly_series(wh, now, params, manager_ids).get(source)
    if series is None:
        return None
    return quality_chart_png(series.weeks, series.membership, series.index,
                             title=f"{source}: membership and quality per week",
                             membership_label=f"members ({series.membership_basis})")


def detect(wh: Warehouse, params: dict, context: RuleContext) -> list[Finding]:
    baseline_weeks, recent_weeks = int(params["baseline_weeks"]), int(params["recent_weeks"])
    alpha, min_drop = float(params["alpha"]), float(params["min_drop"])
    findings = []
    for source, series in weekly_series(wh, context.now, params, context.manager_ids).items():
        test = assess_drop(series, baseline_weeks, recent_weeks, float(params["min_posts_per_week"]))
        if not test.flagged(alpha, min_drop, float(params["min_growth"])):
            continue
        path = chart_path(wh, source) if params.get("charts", True) else None
        if path is not None:
            draw_chart(series, path, baseline_weeks, recent_weeks)
        findings.append(_finding(wh, series, test, path, params, context.now))
    return findings


def _open_subject(wh: Warehouse, source: str) -> str | None:
    """The subject of this source's open finding: a drop that persists stays one finding."""
    rows = wh.query(
        "select subject_id from findings where rule = $rule and source = $source"
        " and cleared_at is null order by detected_at desc limit 1",
        {"rule": RULE.id, "source": source})
    return rows[0]["subject_id"] if rows else None


def _finding(wh: Warehouse, series: WeeklySeries, test: DropTest, chart: Path | None,
             params: dict, now: datetime) -> Finding:
    recent_weeks = int(params["recent_weeks"])
    first_recent = series.weeks[-recent_weeks]
    # A new drop after a recovery is a new subject, so it gets a new task.
    subject = _open_subject(wh, series.source) or f"{series.source}@{first_recent.isoformat()}"
    growth = test.membership_growth or 0.0
    summary = (
        f"{series.source}: quality index down {test.relative_drop:.0%} over the last "
        f"{recent_weeks} weeks (from {100 * test.baseline_mean:.0f} to {100 * test.recent_mean:.0f}) "
        f"while membership grew {growth:.0%}."
    )
    return Finding(
        finding_id=fingerprint(RULE.id, subject), rule=RULE.id, goal=RULE.goal,
        subject_id=subject, source=series.source, severity=RULE.severity, summary=summary,
        url=None,
        details={
            "method": "one-sided Mann-Whitney U on per-post quality scores, recent weeks vs "
                      "rolling baseline; plus minimum relative drop, persistence and growth",
            "components": list(COMPONENTS),
            "baseline_weeks": [w.isoformat() for w in series.weeks[-recent_weeks - int(params["baseline_weeks"]):-recent_weeks]],
            "recent_weeks": [w.isoformat() for w in series.weeks[-recent_weeks:]],
            "baseline_index": round(100 * test.baseline_mean, 1),
            "recent_index": round(100 * test.recent_mean, 1),
            "relative_drop": round(test.relative_drop, 3),
            "p_value": test.p_value,
            "baseline_posts": test.baseline_posts, "recent_posts": test.recent_posts,
            "membership_basis": series.membership_basis,
            "membership_growth": round(growth, 3),
            "weeks": series.rows(),
            "chart": str(chart) if chart else None,
        },
        detected_at=now,
    )
