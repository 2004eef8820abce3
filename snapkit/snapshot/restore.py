"""restore: plan (what to write, what is unchanged, what local changes are at stake), then apply.

Apply stages every file to a temporary name next to its destination, fetching and verifying
each chunk before any byte is written; only when every file is staged are they renamed into
place. A corrupt chunk, a full disk or any other failure removes the staged files, so the
target is left as it was. Paths that would land outside the target are refused up front.

A restore into a target that does not exist yet (the common case: a fresh folder, a pull)
stages the whole tree in one hidden folder beside it, under the files' own names, and
renames that folder to the target at the end: one rename instead of one per file, and the
target appears complete or not at all.

Memory does not grow by a FileEntry per file: the plan keeps the tree as its Parquet bytes
(`TreeTable`, decoded a row group at a time) and its actions as arrays of row numbers (4 bytes
a file); planning and applying make FileEntry objects ENTRY_ROWS at a time (`EntryView`).
"""

from __future__ import annotations

import contextlib
import errno
import fnmatch
import os
import posixpath
import secrets
import shutil
import stat as st
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import overload

from snapkit.errors import CorruptObject, NotFound, Refused, SnapError, from_os_error
from snapkit.objects.chunker import Chunker, file_hash
from snapkit.progress import NoProgress, Progress
from snapkit.snapshot import swap
from snapkit.snapshot.ignore import Ignore
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.scan import TMP_MARK, scan
from snapkit.snapshot.statcache import CachedRows, Fresh, LaggedRecorder, StatCache
from snapkit.snapshot.tree import TreeTable
from snapkit.storage.fileio import pwrite_all

# Files staged together: their chunks are fetched in one go (ObjectStore.fetch), so a
# batch is what the reading threads spread over. It was 256 MiB, which made each file of a
# few-large set a batch of its own: all four threads then wrote into one file and queued on
# its inode lock (9 % of the CPU spinning); with the files together they write different
# files, and a 2 GB restore went from 1.36–2.06 s to 1.16–1.50 s. Memory does not grow with
# it (a batch holds a place per chunk; the reads are a bounded window).
BATCH_FILES = 256
BATCH_BYTES = 4 << 30
# Tree rows made into FileEntry objects at a time, while planning and applying (≈0.7 KB each).
ENTRY_ROWS = 1024
# Threads that create, finish and rename files: on ext4 creating many small files is
# mostly inode allocation in the kernel, which two threads do ≈2.5× as fast as one
# (measured: 20,000 files of 10 KB in 1.53 s with one thread, 0.56 s with two).
FILE_THREADS = 4

Placed = tuple[int, FileEntry]  # (place in plan.write, entry)


@dataclass(frozen=True)
class Change:
    """A path in the target whose current content would be replaced or removed."""

    path: str
    reason: str  # modified | type-changed | extra
    saved: bool  # its current content is in some snapshot of the store


@dataclass(frozen=True)
class Plan:
    """What a restore will do. The tree stays as it is stored and each action is an array of
    its row numbers, in tree order; `write`, `mkdir` and `touch` show them as FileEntry views
    (iterating one makes its entries a block at a time; `list()` of it makes them all)."""

    snapshot_id: str
    target: Path
    tree: TreeTable = field(repr=False)
    write_rows: array  # files (and symlinks) to (re)write
    mkdir_rows: array  # folders to create
    touch_rows: array  # same content, only mode/mtime differ
    unchanged: int
    bytes_to_write: int  # sum of the sizes of the files to write
    delete: tuple[str, ...]  # paths removed (only with delete_extra)
    changes: tuple[Change, ...]  # local content at stake
    rename: dict[str, str] = field(default_factory=dict)  # tree path → target-relative path
    fresh: bool = False  # the target did not exist: everything is written (no comparisons)
    leftovers: tuple[str, ...] = ()  # what an interrupted restore left (`_leftovers`)

    @property
    def write(self) -> EntryView:
        return EntryView(self.tree, self.write_rows)

    @property
    def mkdir(self) -> EntryView:
        return EntryView(self.tree, self.mkdir_rows)

    @property
    def touch(self) -> EntryView:
        return EntryView(self.tree, self.touch_rows)

    @property
    def unsaved(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if not c.saved)

    def dest(self, entry_path: str) -> Path:
        return self.target / self.rename.get(entry_path, entry_path)

    def dest_name(self, entry_path: str) -> str:
        """`dest` as a string, for the per-file steps (a Path costs ≈3 µs to make)."""
        return f"{self.target}/{self.rename.get(entry_path, entry_path)}"

    def to_json(self) -> dict[str, object]:
        """The plan with every path listed (this makes one string per file)."""
        return {
            "snapshot": self.snapshot_id,
            "target": str(self.target),
            "write": list(self.write.values("path")),
            "mkdir": list(self.mkdir.values("path")),
            "touch": list(self.touch.values("path")),
            "delete": list(self.delete),
            "unchanged": self.unchanged,
            "bytes_to_write": self.bytes_to_write,
            "local_changes": [c.__dict__ for c in self.changes],
            "leftovers": list(self.leftovers),
        }


