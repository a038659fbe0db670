"""`majlis bench rules`: the rules run over seeded simulated communities with planted events.

Each simulated community is one source, a year of weekly activity (52 weeks from `START`),
written into a warehouse day by day, as connectors would, with the rules run after each day
(unanswered questions) or each week (quality vs growth, spotlight), by `rules.run_rules`, so
findings, clearing and the spotlight's cooldown behave as in production.

The community:
  - membership from weekly snapshots: growing 1.5 % a week, or flat (one community in four);
  - activity follows membership; authors are drawn heavy-tailed from a pool that grows with it
    (the first members write most);
  - English, Arabic or both; about a third of threads open with a question, the rest with a
    statement; some openers are low-effort ("lol", "+1"). Half the openers (`real_share`) are
    real text from the labelled files (tests/fixtures/labels: Reddit comments, tweets),
    questions for questions and statements for statements, so what question detection gets
    wrong on real text shows here as missed or false unanswered questions; the rest, and all
    replies, come from the generator's sentence templates, which detection always gets right;
  - every question gets an answer from another member within its reply time (a lognormal
    delay, median 3 h, at most 20 h of the 24 h SLA) unless it is planted unanswered;
    statements get replies with a weekly probability drawn in 0.65-0.85.
Planted, with the truth kept:
  - unanswered questions, about two a month per community: no reply at all, only a thank-you
    or "+1" from someone else, only the asker's own follow-up, or only a bot's reply;
  - a quality drop in half of the growing communities and in the flat one, from a week in
    26-40 to the end: statements are replied to 0.3 less often and 20 points more openers are
    low-effort (the rule must find the first and must not flag the flat one: membership did
    not grow);
  - one helpful member per community: a newcomer who, over one month, answers 9-12 questions
    from newcomers, first each time.

Figures:
  unanswered-questions  recall (planted questions found while overdue), precision (flagged
                        questions that were truly overdue), delay (flag time - due time, h),
                        false alarms per community-year;
  quality-vs-growth     planted drops found (growing communities), delay (days from the drop's
                        start), false alarms per community-year (alarm episodes before a drop,
                        in a community without one, or in the flat community);
  spotlight-members     planted helpers spotlighted (within the month or 14 days after), delay
                        (days from their third answer), other spotlights per community-year
                        (members with real signals the simulator did not plant: not errors).
"""
from __future__ import annotations

import math
import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from connectors import Batch, Member, Post, Snapshot
from majlis.bench import accuracy
from majlis.bench.generator import _Text
from rules import RuleContext, run_rules
from warehouse import Warehouse

__all__ = ["START", "simulate", "run"]

START = datetime(2025, 1, 6)  # a Monday
WEEKS = 52
SLA_HOURS = 24.0
OPENERS_PER_WEEK = 24
QUESTION_SHARE = 0.35
GROWTH_PER_WEEK = 0.015
LOW_EFFORT_OPENERS = ("lol", "+1", "nice", "😂😂", "same", "هههه", "👍", "ok")
THANKS = ("Thanks!", "thank you so much", "+1", "شكرا جزيلا", "👍", "same question")
REAL_SHARE = 0.5
RULE_PARAMS = {
    "unanswered_questions": {"suggest_responders": 0},
    "quality_vs_growth": {"charts": False},
}


@dataclass
class Community:
    index: int
    source: str
    langs: tuple[str, ...]
    growing: bool
    drop_week: int | None
    posts: list[Post] = field(default_factory=list)
    members: dict[str, Member] = field(default_factory=dict)
    snapshots: list[Snapshot] = field(default_factory=list)
    unanswered: dict[str, datetime] = field(default_factory=dict)  # planted question -> due
    helper: str | None = None
    helper_third_answer: datetime | None = None
    helper_until: datetime | None = None


