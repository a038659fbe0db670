"""Precision, recall and F1 of question detection on labelled text, against the naive baseline.

    python -m majlis.eval_questions [FILE.tsv ...]

Reads TSV files with `id`, `text`, `label` (question / not_question / ambiguous; ambiguous
rows are not scored), by default every `questions_*.tsv` in tests/fixtures/labels/. The
language is the file's suffix (`questions_ar.tsv` -> ar), as a labeller would know it.

Rows are also split by a hash of the row id into parts that say how far the cues generalise:
"dev" (half the rows) was read while choosing cues; "second-look" (a quarter) was scored
blind once (ar F1 0.55, en 0.96: the honest first estimate), then its errors were read and
fixed with general cues; "unseen" (the last quarter) has never been read.
"""
from __future__ import annotations

import csv
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from majlis.text import annotate_questions

LABELS_DIR = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "labels"
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)


@dataclass(frozen=True)
class Labelled:
    id: str
    text: str
    is_question: bool


@dataclass(frozen=True)
class Scores:
    rows: int
    precision: float
    recall: float
    f1: float


def read_labels(path: Path) -> list[Labelled]:
    """Scored rows of one file (ambiguous ones left out)."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [Labelled(r["id"], r["text"], r["label"] == "question")
            for r in rows if r["label"] in ("question", "not_question")]


def language_of(path: Path) -> str:
    return path.stem.rsplit("_", 1)[-1]


def part_of(row_id: str) -> str:
    """dev / second-look / unseen, fixed by the row id."""
    bucket = int(hashlib.sha1(row_id.encode()).hexdigest(), 16) % 4
    return {0: "dev", 2: "dev", 1: "second-look", 3: "unseen"}[bucket]


def naive_is_question(text: str) -> bool:
    """The README's baseline: any ? or ؟ outside URLs."""
    return bool(re.search(r"[?؟]", _URL.sub(" ", text)))


def score(truth: list[bool], predicted: list[bool]) -> Scores:
    tp = sum(t and p for t, p in zip(truth, predicted))
    fp = sum(p and not t for t, p in zip(truth, predicted))
    fn = sum(t and not p for t, p in zip(truth, predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(len(truth), precision, recall, f1)


def evaluate(path: Path) -> dict[str, dict[str, Scores]]:
    """{"all"|"dev"|"second-look"|"unseen": {"majlis": Scores, "naive": Scores}} for one file."""
    rows = read_labels(path)
    lang = language_of(path)
    ours = annotate_questions([r.text for r in rows], [lang] * len(rows))
    naive = [naive_is_question(r.text) for r in rows]
    out = {}
    for part in ("all", "dev", "second-look", "unseen"):
        idx = [i for i, r in enumerate(rows) if part in ("all", part_of(r.id))]
        truth = [rows[i].is_question for i in idx]
        out[part] = {"majlis": score(truth, [ours[i] for i in idx]),
                     "naive": score(truth, [naive[i] for i in idx])}
    return out


def main(argv: list[str]) -> int:
    paths = [Path(a) for a in argv] or sorted(LABELS_DIR.glob("questions_*.tsv"))
    print(f"{'file':<22}{'lang':<6}{'part':<12}{'rows':>5}  {'detector':<8}"
          f"{'P':>6}{'R':>6}{'F1':>6}")
    for path in paths:
        for part, by_detector in evaluate(path).items():
            for name, s in by_detector.items():
                print(f"{path.name:<22}{language_of(path):<6}{part:<12}{s.rows:>5}  {name:<8}"
                      f"{s.precision:>6.2f}{s.recall:>6.2f}{s.f1:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