class EntryView(Sequence[FileEntry]):
    """Some rows of a TreeTable (row numbers in tree order, e.g. an `array('I')`) seen as a
    sequence of FileEntry, made on demand ENTRY_ROWS at a time: iterating a view of any
    length holds one block of entries. `view[i]` makes one entry; `list(view)` makes all."""

    def __init__(self, tree: TreeTable, rows: Sequence[int]) -> None:
        self.tree = tree
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    @overload
    def __getitem__(self, i: int) -> FileEntry: ...
    @overload
    def __getitem__(self, i: slice) -> list[FileEntry]: ...
    def __getitem__(self, i: int | slice) -> FileEntry | list[FileEntry]:
        if isinstance(i, slice):
            return self.tree.entries(self.rows[i])
        return self.tree.entry(self.rows[i])

    def __iter__(self) -> Iterator[FileEntry]:
        for _, entries in self.blocks():
            yield from entries

    def at(self, places: Sequence[int]) -> list[FileEntry]:
        """The entries at these places of the view (not row numbers)."""
        return self.tree.entries(array("I", (self.rows[i] for i in places)))

    def blocks(self, size: int | None = None) -> Iterator[tuple[int, list[FileEntry]]]:
        """(place of the first, entries) for consecutive blocks of `size` (or ENTRY_ROWS)."""
        for start, rows in self._row_blocks(size):
            yield start, self.tree.entries(rows)

    def column_blocks(self, name: str, size: int | None = None) -> Iterator[tuple[int, list]]:
        """(place of the first, values) of one column, block by block."""
        for start, rows in self._row_blocks(size):
            yield start, self.tree.column(name, rows)

    def values(self, name: str) -> Iterator:
        """One column's values in order (e.g. "path"), made a block at a time."""
        for _, values in self.column_blocks(name):
            yield from values

    def _row_blocks(self, size: int | None) -> Iterator[tuple[int, Sequence[int]]]:
        step = size or ENTRY_ROWS
        for start in range(0, len(self.rows), step):
            yield start, self.rows[start : start + step]


# -- planning -------------------------------------------------------------------------


def select(tree: TreeTable, patterns: tuple[str, ...]) -> Sequence[int]:
    """Rows matching any glob or folder prefix in `patterns`, plus the folders above them."""
    everything = range(len(tree))
    if not patterns:
        return everything
    view = EntryView(tree, everything)
    chosen = bytearray(len(tree))  # one byte a row, while selecting
    folders: set[str] = set()  # the folders above chosen paths (few: not one per file)
    for row, path in enumerate(view.values("path")):
        if _selected(path, patterns):
            chosen[row] = 1
            _add_folders_above(path, folders)
    paths = enumerate(view.values("path"))
    return array("I", (row for row, path in paths if chosen[row] or path in folders))


def _selected(path: str, patterns: tuple[str, ...]) -> bool:
    return any(
        fnmatch.fnmatchcase(path, p.rstrip("/")) or path.startswith(p.rstrip("/") + "/")
        for p in patterns
    )


def _add_folders_above(path: str, folders: set[str]) -> None:
    parent = posixpath.dirname(path)
    while parent and parent not in folders:
        folders.add(parent)
        parent = posixpath.dirname(parent)


def check_paths(entries: EntryView) -> None:
    """Refuse a tree that could write outside its target (.., absolute, through a link),
    or whose rows are not in path order (one row per path, as a take writes them)."""
    above: set[str] = set()  # every folder some path lies under (few: not one per file)
    previous = None
    for path in entries.values("path"):
        if (
            not path
            or path.startswith(("/", "\\"))
            or "\x00" in path
            or any(part in ("..", ".", "") for part in path.split("/"))
        ):
            raise Refused(f"snapshot holds an unsafe path {path!r}: nothing was restored")
        if previous is not None and path <= previous:
            raise Refused(f"snapshot rows are out of path order at {path!r}: nothing was restored")
        previous = path
        _add_folders_above(path, above)
    for path, kind in zip(entries.values("path"), entries.values("kind"), strict=True):
        if kind != "dir" and path in above:
            child = next(p for p in entries.values("path") if p.startswith(path + "/"))
            raise Refused(
                f"snapshot path {child!r} lies under {path!r}, which is a {kind}: "
                "nothing was restored"
            )


