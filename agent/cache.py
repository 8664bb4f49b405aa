"""On-disk response cache: identical requests (model + messages + parameters) cost nothing the
second time. SQLite, one file, safe for several processes."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CachedResponse:
    text: str
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


class ResponseCache:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False,
                                     isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
            "text TEXT NOT NULL, finish_reason TEXT NOT NULL, prompt_tokens INTEGER NOT NULL, "
            "completion_tokens INTEGER NOT NULL, created INTEGER NOT NULL)")
        self._lock = threading.Lock()

    @staticmethod
    def key(model: str, messages: list[dict[str, str]], params: dict) -> str:
        payload = json.dumps({"model": model, "messages": messages, "params": params},
                             sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(payload.encode()).hexdigest()

    def get(self, key: str) -> CachedResponse | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens FROM responses "
                "WHERE key=?", (key,)).fetchone()
        return CachedResponse(*row) if row else None

    def put(self, key: str, model: str, text: str, finish_reason: str, prompt_tokens: int,
            completion_tokens: int) -> None:
        with self._lock:
            self._conn.execute(
                "INSERT OR REPLACE INTO responses VALUES (?,?,?,?,?,?,?)",
                (key, model, text, finish_reason, prompt_tokens, completion_tokens,
                 int(time.time())))
