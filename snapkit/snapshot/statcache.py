"""The local stat cache: (path, device, inode, size, mtime, ctime) → file hash and chunks.

It lets a re-take skip reading files that have not changed. It is a cache: the chunks it
names are used only when the store's index still has them, and deleting it is always safe.
Entries for files changed too shortly before the take started are not stored: a change
made right after we read them could keep the same mtime and ctime (git's "racy" files).
How short depends on the filesystem's timestamp granularity, read from the file's ctime
(which no one can set): whole seconds → 1 s; finer (ext4, XFS, btrfs, APFS, NTFS keep ns
at a clock tick of ≤ 10 ms) → 50 ms. So outputs a pipeline step wrote just before its
snapshot are cached too, not re-read by every later take.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from snapkit.snapshot.scan import FileStat

RACY_NS = 1_000_000_000  # filesystems whose timestamps are whole seconds
FINE_RACY_NS = 50_000_000  # filesystems with sub-second timestamps


def racy_window(s: FileStat) -> int:
    """How long before a take a file must have last changed for its entry to be stored.

    Safe because any later change sets ctime to the (coarse) current time, which is at
    least the take's start minus one clock tick, hence later than the recorded ctime.
    """
    return RACY_NS if s.st_ctime_ns % 1_000_000_000 == 0 else FINE_RACY_NS


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


def _key(s: FileStat) -> tuple[int, int, int, int, int]:
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


# A loaded row: (dev, ino, size, mtime_ns, ctime_ns, hash, chunks, tables) as sqlite gives
# them; parsed only on a hit, so the cache of a big tree costs one tuple per file.
Row = tuple[int, int, int, int, int, str, str, str | None]


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

    def load_under(self, root: str) -> dict[str, Row]:
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
        return {r[0]: r[1:] for r in rows}

    def lookup(self, cached: dict[str, Row], path: str, s: FileStat) -> Cached | None:
        """The cached hash of `path` if its stat still matches. Each path is looked up once
        per take, so its row is dropped from `cached` (memory shrinks as the take goes)."""
        row = cached.pop(path, None)
        if row is None or row[:5] != _key(s):
            return None
        return Cached(row[5], tuple(row[6].split()), json.loads(row[7]) if row[7] else None)

    def store(
        self,
        items: list[tuple[str, FileStat, str, tuple[str, ...], dict | None]],
        started_ns: int,
    ) -> None:
        """Record hashed files; `started_ns` is when the take began (before any read)."""
        if self._db is None or not items:
            return
        now = started_ns
        rows = [
            (path, *_key(s), h, " ".join(chunks), json.dumps(table) if table else None)
            for path, s, h, chunks, table in items
            if min(now - s.st_mtime_ns, now - s.st_ctime_ns) > racy_window(s)
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