def plan_restore(
    repo: Repo,
    snap_id: str,
    snap: Snapshot,
    target: Path,
    *,
    paths: tuple[str, ...] = (),
    delete_extra: bool = False,
) -> Plan:
    tree = repo.load_tree_table(snap.tree)
    selected = EntryView(tree, select(tree, paths))
    if paths and not selected:
        raise NotFound(
            f"no path in snapshot {snap_id[:12]} matches {', '.join(paths)}",
            hint=f"`snap ls {snap_id[:12]}` lists its files",
        )
    check_paths(selected)
    rename: dict[str, str] = {}
    if snap.root_kind == "file" and selected:
        # a single-file snapshot restores to the target path itself
        rename = {selected[0].path: target.name}
        target = target.parent
    target = Path(os.path.abspath(target))
    _check_target_root(target)
    fresh = not os.path.lexists(target)
    chunker = Chunker(repo.chunker)
    found = _Found()
    if fresh:  # nothing to compare with: from two columns, no entry or lstat per file
        kinds, sizes = selected.values("kind"), selected.values("size")
        for row, kind, size in zip(selected.rows, kinds, sizes, strict=True):
            found.add_missing(row, kind, size)
    else:
        # Files the stat cache vouches for (same inode, size, mtime, ctime as when a take or
        # restore recorded them) are not read again to be compared; the look-ups come in
        # path order, as the cache's rows are read (a merge, as in take).
        stat_cache = StatCache(repo.cache_dir / "statcache.sqlite")
        cached = stat_cache.under(str(target))
        try:
            for row, e in zip(selected.rows, selected, strict=True):
                rel = rename.get(e.path, e.path)
                found.add(row, e, rel, *_compare(target / rel, e, chunker, cached))
        finally:
            cached.close()
            stat_cache.close()
    delete = _extras(target, selected, paths) if delete_extra and snap.root_kind == "dir" else []
    changes = found.changes + [(p, "extra", _hash_path(target / p, chunker)) for p in delete]
    saved = _saved_hashes(repo, [h for _, _, h in changes if h]) if changes else set()
    return Plan(
        snapshot_id=snap_id,
        target=target,
        tree=tree,
        write_rows=found.write,
        mkdir_rows=found.mkdir,
        touch_rows=found.touch,
        unchanged=found.unchanged,
        bytes_to_write=found.bytes_to_write,
        delete=tuple(delete),
        changes=tuple(Change(p, r, h is None or h in saved) for p, r, h in changes),
        rename=rename,
        fresh=fresh and not rename,
        leftovers=_leftovers(target, rename),
    )


def _leftovers(target: Path, rename: dict[str, str]) -> tuple[str, ...]:
    """Hidden `.snaptmp-` entries that a restore killed part-way left beside the target (a
    fresh restore's staged tree) or in it (files staged, or swapped out of the way, next
    to their destination: these may hold what stood there before). Only those two folders
    are looked at. They are reported, never removed: whether they are still wanted is the
    user's call."""
    own = f".{target.name[:100]}{TMP_MARK}"
    beside = [] if rename else _listed(target.parent, lambda name: name.startswith(own))
    return tuple(sorted(beside + _listed(target, lambda name: TMP_MARK in name)))


def _listed(folder: Path, wanted: Callable[[str], bool]) -> list[str]:
    try:
        with os.scandir(folder) as listing:
            return [e.path for e in listing if wanted(e.name)]
    except OSError:  # (not there yet, or not a folder: nothing left there)
        return []


@dataclass
class _Found:
    """What comparing the entries with the target found: row numbers per action."""

    write: array = field(default_factory=lambda: array("I"))
    mkdir: array = field(default_factory=lambda: array("I"))
    touch: array = field(default_factory=lambda: array("I"))
    unchanged: int = 0
    bytes_to_write: int = 0
    changes: list[tuple[str, str, str | None]] = field(default_factory=list)

    def add(self, row: int, e: FileEntry, rel: str, state: str, local_hash: str | None) -> None:
        if state == "same":
            self.unchanged += 1
        elif state == "meta":
            self.touch.append(row)
        else:
            self.add_missing(row, e.kind, e.size)
        if state in ("modified", "type-changed"):
            self.changes.append((rel, state, local_hash))

    def add_missing(self, row: int, kind: str, size: int) -> None:
        if kind == "dir":
            self.mkdir.append(row)
        else:
            self.write.append(row)
            self.bytes_to_write += size if kind == "file" else 0


