"""The local stat cache: (path, device, inode, size, mtime, ctime) → file hash and chunks.

It lets a re-take skip reading files that have not changed. It is a cache: the chunks it
names are used only when the store's index still has them, and deleting it is always safe.
Entries for files modified less than a second before the take started are not stored: a
change made right after we read them could keep the same mtime (git's "racy" files).
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

RACY_NS = 1_000_000_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY, dev INTEGER, ino INTEGER, size INTEGER,
    mtime_ns INTEGER, ctime_ns INTEGER, hash TEXT, chunks TEXT, tables TEXT
)
"""


@dataclass(frozen=True)
class Cached:
    hash: str
    chunks: tuple[str, ...]
    table: dict[str, object] | None


def _key(s: os.stat_result) -> tuple[int, int, int, int, int]:
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(_SCHEMA)
            self._db = db
        except sqlite3.Error:
            self._db = None  # a broken cache is only a slower take

    def load_under(self, root: str) -> dict[str, tuple[tuple[int, ...], Cached]]:
        """Every cached entry for paths under `root` (one query, not one per file)."""
        if self._db is None:
            return {}
        prefix = root.rstrip("/") + "/"
        try:
            rows = self._db.execute(
                "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hash, chunks, tables FROM files "
                "WHERE (path >= ? AND path < ?) OR path = ?",
                (prefix, prefix[:-1] + "0", root),
            ).fetchall()
        except sqlite3.Error:
            return {}
        return {
            r[0]: (
                tuple(r[1:6]),
                Cached(r[6], tuple(r[7].split()), json.loads(r[8]) if r[8] else None),
            )
            for r in rows
        }

    def lookup(
        self, cached: dict[str, tuple[tuple[int, ...], Cached]], path: str, s: os.stat_result
    ) -> Cached | None:
        hit = cached.get(path)
        if hit is None or hit[0] != _key(s):
            return None
        return hit[1]

    def store(
        self,
        items: list[tuple[str, os.stat_result, str, tuple[str, ...], dict | None]],
        started_ns: int,
    ) -> None:
        """Record hashed files; `started_ns` is when the take began (before any read)."""
        if self._db is None or not items:
            return
        now = started_ns
        rows = [
            (path, *_key(s), h, " ".join(chunks), json.dumps(table) if table else None)
            for path, s, h, chunks, table in items
            if now - s.st_mtime_ns > RACY_NS and now - s.st_ctime_ns > RACY_NS
        ]
        try:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)", rows)
            self._db.execute("COMMIT")
        except sqlite3.Error:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
