"""The goal report (seed principle 1): each `[[goals]]` entry's current value against its target.

A goal names a `metric` Majlis computes from the warehouse, and a `target`. The metrics:

  answered_within_sla           share (0-1) of members' questions asked in the last 30 days
                                that got an answer within their source's reply time (the
                                source's `sla_hours`, else `[rules.unanswered_questions]
                                after_hours`). "Question" and "answer" are what the
                                unanswered-questions rule means by them: a reply below the
                                question from someone other than the asker, not a bot, and
                                not only thanks or +1. Questions still inside their reply time
                                and not yet answered are not counted either way. Higher is better.
  median_first_response_hours   median hours from question to its first answer, over the
                                answered questions of the last 30 days. Lower is better.
  open_tasks                    tasks for this goal still on a manager's plate (open,
                                notified, acknowledged, escalated, snoozed). Lower is better.
  open_findings                 findings for this goal not yet cleared. Lower is better.
  spotlights_last_30_days       members spotlighted (spotlight-members findings) in the last
                                30 days. Higher is better.
  promises_kept_share           share (0-1) of managers' promises (as the promises-kept rule
                                reads them) that fell due in the last 90 days and had a
                                follow-up from the same manager in the thread by the due date.
                                Higher is better.
  quality_index                 the quality index (0-100, rules/quality_vs_growth.py) of the
                                latest analysed week, in the source where it is lowest, so a
                                goal is met only when every source meets it. Higher is better.

Each goal also shows the findings and tasks open for it: rules name their goal
(`RuleMeta.goal`, stored in `findings.goal` and `tasks.goal`), so a goal with the id a rule
names collects that rule's work. A goal without a metric, or with one Majlis does not compute,
is still listed, with its open work and a message naming the metrics it knows.

The report only reads: it opens the read replica (or the warehouse file) read-only.
"""
from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Callable

from majlis.config import Config, Goal
from warehouse import Warehouse

__all__ = ["METRICS", "GoalReport", "Metric", "MetricValue", "goal_report", "open_read_only"]

QUESTION_WINDOW_DAYS = 30
PROMISE_WINDOW_DAYS = 90
SPOTLIGHT_WINDOW_DAYS = 30
LIVE_TASKS = ("open", "notified", "acknowledged", "escalated", "snoozed")  # dispatch.tasks.LIVE


@dataclass(frozen=True)
class MetricValue:
    value: float | None  # None: nothing to measure yet (no questions, no promises, ...)
    basis: str  # what the value was computed from, in words
    by_source: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Inputs:
    """What every metric may need besides the warehouse."""

    config: Config
    goal: Goal
    now: datetime


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    higher_is_better: bool
    compute: Callable[[Warehouse, Inputs], MetricValue]


@dataclass(frozen=True)
class GoalReport:
    goal: str
    description: str
    metric: str | None
    target: float | None
    value: float | None
    status: str  # met | not met | no data | no target | no metric | unknown metric
    direction: str | None  # ">=" or "<=": how the value must stand against the target
    basis: str
    by_source: dict[str, float | None]
    open_findings: int
    open_tasks: int
    findings_by_rule: dict[str, int]
    rules: list[str]  # rules that name this goal

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# -- questions ----------------------------------------------------------------------------

def _question_times(wh: Warehouse, inputs: Inputs) -> list[dict]:
    """The questions of the last QUESTION_WINDOW_DAYS, answered as the unanswered-questions
    rule decides it (rules/question_answers.sql)."""
    from rules.unanswered_questions import RULE as UNANSWERED, question_answers

    config, now = inputs.config, inputs.now
    params = {**UNANSWERED.params, **config.rules.get("unanswered_questions", {})}
    return question_answers(
        wh, now=now, since=now - timedelta(days=QUESTION_WINDOW_DAYS),
        default_hours=float(params["after_hours"]),
        sla_hours={s.name: float(s.sla_hours) for s in config.sources if s.sla_hours},
        manager_ids=_manager_ids(config))


def _manager_ids(config: Config) -> list[str]:
    return [h for m in config.managers for h in m.handles]


def answered_within_sla(wh: Warehouse, inputs: Inputs) -> MetricValue:
    decided: dict[str, list[bool]] = {}
    for q in _question_times(wh, inputs):
        due = q["created_at"] + timedelta(hours=q["sla_hours"])
        in_time = q["first_answer_at"] is not None and q["first_answer_at"] <= due
        if in_time or due <= inputs.now:  # still inside its reply time: undecided
            decided.setdefault(q["source"], []).append(in_time)
    flags = [f for per_source in decided.values() for f in per_source]
    if not flags:
        return MetricValue(None, f"no questions due in the last {QUESTION_WINDOW_DAYS} days")
    met = sum(flags)
    return MetricValue(
        round(met / len(flags), 3),
        f"{met} of {len(flags)} questions of the last {QUESTION_WINDOW_DAYS} days answered in time",
        {source: round(sum(f) / len(f), 3) for source, f in sorted(decided.items())},
    )


