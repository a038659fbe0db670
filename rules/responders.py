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
from dataclasses import dataclass
from importlib import resources
from typing import Iterable

import numpy as np

from majlis.text import normalize_arabic
from warehouse import Warehouse

DEFAULTS = {"top": 3, "min_similarity": 0.2, "neighbours": 25, "max_questions": 5000}
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


def suggest(wh: Warehouse, questions: Iterable[dict], not_an_answer: str, **options) -> dict[str, list[Responder]]:
    """Responders for each question (rows with post_id, source, title, body, author_id)."""
    opts = {**DEFAULTS, **options}
    by_source: dict[str, list[dict]] = {}
    for q in questions:
        by_source.setdefault(q["source"], []).append(q)
    if not by_source or int(opts["top"]) <= 0:
        return {}
    corpus = wh.query(resources.files("rules").joinpath("responders.sql").read_text(encoding="utf-8"), {
        "sources": sorted(by_source), "max_questions": int(opts["max_questions"]),
        "not_an_answer": not_an_answer,
    })
    handles = _handles(wh, {m for row in corpus for m in row["answerer_ids"]})
    out: dict[str, list[Responder]] = {}
    for source, asked in by_source.items():
        answered = [row for row in corpus if row["source"] == source]
        if answered:
            out.update(_suggest_in_source(asked, answered, handles, opts))
    return out


def _suggest_in_source(asked: list[dict], answered: list[dict], handles: dict[str, str | None],
                       opts: dict) -> dict[str, list[Responder]]:
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                 min_df=1, dtype=np.float32)
    answered_vectors = vectorizer.fit_transform([prepare(r["question_text"]) for r in answered])
    asked_vectors = vectorizer.transform(
        [prepare(" ".join(t for t in (q.get("title"), q.get("body")) if t)) for q in asked])
    # Rows are L2-normalised, so the dot product is the cosine similarity.
    similarity = (asked_vectors @ answered_vectors.T).toarray()
    out = {}
    for i, question in enumerate(asked):
        out[question["post_id"]] = _rank(question, similarity[i], answered, handles, opts)
    return out


def _rank(question: dict, similarity: np.ndarray, answered: list[dict],
          handles: dict[str, str | None], opts: dict) -> list[Responder]:
    nearest = np.argsort(-similarity)[: int(opts["neighbours"])]
    weights: dict[str, float] = {}
    counts: dict[str, int] = {}
    examples: dict[str, str] = {}
    for j in nearest:
        score = float(similarity[j])
        row = answered[j]
        if score < float(opts["min_similarity"]) or row["question_id"] == question["post_id"]:
            continue
        for member in row["answerer_ids"]:
            if member == question.get("author_id"):
                continue
            weights[member] = weights.get(member, 0.0) + score
            counts[member] = counts.get(member, 0) + 1
            examples.setdefault(member, _cut(row["question_text"]))  # nearest first
    ranked = sorted(weights, key=lambda m: (-weights[m], -counts[m], m))[: int(opts["top"])]
    return [Responder(m, handles.get(m), counts[m], weights[m], examples[m]) for m in ranked]


def _handles(wh: Warehouse, member_ids: set[str]) -> dict[str, str | None]:
    if not member_ids:
        return {}
    rows = wh.query("select member_id, handle from members where member_id in (select unnest($ids::varchar[]))",
                    {"ids": sorted(member_ids)})
    return {r["member_id"]: r["handle"] for r in rows}


def _cut(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= EXAMPLE_CHARS else text[: EXAMPLE_CHARS - 1].rsplit(" ", 1)[0] + "…"


def mention(responder: Responder) -> str:
    """How a task names the member: @handle, else the member id."""
    return f"@{responder.handle}" if responder.handle else responder.member_id
