"""The map's inverted index of the localizer's search documents: per word, the documents that
contain it and how often, so that a query reads the postings of its own words only.

Each index ("text", "symbols", "path") stores per word two arrays: the ids of its documents
(sorted; 2-byte ids while they fit, the type code in the first byte) and their counts.
`update_postings` moves them by what a sync changed; `StoredBM25` and `StoredPathIndex` score
a request from them with the same arithmetic, in the same order, as `BM25` and `PathWords`
over every document, so the scores are the same floats.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Protocol

_COUNT_TYPES = {1: "B", 2: "H", 4: "I"}  # by item size: counts are stored as small as they fit
_FEW_CHANGES = 64  # up to this many changes to one word's postings: edit the arrays in place
_BATCH = 20_000  # words written at a time
PATH_WORD, STEM_WORD = 1, 2  # the "path" index's counts: in the path; in the file name's stem too


class PathScores(Protocol):
    def scores(self, query: list[str]) -> dict[str, float]: ...


def _decode(ids_raw: bytes, counts_raw: bytes) -> tuple[array, array]:
    ids = array(chr(ids_raw[0]))
    ids.frombytes(memoryview(ids_raw)[1:])
    counts = array(_COUNT_TYPES[len(counts_raw) // len(ids)] if ids else "B")
    counts.frombytes(counts_raw)
    return ids, counts


def _count_type(largest: int) -> str:
    return "B" if largest < 1 << 8 else "H" if largest < 1 << 16 else "I"


def _encode_ids(ids: array) -> bytes:
    return ids.typecode.encode() + ids.tobytes()


def _encode_one(doc: int, count: int) -> tuple[bytes, bytes]:
    """The postings of a word in one document, as `_encode_ids` and the counts encode them."""
    ids = array("H" if doc < 1 << 16 else "I", (doc,))
    return _encode_ids(ids), array(_count_type(count), (count,)).tobytes()


def read_postings(conn: sqlite3.Connection, name: str, word: str) -> tuple[array, array] | None:
    """(document ids, counts) of `word` in the index `name`; None: no document has it."""
    row = conn.execute("SELECT ids, counts FROM search_postings WHERE name=? AND word=?",
                       (name, word)).fetchone()
    return _decode(*row) if row else None


class PostingChanges:
    """What a sync changes in one index: per word, the new counts of documents that were
    stored (0: the word left them), and the postings of new documents. A full build adds
    every posting of the map: those are kept per word as one flat array of (id, count)
    pairs, a fifth of the memory of dictionaries (400 MB less at 33,000 files)."""

    def __init__(self) -> None:
        self.changed: dict[str, dict[int, int]] = {}
        self.added: dict[str, array] = {}
        self.last_added = 0
        self.added_postings = 0  # pairs in `added`

    def replace(self, old: Mapping[str, int] | None, new: Mapping[str, int] | None,
                doc: int) -> None:
        """Stored document `doc` turns from `old` into `new` (None: no document)."""
        old, new, changed = old or {}, new or {}, self.changed
        for word in old:
            if word not in new:
                changed.setdefault(word, {})[doc] = 0
        for word, count in new.items():
            if old.get(word) != count:
                changed.setdefault(word, {})[doc] = count

    def add(self, new: Mapping[str, int] | None, doc: int) -> None:
        """A new document, numbered above every document added before (so that each word's
        ids come sorted). Inlined: a full build passes every posting here."""
        if doc <= self.last_added:
            raise ValueError(f"document {doc} added after document {self.last_added}")
        self.last_added = doc
        added = self.added
        new = new or {}
        self.added_postings += len(new)
        for word, count in new.items():
            if count:
                pairs = added.get(word)
                if pairs is None:
                    added[word] = array("I", (doc, count))
                else:
                    pairs.append(doc)
                    pairs.append(count)


def update_postings(conn: sqlite3.Connection, name: str, changes: PostingChanges) -> None:
    """Apply `changes` to the index `name`. Only the words a sync changed are read and
    written: a one-file refresh touches few."""
    empty = conn.execute("SELECT 1 FROM search_postings WHERE name=? LIMIT 1",
                         (name,)).fetchone() is None
    writes, deletes = [], []
    # in the table's order: a full build appends to its pages
    for word in sorted(changes.changed.keys() | changes.added.keys()):
        changed, pairs = changes.changed.get(word), changes.added.get(word)
        stored = None if empty else read_postings(conn, name, word)
        if stored is None and changed is None:  # only new documents have the word
            ids, counts = pairs[0::2], pairs[1::2]
            if len(ids) == 1:  # most words of a map are in one file
                writes.append((name, word, *_encode_one(ids[0], counts[0])))
                continue
            ids = array("H" if ids[-1] < 1 << 16 else "I", ids)
            counts = array(_count_type(max(counts)), counts)
        elif changed is None and len(pairs) > 2 * _FEW_CHANGES and pairs[0] > stored[0][-1]:
            # only documents numbered after the stored ones (a full build writing as it goes):
            # what `_merge` makes, without a dictionary of every document
            ids, counts = _append(stored, pairs)
        else:
            # a removed document's id may be given to a new one: the addition comes last
            docs = dict(changed or {})
            if pairs is not None:
                docs.update(zip(pairs[0::2], pairs[1::2], strict=True))
            ids, counts = _merge(stored, docs)
        if ids:
            writes.append((name, word, _encode_ids(ids), counts.tobytes()))
        elif stored is not None:
            deletes.append((name, word))
        if len(writes) >= _BATCH:  # a full build's postings are not all held in memory
            conn.executemany("INSERT OR REPLACE INTO search_postings VALUES (?,?,?,?)", writes)
            writes.clear()
    conn.executemany("DELETE FROM search_postings WHERE name=? AND word=?", deletes)
    conn.executemany("INSERT OR REPLACE INTO search_postings VALUES (?,?,?,?)", writes)


def _merge(stored: tuple[array, array] | None, docs: dict[int, int]) -> tuple[array, array]:
    """The postings `stored` with the documents' counts `docs` set (0: removed)."""
    if stored is not None and len(docs) <= _FEW_CHANGES:
        return _edit(*stored, docs)
    merged = docs if stored is None else {**dict(zip(*stored, strict=True)), **docs}
    order = sorted(doc for doc, count in merged.items() if count)
    ids = array("H" if not order or order[-1] < 1 << 16 else "I", order)
    return ids, array(_count_type(max(merged.values(), default=0)), map(merged.get, order))


