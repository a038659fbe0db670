"""`majlis bench perf`: the performance figures, as a table or as one JSON object."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

from majlis.bench import perf

bench_app = typer.Typer(help="Benchmarks: a generated community loaded, detected and run against baselines.",
                        no_args_is_help=True)
console = Console()
err_console = Console(stderr=True)


@bench_app.callback()
def _group() -> None:
    """Benchmarks (need the `bench` extra: dlt[duckdb], pyinstrument)."""


@bench_app.command("perf")
def perf_command(
    scale: str = typer.Option("100k", help="Posts to generate: 100k, 1m, 10m (or a number, e.g. 5k)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
    workdir: Optional[Path] = typer.Option(
        None, help="Keep pages and warehouses here (reused by the next run); default: a temporary folder."),
    only: Optional[str] = typer.Option(
        None, help=f"Comma-separated phases to run, of: {', '.join(perf.PHASES)}."),
    profile: bool = typer.Option(False, help="Profile ingest and detect with pyinstrument (into the workdir)."),
    seed: int = typer.Option(7, help="Seed of the generated community."),
) -> None:
    """Measure ingest (vs DuckDB's Arrow insert and vs dlt), detect, the no-op pipeline (vs a
    bare Prefect flow), peak memory, warehouse size and connector efficiency."""
    phases = perf.PHASES
    if only:
        phases = tuple(p.strip() for p in only.split(",") if p.strip())
        unknown = [p for p in phases if p not in perf.PHASES]
        if unknown:
            err_console.print(f"[bold red]error:[/] unknown phase(s) {', '.join(unknown)}; "
                              f"expected some of {', '.join(perf.PHASES)}")
            raise typer.Exit(2)
    try:
        perf.parse_scale(scale)
    except ValueError as err:
        err_console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(2) from None
    log = (lambda line: err_console.print(line, highlight=False)) if not as_json else (lambda line: None)
    figures = perf.run(scale, workdir, phases=phases, seed=seed, profile=profile, log=log)
    if as_json:
        typer.echo(json.dumps(figures, default=str))
    else:
        console.print(figures_table(figures))
        if figures["errors"]:
            for phase, error in figures["errors"].items():
                err_console.print(f"[bold red]{phase}:[/] {error}")
    if figures["errors"]:
        raise typer.Exit(1)


TARGETS = {
    "ingest_vs_arrow": ">= 0.5", "ingest_vs_dlt": ">= 5", "detect_s": "<= 10 at 10M",
    "detect_incremental_s": "<= 1", "noop_vs_bare_flow": "<= 1.5", "peak_rss_mb": "<= 1536 at 10M",
    "reddit_requests_per_1000_items": "floor ~10", "rss_bytes_parsed_unchanged": "0",
    "x_posts_read_twice": "0",
}
ROWS = (
    ("scale", "posts"), ("ingest_rows_per_s", "posts/s"), ("ingest_flow_rows_per_s", "posts/s"),
    ("ingest_per_page_rows_per_s", "posts/s"),
    ("arrow_rows_per_s", "posts/s"), ("dlt_rows_per_s", "posts/s"), ("ingest_vs_arrow", "ratio"),
    ("ingest_vs_dlt", "ratio"), ("detect_s", "s"), ("detect_incremental_s", "s"),
    ("ingest_increment_s", "s"), ("noop_pipeline_s", "s"), ("bare_flow_s", "s"),
    ("noop_vs_bare_flow", "ratio"), ("peak_rss_mb", "MB"), ("warehouse_mb", "MB"),
    ("warehouse_mb_per_million", "MB"), ("reddit_requests_per_1000_items", "requests"),
    ("rss_bytes_parsed_unchanged", "bytes"), ("x_posts_read_twice", "posts"),
)


def figures_table(figures: dict) -> Table:
    table = Table(title=f"majlis bench perf: {figures['scale']:,} posts")
    for name in ("figure", "value", "unit", "target"):
        table.add_column(name, justify="right" if name == "value" else "left")
    for key, unit in ROWS:
        value = figures.get(key)
        shown = "not run" if value is None else f"{value:,}" if isinstance(value, (int, float)) else str(value)
        table.add_row(key, shown, unit, TARGETS.get(key, ""))
    for phase, peak in (figures.get("peak_rss_mb_by_phase") or {}).items():
        table.add_row(f"peak_rss_mb[{phase}]", f"{peak:,}", "MB", "")
    return table


@bench_app.command("accuracy")
def accuracy_command(
    labels: Optional[list[Path]] = typer.Option(
        None, "--labels", help="A labelled TSV (id, text, label); repeat for several. "
                               "Default: every questions_*.tsv in tests/fixtures/labels/."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the tables."),
    parts: bool = typer.Option(False, "--parts", help="Also show the dev / second-look / unseen parts."),
) -> None:
    """Precision, recall and F1 of question detection per labelled file and per language,
    beside the naive baseline (any ? or ؟). Ambiguous rows are not scored."""
    from majlis.bench import accuracy

    for path in labels or []:
        if not path.is_file():
            err_console.print(f"[bold red]error:[/] --labels {path}: no such file")
            raise typer.Exit(2)
    try:
        figures = accuracy.run(labels or None)
    except (ValueError, KeyError) as err:
        err_console.print(f"[bold red]error:[/] {err}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(figures, ensure_ascii=False))
        return
    console.print(_accuracy_table(figures, parts))


def _accuracy_table(figures: dict, parts: bool) -> Table:
    table = Table(title=f"majlis bench accuracy: question detection (target F1 >= {figures['target_f1']})")
    for name in ("file", "lang", "rows", "questions", "P", "R", "F1", "naive F1"):
        table.add_column(name, justify="left" if name in ("file", "lang") else "right",
                         no_wrap=name == "file")

    def add(label: str, lang: str, s: dict, naive: dict, style: str | None = None) -> None:
        table.add_row(label, lang, str(s["rows"]), str(s["questions"]), f"{s['precision']:.2f}",
                      f"{s['recall']:.2f}", f"{s['f1']:.2f}", f"{naive['f1']:.2f}" if naive else "",
                      style=style)

    for entry in figures["files"]:
        add(entry["file"], entry["lang"], entry["majlis"], entry["naive"])
        if parts:
            for part, s in entry["parts"].items():
                add(f"  {part}", entry["lang"], s, {}, style="dim")
    table.add_section()
    for lang, by_detector in figures["languages"].items():
        add("all files", lang, by_detector["majlis"], by_detector["naive"],
            style="bold green" if by_detector["meets_target"] else "bold red")
    for lang, by_detector in figures["languages"].items():
        mix = by_detector.get("natural_mix")
        if mix:
            table.add_row(f"at the natural mix ({mix['question_mark_share']:.0%} with ?)", lang, str(mix["rows"]),
                          "", f"{mix['precision']:.2f}", f"{mix['recall']:.2f}", f"{mix['f1']:.2f}", "",
                          style="dim")
    return table


@bench_app.command("rules")
def rules_command(
    communities: int = typer.Option(4, min=1, help="Simulated communities (each one source); 4 run in ~40 s, 8 in ~65 s."),
    weeks: int = typer.Option(52, min=14, help="Weeks simulated per community."),
    seed: int = typer.Option(7, help="Seed of the simulation."),
    real_share: float = typer.Option(
        0.5, min=0.0, max=1.0,
        help="Share of thread openers taken from the labelled real posts (0: templates only)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of the table."),
) -> None:
    """Run the rules day by day over seeded simulated communities with planted unanswered
    questions, quality drops and helpful members; print recall, precision, false alarms and
    delay per rule (majlis/bench/simulate.py describes the simulation)."""
    from majlis.bench import simulate

    figures = simulate.run(communities, seed, weeks, real_share)
    if as_json:
        typer.echo(json.dumps(figures))
        return
    console.print(_rules_table(figures))


_RULE_ROWS = {
    "unanswered-questions": (("planted", ""), ("found", ""), ("recall", ""), ("precision", ""),
                             ("false_alarms_per_community_year", ""), ("median_delay_hours", "h"),
                             ("max_delay_hours", "h")),
    "quality-vs-growth": (("planted_drops", ""), ("found", ""), ("recall", ">= 0.90"), ("precision", ""),
                          ("false_alarms_per_community_year", "<= 1"), ("alarms_without_growth", "0"),
                          ("median_delay_days", "days"), ("max_delay_days", "days")),
    "spotlight-members": (("planted_helpers", ""), ("found", ""), ("recall", ""),
                          ("median_delay_days", "days"), ("other_spotlights_per_community_year", "")),
}


def _rules_table(figures: dict) -> Table:
    table = Table(title=f"majlis bench rules: {figures['communities']} simulated communities x "
                        f"{figures['weeks']} weeks, {figures['posts']:,} posts, seed {figures['seed']} "
                        f"({figures['elapsed_s']} s)")
    for name in ("rule", "figure", "value", "target / unit"):
        table.add_column(name, justify="right" if name == "value" else "left")
    for rule, rows in _RULE_ROWS.items():
        for key, note in rows:
            value = figures["rules"][rule].get(key)
            table.add_row(rule, key, "-" if value is None else f"{value:g}", note)
        table.add_section()
    return table
