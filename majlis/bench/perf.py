"""The measurements behind `majlis bench perf`, each beside its baseline, in one run.

Every phase runs in a fresh Python process (`python -m majlis.bench.perf phase NAME ARGS`), so
its peak resident memory (`ru_maxrss`, read by the phase itself) is its own and no phase
warms a cache for the next. A phase prints one JSON object as its last line of output.

    ingest    pages on disk -> the connectors' own mapping functions (reddit.post_from_thing,
              x.map_page, rss._items/_comments over feedparser) -> Warehouse.write_batch,
              raw pages included, as a flow stores them. Pages are grouped into commits of
              about `BATCH_POSTS` posts (a backfill); on a sample, the same work as the ingest
              flow commits it (flows/_ingest.py: groups of `COMMIT_POSTS` posts, X page by
              page, the warehouse opened per commit) is `ingest_flow_rows_per_s`, and every
              page its own commit so (what the flow did before) `ingest_per_page_rows_per_s`.
    arrow     the limit: DuckDB inserting the already-normalised posts and members (exported
              from the ingest warehouse to Parquet, read back untimed) from Arrow, into a fresh
              warehouse with its primary keys.
    dlt       dlt[duckdb] loading the same pages (merge on the platform ids), on up to
              `DLT_SAMPLE_POSTS` posts of them.
    detect    rules.run_rules over the warehouse; then a 10k-post increment (the month after
              the history) is ingested and the rules run again.
    bare_flow, noop_pipeline
              a Prefect flow of three empty tasks, and flows.pipeline with nothing new to
              fetch (an RSS source whose replayed feed answers 304), both in ephemeral mode,
              each timed from process start to exit.
    connectors
              Reddit requests per 1000 new items, RSS bytes parsed when nothing changed and
              X posts read twice, from the real connectors against replayed pages on 127.0.0.1.

Rates are posts per second: every path loads the same posts (and their authors).
"""
from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

from majlis.bench.generator import END, Manifest, generate, generate_increment, parse_scale

BATCH_POSTS = 20_000
PER_PAGE_SAMPLE_POSTS = 20_000
DLT_SAMPLE_POSTS = 100_000
INCREMENT_POSTS = 10_000
DETECT_NOW = END.replace(tzinfo=None) + timedelta(days=1)
INCREMENT_NOW = DETECT_NOW + timedelta(days=31)

# Keys `--json` always has (None where a phase was skipped or failed).
KEYS = ("scale", "ingest_rows_per_s", "arrow_rows_per_s", "dlt_rows_per_s", "detect_s",
        "detect_incremental_s", "noop_pipeline_s", "bare_flow_s", "peak_rss_mb",
        "warehouse_mb_per_million")
PHASES = ("ingest", "arrow", "dlt", "detect", "flows", "connectors")


# -- the parent: run phases, gather figures ------------------------------------------------------


