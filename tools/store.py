"""The map store: one SQLite database per mapped repository, under `.sleepcoder/` by default.

Per-file facts are keyed by content (git blob id + language), so a renamed or reverted file is
never parsed twice; paths, graphs and history are stored beside them. WAL mode lets readers
(`map show`) see the last committed map while a refresh is writing.
"""

from __future__ import annotations

import json
import marshal
import os
import re
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import NamedTuple

from sleepcoder.tools.facts import (
    Definition,
    FileFacts,
    Import,
    PackedFacts,
    Reference,
    pack,
    unpack_refs,
)
from sleepcoder.tools.store_health import (
    damage_behind,
    damaged,
    deleted,
    explain,
    missing_detail,
    missing_tables,
)
from sleepcoder.tools.store_location import (  # noqa: F401 - StoreError and MapMissing are re-exported
    MapMissing,
    StoreError,
    check_location,
    connect_readonly,
    unwritable,
)

SCHEMA_VERSION = 7
# Bump when tools/parse.py or the queries change what is extracted: stored facts are then stale.
EXTRACTOR_VERSION = 2
DB_NAME = "map.db"

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE blobs (
    id INTEGER PRIMARY KEY,
    blob TEXT NOT NULL,
    language TEXT NOT NULL,          -- '' for files the map lists but does not parse
    skip_reason TEXT NOT NULL,       -- '' or binary / minified (decided from the content)
    detail TEXT NOT NULL,
    lines INTEGER NOT NULL,
    doc TEXT NOT NULL,
    parse_errors INTEGER NOT NULL,
    first_error_line INTEGER NOT NULL,
    decode_replaced INTEGER NOT NULL,
    failure TEXT NOT NULL,
    refs BLOB NOT NULL,              -- marshalled (name, line, kind, scope, receiver) tuples
    ref_count INTEGER NOT NULL,
    ref_names BLOB NOT NULL,         -- marshalled sorted distinct names referred to
    UNIQUE (blob, language)
);
CREATE TABLE files (
    path TEXT PRIMARY KEY,
    status TEXT NOT NULL,            -- 'ok' (mapped) or the reason it was skipped
    detail TEXT NOT NULL,
    fid INTEGER,                     -- blobs.id when the content was read
    language TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    rank REAL NOT NULL DEFAULT 0
);
CREATE INDEX files_fid ON files(fid);
CREATE TABLE defs (
    fid INTEGER NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL, qname TEXT NOT NULL,
    signature TEXT NOT NULL, doc TEXT NOT NULL, start_line INTEGER NOT NULL,
    end_line INTEGER NOT NULL
);
CREATE INDEX defs_fid ON defs(fid);
CREATE INDEX defs_name ON defs(name);
CREATE TABLE imports (
    fid INTEGER NOT NULL, module TEXT NOT NULL, names TEXT NOT NULL, alias TEXT,
    line INTEGER NOT NULL, kind TEXT NOT NULL
);
CREATE INDEX imports_fid ON imports(fid);
CREATE TABLE import_edges (src TEXT NOT NULL, dst TEXT NOT NULL, line INTEGER NOT NULL,
                           module TEXT NOT NULL);
CREATE INDEX import_edges_src ON import_edges(src);
CREATE TABLE call_edges (src TEXT NOT NULL, src_qname TEXT NOT NULL, dst TEXT NOT NULL,
                         dst_qname TEXT NOT NULL, how TEXT NOT NULL, count INTEGER NOT NULL);
CREATE INDEX call_edges_src ON call_edges(src);
CREATE TABLE file_links (path TEXT PRIMARY KEY, bindings BLOB NOT NULL);
CREATE TABLE file_edges (src TEXT NOT NULL, dst TEXT NOT NULL, weight REAL NOT NULL);
CREATE INDEX file_edges_src ON file_edges(src);
CREATE TABLE commits (sha TEXT PRIMARY KEY, seq INTEGER NOT NULL, time INTEGER NOT NULL,
                      subject TEXT NOT NULL, nfiles INTEGER NOT NULL,
                      skipped TEXT NOT NULL,  -- '', 'too-many-files', 'root', 'merge' (search only)
                      message TEXT NOT NULL DEFAULT '');