class _RealText:
    """Labelled real posts by language and label: what members really write."""

    def __init__(self) -> None:
        self.pool: dict[tuple[str, bool], list[str]] = {}
        for path in accuracy.label_files():
            for row in accuracy.read_labels(path):
                if row.lang:
                    self.pool.setdefault((row.lang, row.is_question), []).append(row.text)

    def pick(self, rng: random.Random, lang: str, is_question: bool) -> str | None:
        texts = self.pool.get((lang, is_question))
        return rng.choice(texts) if texts else None


@dataclass
class _Maker:
    """Writes one community's posts; keeps ids unique and members registered."""

    rng: random.Random
    text: _Text
    community: Community
    real: _RealText | None = None
    real_share: float = 0.0
    serial: int = 0

    def opener(self, lang: str, is_question: bool, sentences: int) -> tuple[str | None, str]:
        """(title, body) of a thread's first post: real labelled text or a template."""
        if self.real is not None and self.rng.random() < self.real_share:
            body = self.real.pick(self.rng, lang, is_question)
            if body is not None:
                return None, body
        return self.text.title(lang, is_question), self.text.body(lang, is_question, sentences)

    def member(self, name: str, when: datetime, is_bot: bool = False) -> str:
        member_id = f"reddit:{name}"
        if member_id not in self.community.members:
            self.community.members[member_id] = Member(member_id, "reddit", name, None, when, when, is_bot=is_bot)
        return member_id

    def post(self, author: str, when: datetime, body: str, lang: str, *, title: str | None = None,
             parent: Post | None = None) -> Post:
        self.serial += 1
        kind = "comment" if parent else "submission"
        post_id = f"reddit:{'t1' if parent else 't3'}_c{self.community.index}x{self.serial}"
        post = Post(post_id=post_id, platform="reddit", source=self.community.source, kind=kind,
                    thread_id=parent.thread_id if parent else post_id,
                    parent_id=parent.post_id if parent else None, author_id=author, created_at=when,
                    title=title, body=body, url=f"https://reddit.example/{post_id}", lang=lang)
        self.community.posts.append(post)
        return post