def _check_target_root(target: Path) -> None:
    """The target, and whatever part of its path exists, must be folders."""
    for folder in (target, *target.parents):
        if folder.exists():
            if not folder.is_dir():
                raise Refused(f"cannot restore into {target}: {folder} is not a folder")
            return


def _compare(
    dest: Path, e: FileEntry, chunker: Chunker, cached: CachedRows | None = None
) -> tuple[str, str | None]:
    """'missing' | 'same' | 'meta' | 'modified' | 'type-changed', and the local hash if hashed.

    A local hash of None on a change means there is nothing to lose (an empty folder, a link).
    """
    try:
        s = os.lstat(dest)
    except (FileNotFoundError, NotADirectoryError):  # (a file where a parent folder goes)
        return "missing", None
    except OSError as exc:
        raise from_os_error(exc, f"cannot inspect {dest}") from exc
    if e.kind == "dir":
        if st.S_ISDIR(s.st_mode):
            return ("same" if s.st_mode & 0o7777 == e.mode else "meta"), None
        return "type-changed", _hash_path(dest, chunker)
    if e.kind == "symlink":
        if st.S_ISLNK(s.st_mode):
            return ("same" if os.readlink(dest) == e.link_target else "modified"), None
        return "type-changed", _hash_path(dest, chunker)
    if not st.S_ISREG(s.st_mode):
        return "type-changed", _hash_path(dest, chunker)
    hit = cached.lookup(str(dest), s) if cached is not None else None
    local = hit.hash if hit is not None else _hash_file(dest, s.st_size, chunker)
    if local != e.hash:
        return "modified", local
    same_meta = s.st_mode & 0o7777 == e.mode and s.st_mtime_ns == e.mtime_ns
    return ("same" if same_meta else "meta"), None


def _hash_file(path: Path, size: int, chunker: Chunker) -> str:
    try:
        return file_hash([c.id for c in chunker.chunks(path, size)])
    except OSError as exc:
        raise from_os_error(exc, f"cannot read {path}") from exc


def _hash_path(path: Path, chunker: Chunker) -> str | None:
    """Hash of a regular file (None for anything else: links and folders hold no data)."""
    s = os.lstat(path)
    if st.S_ISREG(s.st_mode):
        return _hash_file(path, s.st_size, chunker)
    if st.S_ISDIR(s.st_mode) and any(os.scandir(path)):
        return "dir-with-content"  # never in a snapshot as such: counts as unsaved
    return None


def _extras(target: Path, selected: EntryView, paths: tuple[str, ...]) -> list[str]:
    """Files in the target that the snapshot lacks, within what a take of it would cover.

    Paths a take would exclude (.snapignore, .snap) are out of the snapshot's scope and so
    never deleted; with --path only the selected part of the target is considered. The scan
    yields paths in tree order, so it is merged with the tree's paths (no set of them).
    """
    if not target.is_dir():
        return []
    wanted = selected.values("path")  # in path order (check_paths made sure)
    current = next(wanted, None)
    extra = []
    for item in scan(target, Ignore.for_root(target)):
        while current is not None and current < item.relpath:
            current = next(wanted, None)
        if item.kind != "dir" and item.relpath != current:
            extra.append(item.relpath)
    return [p for p in extra if not paths or _selected(p, paths)]


def _saved_hashes(repo: Repo, hashes: list[str]) -> set[str]:
    """Which of `hashes` are the content of a file in some snapshot of the store."""
    wanted = set(hashes)
    found: set[str] = set()
    seen_trees: set[str] = set()
    for _, snap in reversed(repo.snapshots()):
        if snap.tree in seen_trees:
            continue
        seen_trees.add(snap.tree)
        tree = repo.load_tree_table(snap.tree)
        rows = EntryView(tree, range(len(tree)))
        pairs = zip(rows.values("hash"), rows.values("kind"), strict=True)
        found |= wanted.intersection(h for h, kind in pairs if kind == "file")
        if found == wanted:
            break
    return found


# -- applying -------------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreResult:
    plan: Plan
    written: int
    bytes_written: int
    deleted: int


