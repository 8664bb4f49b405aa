"""The localizer's search documents, stored in the map: per mapped file the words its text
signals search, and their BM25 statistics, so that a query only tokenises the request.

A file's text document is its content's words (tools/search_index, per blob), its path's words
(three times) and its sleep-pass summary; its symbol document is the words of its definitions'
names and first doc lines. `sync_documents` rebuilds the documents of the files whose content,
path or summary changed since they were stored, and updates the document frequencies by the
difference; the map build and the sleep pass call it, and a query calls it as a check.
"""

from __future__ import annotations

import marshal
import posixpath
import sqlite3
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sleepcoder.tools.search import BM25, tokenize
from sleepcoder.tools.search_index import store_missing_terms
from sleepcoder.tools.store import MapStore

TEXT_K1 = 2.0  # code files repeat their key identifiers: saturating later helps (dev set)

# ok files whose stored documents are missing or were built from another blob or summary
# (the blob too: a deleted blob's id may be given to new content)
_STALE = """
SELECT f.path, f.fid, b.blob, COALESCE(s.text, '') FROM files f
LEFT JOIN blobs b ON b.id = f.fid
LEFT JOIN summaries s ON s.kind = 'file' AND s.path = f.path AND s.content_key = b.blob
                      AND s.text != ''
LEFT JOIN search_docs d INDEXED BY search_docs_inputs ON d.path = f.path
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
    """The request-independent search state of a map: both BM25 indexes and per-file words."""

    text: BM25
    symbols: BM25
    path_words: dict[str, tuple[frozenset[str], frozenset[str]]]  # path -> (path, stem) words


def text_document(path: str, terms: Counter[str], summary: str) -> Counter[str]:
    """What the text signal searches for a file: its content's words, its path's words
    (three times) and its sleep-pass summary."""
    doc = Counter(terms)
    for word in tokenize(path.replace("/", " ").replace(".", " ")):
        doc[word] += 3
    if summary:
        doc.update(tokenize(summary))
    return doc


def symbol_document(definitions: list[tuple[str, str]]) -> Counter[str]:
    """The words of a blob's definitions' names and first doc lines."""
    words: Counter[str] = Counter()
    for name, doc in definitions:
        words.update(tokenize(f"{name} {doc}"))
    return words


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
    only its path's words and is tried again next time, as before the documents were stored."""
    stale, gone = _stale(store)
    if not stale and not gone:
        return 0, {}
    built, unreadable = _build(store, root, stale)
    with store.transaction():
        _write(store, {p: d for p, d in built.items() if p not in unreadable}, gone)
    return len(built), {p: built[p] for p in unreadable}


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
    stored = {path: row for path, *row in store.conn.execute(
        "SELECT path, text, text_length, symbols, symbols_length, path_words FROM search_docs")}
    text_tf: dict[str, Mapping[str, int]] = {}
    text_length: dict[str, int] = {}
    symbol_tf: dict[str, Mapping[str, int]] = {}
    symbol_length: dict[str, int] = {}
    words: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
    for path in files:
        if path in pending:
            docs = pending[path]
            text_tf[path], text_length[path] = docs.text, docs.text.total()
            if docs.symbols is not None:
                symbol_tf[path], symbol_length[path] = docs.symbols, docs.symbols.total()
            words[path] = (docs.path_words, docs.stem_words)
            continue
        # plain dicts: scoring only looks words up, and a Counter copy costs a tenth of a query
        text, text_len, symbols, symbols_len, both_words = stored[path]
        text_tf[path], text_length[path] = marshal.loads(text), text_len
        if symbols is not None:
            symbol_tf[path], symbol_length[path] = marshal.loads(symbols), symbols_len
        words[path] = marshal.loads(both_words)
    if pending:  # the stored frequencies do not count the documents rebuilt in memory
        return SearchIndex(BM25(text_tf, k1=TEXT_K1), BM25(symbol_tf), words)
    return SearchIndex(_from_stats(store, "text", text_tf, text_length, TEXT_K1),
                       _from_stats(store, "symbols", symbol_tf, symbol_length, 1.5), words)