def _append(stored: tuple[array, array], pairs: array) -> tuple[array, array]:
    """The postings `stored` followed by the (id, count) `pairs` of documents numbered after
    them, in the smallest widths that fit, as `_merge` stores them."""
    new_ids, new_counts = pairs[0::2], pairs[1::2]
    ids = array("H" if new_ids[-1] < 1 << 16 else "I", stored[0])
    ids.fromlist(new_ids.tolist())
    counts = array(_count_type(max(max(stored[1]), max(new_counts))), stored[1])
    counts.fromlist(new_counts.tolist())
    return ids, counts


def _edit(ids: array, counts: array, docs: Mapping[int, int]) -> tuple[array, array]:
    """The postings with a few documents' counts set (0: removed), keeping the ids sorted."""
    for doc, count in docs.items():
        at = bisect_left(ids, doc)
        present = at < len(ids) and ids[at] == doc
        if not count:
            if present:
                del ids[at]
                del counts[at]
            continue
        if count >= 1 << (8 * counts.itemsize):
            counts = array(_count_type(count), counts)
        if doc >= 1 << (8 * ids.itemsize):
            ids = array("I", ids)
        if present:
            counts[at] = count
        else:
            ids.insert(at, doc)
            counts.insert(at, count)
    return ids, counts


class _Postings:
    """The postings of one stored index, read per word on first use."""

    def __init__(self, conn: sqlite3.Connection, name: str, paths: dict[int, str]) -> None:
        self.conn, self.name, self.paths = conn, name, paths
        self.cache: dict[str, dict[str, int] | None] = {}

    def get(self, word: str) -> dict[str, int] | None:
        """path -> count of `word`, None when no document has it."""
        if word in self.cache:
            return self.cache[word]
        stored = read_postings(self.conn, self.name, word)
        paths = self.paths
        try:
            found = None if stored is None else {
                paths[doc]: count for doc, count in zip(*stored, strict=True)}
        except KeyError:  # a map refresh committed a new document since `paths` was read:
            # it is not part of this index (queries do not lock the map; WAL lets them run)
            found = {paths[doc]: count for doc, count in zip(*stored, strict=True)
                     if doc in paths} or None
        self.cache[word] = found
        return found


class StoredBM25:
    """`BM25` over the stored documents of one index, scored from the postings of the query's
    words: the same scores, in the same order (the order of `position`)."""

    def __init__(self, postings: _Postings, length: dict[str, int], position: dict[str, int],
                 k1: float = 1.5, b: float = 0.75) -> None:
        self.postings, self.length, self.position = postings, length, position
        self.k1, self.b = k1, b
        self.n = len(length)
        self.avg = (sum(length.values()) / self.n) if self.n else 0.0
        self.replacements: dict[str, Counter[str]] = {}
        self.idf: dict[str, float] = {}

    @classmethod
    def stored(cls, conn: sqlite3.Connection, name: str, paths: dict[int, str],
               length: dict[str, int], position: dict[str, int], k1: float = 1.5,
               b: float = 0.75) -> StoredBM25:
        return cls(_Postings(conn, name, paths), length, position, k1, b)

    def _idf(self, term: str) -> float | None:
        """As BM25's idf: from the number of stored documents with the term (None: none)."""
        if term in self.idf:
            return self.idf[term]
        found = self.postings.get(term)
        if found is None:
            return None
        d = len(found)
        value = self.idf[term] = math.log(1 + (self.n - d + 0.5) / (d + 0.5))
        return value

    def scores(self, query: Iterable[str]) -> dict[str, float]:
        terms = Counter(t for t in query if self._idf(t) is not None)
        out: dict[str, float] = {}
        if not terms or not self.avg:
            return out
        # per document, the terms' contributions are added in the query's order from 0.0,
        # as BM25 adds them: the same floats
        replaced, length, k1, b, avg = self.replacements, self.length, self.k1, self.b, self.avg
        norms: dict[str, float] = {}
        summed: dict[str, float] = {}
        for term, weight in terms.items():
            idf = self.idf[term]
            docs = self.postings.get(term) or {}
            found = [(key, f) for key, f in docs.items() if key not in replaced] \
                if replaced else docs.items()
            found = [*found, *((key, counts[term]) for key, counts in replaced.items()
                               if counts.get(term))]
            for key, f in found:
                norm = norms.get(key)
                if norm is None:
                    norm = norms[key] = k1 * (1 - b + b * length[key] / avg)
                summed[key] = summed.get(key, 0.0) + weight * idf * f * (k1 + 1) / (f + norm)
        # BM25 walks its documents in order; so does this, to make the same dict
        tail = len(self.position)
        position = self.position
        for key in sorted(summed, key=lambda p: position.get(p, tail)):
            if summed[key] > 0:
                out[key] = summed[key]
        return out

    def replaced(self, documents: Mapping[str, Counter[str]]) -> StoredBM25:
        """As `BM25.replaced`: some documents' contents replaced, document frequencies kept."""
        copy = StoredBM25(self.postings, dict(self.length), self.position, self.k1, self.b)
        copy.n, copy.idf = self.n, self.idf
        copy.replacements = {**self.replacements, **documents}
        tail = max(self.position.values(), default=-1) + 1
        for key, counts in documents.items():
            if key not in copy.position:  # BM25 appends a new document at the end
                copy.position = {**copy.position, key: tail}
                tail += 1
            copy.length[key] = sum(counts.values())
        copy.avg = (sum(copy.length.values()) / copy.n) if copy.n else 0.0
        return copy

    def rank(self, query: Iterable[str]) -> list[tuple[str, float]]:
        return sorted(self.scores(query).items(), key=lambda kv: (-kv[1], kv[0]))


class PathWords:
    """Path-word matches over every file's (path words, stem words), held in memory."""

    def __init__(self, words: dict[str, tuple[frozenset[str], frozenset[str]]]) -> None:
        self.words = words

    def scores(self, query: list[str]) -> dict[str, float]:
        wanted = set(query)
        df: Counter[str] = Counter()
        for words, _stem in self.words.values():
            df.update(words & wanted)
        n = len(self.words)
        out = {}
        for path, (words, stem) in self.words.items():
            hit = words & wanted
            if hit:
                out[path] = sum(math.log(1 + n / df[w]) * (2.0 if w in stem else 1.0)
                                for w in sorted(hit))
        return out


class StoredPathIndex:
    """`PathWords` scored from the "path" postings of the query's words."""

    def __init__(self, conn: sqlite3.Connection, paths: dict[int, str],
                 position: dict[str, int]) -> None:
        self.postings = _Postings(conn, "path", paths)
        self.n, self.position = len(paths), position

    def scores(self, query: list[str]) -> dict[str, float]:
        found = [(w, docs) for w in sorted(set(query))
                 if (docs := self.postings.get(w)) is not None]
        hits = {path for _w, docs in found for path in docs}
        out = {}
        for path in sorted(hits, key=self.position.__getitem__):
            out[path] = sum(math.log(1 + self.n / len(docs))
                            * (2.0 if docs[path] == STEM_WORD else 1.0)
                            for _w, docs in found if path in docs)
        return out
