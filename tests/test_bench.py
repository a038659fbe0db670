"""`majlis bench perf` works end to end on a small community (figures are not asserted: no
timing assertions), and the generator writes what connectors receive."""
from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from majlis.bench import perf
from majlis.bench.generator import Manifest, generate, parse_scale
from majlis.cli import app

SMOKE_PHASES = "ingest,arrow,dlt,detect,connectors"


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One small run of every phase but the Prefect flows (minutes of ephemeral servers)."""
    workdir = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(app, ["bench", "perf", "--scale", "2k", "--json", "--only", SMOKE_PHASES,
                                      "--workdir", str(workdir)])
    return result, workdir


def test_perf_prints_one_json_object_with_every_key(smoke):
    result, _ = smoke
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert set(perf.KEYS) <= set(figures)
    assert figures["scale"] == 2000
    assert figures["errors"] == {}


def test_every_phase_run_reports_a_number(smoke):
    figures = json.loads(smoke[0].output)
    for key in ("ingest_rows_per_s", "arrow_rows_per_s", "dlt_rows_per_s", "detect_s",
                "detect_incremental_s", "peak_rss_mb", "warehouse_mb_per_million",
                "ingest_vs_arrow", "ingest_vs_dlt", "reddit_requests_per_1000_items"):
        assert isinstance(figures[key], (int, float)) and figures[key] > 0, key
    assert figures["noop_pipeline_s"] is None and figures["bare_flow_s"] is None  # not run here


def test_ingest_stores_every_generated_post(smoke):
    figures = json.loads(smoke[0].output)
    assert figures["phases"]["ingest"]["posts"] == 2000
    assert figures["phases"]["detect"]["increment_posts"] == perf.increment_posts(2000)


def test_connectors_read_nothing_twice_and_parse_nothing_unchanged(smoke):
    figures = json.loads(smoke[0].output)
    assert figures["rss_bytes_parsed_unchanged"] == 0
    assert figures["x_posts_read_twice"] == 0
    assert figures["phases"]["connectors"]["reddit_requests_quiet_run"] < figures["phases"]["connectors"]["reddit_requests_first_run"]


def test_generator_is_deterministic(tmp_path):
    first = generate(tmp_path / "a", 600, seed=3)
    second = generate(tmp_path / "b", 600, seed=3)
    assert first.posts == second.posts == Manifest.load(tmp_path / "a").posts
    for name in ("reddit/new-000001.json", "x/search-000001.json", "rss/index.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_generated_pages_map_with_the_connectors_functions(tmp_path):
    generate(tmp_path, 600, seed=5)
    mapper = perf.PageMapper()
    posts = [post for page in perf.page_files(tmp_path) for post in mapper.batch(page).posts]
    assert {p.platform for p in posts} == {"reddit", "x", "rss"}
    assert {p.kind for p in posts} >= {"submission", "comment", "tweet", "reply", "item", "item_comment"}
    assert any(p.parent_id and p.parent_id != p.thread_id for p in posts)  # threads deeper than one


@pytest.mark.parametrize("text, posts", [("100k", 100_000), ("1m", 1_000_000), ("10m", 10_000_000), ("2.5k", 2500)])
def test_scale_names_are_numbers_of_posts(text, posts):
    assert parse_scale(text) == posts


def test_unknown_phase_is_refused():
    result = CliRunner().invoke(app, ["bench", "perf", "--only", "ingest,warp"])
    assert result.exit_code == 2
    assert "warp" in result.output


@pytest.mark.bench
def test_full_run_with_flows(tmp_path):
    """Every phase, the Prefect flows included (several ephemeral servers: a few minutes)."""
    figures = perf.run("5k", tmp_path)
    assert figures["errors"] == {}
    assert figures["noop_pipeline_s"] and figures["bare_flow_s"]
