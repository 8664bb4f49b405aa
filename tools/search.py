"""Text retrieval over repository files: BM25 (k1=1.5, b=0.75) on split identifiers.

Identifiers are split on snake_case and camelCase and the compound is kept too
("parseHTTPRequest" -> parse, http, request, parsehttprequest), the usual way code search
matches English requests to code.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import lru_cache

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+")
_PART = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")

# English function words and request boilerplate; code words (get, set, add, new) stay.
STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before
being below between both but by can could did do does doing down during each few for from
further had has have having he her here hers herself him himself his how i if in into is it
its itself just me more most my myself no nor not now of off on once only or other our ours
ourselves out over own same she should so some such than that the their theirs them
themselves then there these they this those through to too under until up very was we were
what when where which while who whom why will with would you your yours yourself yourselves
e g eg ie etc via use used using allow allows make makes let lets like able please
""".split())


@lru_cache(maxsize=500_000)
def split_identifier(word: str) -> tuple[str, ...]:
    parts = []
    for piece in word.split("_"):
        parts.extend(p.lower() for p in _PART.findall(piece))
    lowered = word.lower()
    if len(parts) != 1 or parts[0] != lowered:
        parts.append(lowered.strip("_"))
    return tuple(p for p in parts if len(p) > 1 and p not in STOPWORDS)


def tokenize(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text):
        out.extend(split_identifier(word))
    return out


def token_counts(text: str) -> Counter[str]:
    """Counter(tokenize(text)), splitting each distinct word once: a file repeats its words."""
    counts: Counter[str] = Counter()
    for word, times in Counter(_WORD.findall(text)).items():
        for part in split_identifier(word):
            counts[part] += times
    return counts


class BM25:
    """BM25 over documents given as token lists (or counters)."""

    def __init__(self, documents: Mapping[str, Iterable[str]], k1: float = 1.5,
                 b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.tf: dict[str, Counter[str]] = {}
        self.length: dict[str, int] = {}
        df: Counter[str] = Counter()
        for key, tokens in documents.items():
            counts = tokens if isinstance(tokens, Counter) else Counter(tokens)
            self.tf[key] = counts
            self.length[key] = sum(counts.values())
            df.update(counts.keys())
        self.n = len(self.tf)
        self.avg = (sum(self.length.values()) / self.n) if self.n else 0.0
        self.idf = {t: math.log(1 + (self.n - d + 0.5) / (d + 0.5)) for t, d in df.items()}

    def scores(self, query: Iterable[str]) -> dict[str, float]:
        terms = Counter(t for t in query if t in self.idf)
        out: dict[str, float] = {}
        if not terms or not self.avg:
            return out
        for key, counts in self.tf.items():
            norm = self.k1 * (1 - self.b + self.b * self.length[key] / self.avg)
            score = 0.0
            for term, weight in terms.items():
                f = counts.get(term)
                if f:
                    score += weight * self.idf[term] * f * (self.k1 + 1) / (f + norm)
            if score > 0:
                out[key] = score
        return out

    def replaced(self, documents: Mapping[str, Counter[str]]) -> BM25:
        """The same index with some documents' contents replaced (document frequencies are
        kept: a handful of documents barely move them)."""
        copy = object.__new__(BM25)
        copy.k1, copy.b, copy.n, copy.idf = self.k1, self.b, self.n, self.idf
        copy.tf, copy.length = dict(self.tf), dict(self.length)
        for key, counts in documents.items():
            copy.tf[key] = counts
            copy.length[key] = sum(counts.values())
        copy.avg = (sum(copy.length.values()) / copy.n) if copy.n else 0.0
        return copy

    def rank(self, query: Iterable[str]) -> list[tuple[str, float]]:
        return sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))
