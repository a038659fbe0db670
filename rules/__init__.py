"""Rules: one small module per rule, metadata first, reading only the warehouse.

Each rule module defines `RULE` (a `RuleMeta`) and `detect(wh, params, context) -> list[Finding]`.
`params` are the rule's defaults overlaid with `[rules.<id with underscores>]` from the config.
A finding's id is a fingerprint of rule + subject, so detecting twice never makes two findings.
"""
from rules._base import Finding, RuleContext, RuleMeta, fingerprint, run_rules, registered_rules

__all__ = ["Finding", "RuleContext", "RuleMeta", "fingerprint", "run_rules", "registered_rules"]