CREATE TABLE commit_files (seq INTEGER NOT NULL, path TEXT NOT NULL, status TEXT NOT NULL,
                           old_path TEXT NOT NULL);
CREATE INDEX commit_files_path ON commit_files(path);
CREATE INDEX commit_files_seq ON commit_files(seq);
-- sleep-time knowledge (agent/sleep): written by `sleepcoder sleep`
CREATE TABLE summaries (
    kind TEXT NOT NULL,              -- 'file' or 'dir'
    path TEXT NOT NULL,              -- file path, or directory path ('' = repository root)
    content_key TEXT NOT NULL,       -- blob id (file) or hash of member summaries (dir)
    text TEXT NOT NULL,              -- what it is for ('' when skipped)
    source TEXT NOT NULL,            -- 'llm', 'fallback' (no model: docstrings/signatures),
                                     -- or 'skipped' (the model failed; detail says why)
    model TEXT NOT NULL,
    detail TEXT NOT NULL,
    updated INTEGER NOT NULL,
    PRIMARY KEY (kind, path)
);
CREATE TABLE notes (
    kind TEXT NOT NULL,              -- 'anticipated' (LLM), 'cochange' and 'recipe' (history)
    subject TEXT NOT NULL,           -- subsystem dir, file path, or commit
    request TEXT NOT NULL,           -- the anticipated request, or the commit subject
    files TEXT NOT NULL,             -- JSON list of repository paths
    reason TEXT NOT NULL,
    source TEXT NOT NULL,            -- 'llm' or 'history'
    content_key TEXT NOT NULL        -- inputs the note was derived from (to know when to redo)
);
CREATE INDEX notes_subject ON notes(kind, subject);
-- search terms of a blob's content (tools/search_index), computed on first use
CREATE TABLE blob_terms (fid INTEGER PRIMARY KEY, terms BLOB NOT NULL);
"""
# added in schema 6, in this form in schema 7 (a schema-5 or 6 map is migrated by creating
# them anew: the next sync fills them)
_SEARCH_SCHEMA = """
-- the localizer's search documents per mapped file (tools/search_docs): what they were built
-- from and their lengths; a narrow table, read whole by a query
CREATE TABLE search_docs (
    id INTEGER PRIMARY KEY,  -- the document's number in the postings, kept while its path is
    path TEXT NOT NULL UNIQUE,
    fid INTEGER, blob TEXT, summary TEXT NOT NULL,  -- what the documents were built from
    text_length INTEGER NOT NULL,
    symbols_length INTEGER  -- NULL: no definitions
);
-- the documents themselves (marshalled word counts), read when one is rebuilt
CREATE TABLE search_words (id INTEGER PRIMARY KEY, text BLOB NOT NULL, symbols BLOB);
-- the inverted index (tools/search_postings): per index (text, symbols, path) and word, the
-- ids of the documents with it (sorted: 2- or 4-byte ints after a type code) and its counts
CREATE TABLE search_postings (
    name TEXT NOT NULL, word TEXT NOT NULL, ids BLOB NOT NULL, counts BLOB NOT NULL,
    PRIMARY KEY (name, word)
) WITHOUT ROWID;
"""
_SEARCH_TABLES = ("search_docs", "search_words", "search_postings", "search_stats")
_SCHEMA += _SEARCH_SCHEMA
TABLES = tuple(re.findall(r"CREATE TABLE (\w+)", _SCHEMA))
# Added without a schema bump: a writer creates them in a map that lacks them (an older map
# then re-resolves its graphs once, see tools.graphs); readers never need them.
_ADDED_SCHEMA = """
CREATE TABLE IF NOT EXISTS graph_probes (key TEXT NOT NULL, path TEXT NOT NULL,
                                         PRIMARY KEY (key, path)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS graph_probes_path ON graph_probes(path);
-- the short columns of each blob, read per file by every refresh: its rows are long (the
-- references), so reading these from the table pages costs a 33,000-file refresh 0.2 s
CREATE INDEX IF NOT EXISTS blobs_head ON blobs(id, blob, language, skip_reason, detail,
                                               parse_errors, decode_replaced, failure,
                                               ref_count);
"""


def db_path(store_dir: Path) -> Path:
    return store_dir / DB_NAME


def explain_failure(store_dir: Path, exc: sqlite3.DatabaseError) -> Exception:
    """The one-line error (StoreError, or MapBusy) to report for a query on the map in
    `store_dir` that failed with `exc`: checks the database to say whether it is damaged."""
    return explain(db_path(store_dir), TABLES, exc)


def damage_in(store_dir: Path) -> StoreError | None:
    """After an unexpected exception while the map in `store_dir` was in use: the error to
    report instead when the map turns out to be damaged, else None (a bug: let it through)."""
    return damage_behind(db_path(store_dir), TABLES)


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-65536")
    return conn


class MapStore:
    """Read and write access to one map database."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self.conn = conn
        self.path = path
        self._identity = _identity(path)
        self._head_hint: str | None = None

    # --- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, store_dir: Path, *, create: bool, rebuild: bool = False) -> tuple[MapStore, str]:
        """Open (or create) the store. Returns the store and a notice ('' when none).

        Raises StoreError for a store path that is a symbolic link or a file, a damaged
        database (one that fails to open, lacks a table or a schema version), or one written
        by a newer sleepcoder; `rebuild=True` discards whatever is there and starts empty. A
        reader (`create=False`) may open a store it cannot write, read-only.
        """
        check_location(store_dir)
        path = db_path(store_dir)
        if rebuild:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        if not path.exists():
            if not create:
                raise MapMissing(f"no map at {store_dir}: run `sleepcoder map` first")
            store_dir.mkdir(parents=True, exist_ok=True)
            store = cls(_connect(path), path)
            store._create()
            return store, ""
        # a reader may use a map it cannot write (a read-only checkout); a writer was stopped
        # before this by tools.store_location.prepare_store_dir
        read_only = not create and unwritable(store_dir) is not None
        try:
            conn = connect_readonly(path) if read_only else _connect(path)
        except sqlite3.DatabaseError as exc:
            raise explain(path, TABLES, exc) from None
        try:
            version = _read_version(conn)
            missing = missing_tables(conn, TABLES)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise explain(path, TABLES, exc) from None
        if version is None or (version == SCHEMA_VERSION and missing):
            conn.close()  # a table dropped by hand, or a database that is not a map
            raise damaged(path, missing_detail(missing, TABLES) if missing
                          else "no schema version recorded")
        store = cls(conn, path)
        if version > SCHEMA_VERSION:
            conn.close()
            raise StoreError(
                f"the map database {path} has schema version {version}, newer than this "
                f"sleepcoder understands ({SCHEMA_VERSION}); upgrade sleepcoder or run "
                "`sleepcoder map --rebuild`"
            )
        if version < SCHEMA_VERSION:
            if not create:
                conn.close()
                raise StoreError(
                    f"the map at {path} was built by an older sleepcoder "
                    f"(schema {version}); run `sleepcoder map` to rebuild it"
                )
            if version not in (5, 6):
                store._reset()
                return store, (
                    f"the map was built by an older sleepcoder (schema {version}); rebuilding it"
                )
            store._migrate_search_tables()
        notices = [] if version == SCHEMA_VERSION else [
            f"the map was built by an older sleepcoder (schema {version}): "
            + ("adding its stored search documents" if version == 5
               else "rebuilding its stored search documents")]
        if create:
            store._add_tables()
        if store.get_meta("extractor_version") != str(EXTRACTOR_VERSION) and create:
            store._drop_facts()
            notices.append("the parser changed since this map was built: re-parsing all files")
        return store, "; ".join(notices)

    def _create(self) -> None:
        # executescript() commits on its own, so the script carries its own transaction
        self.conn.executescript(f"BEGIN;\n{_SCHEMA}\nCOMMIT;")
        with self.transaction():
            self.set_meta("schema_version", str(SCHEMA_VERSION))
            self.set_meta("extractor_version", str(EXTRACTOR_VERSION))
        self._add_tables()

    def _add_tables(self) -> None:
        had_probes = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name='graph_probes'").fetchone() is not None
        self.conn.executescript(f"BEGIN;\n{_ADDED_SCHEMA}\nCOMMIT;")
        if not had_probes:  # the graphs' lookups are not recorded: the next build resolves all
            with self.transaction():
                self.conn.execute("DELETE FROM meta WHERE key='graph_probes'")

    def _migrate_search_tables(self) -> None:
        """Schemas 6 and 7 only add the search documents (7: with their inverted index), which
        the next sync fills: nothing is parsed again."""
        drops = "".join(f"DROP TABLE IF EXISTS {table};\n" for table in _SEARCH_TABLES)
        self.conn.executescript(f"BEGIN;\n{drops}{_SEARCH_SCHEMA}\nCOMMIT;")
        with self.transaction():
            self.set_meta("schema_version", str(SCHEMA_VERSION))

    def _reset(self) -> None:
        tables = [
            row[0] for row in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
        ]
        with self.transaction():
            for table in tables:
                self.conn.execute(f"DROP TABLE IF EXISTS {table}")
        self._create()

    def _drop_facts(self) -> None:
        with self.transaction():
            for table in (
                "defs",
                "imports",
                "blob_terms",
                "blobs",
                "files",
                "import_edges",
                "call_edges",
                "file_links",
                "file_edges",
                "graph_probes",
                "search_docs",
                "search_words",
                "search_postings",
            ):  # summaries and notes are keyed by content and stay valid
                self.conn.execute(f"DELETE FROM {table}")
            self.set_meta("extractor_version", str(EXTRACTOR_VERSION))

    def drop_fact_indexes(self) -> None:
        """For a bulk load: indexes are cheaper built once than updated per row."""
        for name in ("defs_fid", "defs_name", "imports_fid"):
            self.conn.execute(f"DROP INDEX IF EXISTS {name}")

    def ensure_fact_indexes(self) -> None:
        self.conn.execute("CREATE INDEX IF NOT EXISTS defs_fid ON defs(fid)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS defs_name ON defs(name)")
        self.conn.execute("CREATE INDEX IF NOT EXISTS imports_fid ON imports(fid)")

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Commit what the block writes, or nothing: not when it raises, nor when the database
        file was deleted or replaced meanwhile (the writes would go to an unlinked file)."""
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            if _identity(self.path) != self._identity:
                raise deleted(self.path.parent)
        except BaseException:
            if self.conn.in_transaction:  # SQLite may have rolled back already (disk full)
                with suppress(sqlite3.Error):  # the error being raised says more
                    self.conn.execute("ROLLBACK")
            raise
        self.conn.execute("COMMIT")

    # --- meta ------------------------------------------------------------------------------

    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, value))

    def get_json(self, key: str) -> dict | None:
        raw = self.get_meta(key)
        return json.loads(raw) if raw else None

    # --- blobs and facts -------------------------------------------------------------------

    def blob_index(self) -> dict[tuple[str, str], tuple[int, str, str]]:
        """(blob, language) -> (fid, skip_reason, detail) for every stored blob."""
        return {
            (blob, lang): (fid, reason, detail)
            for fid, blob, lang, reason, detail in self.conn.execute(
                "SELECT id, blob, language, skip_reason, detail FROM blobs"
            )
        }

    def find_blob(self, blob: str, language: str) -> tuple[int, str, str] | None:
        """(fid, skip_reason, detail) of a stored blob, None when it is not stored."""
        return self.conn.execute(
            "SELECT id, skip_reason, detail FROM blobs WHERE blob=? AND language=?",
            (blob, language)).fetchone()

    def blobs_head(self) -> str:
        """`INDEXED BY blobs_head` for a join that reads only the blobs' short columns (SQLite
        otherwise reads their long rows); '' in a map without that index (an older map opened
        for reading)."""
        if self._head_hint is None:
            found = self.conn.execute("SELECT 1 FROM sqlite_master WHERE type='index' AND "
                                      "name='blobs_head'").fetchone()
            self._head_hint = "INDEXED BY blobs_head" if found else ""
        return self._head_hint

    def file_state(self) -> tuple[dict[str, tuple[str, str, int | None, str, int, int]],
                                  dict[str, StoredContent]]:
        """The listed files, path -> (status, detail, fid, language, size, mtime_ns), and the
        stored content of those whose content was read, from one read of the file list."""
        rows: dict[str, tuple[str, str, int | None, str, int, int]] = {}
        contents: dict[str, StoredContent] = {}
        make = StoredContent._make
        for path, status, detail, fid, lang, size, mtime_ns, blob, *head in self.conn.execute(
                "SELECT f.path, f.status, f.detail, f.fid, f.language, f.size, f.mtime_ns, "
                "b.blob, b.language, b.skip_reason, b.detail FROM files f "
                f"LEFT JOIN blobs b {self.blobs_head()} ON b.id = f.fid"):
            rows[path] = (status, detail, fid, lang, size, mtime_ns)
            if blob is not None:
                contents[path] = make((fid, blob, *head, size, mtime_ns))
        return rows, contents

    def insert_blob(self, blob: str, language: str | None, skip_reason: str, detail: str,
                    facts: PackedFacts | None) -> int:
        """Store one blob's facts; returns its fid. Facts are a function of the content, so
        a blob already stored (an identical file elsewhere) is kept as it is."""
        lang = language or ""
        row = self.conn.execute("SELECT id FROM blobs WHERE blob=? AND language=?",
                                (blob, lang)).fetchone()
        if row is not None:
            return row[0]
        f = facts or pack(FileFacts(language=language))
        cursor = self.conn.execute(
            "INSERT INTO blobs(blob, language, skip_reason, detail, lines, doc, parse_errors, "
            "first_error_line, decode_replaced, failure, refs, ref_count, ref_names) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (blob, lang, skip_reason, detail, f.lines, f.doc, f.parse_errors,
             f.first_error_line, int(f.decode_replaced), f.failure, f.refs, f.ref_count,
             f.ref_names))
        fid = cursor.lastrowid
        assert fid is not None
        definitions = marshal.loads(f.definitions)
        if definitions:
            self.conn.executemany("INSERT INTO defs VALUES (?,?,?,?,?,?,?,?)",
                                  [(fid, *d) for d in definitions])
        if f.imports:
            self.conn.executemany("INSERT INTO imports VALUES (?,?,?,?,?,?)",
                                  [(fid, *i) for i in f.imports])
        return fid

    def delete_blobs(self, fids: Iterable[int]) -> None:
        rows = [(fid,) for fid in fids]
        for table, column in (
            ("defs", "fid"),
            ("imports", "fid"),
            ("blob_terms", "fid"),
            ("blobs", "id"),
        ):
            self.conn.executemany(f"DELETE FROM {table} WHERE {column}=?", rows)

    def orphan_fids(self, candidates: Iterable[int]) -> list[int]:
        """Of `candidates`, the blob ids no file refers to any more."""
        orphans = []
        for fid in set(candidates):
            if (
                self.conn.execute("SELECT 1 FROM files WHERE fid=? LIMIT 1", (fid,)).fetchone()
                is None
            ):
                orphans.append(fid)
        return orphans

    def definitions(self, fid: int) -> list[Definition]:
        return [
            Definition(*row)
            for row in self.conn.execute(
                "SELECT kind, name, qname, signature, doc, start_line, end_line FROM defs "
                "WHERE fid=? ORDER BY start_line",
                (fid,),
            )
        ]

    def references(self, fid: int) -> list[Reference]:
        row = self.conn.execute("SELECT refs FROM blobs WHERE id=?", (fid,)).fetchone()
        return unpack_refs(row[0]) if row else []

    def imports(self, fid: int) -> list[Import]:
        return [
            _import_row(row)
            for row in self.conn.execute(
                "SELECT module, names, alias, line, kind FROM imports WHERE fid=?", (fid,)
            )
        ]

    def imports_by_path(self, paths: set[str] | None = None) -> dict[str, list[Import]]:
        """Imports of the mapped files in `paths` (all mapped files for None), by path."""
        sql = ("SELECT f.path, i.module, i.names, i.alias, i.line, i.kind FROM imports i "
               "JOIN files f ON f.fid = i.fid WHERE f.status='ok'")
        out: dict[str, list[Import]] = {}
        if paths is None:
            rows = self.conn.execute(sql)
        else:
            rows = (row for path in paths
                    for row in self.conn.execute(f"{sql} AND f.path=?", (path,)))
        for path, *row in rows:
            out.setdefault(path, []).append(_import_row(row))
        return out

    # --- files -----------------------------------------------------------------------------

    def mapped_files(self) -> dict[str, tuple[int, str]]:
        """path -> (fid, language) of the files in the map."""
        return {
            path: (fid, lang)
            for path, fid, lang in self.conn.execute(
                "SELECT path, fid, language FROM files WHERE status='ok'"
            )
        }

    def replace_files(self, rows: list[tuple[str, str, str, int | None, str, int, int]],
                      old: dict[str, tuple] | None = None) -> None:
        """Rewrite the file list: rows are (path, status, detail, fid, language, size, mtime).
        With `old` (file_state()'s rows before) and the same paths, only the rows that differ are
        written, and the table keeps its order (path order)."""
        if old is not None and len(old) == len(rows) and all(row[0] in old for row in rows):
            self.conn.executemany(
                "UPDATE files SET status=?, detail=?, fid=?, language=?, size=?, mtime_ns=? "
                "WHERE path=?",
                [(*row[1:], row[0]) for row in rows if tuple(old[row[0]]) != tuple(row[1:])])
            return
        ranks = dict(self.conn.execute("SELECT path, rank FROM files"))
        self.conn.execute("DELETE FROM files")
        self.conn.executemany(
            "INSERT INTO files(path, status, detail, fid, language, size, mtime_ns, rank) "
            "VALUES (?,?,?,?,?,?,?,?)",
            [(*row, ranks.get(row[0], 0.0)) for row in rows],
        )

    def set_ranks(self, ranks: dict[str, float]) -> None:
        self.conn.execute("UPDATE files SET rank=0")
        self.conn.executemany(
            "UPDATE files SET rank=? WHERE path=?", [(value, path) for path, value in ranks.items()]
        )

    # --- sleep-time knowledge (written by agent/sleep) -----------------------------------------

    def file_summaries(self) -> dict[str, tuple[str, str]]:
        """path -> (summary, source) for summaries of the files' current content."""
        return {path: (text, source) for path, text, source in self.conn.execute(
            "SELECT s.path, s.text, s.source FROM summaries s JOIN files f ON f.path = s.path "
            "JOIN blobs b ON b.id = f.fid WHERE s.kind='file' AND f.status='ok' "
            "AND s.content_key = b.blob AND s.text != ''")}

    def dir_summaries(self) -> dict[str, tuple[str, str]]:
        """directory ('' = root) -> (summary, source)."""
        return {path: (text, source) for path, text, source in self.conn.execute(
            "SELECT path, text, source FROM summaries WHERE kind='dir' AND text != ''")}

    def notes(self, kind: str) -> list[tuple[str, str, tuple[str, ...], str, str, str]]:
        """(subject, request, files, reason, source, content_key) of the notes of `kind`."""
        return [(subject, request, tuple(json.loads(files)), reason, source, key)
                for subject, request, files, reason, source, key in self.conn.execute(
                    "SELECT subject, request, files, reason, source, content_key FROM notes "
                    "WHERE kind=? ORDER BY rowid", (kind,))]

    def counts(self) -> dict[str, int]:
        """Rows per fact table, and over the mapped files: references, and files with parse
        errors, with undecodable bytes replaced, whose extraction failed."""
        out = {}
        for table in ("defs", "imports", "import_edges", "call_edges", "commits"):
            out[table] = self.conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        (out["refs"], out["parse_error_files"], out["decode_replaced_files"],
         out["extraction_failures"]) = self.conn.execute(
            "SELECT COALESCE(SUM(b.ref_count), 0), COALESCE(SUM(b.parse_errors > 0), 0), "
            "COALESCE(SUM(b.decode_replaced), 0), COALESCE(SUM(b.failure != ''), 0) "
            f"FROM files f JOIN blobs b {self.blobs_head()} ON b.id = f.fid "
            "WHERE f.status='ok'").fetchone()
        return out


class StoredContent(NamedTuple):
    fid: int
    blob: str
    language: str
    skip_reason: str
    detail: str
    size: int
    mtime_ns: int


def _import_row(row) -> Import:
    module, names, alias, line, kind = row
    return Import(module, marshal.loads(names), alias, line, kind)


def _read_version(conn: sqlite3.Connection) -> int | None:
    """The schema version recorded in the database; None when there is no (usable) record."""
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone() is None:
        return None
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row is not None and str(row[0]).isdigit() else None


def _identity(path: Path) -> tuple[int, int] | None:
    """Which file `path` is (device, inode), None when there is none."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino
