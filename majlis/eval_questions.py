"""Precision, recall and F1 of question detection on labelled text, against the naive baseline.

    python -m majlis.eval_questions [FILE.tsv ...]

Kept for scripts that call it; the code is majlis/bench/accuracy.py, and
`majlis bench accuracy` prints the same figures as a table or JSON.
"""
from __future__ import annotations

import sys
from pathlib import Path

from majlis.bench.accuracy import (LABELS_DIR, Labelled, Scores, evaluate, language_of,  # noqa: F401
                                   naive_is_question, part_of, plain_table, read_labels, run, score)


def main(argv: list[str]) -> int:
    print(plain_table(run([Path(a) for a in argv] or None)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
