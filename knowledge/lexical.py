"""Lexical retrieval: a tokenizer for operations text and a BM25 index (``bm25s``) over chunk texts.

Chroma's sparse index is not available in embedded mode, so BM25 runs in-process. The index is built
once per store revision by the retriever; a query only tokenises the query.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

import bm25s
import numpy as np
import numpy.typing as npt
from bm25s.stopwords import STOPWORDS_EN

_WORD = re.compile(r"[A-Za-z0-9]+")
# Parts of CamelCase / acronym words: "KubeAPIErrorBudgetBurn" -> Kube, API, Error, Budget, Burn.
_CAMEL_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[0-9]+")
_STOPWORDS = frozenset(STOPWORDS_EN)
_CACHE_LIMIT = 500_000

Stemmer = Callable[[str], str]


def default_stemmer() -> Stemmer | None:
    """English Snowball stemming when PyStemmer is installed, else none."""
    try:
        import Stemmer as pystemmer
    except ImportError:
        return None
    stem: Stemmer = pystemmer.Stemmer("english").stemWord
    return stem


class Tokenizer:
    """Lowercase alphanumeric words without English stopwords; mixed-case words also yield their parts.

    ``KubeAPIErrorBudgetBurn`` gives ``kubeapierrorbudgetburn kube api error budget burn``, so an alert
    name matches both itself and prose about it.
    """

    def __init__(self, *, stemmer: Stemmer | None = None, stopwords: frozenset[str] = _STOPWORDS) -> None:
        self._stem = stemmer
        self._stopwords = stopwords
        # Words repeat across a corpus: caching their tokens halves the time to index 10,000 chunks.
        self._cache: dict[str, tuple[str, ...]] = {}

    def __call__(self, text: str) -> list[str]:
        tokens: list[str] = []
        for word in _WORD.findall(text):
            cached = self._cache.get(word)
            if cached is None:
                if len(self._cache) > _CACHE_LIMIT:
                    self._cache.clear()
                cached = self._cache[word] = self._word_tokens(word)
            tokens.extend(cached)
        return tokens

    def _word_tokens(self, word: str) -> tuple[str, ...]:
        lowered = word.lower()
        parts = _CAMEL_PART.findall(word) if word != lowered and not word.isupper() else []
        words = [lowered, *(part.lower() for part in parts if part.lower() != lowered)]
        stem = self._stem or (lambda w: w)
        return tuple(stem(w) for w in words if w not in self._stopwords)


class LexicalIndex:
    """BM25 scores of a query against a fixed list of texts (row ``i`` is ``texts[i]``)."""

    def __init__(
        self, texts: Sequence[str], *, tokenizer: Tokenizer, k1: float = 1.2, b: float = 0.75
    ) -> None:
        self._tokenizer = tokenizer
        self._size = len(texts)
        self._bm25 = bm25s.BM25(k1=k1, b=b, method="lucene")
        if texts:
            self._bm25.index([tokenizer(text) for text in texts], show_progress=False)

    def __len__(self) -> int:
        return self._size

    def scores(self, query: str) -> npt.NDArray[np.float32]:
        """One BM25 score per text; zeros when no query word occurs in the corpus."""
        if not self._size:
            return np.zeros(0, dtype=np.float32)
        ids = self._bm25.get_tokens_ids(self._tokenizer(query))
        if not ids:
            return np.zeros(self._size, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(ids), dtype=np.float32)

    def top(
        self, query: str, n: int, *, mask: npt.NDArray[np.bool_] | None = None
    ) -> list[tuple[int, float]]:
        """Up to ``n`` (row, score) pairs with a positive score, best first, among rows where ``mask``."""
        scores = self.scores(query)
        if mask is not None:
            scores = np.where(mask, scores, 0.0)
        candidates = np.flatnonzero(scores > 0)
        if len(candidates) > n:
            candidates = candidates[np.argpartition(-scores[candidates], n - 1)[:n]]
        order = candidates[np.argsort(-scores[candidates], kind="stable")]
        return [(int(row), float(scores[row])) for row in order]
