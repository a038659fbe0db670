"""Rule cases as data (tests/rule_cases/*.yaml): seed rows, run the rule, compare subjects."""
import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import yaml

from connectors import Batch, Member, Post, Snapshot
from rules import RuleContext, registered_rules

CASES = Path(__file__).parent / "rule_cases"
FILES = ["managers_quiet.yaml", "data_gaps.yaml", "promises_kept.yaml", "members_quiet.yaml",
         "spotlight_members.yaml"]


def _cases():
    for name in FILES:
        doc = yaml.safe_load((CASES / name).read_text(encoding="utf-8"))
        for case in doc["cases"]:
            yield pytest.param(doc["rule"], case, id=f"{doc['rule']}: {case['name']}")


def _seed(wh, case):
    members = [Member(m["id"], "rss", m.get("handle", m["id"]), m["id"], None, None,
                      is_manager=m.get("manager", False), is_bot=m.get("bot", False))
               for m in case.get("members", [])]
    posts = [Post(p["id"], "rss", p["source"], p.get("kind", "item"), p.get("thread", p["id"]),
                  p.get("parent"), p.get("author"), p["at"], p.get("title"), p.get("body", "text"),
                  None, is_question=p.get("question", False), lang=p.get("lang", "en"),
                  state=p.get("state", "live"))
             for p in case.get("posts", [])]
    # `activity`: many posts in one line - an author posting every `every_days` in a range.
    for run in case.get("activity", []):
        at, n = run["from"], 0
        while at <= run["to"]:
            post_id = f"{run['author']}-{run['source']}-{n}"
            posts.append(Post(post_id, "rss", run["source"], "item", post_id, None, run["author"],
                              at, None, run.get("body", "a post of ordinary length, with content"),
                              None, is_question=False, lang="en"))
            at, n = at + timedelta(days=run["every_days"]), n + 1
    snapshots = [Snapshot(s["source"], s["at"], s["count"]) for s in case.get("snapshots", [])]
    wh.write_batch(Batch(source="seed", posts=posts, members=members, snapshots=snapshots))
    for source, state in case.get("cursors", {}).items():
        wh.write_batch(Batch(source=source, cursor=state))
    # `findings`: what earlier runs found (history some rules read, e.g. past spotlights).
    for f in case.get("findings", []):
        wh.con.execute(
            "insert into findings (finding_id, rule, goal, subject_id, source, severity, detected_at,"
            " cleared_at, details) values ($id, $rule, 'goal', $subject, $source, 'low', $at, $cleared, $details)",
            {"id": f"{f['rule']}:{f['subject']}", "rule": f["rule"], "subject": f["subject"],
             "source": f.get("source"), "at": f["at"], "cleared": f.get("cleared"),
             "details": json.dumps(f.get("details", {}))})


@pytest.mark.parametrize("rule_id, case", list(_cases()))
def test_rule_case(warehouse, rule_id, case):
    module = next(m for m in registered_rules() if m.RULE.id == rule_id)
    _seed(warehouse, case)
    context = RuleContext(now=case["now"], sla_hours={}, manager_ids=tuple(case.get("manager_ids", ())))
    params = {**module.RULE.params, **case.get("params", {})}
    findings = module.detect(warehouse, params, context)
    assert sorted(f.subject_id for f in findings) == sorted(case["expect"])
    for f in findings:
        assert f.rule == rule_id and f.goal and f.summary
        json.dumps(f.details, default=str)  # storable as the findings.details JSON