def median_first_response_hours(wh: Warehouse, inputs: Inputs) -> MetricValue:
    hours: dict[str, list[float]] = {}
    unanswered = 0
    for q in _question_times(wh, inputs):
        if q["first_answer_at"] is None:
            unanswered += 1
            continue
        waited = (q["first_answer_at"] - q["created_at"]).total_seconds() / 3600
        hours.setdefault(q["source"], []).append(waited)
    every = [h for per_source in hours.values() for h in per_source]
    if not every:
        return MetricValue(None, f"no answered questions in the last {QUESTION_WINDOW_DAYS} days")
    return MetricValue(
        round(statistics.median(every), 1),
        f"{len(every)} answered questions of the last {QUESTION_WINDOW_DAYS} days "
        f"({unanswered} not answered yet, not counted)",
        {source: round(statistics.median(h), 1) for source, h in sorted(hours.items())},
    )


# -- work open for the goal -----------------------------------------------------------------

def _open_findings(wh: Warehouse, goal_id: str) -> dict[str, int]:
    rows = wh.query(
        "select rule, count(*) as n from findings where goal = $goal and cleared_at is null"
        " group by rule order by rule", {"goal": goal_id})
    return {r["rule"]: int(r["n"]) for r in rows}


def _open_tasks(wh: Warehouse, goal_id: str) -> int:
    (n,) = wh.con.execute(
        "select count(*) from tasks where goal = $goal and status in (select unnest($live::varchar[]))",
        {"goal": goal_id, "live": list(LIVE_TASKS)}).fetchone()
    return int(n)


def open_tasks(wh: Warehouse, inputs: Inputs) -> MetricValue:
    n = _open_tasks(wh, inputs.goal.id)
    return MetricValue(float(n), f"tasks with goal {inputs.goal.id!r} still open")


def open_findings(wh: Warehouse, inputs: Inputs) -> MetricValue:
    n = sum(_open_findings(wh, inputs.goal.id).values())
    return MetricValue(float(n), f"findings with goal {inputs.goal.id!r} not cleared")


def spotlights_last_30_days(wh: Warehouse, inputs: Inputs) -> MetricValue:
    rows = wh.query(
        "select source, count(distinct finding_id) as n from findings"
        " where rule = 'spotlight-members' and detected_at >= $since and detected_at <= $now"
        " group by source order by source",
        {"since": inputs.now - timedelta(days=SPOTLIGHT_WINDOW_DAYS), "now": inputs.now})
    by_source = {r["source"]: float(r["n"]) for r in rows}
    return MetricValue(float(sum(by_source.values())),
                       f"members spotlighted in the last {SPOTLIGHT_WINDOW_DAYS} days", by_source)


# -- promises and quality -------------------------------------------------------------------

def promises_kept_share(wh: Warehouse, inputs: Inputs) -> MetricValue:
    from rules import promises_kept

    config, now = inputs.config, inputs.now
    params = {**promises_kept.RULE.params, **config.rules.get("promises_kept", {})}
    # A promise due inside the window was made at most its longest delay before it; the
    # rule's look-back bounds that.
    rows = wh.query(promises_kept._sql(), {
        "now": now, "since": now - timedelta(days=PROMISE_WINDOW_DAYS + int(params["lookback_days"])),
        "manager_ids": _manager_ids(config), "commitment": promises_kept.PREFILTER,
    })
    kept: dict[str, list[bool]] = {}
    for row in rows:
        text = " ".join(t for t in (row["title"], row["body"]) if t)
        promise = promises_kept.find_promise(text, int(params["due_days"]))
        if promise is None:
            continue
        due_at = row["created_at"] + timedelta(days=promise.due_days)
        if not (now - timedelta(days=PROMISE_WINDOW_DAYS) <= due_at <= now):
            continue
        follow_up = row["first_follow_up_at"]
        kept.setdefault(row["source"], []).append(follow_up is not None and follow_up <= due_at)
    flags = [f for per_source in kept.values() for f in per_source]
    if not flags:
        return MetricValue(None, f"no promises fell due in the last {PROMISE_WINDOW_DAYS} days")
    return MetricValue(
        round(sum(flags) / len(flags), 3),
        f"{sum(flags)} of {len(flags)} promises due in the last {PROMISE_WINDOW_DAYS} days "
        "followed up by then",
        {source: round(sum(f) / len(f), 3) for source, f in sorted(kept.items())},
    )


