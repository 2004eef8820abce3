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
import time
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import NamedTuple

from snapkit.snapshot.scan import Stat

RACY_NS = 1_000_000_000  # filesystems whose timestamps are whole seconds
FINE_RACY_NS = 50_000_000  # filesystems with sub-second timestamps


def racy_window(s: Stat) -> int:
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


# What the stat cache records for a file: (path, stat, hash, chunks, table facts as a dict).
Fresh = tuple[str, Stat, str, tuple[str, ...], dict | None]


class Cached(NamedTuple):
    hash: str
    chunks: tuple[str, ...]
    table: dict[str, object] | None


def _key(s: Stat) -> tuple[int, int, int, int, int]:
    return (s.st_dev, s.st_ino, s.st_size, s.st_mtime_ns, s.st_ctime_ns)


# A row as sqlite gives it: (path, dev, ino, size, mtime_ns, ctime_ns, hash, chunks, tables).
Row = tuple[str, int, int, int, int, int, str, str, str | None]


def _batched(cursor: sqlite3.Cursor) -> Iterator[Row]:
    while rows := cursor.fetchmany(1024):  # (one row per call costs a C round trip each)
        yield from rows


class CachedRows:
    """Look-ups of paths in increasing order against rows sorted by path (a merge join)."""

    def __init__(self, rows: Iterator[Row], connection: sqlite3.Connection | None = None) -> None:
        self._rows = rows
        self._connection = connection
        self._row: Row | None = None
        self._next()

    def _next(self) -> None:
        try:
            self._row = next(self._rows, None)
        except sqlite3.Error:
            self._row = None  # a broken cache is only a slower take

    def lookup(self, path: str, s: Stat) -> Cached | None:
        """The cached hash of `path` if its stat still matches; `path`s must come in
        increasing order (a take's scan order)."""
        while self._row is not None and self._row[0] < path:
            self._next()
        row = self._row
        if (
            row is None
            or row[0] != path
            or row[4] != s.st_mtime_ns
            or row[5] != s.st_ctime_ns
            or row[3] != s.st_size
            or row[2] != s.st_ino
            or row[1] != s.st_dev
        ):
            return None
        return Cached(row[6], tuple(row[7].split()), json.loads(row[8]) if row[8] else None)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class StatCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(path, timeout=30, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # a cache: losing its last commit is fine
            db.execute(_SCHEMA)
            self._db = db
        except (sqlite3.Error, OSError):  # (OSError: its folder cannot be made)
            self._db = None  # a broken cache is only a slower take

    def under(self, root: str) -> CachedRows:
        """The cached entries for paths under `root`, for look-ups in path order.

        They are read through a second connection as a sorted stream, merged with the
        scan (which is in path order too), so a take holds one row at a time, not the
        cache of the whole tree; and `store` can commit batches meanwhile (WAL: the
        reader keeps the view it started with).
        """
        if self._db is None:
            return CachedRows(iter(()))
        prefix = root.rstrip("/") + "/"
        # Two searches of the path index, the root's own row first (it sorts before every
        # "root/…"): one query with `OR path = ?` made sqlite sort all the rows in a
        # temporary b-tree before returning the first (≈15 ms for 20,000 rows).
        select = "SELECT path, dev, ino, size, mtime_ns, ctime_ns, hash, chunks, tables FROM files"
        try:
            reader = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            own = reader.execute(f"{select} WHERE path = ?", (root,))
            under = reader.execute(
                f"{select} WHERE path >= ? AND path < ? ORDER BY path", (prefix, prefix[:-1] + "0")
            )
        except sqlite3.Error:
            return CachedRows(iter(()))
        return CachedRows(chain(_batched(own), _batched(under)), reader)

    def store(self, items: list[Fresh], started_ns: int) -> None:
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


class LaggedRecorder:
    """Records rows for files written just now (a restore's), once they are old enough.

    A file renamed into place has a ctime of now, and a row is only safe once its ctime is
    older than the racy window (see `racy_window`): so rows wait, a few batches at most
    (those written in the last FINE_RACY_NS), and `close` waits out the newest ones.
    Files on filesystems with whole-second timestamps are left out rather than waited for.
    """

    def __init__(self, cache: StatCache) -> None:
        self.cache = cache
        self._waiting: list[tuple[int, list[Fresh]]] = []  # (newest ctime, rows)

    def add(self, rows: list[Fresh]) -> None:
        if rows:
            self._waiting.append((max(s.st_ctime_ns for _, s, *_ in rows), rows))
        self._store(time.time_ns())

    def close(self) -> None:
        if self._waiting:
            newest = max(t for t, _ in self._waiting)
            time.sleep(max(0.0, (newest + FINE_RACY_NS - time.time_ns()) / 1e9) + 0.001)
        self._store(time.time_ns(), everything=True)
        self.cache.close()

    def abandon(self) -> None:
        """Close without recording the rows still waiting (the files were not kept)."""
        self._waiting = []
        self.cache.close()

    def _store(self, now: int, everything: bool = False) -> None:
        ready: list[Fresh] = []
        waiting = []
        for t, rows in self._waiting:
            if everything or now - t > FINE_RACY_NS:
                ready += rows
            else:
                waiting.append((t, rows))
        self._waiting = waiting
        if ready:
            self.cache.store(ready, now)
