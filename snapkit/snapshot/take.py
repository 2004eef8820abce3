"""take: scan → hash and chunk (stat cache first) → upload missing chunks → publish.

Publish order is packs → pack index → tree → snapshot → refs, so a take killed at any
point leaves at worst unreferenced packs, which the next take indexes and reuses.
"""

from __future__ import annotations

import getpass
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import closing
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

from snapkit.errors import SnapError, from_os_error
from snapkit.objects.chunker import Chunker, chunk_id, file_hash
from snapkit.objects.writer import PackWriter
from snapkit.progress import NoProgress, Progress
from snapkit.snapshot.ignore import Ignore
from snapkit.snapshot.model import FileEntry, Snapshot, Summary, TableFacts
from snapkit.snapshot.refs import check_name
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.scan import ScanItem, scan
from snapkit.snapshot.statcache import CachedRows, Fresh, StatCache
from snapkit.snapshot.tables import CsvCounter, parquet_facts, table_format
from snapkit.snapshot.tree import TreeWriter


@dataclass(frozen=True)
class TakeResult:
    id: str
    snapshot: Snapshot
    reused_files: int  # files whose hash came from the stat cache (not read)


@dataclass(frozen=True)
class TakeOptions:
    message: str = ""
    tags: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    source_label: str | None = None  # how the source is recorded (default: its path)
    labels: tuple[tuple[str, str], ...] = ()
    include: tuple[str, ...] | None = None  # only these paths under the source (step deps/outs)
    # Look up the newest earlier snapshot of the source as parent. It reads every snapshot
    # record, so pipeline step snapshots (whose lineage is the run record) skip it.
    find_parent: bool = True
    threads: int = 0  # 0: chosen from the CPU count
    # Look for packs an interrupted writer left without an index (Repo.
    # recover_unindexed_packs lists every pack). Store.take turns it off when no other
    # lock is in the store: a writer that died keeps its lock (see PackWriter.__exit__).
    recover: bool = True


def take(
    repo: Repo, source: Path, options: TakeOptions, progress: Progress | None = None
) -> TakeResult:
    progress = progress or NoProgress()
    started = time.monotonic()
    started_ns = time.time_ns()
    for tag in options.tags:
        check_name(tag)
    source = Path(os.path.abspath(source))
    if source.is_symlink():  # `snap take data/raw` where data/raw links to the dataset
        source = Path(os.path.realpath(source))
    items = scan(source, Ignore.for_root(source, options.excludes), options.include)
    repo.load_index()
    if options.recover:
        repo.recover_unindexed_packs()

    # One pass, streamed in path order: scan → stat-cache look-up → read what changed →
    # tree rows. Memory holds a window of files, not the whole tree.
    stat_cache = StatCache(repo.cache_dir / "statcache.sqlite")
    cached = stat_cache.under(str(source))
    tree = TreeWriter()
    totals = _Totals()
    hasher = _Hasher(repo, progress)
    try:
        fresh: list = []
        with closing(hasher.entries(items, cached, options.threads)) as entries:
            for entry, new in entries:
                tree.add(entry)
                totals.add(entry)
                if new is not None:
                    fresh.append(new)
                    if len(fresh) >= _CACHE_BATCH:
                        stat_cache.store(fresh, started_ns)
                        fresh = []
        stat_cache.store(fresh, started_ns)
    except BaseException:
        # Packs this take uploaded may have no index object yet: forget what we learnt so
        # the next take re-reads the index (and re-indexes such packs) instead of trusting
        # chunks that other readers cannot find.
        repo.invalidate_index()
        raise
    finally:
        cached.close()
        stat_cache.close()

    tree_id = repo.save_encoded_tree(tree.finish())
    label = options.source_label or str(source)
    snap = Snapshot(
        tree=tree_id,
        source=label,
        root_kind="dir" if source.is_dir() else "file",
        time=datetime.now(UTC).isoformat(timespec="microseconds"),
        host=socket.gethostname(),
        user=_user(),
        message=options.message,
        tags=tuple(options.tags),
        parent=_latest_of(repo, label) if options.find_parent else None,
        summary=Summary(
            files=totals.files,
            dirs=totals.dirs,
            bytes=totals.bytes,
            tables=totals.tables,
            new_bytes=hasher.writer_stats["raw"],
            new_stored_bytes=hasher.writer_stats["stored"],
            new_chunks=hasher.writer_stats["chunks"],
            seconds=round(time.monotonic() - started, 3),
        ),
        labels=dict(options.labels),
    )
    snap_id = repo.save_snapshot(snap)
    for tag in options.tags:
        repo.refs.set(tag, snap_id)
    return TakeResult(snap_id, snap, hasher.reused)


