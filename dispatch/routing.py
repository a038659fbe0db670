"""Who gets a task: a manager who covers its source and language, the least loaded first.

A manager covers a source when `sources` is empty or names it, a language when `languages`
is empty, names it, or the task has no language. Among those who cover a task, the one
with the fewest open tasks wins (ties go to the one listed first in the config). A task
nobody covers goes to the fallback manager: the first manager with `fallback = true`
(honoured as soon as the config model has that key), else the first manager listed.
Tasks are never dropped; with no managers at all the assignee is None.
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
    # `rules` is wanted on Manager (issue 5); read it when the config grows the key.
    rules = getattr(manager, "rules", None) or []
    return not (rules and rule not in rules)


def fallback_manager(managers: Sequence[Manager]) -> Manager | None:
    for manager in managers:
        if getattr(manager, "fallback", False):
            return manager
    return managers[0] if managers else None


def choose_assignee(
    managers: Sequence[Manager], source: str | None, lang: str | None,
    open_load: dict[str, int], rule: str | None = None,
) -> str | None:
    """The name of the manager for a task, given each manager's current open-task count."""
    candidates = [m for m in managers if covers(m, source, lang, rule)]
    if not candidates:
        fallback = fallback_manager(managers)
        return fallback.name if fallback else None
    best = min(candidates, key=lambda m: open_load.get(m.name, 0))  # min keeps config order on ties
    return best.name
