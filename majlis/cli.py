"""The `majlis` command: a thin skin over flows, warehouse and dispatch."""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from majlis.bench.cli import bench_app
from majlis.config import DEFAULT_CONFIG, ConfigError, load_config

app = typer.Typer(
    help="Majlis keeps watch over a community (Reddit, X, RSS/blog comments) so its managers "
         "never miss what matters: unanswered questions, quality drops, members to spotlight.",
    no_args_is_help=True,
    add_completion=False,
)
tasks_app = typer.Typer(help="List and manage the tasks dispatched to managers.", no_args_is_help=True)
app.add_typer(tasks_app, name="tasks")
app.add_typer(bench_app, name="bench")
console = Console()
err_console = Console(stderr=True)

ConfigOption = typer.Option(DEFAULT_CONFIG, "--config", "-c", help="Path to majlis.toml.")


def _fail(message: str, code: int = 2) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _config(path: Path):
    try:
        return load_config(path)
    except ConfigError as err:
        _fail(str(err))


@app.command()
def demo(
    workdir: Path = typer.Option(Path(".majlis-demo"), "--dir", help="Where the demo keeps its config and warehouse."),
) -> None:
    """Run the whole pipeline offline on bundled sample data.

    A local server on 127.0.0.1 serves a WordPress blog (with its comment feed), a subreddit and
    an X search from recorded payloads; e-mail goes to a local SMTP server and a webhook.
    """
    from majlis.demo import run_demo

    code = run_demo(workdir, console)
    raise typer.Exit(code)


@app.command()
def run(
    config: Path = ConfigOption,
    only: Optional[str] = typer.Option(None, help="Run one stage: ingest, detect or dispatch."),
) -> None:
    """Run the pipeline (ingest, detect, dispatch) once, without a Prefect server.

    Exits 0 when every source succeeded; otherwise non-zero, naming the failing sources.
    """
    cfg = _config(config)
    if only not in (None, "ingest", "detect", "dispatch"):
        _fail(f"--only {only!r}: expected ingest, detect or dispatch")
    from majlis.runner import run_stage

    ok, message = run_stage(str(config), only)
    print_source_runs(cfg.warehouse)
    if not ok:
        _fail(message, code=1)


@app.command()
def sql(
    query: str = typer.Argument(..., help="A SQL query, e.g. \"select * from open_questions\"."),
    config: Path = ConfigOption,
    db: Optional[Path] = typer.Option(None, help="The DuckDB file (default: [warehouse] path of the config)."),
    limit: int = typer.Option(200, help="Show at most this many rows."),
) -> None:
    """Query the warehouse, read-only. Tables and views: docs/warehouse.md."""
    from warehouse.readonly import ReadOnlyError, run_query

    if db is None:
        wh_config = _config(config).warehouse
        if wh_config.backend == "ducklake":
            _fail("majlis sql reads DuckDB files; a DuckLake warehouse is queried by attaching its "
                  "catalog with the duckdb CLI (docs/operate.md, 'The warehouse: DuckLake')")
    path = db or wh_config.path
    try:
        names, rows, more = run_query(path, query, limit)
    except ReadOnlyError as err:
        _fail(str(err))
    _print_table(names, rows)
    if more:
        console.print(f"(first {len(rows)} rows shown; use --limit for more)")


@app.command("rules")
def rules_list() -> None:
    """List the rules: what each flags, the principle and goal it serves, its parameters.

    Parameters are set in majlis.toml under [rules.<id with underscores>].
    """
    from rules import registered_rules

    table = Table(title="Rules")
    for col in ("id", "severity", "goal", "parameters", "what it flags"):
        table.add_column(col, overflow="fold")
    for module in registered_rules():
        meta = module.RULE
        params = ", ".join(f"{k}={v}" for k, v in meta.params.items())
        table.add_row(meta.id, meta.severity, meta.goal, params, f"{meta.description} (principle {meta.principle})")
    console.print(table)


@app.command("goals")
def goals_report(
    config: Path = ConfigOption,
    as_json: bool = typer.Option(False, "--json", help="Print one JSON list instead of the table."),
) -> None:
    """Each [[goals]] entry's current value against its target, with the work open for it.

    Metrics Majlis computes (majlis/goals.py says how): answered_within_sla,
    median_first_response_hours, open_tasks, open_findings, spotlights_last_30_days,
    promises_kept_share, quality_index. Reads the warehouse only.
    """
    import json

    from majlis.goals import goal_report, open_read_only
    from warehouse import WarehouseBusy, utcnow
    from warehouse.readonly import ReadOnlyError

    cfg = _config(config)
    try:
        wh = open_read_only(cfg)
    except (ReadOnlyError, WarehouseBusy) as err:
        _fail(str(err))
    with wh:
        reports = goal_report(wh, cfg, utcnow())
    if as_json:
        typer.echo(json.dumps([r.as_dict() for r in reports], ensure_ascii=False))
        return
    if not reports:
        console.print("No [[goals]] in the config: add some (see majlis.example.toml).")
        return
    table = Table(title="Goals")
    for col in ("goal", "metric", "value", "target", "status", "open findings", "open tasks", "basis"):
        table.add_column(col, overflow="fold")
    colour = {"met": "green", "not met": "red", "unknown metric": "yellow"}
    for r in reports:
        shown = "" if r.value is None else f"{r.value:g}"
        target = "" if r.target is None else f"{r.direction or ''} {r.target:g}".strip()
        status = f"[{colour[r.status]}]{r.status}[/]" if r.status in colour else r.status
        table.add_row(escape(r.goal), escape(r.metric or ""), shown, target, status,
                      str(r.open_findings), str(r.open_tasks), escape(r.basis))
    console.print(table)
    for r in reports:
        if r.status == "unknown metric":  # in full: the table may fold it past reading
            console.print(f"[yellow]goal {escape(r.goal)!r}:[/] {escape(r.basis)}",
                          highlight=False, soft_wrap=True)


