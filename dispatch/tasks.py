"""Tasks: one per finding, keyed by the finding's fingerprint, with a small lifecycle.

    open -> notified -> acknowledged -> resolved
      \\-> escalated (not acknowledged by due_at; sent to the escalation contact once)
      \\-> snoozed (until a time; then back to open/notified, due no earlier than that)
      \\-> expired (its subject is gone, or nobody acknowledged it within the horizon)

`task_id` is the finding's id (a fingerprint of rule + subject), so re-running detect and
dispatch can never make a second task for the same thing. A task resolves itself when its
finding is cleared (the rule no longer reports it). A finding that comes back after its
task was resolved keeps the resolved task: a recurrence is a new subject for the rule.

A task expires instead of lingering (`expire_stale`), with `resolution`:
- `subject_gone`: the post it is about was deleted or removed on its platform (whatever
  the status, acknowledged included: there is nothing left to act on);
- `too_old`: it was created more than the assignee's `expire_after_days` ago (default 30;
  unassigned tasks too) and is still open, notified or escalated. Acknowledged tasks never
  expire by age (a manager holds them), nor do tasks snoozed into the future.
An expired task is done: it is not counted as load, its queued deliveries are cancelled,
and its finding never gets a second task.
"""
from __future__ import annotations

from datetime import datetime, timedelta

import pyarrow as pa

from dispatch.routing import choose_assignee
from dispatch.sanitise import READ_CHARS, clean_text
from majlis.config import Config
from warehouse import Warehouse, utc_naive

LIVE = ("open", "notified", "acknowledged", "escalated", "snoozed")  # counted as load
DONE = ("resolved", "expired")

TASK_SCHEMA = pa.schema([
    ("task_id", pa.string()), ("finding_id", pa.string()), ("rule", pa.string()),
    ("goal", pa.string()), ("source", pa.string()), ("assignee", pa.string()),
    ("created_at", pa.timestamp("us")), ("due_at", pa.timestamp("us")),
    ("summary", pa.string()), ("url", pa.string()), ("severity", pa.string()),
    ("lang", pa.string()), ("excerpt", pa.string()),
])

class TaskError(Exception):
    """A task command cannot be done; the message names the task and why."""


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return utc_naive(datetime.fromisoformat(value))


def _due_at(finding: dict, config: Config) -> datetime | None:
    """The rule's due time, else detection plus the source's `sla_hours`, else none."""
    due = _parse_time(finding["due_at"])
    if due is not None or not finding["source"]:
        return due
    try:
        sla = config.source(finding["source"]).sla_hours
    except KeyError:
        return None
    return finding["detected_at"] + timedelta(hours=sla) if sla else None


def _untasked_findings(wh: Warehouse) -> list[dict]:
    # The excerpt is the rule's own when it gives one, else the post the finding is about.
    return wh.query(
        """
        select f.finding_id, f.rule, f.goal, f.source, f.severity, f.detected_at,
               f.details->>'summary' as summary, f.details->>'url' as url,
               f.details->>'due_at' as due_at, f.details->>'lang' as lang,
               coalesce(f.details->>'excerpt', p.body, p.title) as excerpt, p.lang as post_lang
        from findings f left join posts p on p.post_id = f.subject_id
        where f.cleared_at is null
          and f.finding_id not in (select task_id from tasks)
        order by f.detected_at, f.finding_id
        """
    )


def open_load(wh: Warehouse) -> dict[str, int]:
    rows = wh.query(
        "select assignee, count(*) as n from tasks"
        " where assignee is not null and status in (select unnest($live)) group by assignee",
        {"live": list(LIVE)},
    )
    return {r["assignee"]: r["n"] for r in rows}


def week_load(wh: Warehouse, now: datetime) -> dict[str, int]:
    """Tasks assigned to each manager in the 7 days up to `now`, whatever became of them."""
    rows = wh.query(
        "select assignee, count(*) as n from tasks where assignee is not null"
        " and created_at > $since group by assignee",
        {"since": utc_naive(now) - timedelta(days=7)},
    )
    return {r["assignee"]: r["n"] for r in rows}


