"""Run a flow in this process (Prefect's ephemeral mode) and say whether it succeeded."""
from __future__ import annotations


def run_stage(config_path: str, only: str | None = None) -> tuple[bool, str]:
    """Run the pipeline, or one stage of it; return (succeeded, the failure message)."""
    from flows.detect import detect
    from flows.dispatch_flow import dispatch_flow
    from flows.ingest import ingest
    from flows.pipeline import pipeline

    flow = {"ingest": ingest, "detect": detect, "dispatch": dispatch_flow, None: pipeline}[only]
    state = flow(config_path, return_state=True)
    if state.is_completed():
        return True, ""
    try:
        state.result()
    except Exception as err:  # the flow's own error, worded for the operator
        return False, str(err)
    return False, state.message or state.name
