"""Prefect flows: they wire connectors -> warehouse -> rules -> dispatch and hold no logic.

`ingest`, `detect`, `dispatch` and `pipeline` (all three in order) run without a Prefect
server (ephemeral mode) or as deployments from `prefect.yaml`.
"""