def create_tasks(wh: Warehouse, config: Config, now: datetime) -> list[dict]:
    """A task for every open finding that has none yet; returns the new tasks."""
    findings = _untasked_findings(wh)
    if not findings:
        return []
    load, week = open_load(wh), week_load(wh, now)
    rows = []
    for f in findings:
        lang = f["lang"] or f["post_lang"]
        assignee = choose_assignee(config.managers, f["source"], lang, load, rule=f["rule"],
                                   week_load=week)
        if assignee:
            load[assignee] = load.get(assignee, 0) + 1
            week[assignee] = week.get(assignee, 0) + 1
        rows.append({
            "task_id": f["finding_id"], "finding_id": f["finding_id"], "rule": f["rule"],
            "goal": f["goal"], "source": f["source"], "assignee": assignee,
            "created_at": utc_naive(now), "due_at": _due_at(f, config),
            "summary": clean_text(f["summary"]) or f["rule"], "url": f["url"],
            "severity": f["severity"], "lang": lang,
            "excerpt": clean_text(f["excerpt"])[:READ_CHARS] or None,
        })
    wh.con.register("incoming_tasks", pa.Table.from_pylist(rows, schema=TASK_SCHEMA))
    try:
        wh.con.execute(
            """
            insert into tasks (task_id, finding_id, rule, goal, source, assignee, status,
                               created_at, due_at, summary, url, severity, lang, excerpt)
            select task_id, finding_id, rule, goal, source, assignee, 'open',
                   created_at, due_at, summary, url, severity, lang, excerpt
            from incoming_tasks
            on conflict (task_id) do nothing
            """
        )
    finally:
        wh.con.unregister("incoming_tasks")
    return list_tasks(wh, task_ids=[r["task_id"] for r in rows])


def resolve_cleared(wh: Warehouse, now: datetime) -> list[str]:
    """Resolve every live task whose finding was cleared; returns their ids."""
    rows = wh.con.execute(
        """
        update tasks set status = 'resolved', resolution = 'cleared',
               resolved_at = coalesce(f.cleared_at, $now)
        from findings f
        where f.finding_id = tasks.finding_id and f.cleared_at is not null
          and tasks.status in (select unnest($live))
        returning tasks.task_id
        """,
        {"now": utc_naive(now), "live": list(LIVE)},
    ).fetchall()
    return sorted(task_id for (task_id,) in rows)


def wake_snoozed(wh: Warehouse, now: datetime) -> list[str]:
    """Snoozed tasks whose time has come go back to where they were."""
    rows = wh.con.execute(
        """
        update tasks set status = case when notified_at is null then 'open' else 'notified' end
        where status = 'snoozed' and snoozed_until <= $now
        returning task_id
        """,
        {"now": utc_naive(now)},
    ).fetchall()
    return sorted(task_id for (task_id,) in rows)


DEFAULT_EXPIRE_DAYS = 30.0  # for tasks whose assignee is not (or no longer) configured
GONE_STATES = ("deleted", "removed")


def _expire_gone(wh: Warehouse, now: datetime) -> list[str]:
    rows = wh.con.execute(
        """
        update tasks set status = 'expired', resolution = 'subject_gone', resolved_at = $now
        from findings f join posts p on p.post_id = f.subject_id
        where f.finding_id = tasks.finding_id and p.state in (select unnest($gone))
          and tasks.status in (select unnest($live))
        returning tasks.task_id
        """,
        {"now": now, "gone": list(GONE_STATES), "live": list(LIVE)},
    ).fetchall()
    return [task_id for (task_id,) in rows]