def run(scale: str | int, workdir: Path | None = None, *, phases: tuple[str, ...] = PHASES,
        seed: int = 7, profile: bool = False, log: Callable[[str], None] = lambda line: None) -> dict:
    """Generate (or reuse) the community under `workdir`, run `phases`, return the figures."""
    posts = parse_scale(scale)
    owned = workdir is None
    workdir = Path(workdir or tempfile.mkdtemp(prefix="majlis-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(posts, workdir, phases, seed, profile, log)
    finally:
        if owned:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(posts: int, workdir: Path, phases, seed: int, profile: bool, log) -> dict:
    pages = workdir / f"pages-{posts}-{seed}"
    increment = workdir / f"increment-{posts}-{seed}"
    if not (pages / "manifest.json").exists():
        log(f"generating {posts:,} posts of pages in {pages}")
        started = time.perf_counter()
        generate(pages, posts, seed)
        generate_increment(increment, increment_posts(posts), posts, seed)
        log(f"generated in {time.perf_counter() - started:.1f}s")
    manifest = Manifest.load(pages)
    warehouse = workdir / "bench.duckdb"
    out: dict[str, Any] = {key: None for key in KEYS}
    out.update(scale=posts, seed=seed, workdir=str(workdir), phases={},
               pages_mb=round(sum(manifest.bytes.values()) / 1e6, 1))
    args = {"pages": str(pages), "increment": str(increment), "warehouse": str(warehouse),
            "workdir": str(workdir), "profile": profile}
    needs_warehouse = {"arrow", "detect"}
    if "ingest" not in phases and needs_warehouse & set(phases) and not warehouse.exists():
        phases = ("ingest", *phases)
    for phase in PHASES:
        if phase not in phases:
            continue
        log(f"phase {phase} ...")
        if phase == "flows":
            result = _flows(args)
        else:
            result = _child(phase, args)
        out["phases"][phase] = result
        log(f"phase {phase}: {_short(result)}")
    _summarise(out)
    return out


def increment_posts(posts: int) -> int:
    """10k new posts, or a tenth of a small community (the smoke test's)."""
    return min(INCREMENT_POSTS, max(500, posts // 10))


def _child(phase: str, args: dict, timeout_s: float | None = None) -> dict:
    """Run one phase in a fresh interpreter; its last stdout line is its JSON result."""
    env = {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false", "PYTHONHASHSEED": "0"}
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "majlis.bench.perf", "phase", phase, json.dumps(args)],
                          capture_output=True, text=True, env=env, timeout=timeout_s)
    wall = time.perf_counter() - started
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-15:]
        return {"error": f"phase {phase} exited {proc.returncode}", "stderr": tail, "wall_s": round(wall, 3)}
    result = json.loads(lines[-1])
    result["wall_s"] = round(wall, 3)
    return result


def _flows(args: dict) -> dict:
    """Bare flow and no-op pipeline, alternating, in fresh processes sharing one Prefect home."""
    home = Path(args["workdir"]) / "prefect-home"
    home.mkdir(exist_ok=True)
    flow_args = {**args, "prefect_home": str(home)}
    # The first ephemeral run of a Prefect home creates its database: not what is measured.
    warmup = _child("bare_flow", flow_args)
    bare, noop = [], []
    for _ in range(2):
        bare.append(_child("bare_flow", flow_args))
        noop.append(_child("noop_pipeline", flow_args))
    errors = [r for r in [warmup, *bare, *noop] if "error" in r]
    if errors:
        return errors[0]
    # The flow call itself, in a fresh process (the ephemeral server starts inside it); the
    # no-op pipeline's process first ingests its sources once, untimed, so it is not compared.
    return {"bare_flow_s": min(r["flow_s"] for r in bare), "noop_pipeline_s": min(r["flow_s"] for r in noop),
            "bare_flow_process_s": min(r["wall_s"] for r in bare),
            "noop_completed": all(r.get("completed") for r in noop),
            "bare_flow_peak_rss_mb": max(r["peak_rss_mb"] for r in bare),
            "noop_pipeline_peak_rss_mb": max(r["peak_rss_mb"] for r in noop),
            "warmup_s": warmup["wall_s"], "runs": 2}


def _summarise(out: dict) -> None:
    phases = out["phases"]
    ingest, arrow, dlt = phases.get("ingest", {}), phases.get("arrow", {}), phases.get("dlt", {})
    detect, flows, conn = phases.get("detect", {}), phases.get("flows", {}), phases.get("connectors", {})
    out["ingest_rows_per_s"] = ingest.get("rows_per_s")
    out["ingest_per_page_rows_per_s"] = ingest.get("per_page_rows_per_s")
    out["ingest_flow_rows_per_s"] = ingest.get("flow_rows_per_s")
    out["arrow_rows_per_s"] = arrow.get("rows_per_s")
    out["dlt_rows_per_s"] = dlt.get("rows_per_s")
    out["detect_s"] = detect.get("detect_s")
    out["detect_incremental_s"] = detect.get("detect_incremental_s")
    out["ingest_increment_s"] = detect.get("ingest_increment_s")
    out["noop_pipeline_s"] = flows.get("noop_pipeline_s")
    out["bare_flow_s"] = flows.get("bare_flow_s")
    out["warehouse_mb_per_million"] = ingest.get("warehouse_mb_per_million")
    out["warehouse_mb"] = ingest.get("warehouse_mb")
    peaks = {name: p.get("peak_rss_mb") for name, p in phases.items() if isinstance(p, dict)}
    peaks["flows"] = max(flows.get("bare_flow_peak_rss_mb") or 0, flows.get("noop_pipeline_peak_rss_mb") or 0) or None
    out["peak_rss_mb_by_phase"] = {k: v for k, v in peaks.items() if v}
    out["peak_rss_mb"] = max(out["peak_rss_mb_by_phase"].values(), default=None)
    out["ingest_vs_arrow"] = _ratio(out["ingest_rows_per_s"], out["arrow_rows_per_s"])
    out["ingest_vs_dlt"] = _ratio(out["ingest_rows_per_s"], out["dlt_rows_per_s"])
    out["noop_vs_bare_flow"] = _ratio(out["noop_pipeline_s"], out["bare_flow_s"])
    out["reddit_requests_per_1000_items"] = conn.get("reddit_requests_per_1000_items")
    out["rss_bytes_parsed_unchanged"] = conn.get("rss_bytes_parsed_unchanged")
    out["x_posts_read_twice"] = conn.get("x_posts_read_twice")
    out["errors"] = {name: p["error"] for name, p in phases.items() if isinstance(p, dict) and "error" in p}


def _ratio(a, b) -> float | None:
    return round(a / b, 3) if a and b else None


def _short(result: dict) -> str:
    if "error" in result:
        return f"{result['error']}: {' | '.join(result.get('stderr', [])[-3:])}"
    keys = [k for k in result if k.endswith(("_s", "per_s", "_mb")) and not isinstance(result[k], dict)]
    return ", ".join(f"{k}={result[k]}" for k in keys[:8])


# -- reading pages ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PageFile:
    platform: str  # reddit | x | rss
    source: str
    path: Path
    request: str
    kind: str  # new | comments | search | feed | comments (rss)
    item_guid: str | None = None


def page_files(root: Path) -> list[PageFile]:
    """Every page the generator wrote, Reddit, then X, then RSS, each in writing order."""
    from majlis.bench.generator import REDDIT_SOURCE, SUBREDDIT, X_SOURCE

    files = []
    for path in sorted((root / "reddit").glob("*.json")):
        listing = path.name.split("-")[0]
        files.append(PageFile("reddit", REDDIT_SOURCE, path, f"/r/{SUBREDDIT}/{listing}/?limit=100", listing))
    for path in sorted((root / "x").glob("*.json")):
        files.append(PageFile("x", X_SOURCE, path, "/2/tweets/search/recent?query=majlis&max_results=100", "search"))
    index = root / "rss" / "index.jsonl"
    if index.exists():
        for line in index.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            files.append(PageFile("rss", entry["source"], root / "rss" / entry["file"], entry["url"],
                                  entry["kind"], entry.get("item_guid")))
    return files


class PageMapper:
    """Maps a page's bytes to a Batch with the connectors' own functions (no HTTP)."""

    def __init__(self) -> None:
        self.rss_seen: dict[str, set[str]] = {}
        self.fetched_at = datetime.now(timezone.utc)

    def batch(self, page: PageFile):
        from connectors import Batch, RawPage

        body = page.path.read_bytes()
        batch = Batch(page.source)
        content_type = "application/rss+xml; charset=UTF-8" if page.platform == "rss" else "application/json"
        batch.raw.append(RawPage(page.source, page.request, self.fetched_at, 200, body, content_type))
        getattr(self, f"_{page.platform}")(page, body, batch)
        return batch

    def _reddit(self, page: PageFile, body: bytes, batch) -> None:
        from connectors import reddit

        things = reddit.things_in(json.loads(body))
        batch.posts = [reddit.post_from_thing(t, page.source) for t in things]
        batch.members = [m for m in map(reddit.member_from_thing, things) if m is not None]

    def _x(self, page: PageFile, body: bytes, batch) -> None:
        from connectors import x

        batch.posts, batch.members, batch.problems = x.map_page(page.source, json.loads(body))

    def _rss(self, page: PageFile, body: bytes, batch) -> None:
        from connectors import rss

        headers = {"content-location": page.request, "content-type": "application/rss+xml; charset=UTF-8"}
        parsed = rss.parse_feed(body, headers)
        if page.kind == "feed":
            entries = rss._items(page.source, parsed, base=page.request)
        else:
            entries = rss._comments(page.source, parsed, thread_id=rss._post_id(page.source, page.item_guid))
        rss._add_entries(batch, entries, self.rss_seen.setdefault(page.source, set()), page.source)


def ingest_pages(warehouse_path: Path, files: list[PageFile], batch_posts: int, *,
                 as_flow: bool = False) -> dict:
    """Map and store every page; time mapping and writing separately.

    Pages are merged into commits of about `batch_posts` posts by the ingest flow's own
    `commit_groups` (1: one page per commit). `as_flow` does what flows/_ingest.py does: the
    flow's commit sizes per platform, and the warehouse opened for each commit and closed after.
    """
    from flows._ingest import COMMIT_POSTS_BY_KIND, AnnotationWorker, annotated_ahead, commit_groups
    from warehouse import Warehouse

    mapper = PageMapper()
    map_s = write_s = 0.0
    posts_seen = posts_new = batches = 0

    def mapped(pages: list[PageFile]) -> Iterator:
        nonlocal map_s
        for page in pages:
            started = time.perf_counter()
            batch = mapper.batch(page)
            map_s += time.perf_counter() - started
            yield batch

    def groups() -> Iterator:
        # As the ingest flow does: a big group is annotated in a worker process while the next
        # is mapped (flows/_ingest.py `annotated_ahead`).
        for source, pages in _by_source(files):
            size = min(batch_posts, COMMIT_POSTS_BY_KIND.get(pages[0].platform, batch_posts)) if as_flow else batch_posts
            size = max(1, size)
            grouped = commit_groups(mapped(pages), size, max_seconds=float("inf"))
            yield from annotated_ahead(grouped, AnnotationWorker.if_worthwhile(size))

    def count(stats) -> None:
        nonlocal posts_seen, posts_new, batches
        posts_seen += stats.posts_seen
        posts_new += stats.posts_new
        batches += 1

    started = time.perf_counter()
    if as_flow:
        for batch, annotations in groups():
            t0 = time.perf_counter()
            with Warehouse.open(warehouse_path) as wh:  # closing checkpoints, as in the flow
                count(wh.write_batch(batch, annotations))
            write_s += time.perf_counter() - t0
    else:
        with Warehouse.open(warehouse_path) as wh:
            for batch, annotations in groups():
                t0 = time.perf_counter()
                count(wh.write_batch(batch, annotations))
                write_s += time.perf_counter() - t0
            wh.con.execute("checkpoint")
    total = time.perf_counter() - started
    return {"seconds": total, "map_s": map_s, "write_s": write_s, "batches": batches,
            "posts_seen": posts_seen, "posts_new": posts_new}


def _by_source(files: list[PageFile]) -> Iterator[tuple[str, list[PageFile]]]:
    """Runs of consecutive pages of one source (a commit never spans two sources)."""
    run: list[PageFile] = []
    for page in files:
        if run and run[0].source != page.source:
            yield run[0].source, run
            run = []
        run.append(page)
    if run:
        yield run[0].source, run


# -- phases (children) -------------------------------------------------------------------------


def _peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu_s() -> float:
    """CPU seconds of this process and the children it waited for (Prefect's server): on a
    shared machine wall time stretches with others' load, CPU time much less."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return round(own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime, 2)


def phase_ingest(args: dict) -> dict:
    pages, warehouse = Path(args["pages"]), Path(args["warehouse"])
    for leftover in (warehouse, warehouse.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    files = page_files(pages)
    manifest = Manifest.load(pages)
    sample = _sample(files, min(PER_PAGE_SAMPLE_POSTS, manifest.scale // 5), manifest)
    # The flow before commit groups: every page its own commit, the warehouse opened for it.
    per_page = _sample_ingest(warehouse.with_name("per-page.duckdb"), sample, batch_posts=1, as_flow=True)
    from flows._ingest import COMMIT_POSTS

    as_flow = _sample_ingest(warehouse.with_name("as-flow.duckdb"), sample, batch_posts=COMMIT_POSTS,
                             as_flow=True)
    profiler = _profiler(args)
    result = ingest_pages(warehouse, files, BATCH_POSTS)
    _stop_profiler(profiler, args, "ingest")
    from warehouse import Warehouse

    with Warehouse.open(warehouse) as wh:
        posts, = wh.con.execute("select count(*) from posts").fetchone()
        members, = wh.con.execute("select count(*) from members").fetchone()
        export = Path(args["workdir"])
        # For the Arrow baseline: the rows exactly as normalised, read back untimed.
        wh.con.table("posts").write_parquet(str(export / "posts.parquet"))
        wh.con.table("members").write_parquet(str(export / "members.parquet"))
        lang_missing, questions = wh.con.execute(
            "select count(*) filter (where lang is null), count(*) filter (where is_question) from posts").fetchone()
        (raw_bytes,) = wh.con.execute(  # as stored: zlib-compressed (docs/warehouse.md)
            "select coalesce(sum(octet_length(coalesce(body_zlib, body))), 0) from raw_pages").fetchone()
    size_mb = warehouse.stat().st_size / 1e6
    return {
        "posts": posts, "members": members, "seconds": round(result["seconds"], 3),
        "rows_per_s": round(posts / result["seconds"]),
        "map_s": round(result["map_s"], 3), "write_s": round(result["write_s"], 3),
        "batches": result["batches"], "posts_seen": result["posts_seen"],
        "per_page_rows_per_s": round(per_page["posts_new"] / per_page["seconds"]) if per_page["seconds"] else None,
        "per_page_sample_posts": per_page["posts_new"],
        "flow_rows_per_s": round(as_flow["posts_new"] / as_flow["seconds"]) if as_flow["seconds"] else None,
        "flow_commits": as_flow["batches"],
        "warehouse_mb": round(size_mb, 1), "warehouse_mb_per_million": round(size_mb / (posts / 1e6), 1),
        "raw_page_bodies_mb": round(raw_bytes / 1e6, 1),
        "posts_without_lang": lang_missing, "questions": questions,
        **_with_annotation_worker_rss(),
    }


def _with_annotation_worker_rss() -> dict:
    """Peak RSS of this process plus the annotation worker's, which ran beside it."""
    from flows._ingest import AnnotationWorker

    worker = AnnotationWorker._shared
    if worker is not None:
        worker.close()
    worker_mb = (worker.peak_rss_mb if worker is not None else None) or 0.0
    return {"peak_rss_mb": round(_peak_rss_mb() + worker_mb, 1), "annotation_worker_peak_rss_mb": worker_mb}


def _sample_ingest(path: Path, files: list[PageFile], batch_posts: int, as_flow: bool = False) -> dict:
    for leftover in (path, path.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    try:
        return ingest_pages(path, files, batch_posts, as_flow=as_flow)
    finally:
        for leftover in (path, path.with_suffix(".duckdb.wal")):
            leftover.unlink(missing_ok=True)


def _sample(files: list[PageFile], posts: int, manifest: Manifest) -> list[PageFile]:
    """The first pages of each platform, in the community's proportions, about `posts` posts."""
    out = []
    for platform in ("reddit", "x", "rss"):
        mine = [f for f in files if f.platform == platform]
        share = manifest.posts[platform] / manifest.scale
        fraction = min(1.0, posts * share / max(1, manifest.posts[platform]))
        out.extend(mine[:max(1, round(len(mine) * fraction))])
    return out


ARROW_INSERT = {"posts": "insert into posts select * from incoming",
                "members": "insert into members select * from incoming"}


def phase_arrow(args: dict) -> dict:
    import duckdb
    import pyarrow.parquet as pq

    from warehouse import Warehouse

    workdir = Path(args["workdir"])
    target = workdir / "arrow.duckdb"
    target.unlink(missing_ok=True)
    seconds = 0.0
    posts = 0
    with Warehouse.open(target) as wh:
        for table in ("posts", "members"):
            for batch in pq.ParquetFile(workdir / f"{table}.parquet").iter_batches(batch_size=1_000_000):
                wh.con.register("incoming", batch)
                started = time.perf_counter()
                wh.con.execute(ARROW_INSERT[table])
                seconds += time.perf_counter() - started
                wh.con.unregister("incoming")
                if table == "posts":
                    posts += batch.num_rows
        started = time.perf_counter()
        wh.con.execute("checkpoint")
        seconds += time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {"posts": posts, "seconds": round(seconds, 3), "rows_per_s": round(posts / seconds),
            "duckdb": duckdb.__version__, "peak_rss_mb": _peak_rss_mb()}


def phase_dlt(args: dict) -> dict:
    import dlt

    from connectors import reddit, rss

    pages = Path(args["pages"])
    manifest = Manifest.load(pages)
    files = _sample(page_files(pages), DLT_SAMPLE_POSTS, manifest)
    workdir = Path(args["workdir"])
    target = workdir / "dlt.duckdb"
    target.unlink(missing_ok=True)
    shutil.rmtree(workdir / "dlt-pipelines", ignore_errors=True)
    counted = {"posts": 0}

    @dlt.resource(name="reddit_things", primary_key="name", write_disposition="merge")
    def reddit_things():
        for page in files:
            if page.platform == "reddit":
                things = reddit.things_in(json.loads(page.path.read_bytes()))
                counted["posts"] += len(things)
                yield things

    @dlt.resource(name="x_tweets", primary_key="id", write_disposition="merge")
    def x_tweets():
        for page in files:
            if page.platform == "x":
                payload = json.loads(page.path.read_bytes())
                counted["posts"] += len(payload.get("data", []))
                yield payload.get("data", []) + payload.get("includes", {}).get("tweets", [])
                yield dlt.mark.with_table_name(payload.get("includes", {}).get("users", []), "x_users")

    @dlt.resource(name="rss_entries", primary_key="id", write_disposition="merge")
    def rss_entries():
        for page in files:
            if page.platform == "rss":
                # The same parse as ingest's, so the ratio compares loading, not parsing.
                parsed = rss.parse_feed(page.path.read_bytes(), {"content-location": page.request})
                counted["posts"] += len(parsed.entries)
                yield [_rss_entry(e, page) for e in parsed.entries]

    pipeline = dlt.pipeline(pipeline_name="majlis_bench", destination=dlt.destinations.duckdb(str(target)),
                            dataset_name="community", pipelines_dir=str(workdir / "dlt-pipelines"))
    started = time.perf_counter()
    pipeline.run([reddit_things(), x_tweets(), rss_entries()])
    seconds = time.perf_counter() - started
    target.unlink(missing_ok=True)
    return {"posts": counted["posts"], "seconds": round(seconds, 3),
            "rows_per_s": round(counted["posts"] / seconds), "dlt": dlt.__version__,
            "peak_rss_mb": _peak_rss_mb()}


def _rss_entry(entry, page: PageFile) -> dict:
    content = (entry.get("content") or [{}])[0].get("value")
    return {"id": entry.get("id"), "source": page.source, "feed": page.request, "thread": page.item_guid,
            "link": entry.get("link"), "title": entry.get("title"), "author": entry.get("author"),
            "published": entry.get("published"), "summary": entry.get("summary"), "content": content}


def phase_detect(args: dict) -> dict:
    from rules import RuleContext, run_rules
    from warehouse import Warehouse

    warehouse = _detect_copy(Path(args["warehouse"]))
    started = time.perf_counter()
    _import_rule_dependencies()
    import_s = time.perf_counter() - started
    profiler = _profiler(args)
    with Warehouse.open(warehouse) as wh:
        started = time.perf_counter()
        found = run_rules(wh, {}, RuleContext(DETECT_NOW, {}, ()), log=lambda line: None)
        detect_s = time.perf_counter() - started
        per_rule = _per_rule_seconds(wh, DETECT_NOW)
    _stop_profiler(profiler, args, "detect")
    files = page_files(Path(args["increment"]))
    result = ingest_pages(warehouse, files, BATCH_POSTS)
    with Warehouse.open(warehouse) as wh:
        started = time.perf_counter()
        again = run_rules(wh, {}, RuleContext(INCREMENT_NOW, {}, ()), log=lambda line: None)
        incremental_s = time.perf_counter() - started
    return {"detect_s": round(detect_s, 3), "detect_incremental_s": round(incremental_s, 3),
            "detect_import_s": round(import_s, 3),
            "ingest_increment_s": round(result["seconds"], 3), "increment_posts": result["posts_new"],
            "findings": {rule: len(f) for rule, f in found.items()},
            "findings_after_increment": {rule: len(f) for rule, f in again.items()},
            "per_rule_s": per_rule, "peak_rss_mb": _peak_rss_mb()}


def _detect_copy(warehouse: Path) -> Path:
    """A copy of the ingested warehouse for detect to run on: detect stores findings and
    ingests the increment, and a kept workdir's next run must start from the same state."""
    copy = warehouse.with_name("detect.duckdb")
    for leftover in (copy, copy.with_suffix(".duckdb.wal")):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(warehouse, copy)
    wal = warehouse.with_suffix(".duckdb.wal")
    if wal.exists():
        shutil.copyfile(wal, copy.with_suffix(".duckdb.wal"))
    return copy


def _import_rule_dependencies() -> None:
    """Rules import scipy and matplotlib on first use: seconds a detect process pays once,
    reported apart (`detect_import_s`) from the time the rules take."""
    from rules import registered_rules

    registered_rules()
    import matplotlib.backends.backend_agg  # noqa: F401
    import scipy.sparse  # noqa: F401
    import scipy.stats  # noqa: F401


def _per_rule_seconds(wh, now: datetime) -> dict[str, float]:
    """Each rule's detect alone (without storing findings), to show where detect time goes."""
    from rules import RuleContext, registered_rules

    out = {}
    for module in registered_rules():
        started = time.perf_counter()
        module.detect(wh, dict(module.RULE.params, charts=False), RuleContext(now, {}, ()))
        out[module.RULE.id] = round(time.perf_counter() - started, 3)
    return out


def phase_bare_flow(args: dict) -> dict:
    _prefect_env(args)
    from prefect import flow, task

    @task
    def empty(i: int) -> int:
        return i

    @flow(name="bench-bare")
    def bare() -> list[int]:
        return [empty(i) for i in range(3)]

    started = time.perf_counter()
    bare()
    return {"flow_s": round(time.perf_counter() - started, 3), "peak_rss_mb": _peak_rss_mb()}


def phase_noop_pipeline(args: dict) -> dict:
    """flows.pipeline with one RSS source whose feed has not changed since the last run."""
    _prefect_env(args)
    from majlis.bench.replays import noop_community

    workdir = Path(args["workdir"]) / "noop"
    with noop_community(workdir) as config_path:
        from flows.pipeline import pipeline

        started = time.perf_counter()
        state = pipeline(str(config_path), return_state=True)
        seconds = time.perf_counter() - started
    return {"flow_s": round(seconds, 3), "completed": state.is_completed(), "peak_rss_mb": _peak_rss_mb()}


def _prefect_env(args: dict) -> None:
    os.environ["PREFECT_HOME"] = args["prefect_home"]
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def phase_connectors(args: dict) -> dict:
    from majlis.bench.replays import reddit_cost, rss_unchanged_bytes, x_reread

    workdir = Path(args["workdir"]) / "connectors"
    workdir.mkdir(parents=True, exist_ok=True)
    return {**reddit_cost(workdir), **rss_unchanged_bytes(workdir), **x_reread(workdir),
            "peak_rss_mb": _peak_rss_mb()}


def _profiler(args: dict):
    if not args.get("profile"):
        return None
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.005)
    profiler.start()
    return profiler


def _stop_profiler(profiler, args: dict, name: str) -> None:
    if profiler is None:
        return
    profiler.stop()
    out = Path(args["workdir"]) / f"profile-{name}"
    out.with_suffix(".txt").write_text(profiler.output_text(unicode=True, show_all=False), encoding="utf-8")
    out.with_suffix(".html").write_text(profiler.output_html(), encoding="utf-8")


PHASE_FUNCTIONS = {
    "ingest": phase_ingest, "arrow": phase_arrow, "dlt": phase_dlt, "detect": phase_detect,
    "bare_flow": phase_bare_flow, "noop_pipeline": phase_noop_pipeline, "connectors": phase_connectors,
}


def main(argv: list[str]) -> int:
    if len(argv) != 3 or argv[0] != "phase" or argv[1] not in PHASE_FUNCTIONS:
        print("usage: python -m majlis.bench.perf phase NAME JSON_ARGS", file=sys.stderr)
        return 2
    result = PHASE_FUNCTIONS[argv[1]](json.loads(argv[2]))
    result["cpu_s"] = _cpu_s()
    result["load_average"] = os.getloadavg()[0]
    print(json.dumps(result, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