class _Hasher:
    """Turns scan items into tree entries, reading only files the stat cache cannot vouch for."""

    def __init__(self, repo: Repo, progress: Progress) -> None:
        self.repo = repo
        self.progress = progress
        self._local = threading.local()
        self.writer_stats = {"raw": 0, "stored": 0, "chunks": 0}
        self.reused = 0  # files whose hash came from the stat cache
        self._chunk_pool: ThreadPoolExecutor | None = None  # while `entries` runs
        self._reading = 0  # files being read now (by any thread)
        self._cores = os.cpu_count() or 2
        self._reading_lock = threading.Lock()

    def entries(
        self, items: Iterator[ScanItem], cached: CachedRows, threads: int
    ) -> Iterator[tuple[FileEntry, Fresh | None]]:
        """Tree entries in scan order, each with the stat-cache row to record for a file
        that was read. Files are read by a pool while the scan goes on, in groups (up to
        64 items or 8 MiB to read: one task per small file cost more in hand-offs than the
        reading); at most a window of groups is in flight, so memory does not grow with
        the number of files.

        A group with only a few small files to read (a re-take's changed files, scattered
        among unchanged ones), or with small files only, is read here instead
        (`_read_here`): a worker reading them while this thread scans takes the GIL at
        each of the scan's `lstat`s and hands it back at its own next read, and those
        hand-offs cost the scan more than the reading (20,000 files with 200 changed: the
        `lstat`s took 90–118 ms instead of 45–50, the re-take 357–414 ms instead of
        302–336). A small file is mostly Python work, under the GIL, so workers reading
        them only take turns: a cold take of 20,000 files of 1–20 KiB took 2.4–2.9 s read
        here against 3.8–3.9 s by four workers (RESULTS.md, session 11)."""
        has_all = self.repo.objects.has_all
        workers = threads or min(4, self._cores * 2)
        window = workers * 4
        pending: deque[_Done | Future[_Done]] = deque()
        group: _Group = []
        unread = to_read = 0  # files and bytes the open group has to read
        self.progress.start("hashing", None)
        sink = PackWriter(self.repo.objects, codec=self.repo.codec, adaptive=self.repo.adaptive)
        with (
            sink as writer,
            ThreadPoolExecutor(self._cores, thread_name_prefix="snap-chunk") as chunk_pool,
            ThreadPoolExecutor(workers) as pool,  # (closed first: its reads use chunk_pool)
        ):
            self._chunk_pool = chunk_pool

            def close() -> None:
                nonlocal group, unread, to_read
                if not unread:
                    pending.append([(e, None) for _, e in group])  # type: ignore[misc]
                elif _read_here(unread, to_read):
                    pending.append(self._read_group(group, writer))
                else:
                    pending.append(pool.submit(self._read_group, group, writer))
                group, unread, to_read = [], 0, 0

            try:
                for item in items:
                    if item.kind != "file":
                        entry: FileEntry | None = _plain_entry(item)
                    else:
                        entry = None
                        hit = cached.lookup(item.abspath, item.stat)
                        if hit is not None and has_all(hit.chunks):
                            self.reused += 1
                            entry = _file_entry(item, hit.hash, hit.chunks, _facts(hit.table))
                    if entry is not None and not pending and not group:  # nothing waiting
                        yield entry, None
                        continue
                    group.append((item, entry))
                    if entry is None:
                        unread += 1
                        to_read += item.stat.st_size
                    if len(group) >= _GROUP_ITEMS or to_read >= _GROUP_BYTES:
                        close()
                    while pending and (len(pending) > window or _ready(pending[0])):
                        yield from _results(pending.popleft())
                if group:
                    close()
                while pending:
                    yield from _results(pending.popleft())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)  # not the whole window's reads
                raise
            self.writer_stats = {
                "raw": writer.new_raw_bytes,
                "stored": writer.new_bytes,
                "chunks": writer.new_chunks,
            }
        self.progress.finish()

    def _read_group(self, group: _Group, writer: PackWriter) -> _Done:
        """The group's entries, reading the files that need it; a file read gets its
        stat-cache row, a file removed meanwhile is left out."""
        out: _Done = []
        for item, entry in group:
            if entry is not None:
                out.append((entry, None))
                continue
            read = self._read(item, writer)
            if read is not None:  # (None: removed while we were taking)
                table = read.table.to_json() if read.table else None
                out.append((read, (item.abspath, item.stat, read.hash, read.chunks, table)))
        return out

    def _chunker(self) -> Chunker:
        chunker = getattr(self._local, "chunker", None)
        if chunker is None:
            chunker = self._local.chunker = Chunker(self.repo.chunker)
        return chunker

    def _read(self, item: ScanItem, writer: PackWriter) -> FileEntry | None:
        fmt = table_format(item.relpath)
        counter = CsvCounter() if fmt == "csv" else None
        ids: list[str] = []
        with self._reading_lock:
            self._reading += 1
        try:
            size = self._store_chunks(item, writer, counter, ids)
        except FileNotFoundError:
            return None  # removed while we were taking: not in this snapshot
        except OSError as exc:
            raise from_os_error(exc, f"cannot read {item.abspath}") from exc
        finally:
            with self._reading_lock:
                self._reading -= 1
        facts = counter.facts() if counter else parquet_facts(item.abspath) if fmt else None
        entry = _file_entry(item, file_hash(ids), tuple(ids), facts)
        if size != item.stat.st_size:  # changed while read: record what we stored
            entry = replace(entry, size=size)
        return entry

    def _store_chunks(
        self, item: ScanItem, writer: PackWriter, counter: CsvCounter | None, ids: list[str]
    ) -> int:
        """Cut a file, store its chunks and append their ids to `ids`; return the bytes read.

        Cutting is sequential, but hashing and storing a chunk need not be: while fewer
        files than cores are being read (the end of a take, a dataset of one big file), a
        chunk of a large file is copied out of the read buffer and handed to the chunk pool;
        otherwise it is stored here. One 500 MB CSV: 1.00 s against 1.36 s; six files of
        2 GB in all: unchanged (RESULTS.md, session 10).
        """

        def store(data: bytes | memoryview) -> str:
            cid = chunk_id(data)
            writer.add(cid, data)
            return cid

        pool = self._chunk_pool if item.stat.st_size >= _SPLIT_MIN else None
        pending: deque[str | Future[str]] = deque()  # in file order, done or not
        size = 0
        try:
            for data in self._chunker().pieces(item.abspath, item.stat.st_size):
                size += len(data)
                if counter is not None:
                    counter.feed(data)
                if pool is not None and self._reading < self._cores:  # a core would idle
                    pending.append(pool.submit(store, bytes(data)))
                else:
                    pending.append(store(data))
                while pending and (len(pending) > _SPLIT_AHEAD or isinstance(pending[0], str)):
                    ids.append(_done(pending.popleft()))
                self.progress.advance(len(data))
            ids.extend(_done(chunk) for chunk in pending)
        except BaseException:
            handed = [p for p in pending if isinstance(p, Future)]
            for p in handed:
                p.cancel()
            wait(handed)  # none may add to the writer once the take has failed
            raise
        return size


