"""Detect after new posts, on a warehouse that has run detect before, finds what a detect over
the same posts from scratch finds: the rules keep no state that could drift, and the shortcuts
they take to read less (recent windows first) do not change what they report."""
from __future__ import annotations

import json

import pytest

from majlis.bench.generator import generate, generate_increment
from majlis.bench.perf import DETECT_NOW, INCREMENT_NOW, PageMapper, page_files
from rules import RuleContext, run_rules
from rules.responders import answered_corpus
from rules.unanswered_questions import NOT_AN_ANSWER
from warehouse import Warehouse

POSTS, NEW_POSTS, SEED = 3000, 600, 11
# Spotlights are held and cooled down from the rule's own earlier findings, by design: a
# detect with a history of spotlights differs from one without.
HISTORY_BOUND = {"spotlight-members"}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("community")
    generate(root / "history", POSTS, SEED)
    generate_increment(root / "increment", NEW_POSTS, POSTS, SEED)
    return root


def _load(wh: Warehouse, folder) -> None:
    mapper = PageMapper()
    for page in page_files(folder):
        wh.write_batch(mapper.batch(page))


def _open_findings(wh: Warehouse) -> dict[str, dict]:
    rows = wh.query("select finding_id, rule, details from findings where cleared_at is null")
    return {r["finding_id"]: {"rule": r["rule"], **json.loads(r["details"])}
            for r in rows if r["rule"] not in HISTORY_BOUND}


@pytest.fixture(scope="module")
def detected(pages, tmp_path_factory):
    """(incremental, from scratch): the open findings of each at INCREMENT_NOW."""
    folder = tmp_path_factory.mktemp("warehouses")
    with Warehouse.open(folder / "incremental.duckdb") as wh:
        _load(wh, pages / "history")
        run_rules(wh, {}, RuleContext(DETECT_NOW, {}, ()), log=lambda line: None)
        _load(wh, pages / "increment")
        run_rules(wh, {}, RuleContext(INCREMENT_NOW, {}, ()), log=lambda line: None)
        incremental = _open_findings(wh)
    with Warehouse.open(folder / "scratch.duckdb") as wh:
        _load(wh, pages / "history")
        _load(wh, pages / "increment")
        run_rules(wh, {}, RuleContext(INCREMENT_NOW, {}, ()), log=lambda line: None)
        scratch = _open_findings(wh)
        corpus_args = (sorted({r["source"] for r in wh.query("select distinct source from posts")}),)
        corpora = {max_questions: (answered_corpus(wh, *corpus_args, max_questions, NOT_AN_ANSWER, INCREMENT_NOW),
                                   answered_corpus(wh, *corpus_args, max_questions, NOT_AN_ANSWER, None))
                   for max_questions in (3, 40, 5000)}
    return incremental, scratch, corpora


def test_detect_after_new_posts_finds_the_same_findings_as_from_scratch(detected):
    incremental, scratch, _ = detected
    assert any(f["rule"] == "unanswered-questions" for f in scratch.values())  # not vacuous
    assert incremental.keys() == scratch.keys()


def test_incremental_findings_carry_the_same_details_and_suggested_responders(detected):
    incremental, scratch, _ = detected
    assert incremental == scratch
    assert any(f.get("suggested_responders") for f in scratch.values())


@pytest.mark.parametrize("max_questions", [3, 40, 5000])
def test_recent_windows_give_the_corpus_all_of_history_gives(detected, max_questions):
    windowed, everything = detected[2][max_questions]
    assert windowed == everything
    assert windowed
