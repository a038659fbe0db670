"""Who gets a task: a manager who covers it and has room this week, the least loaded first.

A manager covers a task when `sources` is empty or names its source, `languages` is empty,
names its language or the task has none, and `rules` is empty or names its rule. Managers
with a `capacity_per_week` who were already assigned that many tasks in the last 7 days
(a rolling window, every status counted: the work was handed out) are skipped. Among the
covering managers with room, the one with the fewest live tasks wins (ties go to the one
listed first in the config). A task nobody covers, or whose covering managers are all at
capacity, goes to the fallback manager: the first with `fallback = true`, else the first
listed; the fallback takes it even beyond its own capacity, because tasks are never
dropped. With no managers at all the assignee is None.
"""
from __future__ import annotations

from typing import Sequence

from majlis.config import Manager


def covers(manager: Manager, source: str | None, lang: str | None, rule: str | None = None) -> bool:
    if manager.sources and source not in manager.sources:
        return False
    if manager.languages and lang and lang.split("-")[0].lower() not in {
        code.lower() for code in manager.languages
    }:
        return False
    return not (manager.rules and rule not in manager.rules)


def has_room(manager: Manager, week_load: dict[str, int]) -> bool:
    cap = manager.capacity_per_week
    return cap is None or week_load.get(manager.name, 0) < cap


def fallback_manager(managers: Sequence[Manager]) -> Manager | None:
    for manager in managers:
        if manager.fallback:
            return manager
    return managers[0] if managers else None


def choose_assignee(
    managers: Sequence[Manager], source: str | None, lang: str | None,
    open_load: dict[str, int], rule: str | None = None, week_load: dict[str, int] | None = None,
) -> str | None:
    """The name of the manager for a task, given each manager's live and this week's task counts."""
    candidates = [m for m in managers if covers(m, source, lang, rule)
                  and has_room(m, week_load or {})]
    if not candidates:
        fallback = fallback_manager(managers)
        return fallback.name if fallback else None
    best = min(candidates, key=lambda m: open_load.get(m.name, 0))  # min keeps config order on ties
    return best.name
