"""rules/responders.py takes character n-grams once per distinct word rather than per text;
its vectors must be the ones scikit-learn's TfidfVectorizer gives on the texts themselves,
with the settings the rule was designed with."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from rules import responders

CORPUS = [
    "How do I reset my password? The reset mail never arrives",
    "Forgot my password, how can I reset it from the app?",
    "كيف أغير كلمة المرور في التطبيق؟",
    "نسيت كلمه المرور، كيف استعيدها؟",
    "a b cd efg hijkl mnopqrstu",  # words shorter and longer than every n-gram length
    "emoji 🙂🙂 and 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 outside the basic plane",
    "  spaces\t\tand\nnew lines\u00a0and non-breaking  ",
    "",
    "Ünïcödé ÀÉÎ lower-casing İstanbul",
    "password password password (repeated words: sublinear tf)",
]
QUERIES = ["how to reset a password", "كلمة المرور", "", "zzzz qqqq", "🙂"]  # the last three: no known n-gram


def _sklearn(corpus, queries):
    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True,
                                 min_df=1, dtype=np.float32)
    return vectorizer.fit_transform(corpus), vectorizer.transform(queries)


@pytest.mark.parametrize("prepared", [False, True], ids=["raw", "prepared"])
def test_similarities_equal_scikit_learns(prepared):
    corpus = [responders.prepare(t) for t in CORPUS] if prepared else CORPUS
    queries = [responders.prepare(t) for t in QUERIES] if prepared else QUERIES
    expected_corpus, expected_queries = _sklearn(corpus, queries)
    got_corpus, got_queries = responders.tfidf(corpus, queries)
    assert got_corpus.shape == expected_corpus.shape  # same vocabulary size
    np.testing.assert_allclose((got_queries @ got_corpus.T).toarray(),
                               (expected_queries @ expected_corpus.T).toarray(), atol=1e-5)
    np.testing.assert_allclose((got_corpus @ got_corpus.T).toarray(),
                               (expected_corpus @ expected_corpus.T).toarray(), atol=1e-5)


def test_rows_are_unit_length_or_empty():
    got_corpus, got_queries = responders.tfidf(CORPUS, QUERIES)
    norms = np.sqrt(got_queries.multiply(got_queries).sum(axis=1)).A.ravel()
    assert np.allclose(norms, [1, 1, 0, 0, 0], atol=1e-5)


def test_many_distinct_characters_give_the_same_vectors():
    corpus = ["".join(chr(0x4E00 + i + k) for k in range(4)) for i in range(0, 5000, 2)]
    expected_corpus, expected_queries = _sklearn(corpus, corpus[:3])
    got_corpus, got_queries = responders.tfidf(corpus, corpus[:3])
    np.testing.assert_allclose((got_queries @ got_corpus.T).toarray(),
                               (expected_queries @ expected_corpus.T).toarray(), atol=1e-5)


def test_a_corpus_without_ngrams_gives_empty_vectors():
    got_corpus, got_queries = responders.tfidf(["", "  "], ["how?"])
    assert got_corpus.shape == (2, 0) and got_queries.shape == (1, 0)
