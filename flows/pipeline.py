"""Pipeline: ingest, then detect, then dispatch; the usual scheduled run."""
from __future__ import annotations

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows._ops import flow_run_namer, notify_operators
from flows.detect import detect
from flows.dispatch_flow import dispatch_flow
from flows.ingest import SourcesFailed, ingest


@flow(name="pipeline", flow_run_name=flow_run_namer("pipeline"), on_failure=[notify_operators])
def pipeline(config_path: str = "majlis.toml") -> dict:
    """Ingest every source, run the rules, dispatch tasks.

    A failing source does not stop the run: rules and dispatch still see every row the
    other sources brought in, and the run ends failed, naming the sources.
    """
    logger = get_run_logger()
    # The read replica is refreshed once, by dispatch: each refresh is a copy of the warehouse
    # and a task run, and analysts need the state after the whole run.
    ingest_state = ingest(config_path, publish=False, return_state=True)
    findings = detect(config_path, publish=False)
    dispatched = dispatch_flow(config_path)
    summary = {"findings": findings, "dispatch": dispatched}
    create_markdown_artifact(key="pipeline-summary", markdown=_summary_markdown(ingest_state, summary),
                             description="What this pipeline run found and dispatched")
    if not ingest_state.is_completed():
        try:
            ingest_state.result()
        except SourcesFailed as err:
            logger.error(str(err))
            raise
    return summary


def _summary_markdown(ingest_state, summary: dict) -> str:
    ingest = "completed" if ingest_state.is_completed() else f"failed: {ingest_state.message}"
    lines = [f"Ingest {ingest}.", "", "| rule | findings |", "|---|---|"]
    lines += [f"| {rule} | {count} |" for rule, count in summary["findings"].items()]
    dispatched = summary["dispatch"]
    lines += ["", f"Tasks: {dispatched['created']} new, {dispatched['resolved']} resolved, "
                  f"{dispatched['open']} open. Deliveries: {dispatched['delivery']}.",
              "", "Details: the `open-findings` and `open-tasks` artifacts of the detect and "
                  "dispatch subflow runs."]
    return "\n".join(lines)