@tasks_app.command("list")
def tasks_list(
    config: Path = ConfigOption,
    status: Optional[str] = typer.Option(None, help="open, notified, acknowledged, snoozed, escalated, resolved"),
    assignee: Optional[str] = typer.Option(None, help="Manager name."),
    rule: Optional[str] = typer.Option(None, help="Rule id, e.g. unanswered-questions."),
    source: Optional[str] = typer.Option(None, help="Source name."),
) -> None:
    """List tasks, newest first."""
    import dispatch
    from warehouse import Warehouse, WarehouseBusy

    cfg = _config(config)
    try:
        with Warehouse.open(cfg.warehouse, wait_s=10) as wh:
            rows = dispatch.list_tasks(wh, status=status, assignee=assignee, rule=rule, source=source)
    except WarehouseBusy as err:
        _fail(str(err))
    print_tasks(rows)


def _task_command(config: Path, task_id: str, action) -> dict:
    """Open the warehouse, find the task by id or unique prefix, apply `action`."""
    import dispatch
    from warehouse import Warehouse, WarehouseBusy

    cfg = _config(config)
    try:
        with Warehouse.open(cfg.warehouse, wait_s=10) as wh:
            ids = [t["task_id"] for t in dispatch.list_tasks(wh) if t["task_id"].startswith(task_id)]
            if len(ids) != 1:
                _fail(f"no task with id {task_id!r}: see `majlis tasks list`" if not ids
                      else f"{task_id!r} matches {len(ids)} tasks; give more of the id")
            return action(wh, ids[0])
    except (WarehouseBusy, dispatch.TaskError) as err:
        _fail(str(err))


TaskId = typer.Argument(..., help="Task id, or its first characters as `tasks list` shows them.")


@tasks_app.command("show")
def tasks_show(task_id: str = TaskId, config: Path = ConfigOption) -> None:
    """Show one task with its deliveries (channels without secrets)."""
    import dispatch

    task = _task_command(config, task_id, dispatch.show_task)
    deliveries = task.pop("deliveries")
    table = Table(show_header=False)
    for key, value in task.items():
        table.add_row(key, "" if value is None else str(value))
    console.print(table)
    if deliveries:
        _print_table(list(deliveries[0]), [tuple(d.values()) for d in deliveries])


@tasks_app.command("ack")
def tasks_ack(task_id: str = TaskId, config: Path = ConfigOption) -> None:
    """Acknowledge a task: you have it, so it will not escalate."""
    import dispatch
    from warehouse import utcnow

    task = _task_command(config, task_id, lambda wh, i: dispatch.ack(wh, i, utcnow()))
    console.print(f"task {task['task_id']} is {task['status']}")


@tasks_app.command("resolve")
def tasks_resolve(task_id: str = TaskId, config: Path = ConfigOption) -> None:
    """Mark a task resolved by hand (tasks also resolve themselves when their condition clears)."""
    import dispatch
    from warehouse import utcnow

    task = _task_command(config, task_id, lambda wh, i: dispatch.resolve(wh, i, utcnow()))
    console.print(f"task {task['task_id']} is {task['status']}")


@tasks_app.command("snooze")
def tasks_snooze(
    task_id: str = TaskId,
    hours: float = typer.Option(24.0, min=0.1, help="Snooze for this many hours."),
    config: Path = ConfigOption,
) -> None:
    """Snooze a task: no escalation until it wakes."""
    from datetime import timedelta

    import dispatch
    from warehouse import utcnow

    now = utcnow()
    task = _task_command(config, task_id,
                         lambda wh, i: dispatch.snooze(wh, i, now + timedelta(hours=hours), now))
    console.print(f"task {task['task_id']} is {task['status']} until {task['snoozed_until']}")


def print_tasks(rows: list[dict], title: str = "Tasks") -> None:
    table = Table(title=title, show_lines=False)
    for col in ("task", "rule", "assignee", "status"):
        table.add_column(col, no_wrap=True)
    table.add_column("summary", overflow="fold", ratio=1)
    for r in rows:
        table.add_row(str(r["task_id"])[:10], r["rule"], r.get("assignee") or "(unassigned)",
                      r["status"], r["summary"])
    console.print(table)


def _print_table(names: list[str], rows: list[tuple]) -> None:
    table = Table(show_lines=False)
    for n in names:
        table.add_column(n, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def print_source_runs(warehouse) -> None:
    """The latest run of each source; `warehouse` is a DuckDB file or the `[warehouse]` config."""
    from warehouse import Warehouse, WarehouseBusy

    try:
        with Warehouse.open(warehouse, wait_s=10) as wh:
            rows = wh.query(
                "select source, status, pages, posts_new, summary, error from source_runs"
                " qualify row_number() over (partition by source order by started_at desc) = 1"
                " order by source"
            )
    except WarehouseBusy:
        return
    table = Table(title="Sources (latest run)")
    for col in ("source", "status", "pages", "new posts", "cost", "error"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(r["source"], r["status"], str(r["pages"]), str(r["posts_new"]),
                      r["summary"] or "", r["error"] or "")
    console.print(table)


def main() -> None:  # pragma: no cover - console script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