def apply_plan(repo: Repo, plan: Plan, progress: Progress | None = None) -> RestoreResult:
    """Stage everything, verify everything, then rename into place (see module docstring)."""
    progress = progress or NoProgress()
    undo = _Undo()
    staging = _Staging.of(plan)
    recorder = LaggedRecorder(StatCache(repo.cache_dir / "statcache.sqlite"))
    with ThreadPoolExecutor(FILE_THREADS) as pool:  # one pool for staging and commit
        try:
            _make_dirs(plan, staging, undo)
            progress.start("restoring", plan.bytes_to_write)
            for batch in _file_batches(plan.write):
                rows = _stage_batch(repo, plan, staging, batch, progress, pool)
                recorder.add(rows)
            progress.finish()
            _stage_symlinks(plan, staging)
        except BaseException as exc:
            progress.finish()
            recorder.abandon()
            _rollback(plan, staging, undo)
            if isinstance(exc, OSError):
                raise from_os_error(exc, "restore failed, target left as it was") from exc
            if isinstance(exc, CorruptObject):
                raise _name_files(exc, plan, repo) from exc
            raise
        _commit(plan, staging, undo, pool, recorder)
    for _, aside in undo.aside:
        aside.unlink(missing_ok=True)
    return RestoreResult(plan, len(plan.write), plan.bytes_to_write, len(plan.delete))


@dataclass(frozen=True)
class _Staging:
    """Where files are written before they are moved into place. Staged names follow from
    the destination, this restore's token and the entry's place in plan.write, so nothing
    per file is kept between staging and commit.

    With `root` (a fresh plan), the whole tree is staged in that hidden folder beside the
    target, under the files' own names, and the commit renames the folder to the target.
    Else each file is staged next to its destination and renamed there.
    """

    plan: Plan
    token: str
    root: str | None

    @classmethod
    def of(cls, plan: Plan) -> _Staging:
        token = secrets.token_hex(4)
        if not plan.fresh:
            return cls(plan, token, None)
        target = plan.target
        return cls(plan, token, f"{target.parent}/.{target.name[:100]}{TMP_MARK}{token}")

    def name(self, path: str, i: int) -> str:
        """Where plan.write[i] (tree path `path`) is staged."""
        if self.root is not None:
            return f"{self.root}/{path}"
        return _staged_name(self.plan.dest_name(path), self.token, i)


def _staged_name(dest: str, token: str, i: int) -> str:
    """Where plan.write[i] is staged when staged next to its destination."""
    folder, name = os.path.split(dest)
    return f"{folder}/.{name[:100]}{TMP_MARK}{token}-{i:x}"


def _inside(plan: Plan, path: str | Path, seen: dict[str, bool] | None = None) -> None:
    """Refuse a destination whose real folder is not inside the target (symlinked parents).

    `seen` caches the verdict per parent folder within one batch: a restore of many small
    files otherwise resolves the same folders (realpath, an lstat per component) per file.
    """
    parent = os.path.dirname(path)
    ok = seen.get(parent) if seen is not None else None
    if ok is None:
        real_target = os.path.realpath(plan.target)
        real_parent = os.path.realpath(parent)
        ok = real_parent == real_target or real_parent.startswith(real_target + os.sep)
        if seen is not None:
            seen[parent] = ok
    if not ok:
        raise Refused(f"{path} would be written through a symlink outside {plan.target}")


@dataclass
class _Undo:
    """What staging changed in the target, so a failed restore can put it back."""

    created: list[Path] = field(default_factory=list)  # folders made
    aside: list[tuple[Path, Path]] = field(default_factory=list)  # (original, moved-aside)


def _make_dirs(plan: Plan, staging: _Staging, undo: _Undo) -> None:
    missing_above = [p for p in reversed(plan.target.parents) if not p.exists()]
    if staging.root is not None:  # a new folder of our own: no link or file to meet in it
        for d in missing_above:
            d.mkdir()
            undo.created.append(d)
        os.mkdir(staging.root)
        undo.created.append(Path(staging.root))
        folders = set(plan.mkdir.values("path"))
        for path in plan.write.values("path"):
            _add_folders_above(path, folders)
        for rel in sorted(folders, key=lambda p: p.count("/")):
            os.mkdir(f"{staging.root}/{rel}")
        return
    folders = {plan.dest(e.path) for e in plan.mkdir}  # the snapshot's own (few)
    parents = {posixpath.dirname(plan.rename.get(p, p)) for p in plan.write.values("path")}
    needed = {*missing_above, plan.target, *folders, *(plan.target / p for p in parents)}
    for d in sorted(needed, key=lambda p: len(p.parts)):
        if d.is_symlink() or (d.exists() and not d.is_dir()):
            if d not in folders:
                raise Refused(f"{d} is not a folder; cannot restore into it")
            _inside(plan, d)
            # a file or link where the snapshot has a folder (a planned change): moved
            # aside, deleted only once the restore has succeeded
            aside = d.parent / f".{d.name[:100]}{TMP_MARK}{secrets.token_hex(4)}"
            os.rename(d, aside)
            undo.aside.append((d, aside))
        if not d.exists():
            if d != plan.target and d not in missing_above:
                _inside(plan, d)
            d.mkdir()
            undo.created.append(d)


