"""When a manager hears of a task: at once, in a digest, and never inside quiet hours.

Per manager (`[[managers]]` keys, all in the manager's `timezone`):

- `digest = "hourly" | "daily"` (default: none, every task is sent at once). With a digest,
  tasks whose severity is listed in `immediate` (default `["high"]`) are still sent at
  once; every other task waits for the digest. A period comes due at the top of each
  local hour (`hourly`) or at `digest_at` local time each day (`daily`, default 08:00).
  The digest for a period lists every task created before that time and not in an earlier
  digest; one digest per period and channel, none when there is nothing to list.
- `quiet_hours = "22:00-07:00"`: nothing is sent inside them, except tasks and escalations
  whose severity is listed in `quiet_hours_except` (default: none). Deliveries are not
  dropped: they stay queued with `next_attempt_at` at the end of the quiet hours.
  Digests always wait. Escalations follow the assigned manager's quiet hours too: the
  escalation contact is configured on that manager and is taken to share its day.

Everything takes `now` as a naive UTC datetime (the warehouse's convention) and returns
naive UTC, so tests can pass any moment without sleeping.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from majlis.config import Manager


def clock(value: str) -> time:
    """`"07:30"` -> time(7, 30); the config has already checked the shape."""
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def _local(manager: Manager, now: datetime) -> datetime:
    return now.replace(tzinfo=timezone.utc).astimezone(ZoneInfo(manager.timezone))


def _utc(local: datetime) -> datetime:
    return local.astimezone(timezone.utc).replace(tzinfo=None)


def _at(day: datetime, when: time, manager: Manager) -> datetime:
    """That local wall-clock time on `day`'s date, as an aware datetime."""
    return datetime.combine(day.date(), when, tzinfo=ZoneInfo(manager.timezone))


def quiet_until(manager: Manager, now: datetime) -> datetime | None:
    """The (UTC) end of the quiet hours `now` falls in, or None when it is not quiet."""
    if not manager.quiet_hours:
        return None
    start_text, end_text = manager.quiet_hours.split("-")
    start, end = clock(start_text), clock(end_text)
    local = _local(manager, now)
    t = local.time().replace(tzinfo=None)
    if start < end:
        inside = start <= t < end
        end_day = local
    else:  # wraps midnight, e.g. 22:00-07:00
        inside = t >= start or t < end
        end_day = local if t < end else local + timedelta(days=1)
    return _utc(_at(end_day, end, manager)) if inside else None


def may_send_now(manager: Manager, severity: str | None, kind: str, now: datetime) -> datetime | None:
    """None when a delivery may go now; else the UTC time it has to wait for."""
    until = quiet_until(manager, now)
    if until is None:
        return None
    if kind != "digest" and severity in manager.quiet_hours_except:
        return None
    return until


def is_immediate(manager: Manager, severity: str | None) -> bool:
    """Sent on its own at once, rather than in the manager's digest."""
    return manager.digest is None or severity in manager.immediate


def digest_due(manager: Manager, now: datetime) -> datetime | None:
    """The (UTC) time the latest period came due at or before `now`; None without a digest."""
    if manager.digest is None:
        return None
    local = _local(manager, now)
    if manager.digest == "hourly":
        return _utc(local.replace(minute=0, second=0, microsecond=0))
    due = _at(local, clock(manager.digest_at), manager)
    if due > local:
        due = _at(local - timedelta(days=1), clock(manager.digest_at), manager)
    return _utc(due)


def describe(manager: Manager) -> str:
    """How the manager's digest is scheduled, in words for the digest's own first line."""
    if manager.digest == "hourly":
        return "hourly digest"
    return f"daily digest, {manager.digest_at} {manager.timezone}"
