"""What the flows share for operating them: run names, the warehouse, rate limits, failure
notices to operators, and the read replica. No business logic lives here."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from majlis.config import Config, load_config
from warehouse import Warehouse

# How long a flow waits for another writer (a concurrent run, `majlis tasks ack`) to let go
# of a DuckDB file before its task fails and Prefect retries it.
WAREHOUSE_WAIT_S = 60.0
# Global concurrency limits (`prefect gcl create ...`), one per rate-limited API.
API_LIMITS = {"reddit": "reddit-api", "x": "x-api"}
RATE_LIMIT_WAIT_S = 600.0
NOTICE_CHARS = 1500

log = logging.getLogger("majlis.flows")


# -- names -----------------------------------------------------------------------------------

def community(config_path: str | Path) -> str:
    """A short name for the community a config watches: the file's stem, or its folder's name
    when the file is the usual `majlis.toml`."""
    path = Path(config_path)
    if path.stem != "majlis":
        return path.stem
    return path.resolve().parent.name or "majlis"


def stamp(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")


def flow_run_namer(flow_name: str) -> Callable[[], str]:
    """`flow_run_name` for a flow whose parameters include `config_path`: "ingest acme 2026-...". """
    def name() -> str:
        from prefect.runtime import flow_run

        config_path = flow_run.parameters.get("config_path", "majlis.toml")
        return f"{flow_name} {community(config_path)} {stamp()}"

    return name


def task_run_namer(label: Callable[[dict], str]) -> Callable[[], str]:
    def name() -> str:
        from prefect.runtime import task_run

        return f"{label(task_run.parameters)} {stamp()}"

    return name


# -- the warehouse ---------------------------------------------------------------------------

def open_warehouse(config: Config) -> Warehouse:
    """The configured warehouse, waiting for a DuckDB file another writer holds briefly."""
    return Warehouse.open(config.warehouse, wait_s=WAREHOUSE_WAIT_S)


def publish_read_replica(config: Config) -> str | None:
    """Refresh `<warehouse>.read.duckdb`, the snapshot `majlis sql` reads (DuckDB backend)."""
    with open_warehouse(config) as wh:
        replica = wh.publish_read_replica()
    return str(replica) if replica else None


# -- rate limits -----------------------------------------------------------------------------

def page_limiter(kind: str, logger: logging.Logger | logging.LoggerAdapter) -> Callable[[], None]:
    """A call to make before fetching each page from `kind`'s API.

    It takes one slot of the API's global rate limit (`reddit-api`, `x-api`) when the Prefect
    server has that limit, so parallel runs and workers share the provider's quota. Without a
    server or without the limit (the ephemeral mode of `majlis run`), it does nothing: Prefect
    would otherwise look the limit up on every page and warn each time.
    """
    name = API_LIMITS.get(kind)
    if not name or not _limit_exists(name, logger):
        return lambda: None
    from prefect.concurrency.sync import rate_limit

    return lambda: rate_limit(name, occupy=1, timeout_seconds=RATE_LIMIT_WAIT_S, strict=True)


def _limit_exists(name: str, logger) -> bool:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    try:
        with get_client(sync_client=True) as client:
            limit = client.read_global_concurrency_limit_by_name(name)
    except ObjectNotFound:
        logger.info("no global concurrency limit %r on this Prefect server: this run is not "
                    "rate limited across runs (prefect gcl create %s --limit N "
                    "--slot-decay-per-second R)", name, name)
        return False
    if not limit.active or not limit.slot_decay_per_second:
        logger.warning("global concurrency limit %r is inactive or has no slot decay; "
                       "it cannot rate-limit, so it is not used", name)
        return False
    return True


# -- failure notices -------------------------------------------------------------------------

def notify_operators(flow, flow_run, state) -> None:
    """Flow `on_failure` hook: tell `[operators] notify` (apprise URLs) that a run failed.

    A subflow's failure is told once, by the flow that ran it (`pipeline`).
    """
    if getattr(flow_run, "parent_task_run_id", None):
        return
    config_path = (flow_run.parameters or {}).get("config_path", "majlis.toml")
    try:
        config = load_config(config_path)
    except Exception as err:  # the broken config may be why the run failed
        log.warning("cannot notify operators: %s", err)
        return
    urls = config.operators.notify
    if not urls:
        return
    title = f"Majlis: {flow_run.name} failed"
    body = _failure_text(flow, flow_run, state)
    if not send_notice(urls, title, body):
        log.warning("operators could not be notified of %s (see apprise's log)", flow_run.name)


def _failure_text(flow, flow_run, state) -> str:
    message = (state.message or state.name or "failed").strip()
    if len(message) > NOTICE_CHARS:
        message = message[:NOTICE_CHARS] + " ..."
    lines = [f"Flow {flow.name!r}, run {flow_run.name!r} ({flow_run.id}) ended {state.name}.",
             "", message]
    ui = _ui_url()
    if ui:
        lines += ["", f"{ui}/runs/flow-run/{flow_run.id}"]
    return "\n".join(lines)


def _ui_url() -> str | None:
    from prefect.settings import PREFECT_UI_URL

    try:
        return PREFECT_UI_URL.value() or None
    except Exception:
        return None


def send_notice(urls: list[str], title: str, body: str) -> bool:
    import apprise

    notifier = apprise.Apprise()
    for url in urls:
        notifier.add(url)
    return bool(notifier.notify(title=title, body=body))


# -- artifacts -------------------------------------------------------------------------------

def table_rows(rows: list[dict[str, Any]], columns: tuple[str, ...], limit: int = 200) -> list[dict[str, str]]:
    """Rows for a table artifact: the named columns as text, at most `limit` rows."""
    return [{c: "" if r.get(c) is None else str(r.get(c)) for c in columns} for r in rows[:limit]]
