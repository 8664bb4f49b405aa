"""Reading and writing what the sleep pass learns (summaries and notes) in the map store."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable

from sleepcoder.agent.sleep.notes import Note
from sleepcoder.agent.sleep.summaries import Outcome
from sleepcoder.tools.store import MapStore


def stored_summaries(store: MapStore, kind: str) -> dict[str, tuple[str, str, str]]:
    """path -> (content_key, text, source)."""
    return {path: (key, text, source) for path, key, text, source in store.conn.execute(
        "SELECT path, content_key, text, source FROM summaries WHERE kind=?", (kind,))}


def put_summaries(store: MapStore, kind: str, items: Iterable[tuple[Outcome, str]],
                  model: str) -> None:
    """Store outcomes with their content keys (one transaction: a batch is all or nothing)."""
    now = int(time.time())
    rows = [(kind, outcome.path, key, outcome.text, outcome.source,
             model if outcome.source != "fallback" else "", outcome.detail, now)
            for outcome, key in items]
    with store.transaction():
        store.conn.executemany("INSERT OR REPLACE INTO summaries VALUES (?,?,?,?,?,?,?,?)", rows)


def delete_summaries(store: MapStore, kind: str, paths: Iterable[str]) -> None:
    with store.transaction():
        store.conn.executemany("DELETE FROM summaries WHERE kind=? AND path=?",
                         [(kind, p) for p in paths])


def replace_notes(store: MapStore, kinds: tuple[str, ...], notes: list[Note],
                  subject: str | None = None) -> None:
    """Replace the notes of `kinds` (for one subject, or all) with `notes`."""
    with store.transaction():
        for kind in kinds:
            if subject is None:
                store.conn.execute("DELETE FROM notes WHERE kind=?", (kind,))
            else:
                store.conn.execute("DELETE FROM notes WHERE kind=? AND subject=?",
                                   (kind, subject))
        store.conn.executemany("INSERT INTO notes VALUES (?,?,?,?,?,?,?)", [
            (n.kind, n.subject, n.request, json.dumps(list(n.files)), n.reason, n.source,
             n.content_key) for n in notes])


def notes_of(store: MapStore, kind: str) -> list[Note]:
    return [Note(kind, *row) for row in store.notes(kind)]
