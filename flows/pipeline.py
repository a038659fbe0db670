"""Pipeline: ingest, then detect, then dispatch; the usual scheduled run."""
from __future__ import annotations

from prefect import flow, get_run_logger

from flows.detect import detect
from flows.dispatch_flow import dispatch_flow
from flows.ingest import SourcesFailed, ingest


@flow(name="pipeline", flow_run_name="pipeline {config_path}")
def pipeline(config_path: str = "majlis.toml") -> dict:
    """Ingest every source, run the rules, dispatch tasks.

    A failing source does not stop the run: rules and dispatch still see every row the
    other sources brought in, and the run ends failed, naming the sources.
    """
    logger = get_run_logger()
    ingest_state = ingest(config_path, return_state=True)
    findings = detect(config_path)
    dispatched = dispatch_flow(config_path)
    summary = {"findings": findings, "dispatch": dispatched}
    if not ingest_state.is_completed():
        try:
            ingest_state.result()
        except SourcesFailed as err:
            logger.error(str(err))
            raise
    return summary