def quality_index(wh: Warehouse, inputs: Inputs) -> MetricValue:
    from rules import quality_vs_growth

    params = {**quality_vs_growth.RULE.params, **inputs.config.rules.get("quality_vs_growth", {})}
    series = quality_vs_growth.weekly_series(wh, inputs.now, params, tuple(_manager_ids(inputs.config)),
                                             weeks=4)
    latest: dict[str, tuple[float, str]] = {}
    for source, s in series.items():
        for week, index in zip(reversed(s.weeks), reversed(s.index)):
            if index is not None:
                latest[source] = (index, week.isoformat())
                break
    if not latest:
        return MetricValue(None, "no analysed week with member posts in the last 4 weeks")
    lowest = min(latest, key=lambda s: latest[s][0])
    value, week = latest[lowest]
    return MetricValue(value, f"lowest of {len(latest)} source(s): {lowest}, week of {week}",
                       {source: index for source, (index, _) in sorted(latest.items())})


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("answered_within_sla", "share of questions (last 30 days) answered within their SLA",
           True, answered_within_sla),
    Metric("median_first_response_hours", "median hours to a question's first answer (last 30 days)",
           False, median_first_response_hours),
    Metric("open_tasks", "tasks for this goal still open", False, open_tasks),
    Metric("open_findings", "findings for this goal not cleared", False, open_findings),
    Metric("spotlights_last_30_days", "members spotlighted in the last 30 days", True,
           spotlights_last_30_days),
    Metric("promises_kept_share", "share of promises due in the last 90 days followed up in time",
           True, promises_kept_share),
    Metric("quality_index", "quality index of the latest analysed week, lowest source", True,
           quality_index),
)}


def metric_key(name: str) -> str:
    """"Answered-Within-SLA" and "answered_within_sla" name the same metric."""
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def unknown_metric_message(name: str) -> str:
    return f"metric {name!r} is not one Majlis computes; known: {', '.join(METRICS)}"


# -- the report ------------------------------------------------------------------------------

def goal_report(wh: Warehouse, config: Config, now: datetime) -> list[GoalReport]:
    """One report per `[[goals]]` entry, in the config's order."""
    from rules import registered_rules

    rules_by_goal: dict[str, list[str]] = {}
    for module in registered_rules():
        rules_by_goal.setdefault(module.RULE.goal, []).append(module.RULE.id)
    return [_report(wh, Inputs(config, goal, now), rules_by_goal.get(goal.id, []))
            for goal in config.goals]


def _report(wh: Warehouse, inputs: Inputs, rules: list[str]) -> GoalReport:
    goal = inputs.goal
    findings = _open_findings(wh, goal.id)
    base = dict(goal=goal.id, description=goal.description, metric=goal.metric, target=goal.target,
                open_findings=sum(findings.values()), open_tasks=_open_tasks(wh, goal.id),
                findings_by_rule=findings, rules=rules)
    if not goal.metric:
        return GoalReport(**base, value=None, status="no metric", direction=None,
                          basis=f"no metric set; known: {', '.join(METRICS)}", by_source={})
    metric = METRICS.get(metric_key(goal.metric))
    if metric is None:
        return GoalReport(**base, value=None, status="unknown metric", direction=None,
                          basis=unknown_metric_message(goal.metric), by_source={})
    measured = metric.compute(wh, inputs)
    direction = ">=" if metric.higher_is_better else "<="
    return GoalReport(**base, value=measured.value, status=_status(measured.value, goal.target, metric),
                      direction=direction, basis=measured.basis, by_source=measured.by_source)


def _status(value: float | None, target: float | None, metric: Metric) -> str:
    if value is None:
        return "no data"
    if target is None:
        return "no target"
    met = value >= target if metric.higher_is_better else value <= target
    return "met" if met else "not met"


def open_read_only(config: Config) -> Warehouse:
    """The warehouse to report from, opened so that nothing can be written.

    A DuckDB file is read through its read replica when there is one (what every flow run
    leaves for readers, so the report never waits for a running flow's lock); DuckLake is
    attached read-only. Raises warehouse.readonly.ReadOnlyError with what to do.
    """
    if config.warehouse.backend == "ducklake":
        return Warehouse.open(config.warehouse, read_only=True)
    from warehouse.readonly import connect_read_only, file_to_read

    path = Path(config.warehouse.path)
    return Warehouse(connect_read_only(file_to_read(path)), path)