def _from_stats(store: MapStore, name: str, tf: dict[str, Mapping[str, int]],
                length: dict[str, int], k1: float) -> BM25:
    row = store.conn.execute("SELECT n, df FROM search_stats WHERE name=?", (name,)).fetchone()
    if row is None or row[0] != len(tf):
        # statistics that do not describe the stored documents are a bug; the index is
        # still exact when counted from the documents
        return BM25(tf, k1=k1)
    return BM25.from_stats(tf, length, marshal.loads(row[1]), k1=k1)


def _stale(store: MapStore) -> tuple[list[tuple[str, int | None, str | None, str]], list[str]]:
    stale = store.conn.execute(_STALE).fetchall()
    gone = [row[0] for row in store.conn.execute(_GONE)]
    return stale, gone


def _build(store: MapStore, root: Path, stale: list[tuple[str, int | None, str | None, str]]
           ) -> tuple[dict[str, FileDocuments], set[str]]:
    """The documents of the `stale` files, and which of them lack their content's words
    (unreadable now)."""
    terms: dict[int, Counter[str]] = store_missing_terms(
        store, root, [path for path, *_inputs in stale])
    unreadable: set[int] = set()
    missing: set[str] = set()
    symbols: dict[int, Counter[str] | None] = {}
    out: dict[str, FileDocuments] = {}
    for path, fid, blob, summary in stale:
        if fid is not None and fid not in symbols:
            if fid not in terms:
                row = store.conn.execute("SELECT terms FROM blob_terms WHERE fid=?",
                                         (fid,)).fetchone()
                terms[fid] = Counter(marshal.loads(row[0])) if row else Counter()
                if row is None:
                    unreadable.add(fid)
            definitions = store.conn.execute("SELECT name, doc FROM defs WHERE fid=?",
                                             (fid,)).fetchall()
            symbols[fid] = symbol_document(definitions) if definitions else None
        content = terms.get(fid, Counter()) if fid is not None else Counter()
        words = path_words(path)
        out[path] = FileDocuments(fid, blob, summary, text_document(path, content, summary),
                                  symbols.get(fid) if fid is not None else None, *words)
        if fid in unreadable:
            missing.add(path)
    return out, missing


def _write(store: MapStore, built: dict[str, FileDocuments], gone: list[str]) -> None:
    """Replace the documents of `built` and drop those of `gone`, moving the document counts
    and frequencies by the difference (in place: a refresh touches a few documents' words of
    a map's many)."""
    stats = {name: _load_stats(store, name) for name in ("text", "symbols")}
    for path in [*built, *gone]:
        old = store.conn.execute("SELECT text, symbols FROM search_docs WHERE path=?",
                                 (path,)).fetchone()
        if old is not None:
            for name, raw in zip(("text", "symbols"), old, strict=True):
                if raw is not None:
                    _count(stats[name], marshal.loads(raw), -1)
    store.conn.executemany("DELETE FROM search_docs WHERE path=?", [(p,) for p in gone])
    rows = []
    for path, docs in built.items():
        _count(stats["text"], docs.text, 1)
        if docs.symbols is not None:
            _count(stats["symbols"], docs.symbols, 1)
        rows.append((path, docs.fid, docs.blob, docs.summary, marshal.dumps(dict(docs.text)),
                     docs.text.total(),
                     None if docs.symbols is None else marshal.dumps(dict(docs.symbols)),
                     0 if docs.symbols is None else docs.symbols.total(),
                     marshal.dumps((docs.path_words, docs.stem_words))))
    store.conn.executemany("INSERT OR REPLACE INTO search_docs VALUES (?,?,?,?,?,?,?,?,?)",
                           rows)
    for name, (n, df) in stats.items():
        store.conn.execute("INSERT OR REPLACE INTO search_stats VALUES (?,?,?)",
                           (name, n[0], marshal.dumps(df)))


def _count(stats: tuple[list[int], dict[str, int]], document: Mapping[str, int],
           sign: int) -> None:
    """Add (sign 1) or remove (-1) one document to the count and the frequencies."""
    n, df = stats
    n[0] += sign
    for word in document:
        left = df.get(word, 0) + sign
        if left:
            df[word] = left
        else:
            del df[word]


def _load_stats(store: MapStore, name: str) -> tuple[list[int], dict[str, int]]:
    """([number of documents], document frequency by word) as stored."""
    row = store.conn.execute("SELECT n, df FROM search_stats WHERE name=?", (name,)).fetchone()
    return ([row[0]], marshal.loads(row[1])) if row else ([0], {})
