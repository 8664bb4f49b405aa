"""Reading and writing what the sleep pass learns (summaries and notes) in the map store."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable

from agent.sleep.notes import Note
from agent.sleep.summaries import Outcome


def stored_summaries(conn: sqlite3.Connection, kind: str) -> dict[str, tuple[str, str, str]]:
    """path -> (content_key, text, source)."""
    return {path: (key, text, source) for path, key, text, source in conn.execute(
        "SELECT path, content_key, text, source FROM summaries WHERE kind=?", (kind,))}


def put_summaries(conn: sqlite3.Connection, kind: str, items: Iterable[tuple[Outcome, str]],
                  model: str) -> None:
    """Store outcomes with their content keys (one transaction: a batch is all or nothing)."""
    now = int(time.time())
    rows = [(kind, outcome.path, key, outcome.text, outcome.source,
             model if outcome.source != "fallback" else "", outcome.detail, now)
            for outcome, key in items]
    with conn:
        conn.executemany("INSERT OR REPLACE INTO summaries VALUES (?,?,?,?,?,?,?,?)", rows)


def delete_summaries(conn: sqlite3.Connection, kind: str, paths: Iterable[str]) -> None:
    with conn:
        conn.executemany("DELETE FROM summaries WHERE kind=? AND path=?",
                         [(kind, p) for p in paths])


def replace_notes(conn: sqlite3.Connection, kinds: tuple[str, ...], notes: list[Note],
                  subject: str | None = None) -> None:
    """Replace the notes of `kinds` (for one subject, or all) with `notes`."""
    with conn:
        for kind in kinds:
            if subject is None:
                conn.execute("DELETE FROM notes WHERE kind=?", (kind,))
            else:
                conn.execute("DELETE FROM notes WHERE kind=? AND subject=?", (kind, subject))
        conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?)", [
            (n.kind, n.subject, n.request, json.dumps(list(n.files)), n.reason, n.source,
             n.content_key) for n in notes])


def notes_of(conn: sqlite3.Connection, kind: str) -> list[Note]:
    return [Note(kind, subject, request, tuple(json.loads(files)), reason, source, key)
            for subject, request, files, reason, source, key in conn.execute(
                "SELECT subject, request, files, reason, source, content_key FROM notes "
                "WHERE kind=? ORDER BY rowid", (kind,))]


def current_file_summaries(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    """path -> (text, source) for summaries that match the file's current content."""
    return {path: (text, source) for path, text, source in conn.execute(
        "SELECT s.path, s.text, s.source FROM summaries s JOIN files f ON f.path = s.path "
        "JOIN blobs b ON b.id = f.fid WHERE s.kind='file' AND f.status='ok' "
        "AND s.content_key = b.blob AND s.text != ''")}


def dir_summaries(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    return {path: (text, source) for path, text, source in conn.execute(
        "SELECT path, text, source FROM summaries WHERE kind='dir' AND text != ''")}
