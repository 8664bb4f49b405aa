"""The localizer's search documents, stored in the map: per mapped file the words its text
signals search, and their BM25 statistics, so that a query only tokenises the request.

A file's text document is its content's words (tools/search_index, per blob), its path's words
(three times) and its sleep-pass summary; its symbol document is the words of its definitions'
names and first doc lines. `sync_documents` rebuilds the documents of the files whose content,
path or summary changed since they were stored, and moves their inverted index (per word, the
files with it: tools/search_postings) by the difference; the map build and the sleep pass
call it, and a query calls it as a check, then reads the postings of the request's words only.
"""

from __future__ import annotations

import marshal
import posixpath
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.search import BM25, token_counts, tokenize
from sleepcoder.tools.search_index import cache_missing_terms, store_missing_terms
from sleepcoder.tools.search_postings import (
    PATH_WORD,
    STEM_WORD,
    PathScores,
    PathWords,
    PostingChanges,
    StoredBM25,
    StoredPathIndex,
    update_postings,
)
from sleepcoder.tools.store import MapStore

TEXT_K1 = 2.0  # code files repeat their key identifiers: saturating later helps (dev set)
BATCH = 1000  # documents built and written at a time: a full build holds one batch of them
# new documents' postings held before they are written: a full build of 33,000 files adds
# 9 million (200 MB held as arrays)
HELD_POSTINGS = 3_000_000

# ok files whose stored documents are missing or were built from another blob or summary
# (the blob too: a deleted blob's id may be given to new content)
_STALE = """
SELECT f.path, f.fid, b.blob, COALESCE(s.text, '') FROM files f
LEFT JOIN blobs b {head} ON b.id = f.fid
LEFT JOIN summaries s ON s.kind = 'file' AND s.path = f.path AND s.content_key = b.blob
                      AND s.text != ''
LEFT JOIN search_docs d ON d.path = f.path
WHERE f.status = 'ok' AND (d.path IS NULL OR d.fid IS NOT f.fid OR d.blob IS NOT b.blob
                           OR d.summary != COALESCE(s.text, ''))
"""
_GONE = ("SELECT path FROM search_docs WHERE path NOT IN "
         "(SELECT path FROM files WHERE status = 'ok')")


@dataclass
class FileDocuments:
    """What the localizer searches for one file."""

    fid: int | None
    blob: str | None
    summary: str
    text: Counter[str]  # content words, path words (x3), summary words
    symbols: Counter[str] | None  # definition names and docs; None: no definitions
    path_words: frozenset[str]
    stem_words: frozenset[str]  # the words of the file name without its extension


@dataclass
class SearchIndex:
    """The request-independent search state of a map: both BM25 indexes and the path words."""

    text: BM25 | StoredBM25
    symbols: BM25 | StoredBM25
    path_words: PathScores  # PathWords or StoredPathIndex


def text_document(path: str, terms: Mapping[str, int], summary: str) -> Counter[str]:
    """What the text signal searches for a file: its content's words, its path's words
    (three times) and its sleep-pass summary."""
    doc = Counter(terms)
    for word in tokenize(path.replace("/", " ").replace(".", " ")):
        doc[word] += 3
    if summary:
        doc.update(tokenize(summary))
    return doc


def symbol_document(definitions: list[tuple[str, str]]) -> Counter[str]:
    """The words of a blob's definitions' names and first doc lines. Counted over their
    text joined by spaces, each distinct word split once: the same counts, in the same
    order, as counting `tokenize` of each definition in turn (a tenth of the search phase
    at 33,000 files did that)."""
    return token_counts(" ".join(f"{name} {doc}" for name, doc in definitions))


def path_words(path: str) -> tuple[frozenset[str], frozenset[str]]:
    """The words of a path, and of its file name without the extension."""
    stem = posixpath.splitext(posixpath.basename(path))[0]
    return (frozenset(tokenize(path.replace("/", " ").replace(".", " "))),
            frozenset(tokenize(stem)))


def sync_documents(store: MapStore, root: Path) -> int:
    """Rebuild and store the documents of the files whose inputs changed (content terms
    missing from the map are read from the work tree); returns how many were rebuilt."""
    built, _unstored = _sync(store, root)
    return built


def _sync(store: MapStore, root: Path) -> tuple[int, dict[str, FileDocuments]]:
    """(documents rebuilt, those of them not stored): a file that could not be read keeps
    only its path's words and is tried again next time, as before the documents were stored.
    The documents are built and written `BATCH` files at a time, in one transaction with
    the postings they move (written last)."""
    stale, gone = _stale(store)
    if not stale and not gone:
        return 0, {}
    cache_missing_terms(store, root, [path for path, *_inputs in stale], BATCH)
    unstored: dict[str, FileDocuments] = {}
    with store.transaction():
        writer = _Writer(store.conn, gone)
        for start in range(0, len(stale), BATCH):
            built, unreadable = _documents(store, stale[start:start + BATCH], {})
            writer.write({p: d for p, d in built.items() if p not in unreadable})
            unstored.update((path, built[path]) for path in unreadable)
        writer.finish()
    return len(stale), unstored


def load_index(store: MapStore, root: Path, files: list[str]) -> SearchIndex:
    """The search index of the mapped `files` (in this order). Brings the stored documents
    up to date first; a map that cannot be written (a read-only checkout) gets the stale
    ones rebuilt in memory, which changes no result."""
    try:
        _built, pending = _sync(store, root)
    except sqlite3.OperationalError as exc:
        if "readonly" not in str(exc).replace("-", "").lower():
            raise
        stale, _gone = _stale(store)
        pending, _unreadable = _build(store, root, stale)
    if not pending:
        stored = _stored_index(store, files)
        if stored is not None:
            return stored
    return _full_index(store, files, pending)


def _stored_index(store: MapStore, files: list[str]) -> SearchIndex | None:
    """The index read from the postings of each query's words (None: the stored documents
    are not those of `files`, which a sync prevents)."""
    rows = store.conn.execute("SELECT id, path, text_length, symbols_length FROM search_docs"
                              ).fetchall()
    position = {path: at for at, path in enumerate(files)}
    if len(rows) != len(position) or any(path not in position for _id, path, _t, _s in rows):
        return None
    paths = {doc: path for doc, path, _t, _s in rows}
    text_length = {path: length for _id, path, length, _s in rows}
    symbols_length = {path: length for _id, path, _t, length in rows if length is not None}
    conn = store.conn
    return SearchIndex(
        StoredBM25.stored(conn, "text", paths, text_length, position, k1=TEXT_K1),
        StoredBM25.stored(conn, "symbols", paths, symbols_length, position),
        StoredPathIndex(conn, paths, position))


def _full_index(store: MapStore, files: list[str], pending: dict[str, FileDocuments]
                ) -> SearchIndex:
    """The index of every stored document, with those of `pending` in their place."""
    stored = {path: row for path, *row in store.conn.execute(
        "SELECT d.path, w.text, w.symbols FROM search_docs d JOIN search_words w ON w.id = d.id")}
    text_tf: dict[str, Mapping[str, int]] = {}
    symbol_tf: dict[str, Mapping[str, int]] = {}
    words: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for path in files:
        if path in pending:
            docs = pending[path]
            text_tf[path] = docs.text
            if docs.symbols is not None:
                symbol_tf[path] = docs.symbols
            words[path] = (docs.path_words, docs.stem_words)
            continue
        text, symbols = stored[path]
        text_tf[path] = Counter(marshal.loads(text))
        if symbols is not None:
            symbol_tf[path] = Counter(marshal.loads(symbols))
        words[path] = path_words(path)
    return SearchIndex(BM25(text_tf, k1=TEXT_K1), BM25(symbol_tf), PathWords(words))


def _stale(store: MapStore) -> tuple[list[tuple[str, int | None, str | None, str]], list[str]]:
    stale = store.conn.execute(_STALE.format(head=store.blobs_head())).fetchall()
    gone = [row[0] for row in store.conn.execute(_GONE)]
    return stale, gone


def _build(store: MapStore, root: Path, stale: list[tuple[str, int | None, str | None, str]]
           ) -> tuple[dict[str, FileDocuments], set[str]]:
    """The documents of the `stale` files, and which of them lack their content's words
    (unreadable now), all held in memory (a map that cannot be written)."""
    terms: dict[int, Mapping[str, int]] = dict(
        store_missing_terms(store, root, [path for path, *_inputs in stale]))
    return _documents(store, stale, terms)


