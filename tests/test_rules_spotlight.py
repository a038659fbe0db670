"""rules/spotlight_members: the reasons it gives and its history (cases: rule_cases/spotlight_members.yaml)."""
from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import yaml

from rules import RuleContext, run_rules, spotlight_members
from test_rule_cases import _seed

CASES = yaml.safe_load((Path(__file__).parent / "rule_cases" / "spotlight_members.yaml").read_text(encoding="utf-8"))


def _case(name: str) -> dict:
    return next(c for c in CASES["cases"] if c["name"] == name)


def _spotlights(wh, case: dict, now: datetime | None = None, **params):
    context = RuleContext(now=now or case["now"], sla_hours={}, manager_ids=())
    return spotlight_members.detect(wh, {**spotlight_members.RULE.params, **case.get("params", {}), **params},
                                    context)


def _only_reason(wh, name: str) -> str:
    case = _case(name)
    _seed(wh, case)
    (finding,) = _spotlights(wh, case)
    assert finding.severity == "low" and finding.summary == f"Spotlight: {finding.details['reason']}"
    return finding.details["reason"]


def test_helpful_reason_counts_questions_askers_and_newcomers(warehouse):
    reason = _only_reason(warehouse, "a member who answered three askers, two of them newcomers")
    assert reason == "@sara answered 3 questions from 3 members in the last 30 days, 2 of them newcomers."


def test_milestone_reason_names_the_post_and_its_date(warehouse):
    reason = _only_reason(warehouse, "hundredth post in the window is a milestone")
    assert reason.startswith("@dina made their 100th post on 2026-02-27")


def test_anniversary_reason(warehouse):
    reason = _only_reason(warehouse, "first anniversary while still active")
    assert reason == "@eli marked one year in the community on 2026-02-15."


def test_rising_reason_compares_with_the_window_before(warehouse):
    reason = _only_reason(warehouse, "rising engagement")
    assert reason == "@fay posted 9 times in the last 30 days, up from 1 the 30 days before."


def test_consistency_reason(warehouse):
    reason = _only_reason(warehouse, "posting in most weeks is consistency")
    assert reason == "@gus posted in 12 of the last 12 weeks."


def test_a_spotlight_is_held_for_a_week_then_cooled_down(warehouse):
    case = _case("a member who answered three askers, two of them newcomers")
    _seed(warehouse, case)

    def run(days: int) -> list[str]:
        context = RuleContext(now=case["now"] + timedelta(days=days), sla_hours={}, manager_ids=())
        found = run_rules(warehouse, {}, context, only=["spotlight-members"], log=lambda _: None)
        return [f.subject_id for f in found["spotlight-members"]]

    assert run(0) == ["sara@2026-03-01"]
    assert run(1) == ["sara@2026-03-01"]  # held: the task is not cleared overnight
    assert run(8) == []  # hold over; in cooldown (and her answers are getting old)
    open_rows = warehouse.query("select subject_id from findings where cleared_at is null")
    assert open_rows == []


def test_a_member_is_spotlighted_once_per_run_in_their_best_source(warehouse):
    case = _case("a member who answered three askers, two of them newcomers")
    _seed(warehouse, case)
    extra = {"name": "same member elsewhere", "now": case["now"], "activity": [
        {"author": "sara", "source": "forum", "from": datetime(2025, 12, 8, 9),
         "to": datetime(2026, 2, 28, 9), "every_days": 7}]}
    _seed(warehouse, extra)
    findings = _spotlights(warehouse, case)
    assert [f.details["member_id"] for f in findings] == ["sara"]