def _done(chunk: str | Future[str]) -> str:
    return chunk if isinstance(chunk, str) else chunk.result()


# A file at least this big has its chunks hashed and stored by the chunk pool when cores
# would idle (`_Hasher._store_chunks`); at most _SPLIT_AHEAD of them (≈1 MiB each) at once.
_SPLIT_MIN = 64 << 20
_SPLIT_AHEAD = 6

# Stat-cache rows written per transaction.
_CACHE_BATCH = 4096


# A run of scan items in order, each with its entry once known (None: still to read).
_Group = list[tuple[ScanItem, FileEntry | None]]
# A group done: its entries, each with the stat-cache row to record if the file was read.
_Done = list[tuple[FileEntry, Fresh | None]]

# A group is closed at this many items or this many bytes to read.
_GROUP_ITEMS = 64
_GROUP_BYTES = 8 << 20
# A group with at most this many files and bytes to read is read by the scanning thread,
_HERE_FILES = 4
_HERE_BYTES = 1 << 20
# and so is one whose files to read average at most this size (measured break-even:
# ≈24 KiB; files of 32–64 KiB were read faster by the pool, 2.2–2.3 s against 2.4–2.8 s).
_HERE_AVERAGE = 16 << 10


def _read_here(files: int, size: int) -> bool:
    """Whether a group's reading is too little, or too much under the GIL, to be worth a
    hand-off to the pool."""
    return (files <= _HERE_FILES and size <= _HERE_BYTES) or size <= files * _HERE_AVERAGE


def _ready(value: object) -> bool:
    return not isinstance(value, Future) or value.done()


def _results(value: _Done | Future[_Done]) -> _Done:
    return value.result() if isinstance(value, Future) else value


class _Totals:
    """The snapshot summary's counts, kept as the entries stream by."""

    __slots__ = ("bytes", "dirs", "files", "tables")

    def __init__(self) -> None:
        self.files = self.dirs = self.bytes = self.tables = 0

    def add(self, entry: FileEntry) -> None:
        if entry.kind == "file":
            self.files += 1
            self.bytes += entry.size
            self.tables += entry.table is not None
        elif entry.kind == "dir":
            self.dirs += 1


def _plain_entry(item: ScanItem) -> FileEntry:
    return FileEntry(
        path=item.relpath,
        kind=item.kind,  # type: ignore[arg-type]
        mode=item.stat.st_mode & 0o7777,
        mtime_ns=item.stat.st_mtime_ns,
        link_target=item.link_target,
    )


def _file_entry(
    item: ScanItem, h: str, chunks: tuple[str, ...], facts: TableFacts | None
) -> FileEntry:
    return FileEntry(
        path=item.relpath,
        kind="file",
        size=item.stat.st_size,
        mode=item.stat.st_mode & 0o7777,
        mtime_ns=item.stat.st_mtime_ns,
        hash=h,
        chunks=chunks,
        table=facts,
    )


def _facts(table: dict | None) -> TableFacts | None:
    return TableFacts.from_json(table) if table else None


def _latest_of(repo: Repo, source: str) -> str | None:
    """The newest earlier snapshot of the same source: this one's parent."""
    try:
        same = [sid for sid, s in repo.snapshots() if s.source == source]
    except SnapError:
        return None
    return same[-1] if same else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
