"""Suggested responders: members who answered questions like this one before.

For the unanswered questions of one detect run, per source: fit a TF-IDF model once on the
source's answered questions (`responders.sql`: the newest `max_questions`, each with the
members who gave it a real answer), find each unanswered question's nearest answered
questions by cosine similarity, and credit their answerers. A member's weight is the sum of
the similarities of the questions they answered among the `neighbours` nearest that are at
least `min_similarity` alike; the top `top` members, other than the asker and bots, are the
suggestion, each with how many similar questions they answered and the most similar one.

Character n-grams within word boundaries (3 to 5), on text lower-cased with Arabic spelling
variants folded (`majlis.text.normalize_arabic`) and links removed, so Arabic, English and
mixed text work with no tokeniser or stemmer, and "password"/"passwords" or
"كلمة المرور"/"كلمه المرور" still meet. No model files: scikit-learn only.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import resources
from typing import Iterable

import numpy as np

from majlis.text import normalize_arabic
from warehouse import Warehouse

DEFAULTS = {"top": 3, "min_similarity": 0.2, "neighbours": 25, "max_questions": 5000}
# Where the corpus is looked for first (days back from now): most sources answer 5000
# questions within a year, and the replies of older questions need not be read.
CORPUS_WINDOWS_DAYS = (90, 365)
_LINK = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
EXAMPLE_CHARS = 80


@dataclass(frozen=True)
class Responder:
    member_id: str
    handle: str | None
    similar_answers: int  # similar questions this member answered
    weight: float  # summed similarity of those questions
    example: str  # the most similar question they answered, cut short

    def as_detail(self) -> dict:
        return {"member_id": self.member_id, "handle": self.handle,
                "similar_answers": self.similar_answers, "weight": round(self.weight, 3),
                "example": self.example}


def prepare(text: str | None) -> str:
    return normalize_arabic(_LINK.sub(" ", text or "")).lower()


def suggest(wh: Warehouse, questions: Iterable[dict], not_an_answer: str, *,
            now: datetime | None = None, **options) -> dict[str, list[Responder]]:
    """Responders for each question (rows with post_id, source, title, body, author_id).

    With `now`, the corpus is looked for in recent windows first (`CORPUS_WINDOWS_DAYS`)."""
    opts = {**DEFAULTS, **options}
    by_source: dict[str, list[dict]] = {}
    for q in questions:
        by_source.setdefault(q["source"], []).append(q)
    if not by_source or int(opts["top"]) <= 0:
        return {}
    corpus = answered_corpus(wh, sorted(by_source), int(opts["max_questions"]), not_an_answer, now)
    handles = {m: h for row in corpus for m, h in zip(row["answerer_ids"], row["answerer_handles"])}
    out: dict[str, list[Responder]] = {}
    for source, asked in by_source.items():
        answered = [row for row in corpus if row["source"] == source]
        if answered:
            out.update(_suggest_in_source(asked, answered, handles, opts))
    return out


def answered_corpus(wh: Warehouse, sources: list[str], max_questions: int, not_an_answer: str,
                    now: datetime | None) -> list[dict]:
    """The newest `max_questions` answered questions of each source (`responders.sql`).

    A source whose recent window already holds `max_questions` of them is done: its newest
    are the newest of all. The others are looked for in the next, wider window, and at last
    in all of history."""
    sql = resources.files("rules").joinpath("responders.sql").read_text(encoding="utf-8")
    windows = [now - timedelta(days=d) for d in CORPUS_WINDOWS_DAYS] if now else []
    corpus: list[dict] = []
    todo = list(sources)
    for since in [*windows, None]:
        rows = wh.query(sql, {"sources": todo, "max_questions": max_questions,
                              "not_an_answer": not_an_answer, "since": since})
        found = Counter(row["source"] for row in rows)
        done = {s for s in todo if since is None or found[s] >= max_questions}
        corpus += [row for row in rows if row["source"] in done]
        todo = [s for s in todo if s not in done]
        if not todo:
            break
    return sorted(corpus, key=lambda row: (row["source"], row["question_id"]))


def _suggest_in_source(asked: list[dict], answered: list[dict], handles: dict[str, str | None],
                       opts: dict) -> dict[str, list[Responder]]:
    answered_vectors, asked_vectors = tfidf(
        [prepare(r["question_text"]) for r in answered],
        [prepare(" ".join(t for t in (q.get("title"), q.get("body")) if t)) for q in asked])
    if answered_vectors.shape[1] == 0:  # nothing to compare with (no n-gram in the corpus)
        return {q["post_id"]: [] for q in asked}
    # Rows are L2-normalised, so the dot product is the cosine similarity.
    similarity = (asked_vectors @ answered_vectors.T).toarray()
    out = {}
    for i, question in enumerate(asked):
        out[question["post_id"]] = _rank(question, similarity[i], answered, handles, opts)
    return out


# -- TF-IDF over character n-grams ---------------------------------------------------------
#
# The vectors of scikit-learn's TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5),
# sublinear_tf=True) fitted on the corpus (tests/test_responders_tfidf.py compares the two),
# without it: fitting takes n-grams one word occurrence at a time in Python (3 s of detect's
# 4 at 100k posts), and importing scikit-learn costs ~0.8 s of every detect run that has a
# question to suggest for. char_wb keeps n-grams inside words, so a text's counts are the sum
# of its words' counts: n-grams are taken once per distinct word (a few thousand, where the
# texts hold a million words), and texts x words times words x n-grams gives the counts.

NGRAMS = (3, 5)


def tfidf(corpus: list[str], queries: list[str]):
    """L2-normalised TF-IDF rows (scipy CSR, float32) for `corpus` (the fit) and `queries`."""
    from scipy.sparse import csr_matrix, diags

    texts_words = [text.lower().split() for text in corpus + queries]
    word_numbers: dict[str, int] = {}
    numbered = [word_numbers.setdefault(w, len(word_numbers)) for words in texts_words for w in words]
    gram_numbers: dict[str, int] = {}
    word_of, gram_of = [], []
    for word, number in word_numbers.items():
        for gram in char_wb_ngrams(word):
            word_of.append(number)
            gram_of.append(gram_numbers.setdefault(gram, len(gram_numbers)))
    word_grams = csr_matrix((np.ones(len(word_of), np.float32), (word_of, gram_of)),
                            shape=(len(word_numbers), len(gram_numbers)))
    text_of = np.repeat(np.arange(len(texts_words)), [len(words) for words in texts_words])
    text_words = csr_matrix((np.ones(len(numbered), np.float32), (text_of, numbered)),
                            shape=(len(texts_words), len(word_numbers)))
    counts = (text_words @ word_grams).tocsr()
    fitted, asked = counts[: len(corpus)], counts[len(corpus):]
    document_frequency = np.bincount(fitted.indices, minlength=fitted.shape[1])
    known = np.flatnonzero(document_frequency)  # n-grams only the queries have do not count
    fitted, asked = fitted[:, known], asked[:, known]
    # smooth_idf: as if one more text held every n-gram once.
    idf = np.log((1 + len(corpus)) / (1 + document_frequency[known])) + 1
    vectors = []
    for matrix in (fitted, asked):
        weighted = matrix.copy()
        weighted.data = np.log(weighted.data) + 1  # sublinear tf
        weighted = (weighted @ diags(idf)).tocsr()
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        norms[norms == 0] = 1
        vectors.append((diags(1 / norms) @ weighted).astype(np.float32).tocsr())
    return vectors[0], vectors[1]


def char_wb_ngrams(word: str) -> list[str]:
    """scikit-learn's char_wb n-grams of one word: padded with a space on each side, and a
    word shorter than an n-gram length counted once, whole."""
    padded = f" {word} "
    grams = []
    for n in range(NGRAMS[0], NGRAMS[1] + 1):
        grams.extend(padded[i:i + n] for i in range(max(1, len(padded) - n + 1)))
        if len(padded) <= n:
            break
    return grams


def _rank(question: dict, similarity: np.ndarray, answered: list[dict],
          handles: dict[str, str | None], opts: dict) -> list[Responder]:
    neighbours = int(opts["neighbours"])
    alike = np.flatnonzero(similarity >= float(opts["min_similarity"]))
    if len(alike) > neighbours:  # only those at least as similar as the nth are sorted
        nth = np.partition(similarity[alike], len(alike) - neighbours)[len(alike) - neighbours]
        alike = alike[similarity[alike] >= nth]
    # Most similar first; equal similarities in corpus order, so a run is repeatable.
    nearest = alike[np.lexsort((alike, -similarity[alike]))][:neighbours]
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for j in nearest:
        score = float(similarity[j])
        row = answered[j]
        if row["question_id"] == question["post_id"]:
            continue
        for member in row["answerer_ids"]:
            if member == question.get("author_id"):
                continue
            weights[member] = weights.get(member, 0.0) + score
            counts[member] = counts.get(member, 0) + 1
            if member not in examples:  # the nearest first
                examples[member] = _cut(row["question_text"])
    ranked = sorted(weights, key=lambda m: (-weights[m], -counts[m], m))[: int(opts["top"])]
    return [Responder(m, handles.get(m), counts[m], weights[m], examples[m]) for m in ranked]


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def mention(responder: Responder) -> str:
    """How a task names the member: @handle, else the member id."""
    return f"@{responder.handle}" if responder.handle else responder.member_id