def _file_batches(writes: EntryView) -> Iterator[list[Placed]]:
    """The files of `writes` with their places, in batches of at most BATCH_FILES files
    and BATCH_BYTES (symlinks are staged apart)."""
    batch: list[Placed] = []
    size = 0
    for start, entries in writes.blocks():
        for i, e in enumerate(entries, start):
            if e.kind != "file":
                continue
            if len(batch) >= BATCH_FILES or (batch and size + e.size > BATCH_BYTES):
                yield batch
                batch, size = [], 0
            batch.append((i, e))
            size += e.size
    if batch:
        yield batch


def _stage_batch(
    repo: Repo,
    plan: Plan,
    staging: _Staging,
    batch: list[Placed],
    progress: Progress,
    pool: Executor,
) -> list[Fresh]:
    """Write a batch of files to their staged names; the stat-cache rows of a fresh
    plan's files (their names and inodes are final: only their folder is renamed)."""
    targets: dict[str, list[tuple[int, int]]] = defaultdict(list)  # chunk → (fd, offset)
    entries = dict(batch)
    rows: list[Fresh] = []
    if staging.root is None:
        seen: dict[str, bool] = {}
        for _, e in batch:
            _inside(plan, plan.dest_name(e.path), seen)

    def create(i: int) -> int:
        e = entries[i]
        tmp = staging.name(e.path, i)
        # Not sized first: the chunks' positional writes cover the whole file (their raw
        # lengths add up to its size), and an ftruncate per file cost ≈20 µs of kernel time.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        fds[i] = fd  # (every file opened is closed below)
        return fd

    def finish(i: int) -> None:  # through the open file: no path look-ups
        e = entries[i]
        os.fchmod(fds[i], e.mode)
        os.utime(fds[i], ns=(e.mtime_ns, e.mtime_ns))
        if staging.root is not None:
            s = os.fstat(fds[i])
            table = e.table.to_json() if e.table else None
            rows.append((plan.dest_name(e.path), s, e.hash, e.chunks, table))  # (thread-safe)

    fds: dict[int, int] = {}
    places = [(i, e.path) for i, e in batch]
    try:
        _per_folder(pool, places, create)
        for i, e in batch:
            if len(e.chunks) == 1:  # (most files: no look-up of the chunk's length)
                targets[e.chunks[0]].append((fds[i], 0))
                continue
            offset = 0
            for cid in e.chunks:
                targets[cid].append((fds[i], offset))
                offset += repo.objects.locate(cid).raw_length

        def write(cid: str, data: bytes) -> None:  # called from the reading threads
            for fd, offset in targets[cid]:
                pwrite_all(fd, data, offset)  # positional: safe from several threads
                progress.advance(len(data))

        for _ in repo.objects.fetch(targets, sink=write):
            pass
        _per_folder(pool, places, finish)
    finally:
        for fd in fds.values():
            os.close(fd)
    return rows


def _per_folder(pool: Executor, places: Sequence[tuple[int, str]], work: Callable) -> None:
    """`work(i)` for each (place in plan.write, tree path), a folder's files in one thread,
    folders in parallel: creating files is mostly kernel work (inode allocation) that
    threads overlap, while threads in one folder only contend for its lock."""
    runs: list[list[int]] = []
    folder = None
    for i, path in places:
        parent = posixpath.dirname(path)
        if parent != folder or not runs:
            runs.append([])
            folder = parent
        runs[-1].append(i)
    failed: BaseException | None = None
    for future in [pool.submit(lambda run: [work(i) for i in run], run) for run in runs]:
        try:
            future.result()
        except BaseException as exc:  # wait for all (files they open must be closed)
            failed = failed or exc
    if failed is not None:
        raise failed


def _stage_symlinks(plan: Plan, staging: _Staging) -> None:
    for start, kinds in plan.write.column_blocks("kind"):
        places = [i for i, kind in enumerate(kinds, start) if kind == "symlink"]
        for i, e in zip(places, plan.write.at(places), strict=True):
            if staging.root is None:
                _inside(plan, plan.dest_name(e.path))
            os.symlink(e.link_target, staging.name(e.path, i))