def _documents(store: MapStore, stale: list[tuple[str, int | None, str | None, str]],
               terms: dict[int, Mapping[str, int]]) -> tuple[dict[str, FileDocuments], set[str]]:
    """The documents of the `stale` files from their content's `terms` by blob id (or, for
    a blob not in it, its stored terms), and which of them lack those (unreadable)."""
    unreadable: set[int] = set()
    missing: set[str] = set()
    symbols: dict[int, Counter[str] | None] = {}
    out: dict[str, FileDocuments] = {}
    for path, fid, blob, summary in stale:
        if fid is not None and fid not in symbols:
            if fid not in terms:
                row = store.conn.execute("SELECT terms FROM blob_terms WHERE fid=?",
                                         (fid,)).fetchone()
                terms[fid] = marshal.loads(row[0]) if row else {}  # copied by text_document
                if row is None:
                    unreadable.add(fid)
            definitions = store.conn.execute("SELECT name, doc FROM defs WHERE fid=?",
                                             (fid,)).fetchall()
            symbols[fid] = symbol_document(definitions) if definitions else None
        content = terms.get(fid, {}) if fid is not None else {}
        words = path_words(path)
        out[path] = FileDocuments(fid, blob, summary, text_document(path, content, summary),
                                  symbols.get(fid) if fid is not None else None, *words)
        if fid in unreadable:
            missing.add(path)
    return out, missing


class _Writer:
    """Writes rebuilt documents in batches and drops those of gone files, collecting how the
    postings move; `finish` writes the postings. Ids are given as one write of every
    document would: a new document is numbered after every stored one, gone ones dropped
    first."""

    def __init__(self, conn: sqlite3.Connection, gone: list[str]) -> None:
        self.conn = conn
        self.changes = {name: PostingChanges() for name in ("text", "symbols", "path")}
        gone_ids = []
        for path in gone:
            old = self._stored(path)
            if old is None:
                continue
            doc, text, symbols = old
            self.changes["text"].replace(marshal.loads(text), None, doc)
            if symbols is not None:
                self.changes["symbols"].replace(marshal.loads(symbols), None, doc)
            self.changes["path"].replace(_path_counts(path), None, doc)
            gone_ids.append((doc,))
        conn.executemany("DELETE FROM search_docs WHERE id=?", gone_ids)
        conn.executemany("DELETE FROM search_words WHERE id=?", gone_ids)
        self.next_id = (conn.execute("SELECT MAX(id) FROM search_docs").fetchone()[0] or 0) + 1

    def _stored(self, path: str) -> tuple[int, bytes, bytes | None] | None:
        return self.conn.execute("SELECT d.id, w.text, w.symbols FROM search_docs d "
                                 "JOIN search_words w ON w.id = d.id WHERE d.path=?",
                                 (path,)).fetchone()

    def write(self, built: dict[str, FileDocuments]) -> None:
        """Replace the documents of `built`, moving the postings by the difference: only the
        words whose counts changed are rewritten."""
        changes = self.changes
        rows, documents = [], []
        for path, docs in built.items():
            old = self._stored(path)
            if old is None:  # a new document: numbered after every stored one
                doc, self.next_id = self.next_id, self.next_id + 1
                changes["text"].add(docs.text, doc)
                changes["symbols"].add(docs.symbols, doc)
                changes["path"].add(_path_counts(path), doc)
            else:
                doc, text, symbols = old
                changes["text"].replace(marshal.loads(text), docs.text, doc)
                changes["symbols"].replace(None if symbols is None else marshal.loads(symbols),
                                           docs.symbols, doc)
            rows.append((doc, path, docs.fid, docs.blob, docs.summary, docs.text.total(),
                         None if docs.symbols is None else docs.symbols.total()))
            documents.append((doc, marshal.dumps(dict(docs.text)),
                              None if docs.symbols is None else marshal.dumps(dict(docs.symbols))))
        self.conn.executemany("INSERT OR REPLACE INTO search_docs VALUES (?,?,?,?,?,?,?)", rows)
        self.conn.executemany("INSERT OR REPLACE INTO search_words VALUES (?,?,?)", documents)
        # postings that only add new documents (numbered above every stored one) are written
        # as soon as many are held: appending them later gives the same rows. Not once stored
        # documents changed: applied in two steps, a word's postings could be stored with
        # another width of counts (the same values)
        for name, pending in self.changes.items():
            if not pending.changed and pending.added_postings >= HELD_POSTINGS:
                update_postings(self.conn, name, pending)
                self.changes[name] = PostingChanges()

    def finish(self) -> None:
        for name in sorted(self.changes):  # in the table's order (name, word): a full build
            update_postings(self.conn, name, self.changes[name])  # appends to its pages


def _path_counts(path: str) -> dict[str, int]:
    """A path's document in the "path" index: its words, marked when in the file name's stem."""
    words, stem = path_words(path)
    return {word: STEM_WORD if word in stem else PATH_WORD for word in words}
