"""Rule cases as data (tests/rule_cases/*.yaml): seed rows, run the rule, compare subjects."""
import json
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from connectors import Batch, Member, Post
from rules import RuleContext, registered_rules

CASES = Path(__file__).parent / "rule_cases"
FILES = ["managers_quiet.yaml", "data_gaps.yaml"]


def _cases():
    for name in FILES:
        doc = yaml.safe_load((CASES / name).read_text(encoding="utf-8"))
        for case in doc["cases"]:
            yield pytest.param(doc["rule"], case, id=f"{doc['rule']}: {case['name']}")


def _seed(wh, case):
    members = [Member(m["id"], "rss", m["id"], m["id"], None, None,
                      is_manager=m.get("manager", False), is_bot=m.get("bot", False))
               for m in case.get("members", [])]
    posts = [Post(p["id"], "rss", p["source"], p.get("kind", "item"), p.get("thread", p["id"]),
                  p.get("parent"), p.get("author"), p["at"], p.get("title"), p.get("body", "text"),
                  None, is_question=p.get("question", False), lang=p.get("lang", "en"))
             for p in case.get("posts", [])]
    wh.write_batch(Batch(source="seed", posts=posts, members=members))
    for source, state in case.get("cursors", {}).items():
        wh.write_batch(Batch(source=source, cursor=state))


@pytest.mark.parametrize("rule_id, case", list(_cases()))
def test_rule_case(warehouse, rule_id, case):
    module = next(m for m in registered_rules() if m.RULE.id == rule_id)
    _seed(warehouse, case)
    context = RuleContext(now=case["now"], sla_hours={}, manager_ids=())
    params = {**module.RULE.params, **case.get("params", {})}
    findings = module.detect(warehouse, params, context)
    assert sorted(f.subject_id for f in findings) == sorted(case["expect"])
    for f in findings:
        assert f.rule == rule_id and f.goal and f.summary
        json.dumps(f.details, default=str)  # storable as the findings.details JSON
