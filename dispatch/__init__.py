"""Dispatch: findings become tasks, tasks reach managers through apprise, once.

The last layer (connectors -> warehouse -> rules -> dispatch). It reads `findings`, writes
`tasks` and `deliveries`, and sends through the apprise URLs in `[[managers]]`:

- `create_tasks` — one task per open finding, keyed by its fingerprint, routed by source,
  language and open load (`dispatch.routing`).
- `resolve_cleared` — a task whose finding cleared resolves itself.
- `expire_stale` — a task whose post is gone, or older than its manager's
  `expire_after_days`, expires instead of lingering (`dispatch.tasks`).
- `deliver` — the outbox (`dispatch.delivery`): queue, digest, escalate overdue tasks,
  send outside quiet hours, retry with backoff; at-least-once, see that module's docstring.
- `dispatch.modes` — per manager: immediate or digest, quiet hours in its time zone.
- `list_tasks`, `show_task`, `ack`, `resolve`, `snooze` — what `majlis tasks ...` calls.
- `dispatch.sanitise` — untrusted post text made inert for every channel.

`run_dispatch` runs a whole pass in the order that keeps it correct: resolve before
creating (a cleared finding gets no task), wake snoozed tasks, expire (so expired tasks
count as no load), create, then deliver.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from dispatch.delivery import DeliveryReport, channel_label, deliver
from dispatch.tasks import (
    TaskError, ack, create_tasks, expire_stale, list_tasks, resolve, resolve_cleared, show_task,
    snooze, wake_snoozed,
)
from majlis.config import Config
from warehouse import Warehouse


@dataclass
class DispatchResult:
    new_tasks: list[dict] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    woken: list[str] = field(default_factory=list)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    expired: list[str] = field(default_factory=list)


def run_dispatch(wh: Warehouse, config: Config, now: datetime) -> DispatchResult:
    resolved = resolve_cleared(wh, now)
    woken = wake_snoozed(wh, now)
    expired = expire_stale(wh, config, now)
    new_tasks = create_tasks(wh, config, now)
    return DispatchResult(new_tasks, resolved, woken, deliver(wh, config, now), expired)


__all__ = [
    "DeliveryReport", "DispatchResult", "TaskError", "ack", "channel_label", "create_tasks",
    "deliver", "expire_stale", "list_tasks", "resolve", "resolve_cleared", "run_dispatch", "show_task",
    "snooze", "wake_snoozed",
]
