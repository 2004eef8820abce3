"""Walk a source folder (or one file) into the list of entries a take must record."""

from __future__ import annotations

import os
import stat as st
from collections.abc import Iterator
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from snapkit.errors import NotFound, UsageError, from_os_error
from snapkit.snapshot.ignore import Ignore

TMP_MARK = ".snaptmp-"


class FileStat(NamedTuple):
    """The fields of `os.stat_result` a take uses (a stat result has them all); for
    building one by hand."""

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_dev: int
    st_ino: int


# What a take reads from a file's lstat. The scan passes on `os.stat_result` itself: a
# take holds only a window of scanned files, and making a smaller copy of each cost more
# than it saved.
Stat = os.stat_result | FileStat


class ScanItem(NamedTuple):
    """One scanned path (a tuple: made once per file, it is the cheapest record to make)."""

    relpath: str  # '/'-separated, relative to the source root
    abspath: str
    kind: str  # file | dir | symlink
    stat: Stat
    link_target: str = ""


def scan(
    source: Path, ignore: Ignore, include: tuple[str, ...] | None = None
) -> Iterator[ScanItem]:
    """Every file, folder and symlink under `source` (symlinks are recorded, not followed),
    yielded in path order (the order of a tree's rows) as the walk goes: a take streams
    them, so memory does not grow with the number of files.

    With `include` (paths relative to the folder `source`; None means everything), only
    those paths and what is under them are scanned, with their parent folders; paths that
    do not exist are skipped (a failed step may not have written all its outputs).
    """
    try:
        root_stat = os.lstat(source)
    except FileNotFoundError:
        raise NotFound(f"{source} does not exist") from None
    except OSError as exc:
        raise from_os_error(exc, f"cannot read {source}") from exc
    if not st.S_ISDIR(root_stat.st_mode):
        return iter([_item(source.name, str(source), root_stat)])
    scope = None
    if include is not None:
        paths = {p.strip("/") for p in include}
        if not paths:
            return iter(())
        if not paths & {"", "."}:  # "" or "." is the whole folder
            scope = _Scope(paths)
    return _walk(str(source), "", ignore, scope)


class _Scope:
    """The part of a folder an `include` list selects: the paths, and the folders above them."""

    def __init__(self, paths: set[str]) -> None:
        self.paths = paths
        self.above = {"/".join(p.split("/")[:i]) for p in paths for i in range(1, p.count("/") + 1)}


def _walk(abs_dir: str, rel_dir: str, ignore: Ignore, scope: _Scope | None) -> Iterator[ScanItem]:
    try:
        with os.scandir(abs_dir) as listing:
            entries = [e for e in listing if TMP_MARK not in e.name]
    except OSError as exc:
        raise from_os_error(exc, f"cannot list {abs_dir}") from exc
    # Path order: a folder's contents sort as "name/…", after siblings like "name.txt"
    # ('.' < '/'), while the folder itself sorts as "name". So each folder has two keys.
    keyed = [(e.name, e, False) for e in entries]
    keyed += [(e.name + "/", e, True) for e in entries if e.is_dir(follow_symlinks=False)]
    keyed.sort(key=itemgetter(0))
    del entries
    descend: set[str] = set()
    for _, entry, contents in keyed:
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        if contents:
            if entry.name in descend:
                inner = None if scope is None or rel in scope.paths else scope
                yield from _walk(entry.path, rel, ignore, inner)
            continue
        chosen = scope is not None and (rel in scope.paths or rel in scope.above)
        if scope is not None and not chosen:
            continue
        try:
            s = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished while we looked: not part of this snapshot
        is_dir = st.S_ISDIR(s.st_mode)
        if not chosen and ignore.excluded(rel, is_dir):
            continue
        if scope is not None and rel in scope.above and not is_dir:
            continue  # a file where the included path expects a folder
        _check_name(rel, entry.path)
        if is_dir:
            descend.add(entry.name)
            yield ScanItem(rel, entry.path, "dir", s)
        elif st.S_ISREG(s.st_mode) or st.S_ISLNK(s.st_mode):
            yield _item(rel, entry.path, s)
        # sockets, fifos and devices are not data: skipped


def _item(rel: str, abspath: str, s: os.stat_result) -> ScanItem:
    if st.S_ISLNK(s.st_mode):
        target = os.readlink(abspath)
        _check_name(target, abspath, "the target of the symlink")
        return ScanItem(rel, abspath, "symlink", s, target)
    return ScanItem(rel, abspath, "file", s)


def _check_name(name: str, abspath: str, what: str = "the name of") -> None:
    """Trees store paths as UTF-8; a name that is not (Python keeps its bytes as lone
    surrogates) is refused up front, before anything is read."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        shown = os.fsencode(abspath).decode("utf-8", errors="backslashreplace")
        raise UsageError(
            f"{what} {shown} is not valid UTF-8, which snapshots cannot record; "
            "rename it, or leave it out with --exclude or .snapignore"
        ) from None
