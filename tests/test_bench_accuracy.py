"""`majlis bench accuracy` on the labelled files and `majlis bench rules` on a small simulation.

Figures are printed by the benches, not asserted here beyond what must hold whatever the
detector's quality: every labelled row is read, scores are proportions, planted unanswered
questions are found."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from majlis.bench import accuracy, simulate
from majlis.cli import app

runner = CliRunner()
LABELS = Path(__file__).parent / "fixtures" / "labels"


def _rows(path: Path) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle, delimiter="\t"))


@pytest.mark.parametrize("path", sorted(LABELS.glob("questions_*.tsv")), ids=lambda p: p.name)
def test_every_labelled_file_has_unique_ids_known_labels_and_a_language(path):
    rows = _rows(path)
    assert rows and len({r["id"] for r in rows}) == len(rows)
    assert {r["label"] for r in rows} <= {"question", "not_question", "ambiguous"}
    assert accuracy.language_of(path) in ("ar", "en")
    assert all(r["text"].strip() for r in rows)


def test_language_comes_from_the_file_name_part_that_is_a_language():
    assert accuracy.language_of(Path("questions_ar.tsv")) == "ar"
    assert accuracy.language_of(Path("questions_ar_astd_qmark.tsv")) == "ar"
    assert accuracy.language_of(Path("questions_en_reddit2.tsv")) == "en"
    assert accuracy.language_of(Path("questions_misc.tsv")) is None


def test_accuracy_json_scores_every_non_ambiguous_row_per_file_and_language():
    result = runner.invoke(app, ["bench", "accuracy", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    files = {f["file"]: f for f in figures["files"]}
    assert set(files) == {p.name for p in LABELS.glob("questions_*.tsv")}
    for name, entry in files.items():
        scored = [r for r in _rows(LABELS / name) if r["label"] != "ambiguous"]
        assert entry["majlis"]["rows"] == entry["naive"]["rows"] == len(scored)
        assert entry["majlis"]["questions"] == sum(r["label"] == "question" for r in scored)
        for detector in ("majlis", "naive"):
            assert all(0 <= entry[detector][k] <= 1 for k in ("precision", "recall", "f1"))
    assert set(figures["languages"]) == {"ar", "en"}
    pooled = sum(f["majlis"]["rows"] for f in figures["files"] if f["lang"] == "ar")
    assert figures["languages"]["ar"]["majlis"]["rows"] == pooled
    assert isinstance(figures["languages"]["en"]["meets_target"], bool)


def test_accuracy_reads_only_the_files_named_with_labels(tmp_path):
    mine = tmp_path / "questions_en_mine.tsv"
    mine.write_text("id\ttext\tlabel\n1\tHow do I reset my password?\tquestion\n"
                    "2\tThe meetup is on Saturday.\tnot_question\n3\tAm I the only one?\tambiguous\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["bench", "accuracy", "--json", "--labels", str(mine)])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.output)["files"]
    assert entry["file"] == "questions_en_mine.tsv" and entry["lang"] == "en"
    assert entry["majlis"] == {"rows": 2, "precision": 1.0, "recall": 1.0, "f1": 1.0, "questions": 1}


def test_accuracy_rejects_an_unknown_label(tmp_path):
    bad = tmp_path / "questions_en_bad.tsv"
    bad.write_text("id\ttext\tlabel\n1\tWhat?\tmaybe\n", encoding="utf-8")
    result = runner.invoke(app, ["bench", "accuracy", "--labels", str(bad)])
    assert result.exit_code == 2
    assert "unknown label(s) maybe" in result.output


def test_accuracy_table_names_each_file():
    result = runner.invoke(app, ["bench", "accuracy"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    assert "questions_ar.tsv" in result.output and "all files" in result.output


@pytest.fixture(scope="module")
def small_simulation():
    """Two communities over 16 weeks: every rule runs, in seconds rather than a minute."""
    result = runner.invoke(app, ["bench", "rules", "--communities", "2", "--weeks", "16", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_rules_bench_reports_every_rule_with_its_figures(small_simulation):
    rules = small_simulation["rules"]
    assert set(rules) == {"unanswered-questions", "quality-vs-growth", "spotlight-members"}
    for figures in rules.values():
        assert all(value is None or isinstance(value, (int, float)) for value in figures.values())
    assert small_simulation["communities"] == 2 and small_simulation["weeks"] == 16
    assert small_simulation["posts"] > 1000


def test_rules_bench_finds_the_planted_unanswered_questions(small_simulation):
    unanswered = small_simulation["rules"]["unanswered-questions"]
    assert unanswered["planted"] > 0
    # Half the planted questions are real labelled text, which detection does not always get.
    assert unanswered["found"] >= 0.8 * unanswered["planted"]
    assert unanswered["median_delay_hours"] <= 24  # rules run once a simulated day


def test_rules_bench_on_template_text_alone_finds_every_planted_question():
    figures = simulate.run(communities=1, seed=5, weeks=14, real_share=0.0)
    unanswered = figures["rules"]["unanswered-questions"]
    assert unanswered["planted"] > 0 and unanswered["found"] == unanswered["planted"]


def test_simulated_openers_are_real_labelled_posts_when_asked():
    labelled = {row.text for path in accuracy.label_files() for row in accuracy.read_labels(path)}
    (community,) = simulate.simulate(communities=1, seed=3, weeks=14, real_share=1.0)
    openers = [p for p in community.posts if p.parent_id is None and p.body not in simulate.LOW_EFFORT_OPENERS
               and not p.author_id.startswith("reddit:newcomer")]
    assert openers and all(p.body in labelled and p.title is None for p in openers)


def test_simulation_is_deterministic_and_plants_what_it_says():
    first = simulate.simulate(communities=2, seed=3, weeks=14)
    second = simulate.simulate(communities=2, seed=3, weeks=14)
    assert [p.post_id for c in first for p in c.posts] == [p.post_id for c in second for p in c.posts]
    for community in first:
        ids = {p.post_id for p in community.posts}
        assert set(community.unanswered) <= ids
        answers_to_planted = [p for p in community.posts if p.parent_id in community.unanswered
                              and p.author_id != next(q.author_id for q in community.posts
                                                      if q.post_id == p.parent_id)
                              and not community.members[p.author_id].is_bot]
        # Only thanks or +1 from others: nobody answered a planted question.
        assert all(p.body in simulate.THANKS for p in answers_to_planted)
        assert community.helper in community.members


def test_rules_bench_needs_enough_weeks_for_the_quality_rule():
    with pytest.raises(ValueError, match="at least 14"):
        simulate.run(communities=1, weeks=8)


def test_natural_mix_weights_marked_and_unmarked_rows_by_the_random_files_share():
    # (truth, predicted, has a question mark, drawn by the mark)
    random_rows = [(True, True, True, False), (False, False, False, False),
                   (True, False, False, False), (False, False, False, False)]
    by_mark = [(True, True, True, True), (False, True, True, True),
               (False, True, True, True), (False, False, True, True)]
    mix = accuracy.natural_mix(random_rows + by_mark)
    # share 1/4; marked rows: tp 2/5, fp 2/5; unmarked: a third missed
    assert mix["question_mark_share"] == 0.25
    assert mix["precision"] == 0.5
    assert mix["recall"] == round(0.1 / 0.35, 3)
    assert mix["f1"] == round(2 * 0.5 * (0.1 / 0.35) / (0.5 + 0.1 / 0.35), 3)
    assert accuracy.natural_mix(random_rows) is None  # nothing drawn by the mark to correct
    assert accuracy.natural_mix(by_mark) is None


def test_files_drawn_by_the_question_mark_are_known_by_name():
    assert accuracy.drawn_by_question_mark(Path("questions_ar_astd_qmark3.tsv"))
    assert not accuracy.drawn_by_question_mark(Path("questions_ar_astd2.tsv"))