def _communities(count: int, weeks: int, rng: random.Random) -> list[Community]:
    out = []
    for i in range(count):
        langs = (("en",), ("ar",), ("en", "ar"))[i % 3]
        growing = i % 4 != 3  # every fourth community is flat
        planted_drop = (i % 2 == 0) or not growing
        # Late enough for a full baseline before it, early enough to be found before the end.
        drop_week = rng.randint(weeks // 2, weeks * 10 // 13) if planted_drop else None
        out.append(Community(i, f"sim-{i}-{'-'.join(langs)}", langs, growing, drop_week))
    return out


def _membership(community: Community, week: int, rng: random.Random) -> float:
    base = 400.0
    if community.growing:
        return base * (1 + GROWTH_PER_WEEK) ** week
    return base * rng.uniform(0.98, 1.02)


def _generate(community: Community, seed: int, weeks: int, real: _RealText | None, real_share: float) -> None:
    rng = random.Random(seed * 1000 + community.index)
    maker = _Maker(rng, _Text(random.Random(seed + community.index), per_template=30), community,
                   real, real_share)
    bot = maker.member(f"automod_{community.index}", START, is_bot=True)
    helper_month = rng.randint(weeks // 6, weeks * 10 // 13)
    for week in range(weeks):
        week_start = START + timedelta(weeks=week)
        members = _membership(community, week, rng)
        community.snapshots.append(Snapshot(community.source, week_start + timedelta(hours=1), round(members)))
        dropped = community.drop_week is not None and week >= community.drop_week
        reply_p = rng.uniform(0.65, 0.85) - (0.3 if dropped else 0.0)
        low_effort_p = rng.uniform(0.05, 0.15) + (0.2 if dropped else 0.0)
        pool = max(20, int(members / 8))
        openers = max(5, round(OPENERS_PER_WEEK * members / 400 * rng.uniform(0.85, 1.15)))
        for _ in range(openers):
            when = week_start + timedelta(seconds=rng.uniform(0, 7 * 86400 - 1))
            author = maker.member(f"m{community.index}_{int(pool * rng.random() ** 3)}", when)
            lang = rng.choice(community.langs)
            if rng.random() < QUESTION_SHARE:
                _question(maker, author, when, lang, pool, bot)
            else:
                _statement(maker, author, when, lang, pool, reply_p, low_effort_p)
        if week == helper_month:
            _helpful_member(maker, week_start, pool)


def _other_member(maker: _Maker, pool: int, not_id: str, when: datetime) -> str:
    while True:
        candidate = maker.member(f"m{maker.community.index}_{int(pool * maker.rng.random() ** 2)}", when)
        if candidate != not_id:
            return candidate


def _question(maker: _Maker, author: str, when: datetime, lang: str, pool: int, bot: str) -> None:
    rng = maker.rng
    title, body = maker.opener(lang, True, rng.randint(1, 3))
    question = maker.post(author, when, body, lang, title=title)
    if rng.random() < 2 / (OPENERS_PER_WEEK * QUESTION_SHARE * 4.3):  # about two a month
        maker.community.unanswered[question.post_id] = when + timedelta(hours=SLA_HOURS)
        kind = rng.choice(("none", "thanks", "self", "bot"))
        later = when + timedelta(hours=rng.uniform(0.5, 6))
        if kind == "thanks":
            maker.post(_other_member(maker, pool, author, later), later, rng.choice(THANKS), lang, parent=question)
        elif kind == "self":
            maker.post(author, later, maker.text.sentence(lang, False), lang, parent=question)
        elif kind == "bot":
            maker.post(bot, later, "Your post is awaiting review by the moderators of this community.", "en",
                       parent=question)
        return
    delay = min(20.0, rng.lognormvariate(math.log(3), 0.8))
    answer_at = when + timedelta(hours=delay)
    answer = maker.post(_other_member(maker, pool, author, answer_at), answer_at,
                        maker.text.body(lang, False, rng.randint(1, 3)), lang, parent=question)
    if rng.random() < 0.5:
        thanks_at = answer_at + timedelta(hours=rng.uniform(0.2, 5))
        maker.post(author, thanks_at, rng.choice(THANKS), lang, parent=answer)


def _statement(maker: _Maker, author: str, when: datetime, lang: str, pool: int,
               reply_p: float, low_effort_p: float) -> None:
    rng = maker.rng
    if rng.random() < low_effort_p:
        opener = maker.post(author, when, rng.choice(LOW_EFFORT_OPENERS), lang)
    else:
        title, body = maker.opener(lang, False, rng.randint(1, 4))
        opener = maker.post(author, when, body, lang, title=title)
    if rng.random() >= reply_p:
        return
    for _ in range(1 + min(5, int(rng.expovariate(0.8)))):
        at = when + timedelta(hours=rng.uniform(0.2, 40))
        maker.post(_other_member(maker, pool, author, at), at, maker.text.body(lang, False, rng.randint(1, 2)),
                   lang, parent=opener)


def _helpful_member(maker: _Maker, month_start: datetime, pool: int) -> None:
    """A newcomer who answers 9-12 newcomers' questions over a month, first each time."""
    rng, community = maker.rng, maker.community
    helper = maker.member(f"helper{community.index}", month_start)
    community.helper = helper
    answers = []
    for k in range(rng.randint(9, 12)):
        when = month_start + timedelta(days=rng.uniform(0, 28))
        asker = maker.member(f"newcomer{community.index}_{k}", when)
        lang = rng.choice(community.langs)
        question = maker.post(asker, when, maker.text.body(lang, True, 1), lang, title=maker.text.title(lang, True))
        at = when + timedelta(hours=rng.uniform(0.3, 3))
        maker.post(helper, at, maker.text.body(lang, False, 2), lang, parent=question)
        answers.append(at)
    answers.sort()
    community.helper_third_answer = answers[2]
    community.helper_until = month_start + timedelta(days=28 + 14)


def simulate(communities: int = 4, seed: int = 7, weeks: int = WEEKS,
             real_share: float = REAL_SHARE) -> list[Community]:
    """The planned communities with every post, member and snapshot, and the planted truth."""
    rng = random.Random(seed)
    planned = _communities(communities, weeks, rng)
    real = _RealText() if real_share > 0 else None
    for community in planned:
        _generate(community, seed, weeks, real, real_share)
        community.posts.sort(key=lambda p: p.created_at)
    return planned


# -- running the rules day by day ------------------------------------------------------------

@dataclass
class _Log:
    """Findings per rule as (tick, source, subject, details) rows."""

    unanswered: list[tuple[datetime, str, str]] = field(default_factory=list)
    quality: list[tuple[datetime, str]] = field(default_factory=list)
    spotlight: list[tuple[datetime, str, str]] = field(default_factory=list)


def _load_day(wh: Warehouse, communities: list[Community], cursor: dict[str, int],
              day_start: datetime, day_end: datetime) -> None:
    """The day's posts of every community in one batch (a write costs the same for 10 posts
    or 500, and the replay is most of the bench's time)."""
    posts: list[Post] = []
    members: dict[str, Member] = {}
    snapshots: list[Snapshot] = []
    for c in communities:
        i = cursor[c.source]
        while i < len(c.posts) and c.posts[i].created_at < day_end:
            posts.append(c.posts[i])
            members.setdefault(c.posts[i].author_id, c.members[c.posts[i].author_id])
            i += 1
        cursor[c.source] = i
        snapshots += [s for s in c.snapshots if day_start <= s.captured_at < day_end]
    if posts or snapshots:
        wh.write_batch(Batch(source="simulated", posts=posts, members=list(members.values()), snapshots=snapshots))


def _replay(communities: list[Community], weeks: int) -> _Log:
    log = _Log()
    cursor = {c.source: 0 for c in communities}
    wh = Warehouse.in_memory()
    try:
        for day in range(weeks * 7):
            day_start = START + timedelta(days=day)
            now = day_start + timedelta(days=1)
            _load_day(wh, communities, cursor, day_start, now)
            context = RuleContext(now=now, sla_hours={c.source: SLA_HOURS for c in communities}, manager_ids=())
            weekly = now.weekday() == 0
            only = ["unanswered-questions"] + (["quality-vs-growth", "spotlight-members"] if weekly else [])
            found = run_rules(wh, RULE_PARAMS, context, only=only, log=lambda _line: None)
            log.unanswered += [(now, f.source, f.subject_id) for f in found["unanswered-questions"]]
            log.quality += [(now, f.source) for f in found.get("quality-vs-growth", [])]
            log.spotlight += [(now, f.source, f.details.get("member_id")) for f in found.get("spotlight-members", [])]
    finally:
        wh.close()
    return log


# -- scoring ---------------------------------------------------------------------------------

def _unanswered_figures(communities: list[Community], log: _Log, end: datetime) -> dict:
    due = {qid: d for c in communities for qid, d in c.unanswered.items()}
    overdue_ever = {qid for qid, d in due.items() if d <= end}
    first_flag: dict[str, datetime] = {}
    false_subjects: set[str] = set()
    for tick, _source, subject in log.unanswered:
        if subject in due and due[subject] <= tick:
            first_flag.setdefault(subject, tick)
        else:
            false_subjects.add(subject)
    found = [q for q in overdue_ever if q in first_flag]
    flagged = len(first_flag) + len(false_subjects)
    delays = [(first_flag[q] - due[q]).total_seconds() / 3600 for q in found]
    return {
        "planted": len(overdue_ever), "found": len(found),
        "recall": _ratio(len(found), len(overdue_ever)),
        "precision": _ratio(len(first_flag), flagged),
        "false_alarms": len(false_subjects),
        "false_alarms_per_community_year": round(len(false_subjects) / len(communities), 2),
        "median_delay_hours": round(statistics.median(delays), 1) if delays else None,
        "max_delay_hours": round(max(delays), 1) if delays else None,
    }


def _episodes(ticks: list[datetime]) -> list[datetime]:
    """Starts of runs of weekly alarms (one open finding re-reported is one alarm)."""
    starts, last = [], None
    for tick in sorted(ticks):
        if last is None or tick - last > timedelta(days=7):
            starts.append(tick)
        last = tick
    return starts


def _quality_figures(communities: list[Community], log: _Log) -> dict:
    planted = found = false_alarms = 0
    delays, flat_alarms = [], 0
    for c in communities:
        starts = _episodes([tick for tick, source in log.quality if source == c.source])
        drop_at = START + timedelta(weeks=c.drop_week) if c.drop_week is not None else None
        if not c.growing:
            flat_alarms += len(starts)
            false_alarms += len(starts)
            continue
        if drop_at is None:
            false_alarms += len(starts)
            continue
        planted += 1
        before = [s for s in starts if s < drop_at]
        after = [s for s in starts if s >= drop_at]
        false_alarms += len(before)
        if after:
            found += 1
            delays.append((after[0] - drop_at).days)
    return {
        "planted_drops": planted, "found": found, "recall": _ratio(found, planted),
        "precision": _ratio(found, found + false_alarms),
        "false_alarms": false_alarms,
        "false_alarms_per_community_year": round(false_alarms / len(communities), 2),
        "alarms_without_growth": flat_alarms,
        "median_delay_days": statistics.median(delays) if delays else None,
        "max_delay_days": max(delays) if delays else None,
    }


def _spotlight_figures(communities: list[Community], log: _Log) -> dict:
    found, delays, others = 0, [], 0
    for c in communities:
        ticks = [tick for tick, source, member in log.spotlight if source == c.source and member == c.helper]
        hits = [t for t in ticks if c.helper_third_answer <= t <= c.helper_until]
        if hits:
            found += 1
            delays.append((min(hits) - c.helper_third_answer).days)
        others += len({member for _t, source, member in log.spotlight if source == c.source and member != c.helper})
    return {
        "planted_helpers": len(communities), "found": found, "recall": _ratio(found, len(communities)),
        "median_delay_days": statistics.median(delays) if delays else None,
        "other_spotlights_per_community_year": round(others / len(communities), 2),
    }


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 3) if b else None


TARGETS = {"quality-vs-growth": {"recall": ">= 0.90", "false_alarms_per_community_year": "<= 1"}}


def run(communities: int = 4, seed: int = 7, weeks: int = WEEKS, real_share: float = REAL_SHARE) -> dict:
    """Simulate, replay day by day with the rules, and score: one JSON-ready dict."""
    if communities < 1:
        raise ValueError(f"communities = {communities}: at least 1")
    if weeks < 14:
        raise ValueError(f"weeks = {weeks}: at least 14 (the quality rule needs 11 weeks of history)")
    started = time.perf_counter()
    if not 0 <= real_share <= 1:
        raise ValueError(f"real_share = {real_share}: a share between 0 and 1")
    planned = simulate(communities, seed, weeks, real_share)
    log = _replay(planned, weeks)
    end = START + timedelta(weeks=weeks)
    return {
        "communities": communities, "weeks": weeks, "seed": seed, "real_share": real_share,
        "posts": sum(len(c.posts) for c in planned),
        "rules": {
            "unanswered-questions": _unanswered_figures(planned, log, end),
            "quality-vs-growth": _quality_figures(planned, log),
            "spotlight-members": _spotlight_figures(planned, log),
        },
        "targets": TARGETS,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