def _commit(
    plan: Plan, staging: _Staging, undo: _Undo, pool: Executor, recorder: LaggedRecorder
) -> None:
    """Rename staged files into place; then set metadata, delete, and set folders' metadata.

    Each file is swapped with what stands at its destination (`swap.exchange`), which stays
    under the staged name until every file is in place: if one cannot be moved, those
    already moved are swapped back and the target is left as it was. Only then are the old
    copies deleted; what fails after that point leaves every file in place. (Where the
    file system cannot swap, files replace what was there for good, as before.)

    The files renamed into place are recorded in the stat cache (as `dvc checkout` records
    its state), so a take of the restored folder does not read them again.
    """
    # Where the plan found a folder (or other non-file) standing where a file goes: the one
    # place a folder may be swapped out (or, without swaps, cleared before the rename).
    changed_type = {c.path for c in plan.changes if c.reason == "type-changed"}
    moved = _Moved()
    try:
        try:
            if staging.root is not None:  # (its files were recorded while staged)
                _rename_fresh(plan, staging.root)
            else:
                for start, entries in plan.write.blocks(BATCH_FILES):  # (not a future per file)
                    batch = list(enumerate(entries, start))
                    rows = _rename_staged(plan, staging, batch, changed_type, pool, moved)
                    recorder.add(rows)
        except OSError as exc:
            recorder.abandon()
            stuck = _put_back(plan, staging, moved)
            _rollback(plan, staging, undo, keep=set(stuck))
            raise _commit_failed(exc, plan, moved, stuck) from exc
        try:
            _discard_old(plan, staging, moved.swapped)
            for e in plan.touch:
                dest = plan.dest(e.path)
                if e.kind == "file":
                    os.utime(dest, ns=(e.mtime_ns, e.mtime_ns))
                if e.kind != "symlink":
                    os.chmod(dest, e.mode)
            for rel in plan.delete:
                p = plan.target / rel
                _inside(plan, p)
                p.unlink(missing_ok=True)
            folders = [e for e in chain(plan.mkdir, plan.touch) if e.kind == "dir"]  # (few)
            for e in sorted(folders, key=lambda e: -len(e.path)):
                dest = plan.dest(e.path)
                os.chmod(dest, e.mode)
                os.utime(dest, ns=(e.mtime_ns, e.mtime_ns))
        except OSError as exc:
            raise _commit_failed(exc, plan, moved, [], finished=True) from exc
    finally:
        recorder.close()


@dataclass
class _Moved:
    """What a commit has moved into place so far, as places in plan.write (list.append is
    thread-safe)."""

    swapped: list[int] = field(default_factory=list)  # what stood there is at the staged name
    created: list[int] = field(default_factory=list)  # nothing stood there
    replaced: list[int] = field(default_factory=list)  # replaced for good (could not swap)

    def __len__(self) -> int:
        return len(self.swapped) + len(self.created) + len(self.replaced)


def _put_back(plan: Plan, staging: _Staging, moved: _Moved) -> list[int]:
    """Undo a failed commit's renames: what stood at each destination goes back there and
    the files new there are removed. The places that could not be put back (their old
    content stays at the staged name)."""
    stuck = []
    swapped, created = sorted(moved.swapped), sorted(moved.created)  # (`at` takes rows in order)
    for i, e in zip(swapped, plan.write.at(swapped), strict=True):
        try:
            swap.exchange(staging.name(e.path, i), plan.dest_name(e.path))
        except (OSError, swap.NotSupported):
            stuck.append(i)
    for e in plan.write.at(created):
        with contextlib.suppress(OSError):  # (a file we wrote: left in place at worst)
            os.unlink(plan.dest_name(e.path))
    return stuck


def _discard_old(plan: Plan, staging: _Staging, places: list[int]) -> None:
    """Delete what the commit swapped out (files, links, or a folder where a file went)."""
    places = sorted(places)  # (`at` takes rows in order)
    for i, e in zip(places, plan.write.at(places), strict=True):
        old = staging.name(e.path, i)
        try:
            os.unlink(old)
        except IsADirectoryError:
            shutil.rmtree(old)


def _commit_failed(
    exc: OSError, plan: Plan, moved: _Moved, stuck: list[int], *, finished: bool = False
) -> SnapError:
    """The error for a failure while moving staged files into place, saying what state the
    target is in. Nothing is lost either way: what a file replaced was in some snapshot,
    or the plan refused it or saved it in a safety snapshot first."""
    total = len(plan.write)
    again = "then run the same restore again: it writes only what still differs"
    if finished:
        state = "every file is in place; metadata, deletions or old copies were not all done"
    elif plan.fresh:
        state = f"nothing was written to {plan.target}"
    elif stuck:
        shown = ", ".join(e.path for e in plan.write.at(stuck[:3]))
        state = (
            f"{len(stuck)} of the {len(moved)} files moved could not be put back ({shown}"
            f"{', …' if len(stuck) > 3 else ''}): what was there is beside each, under a "
            f"hidden name with {TMP_MARK} in it"
        )
    elif moved.replaced:
        state = (
            f"{len(moved.replaced)} of {total} files are in place with the snapshot's content, the "
            "others are as they were (this file system cannot swap files, so they could "
            "not be put back)"
        )
    else:
        state = f"{plan.target} was left as it was"
    error = from_os_error(exc, f"restore failed while moving files into place ({state})")
    error.hint = f"{error.hint}; {again}" if error.hint else f"fix the cause, {again}"
    return error