def _expire_old(wh: Warehouse, config: Config, now: datetime) -> list[str]:
    names = [m.name for m in config.managers]
    # One horizon per manager; unassigned tasks and managers no longer configured get the default.
    horizons = [(m.expire_after_days, m.name) for m in config.managers]
    horizons.append((DEFAULT_EXPIRE_DAYS, None))
    expired: list[str] = []
    for days, name in horizons:
        if days is None:
            continue
        rows = wh.con.execute(
            """
            update tasks set status = 'expired', resolution = 'too_old', resolved_at = $now
            where status in ('open', 'notified', 'escalated') and created_at <= $cutoff
              and (assignee = $name
                   or ($name is null and (assignee is null or not list_contains($names, assignee))))
            returning task_id
            """,
            {"now": now, "cutoff": now - timedelta(days=days), "name": name, "names": names},
        ).fetchall()
        expired += [task_id for (task_id,) in rows]
    return expired


def expire_stale(wh: Warehouse, config: Config, now: datetime) -> list[str]:
    """Expire tasks whose subject is gone or that outlived their horizon; returns their ids."""
    now = utc_naive(now)
    return sorted(_expire_gone(wh, now) + _expire_old(wh, config, now))


def list_tasks(
    wh: Warehouse, status: str | None = None, assignee: str | None = None,
    rule: str | None = None, source: str | None = None, task_ids: list[str] | None = None,
) -> list[dict]:
    """Tasks matching every filter given, oldest due first."""
    return wh.query(
        """
        select task_id, finding_id, rule, goal, source, assignee, status, created_at, due_at,
               resolved_at, summary, url, severity, lang, excerpt, notified_at, acknowledged_at,
               escalated_at, snoozed_until, resolution
        from tasks
        where ($status is null or status = $status)
          and ($assignee is null or assignee = $assignee)
          and ($rule is null or rule = $rule)
          and ($source is null or source = $source)
          and ($ids is null or list_contains($ids, task_id))
        order by due_at nulls last, created_at, task_id
        """,
        {"status": status, "assignee": assignee, "rule": rule, "source": source,
         "ids": task_ids},
    )


def show_task(wh: Warehouse, task_id: str) -> dict:
    """One task with its deliveries (channels are redacted labels, never URLs)."""
    task = _get(wh, task_id)
    task["deliveries"] = wh.query(
        "select delivery_id, kind, assignee, channel, status, queued_at, sent_at, attempts,"
        " next_attempt_at, last_error from deliveries where list_contains(task_ids, $id)"
        " order by queued_at, kind, channel",
        {"id": task_id},
    )
    return task


def _get(wh: Warehouse, task_id: str) -> dict:
    rows = list_tasks(wh, task_ids=[task_id])
    if not rows:
        raise TaskError(f"no task {task_id!r}: see `majlis tasks list` for task ids")
    return rows[0]


def _transition(wh: Warehouse, task_id: str, allowed: tuple[str, ...], verb: str,
                sql: str, params: dict) -> dict:
    task = _get(wh, task_id)
    if task["status"] not in allowed:
        raise TaskError(f"task {task_id} is {task['status']}; only {', '.join(allowed)} tasks can be {verb}")
    wh.con.execute(sql, {**params, "id": task_id})
    return _get(wh, task_id)


def ack(wh: Warehouse, task_id: str, now: datetime) -> dict:
    """The manager has it: no escalation from here on."""
    return _transition(
        wh, task_id, ("open", "notified", "escalated", "snoozed"), "acknowledged",
        "update tasks set status = 'acknowledged', acknowledged_at = $now where task_id = $id",
        {"now": utc_naive(now)},
    )


def resolve(wh: Warehouse, task_id: str, now: datetime) -> dict:
    return _transition(
        wh, task_id, LIVE, "resolved",
        "update tasks set status = 'resolved', resolution = 'manual', resolved_at = $now"
        " where task_id = $id",
        {"now": utc_naive(now)},
    )


def snooze(wh: Warehouse, task_id: str, until: datetime, now: datetime) -> dict:
    """Not now: no escalation before `until`; the task wakes then."""
    if utc_naive(until) <= utc_naive(now):
        raise TaskError(f"cannot snooze task {task_id} until {until}: that is not in the future")
    return _transition(
        wh, task_id, ("open", "notified", "escalated", "acknowledged", "snoozed"), "snoozed",
        "update tasks set status = 'snoozed', snoozed_until = $until where task_id = $id",
        {"until": utc_naive(until)},
    )