def _rename_fresh(plan: Plan, root: str) -> None:
    """Move the staged tree into place, unless something appeared at the target meanwhile
    (renaming onto an empty folder would replace it: the target is checked first)."""
    if os.path.lexists(plan.target):
        shutil.rmtree(root, ignore_errors=True)
        raise Refused(
            f"{plan.target} appeared while it was being restored: nothing was changed in it",
            hint="run the restore again",
        )
    os.rename(root, plan.target)


def _rename_staged(
    plan: Plan,
    staging: _Staging,
    places: list[Placed],
    changed_type: set[str],
    pool: Executor,
    moved: _Moved,
) -> list[Fresh]:
    """Move a batch into place, recording in `moved` how each went (see `_commit`); the
    stat-cache rows of its files."""
    entries = dict(places)
    rows: list[Fresh] = []

    def rename(i: int) -> None:  # (a file's mode and mtime were set when it was staged)
        e = entries[i]
        dest = plan.dest_name(e.path)
        staged = staging.name(e.path, i)
        planned = plan.rename.get(e.path, e.path) in changed_type  # a folder may go
        try:
            try:
                swap.exchange(staged, dest)
            except FileNotFoundError:  # nothing stands where it goes
                swap.rename_new(staged, dest)
                moved.created.append(i)
            else:
                # (an lstat of what was swapped out: a folder that appeared where a file
                # goes since the plan is not ours to replace; os.replace would refuse it)
                if not planned and st.S_ISDIR(os.lstat(staged).st_mode):
                    swap.exchange(staged, dest)
                    raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), dest)
                moved.swapped.append(i)
        except swap.NotSupported:
            if planned:
                _clear_non_file(dest)
            os.replace(staged, dest)
            moved.replaced.append(i)
        if e.kind == "file":
            s = os.lstat(dest)
            # Only what is still as written: a change made since would show in size or mtime.
            if st.S_ISREG(s.st_mode) and s.st_size == e.size and s.st_mtime_ns == e.mtime_ns:
                table = e.table.to_json() if e.table else None
                rows.append((dest, s, e.hash, e.chunks, table))  # (append: thread-safe)

    _per_folder(pool, [(i, e.path) for i, e in places], rename)
    return rows


def _remove_staged(plan: Plan, staging: _Staging, keep: set[int] | frozenset = frozenset()) -> None:
    """Remove whatever is still staged (names not staged, or already renamed, are absent),
    except the places in `keep` (a failed commit could not put their old content back)."""
    if staging.root is not None:
        shutil.rmtree(staging.root, ignore_errors=True)
        return
    for i, path in enumerate(plan.write.values("path")):
        if i not in keep:
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                os.unlink(staging.name(path, i))


def _clear_non_file(dest: str) -> None:
    """A folder standing where a file goes (type change, allowed by the plan) is removed."""
    try:
        is_dir = st.S_ISDIR(os.lstat(dest).st_mode)
    except FileNotFoundError:
        return
    if is_dir:
        shutil.rmtree(dest)


def _rollback(
    plan: Plan, staging: _Staging, undo: _Undo, keep: set[int] | frozenset = frozenset()
) -> None:
    """Remove what staging made (staged files but those in `keep`, folders) and move back
    what it moved aside."""
    _remove_staged(plan, staging, keep)
    for d in reversed(undo.created):
        try:
            d.rmdir()
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.ENOENT):
                raise
    for original, aside in reversed(undo.aside):
        os.rename(aside, original)


def _name_files(exc: CorruptObject, plan: Plan, repo: Repo) -> SnapError:
    """Add to a corruption error the files of this restore that the bad object holds."""
    pack = exc.key.rsplit("/", 1)[-1]

    def affected(e: FileEntry) -> bool:
        if exc.chunk:
            return exc.chunk in e.chunks
        return any(repo.objects.index[c].pack == pack for c in e.chunks)

    shown: list[str] = []
    count = 0
    for e in plan.write:
        if e.kind == "file" and affected(e):
            count += 1
            if len(shown) < 10:
                shown.append(e.path)
    more = f" and {count - 10} more" if count > 10 else ""
    where = f"; affected files: {', '.join(shown)}{more}" if shown else ""
    return CorruptObject(
        f"{exc}{where}. Nothing was written to {plan.target}",
        key=exc.key,
        chunk=exc.chunk,
        hint="run `snap check --read-data` to see everything affected",
    )
