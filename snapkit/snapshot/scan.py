"""Walk a source folder (or one file) into the list of entries a take must record."""

from __future__ import annotations

import os
import stat as st
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from snapkit.errors import NotFound, UsageError, from_os_error
from snapkit.snapshot.ignore import Ignore

TMP_MARK = ".snaptmp-"


class FileStat(NamedTuple):
    """The part of `os.stat_result` a take uses: a third of its memory per scanned file."""

    st_mode: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int
    st_dev: int
    st_ino: int


def _slim(s: os.stat_result) -> FileStat:
    return FileStat(s.st_mode, s.st_size, s.st_mtime_ns, s.st_ctime_ns, s.st_dev, s.st_ino)


@dataclass(frozen=True, slots=True)
class ScanItem:
    relpath: str  # '/'-separated, relative to the source root
    abspath: str
    kind: str  # file | dir | symlink
    stat: FileStat
    link_target: str = ""


def scan(source: Path, ignore: Ignore, include: tuple[str, ...] | None = None) -> list[ScanItem]:
    """Every file, folder and symlink under `source` (symlinks are recorded, not followed).

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
        return [_item(source.name, str(source), root_stat)]
    if include is None:
        return list(_walk(str(source), "", ignore))
    found: dict[str, ScanItem] = {}
    for rel in sorted({p.strip("/") for p in include}):
        for item in _scan_one(source, rel, ignore):
            found.setdefault(item.relpath, item)
    return [found[k] for k in sorted(found)]


def _scan_one(source: Path, rel: str, ignore: Ignore) -> Iterator[ScanItem]:
    parts = rel.split("/")
    for i in range(1, len(parts)):  # the folders above the included path
        parent = "/".join(parts[:i])
        try:
            yield ScanItem(parent, str(source / parent), "dir", _slim(os.lstat(source / parent)))
        except FileNotFoundError:
            return
    path = source / rel
    try:
        s = os.lstat(path)
    except FileNotFoundError:
        return
    if st.S_ISDIR(s.st_mode):
        yield ScanItem(rel, str(path), "dir", _slim(s))
        yield from _walk(str(path), rel, ignore)
    else:
        yield _item(rel, str(path), s)


def _walk(abs_dir: str, rel_dir: str, ignore: Ignore) -> Iterator[ScanItem]:
    try:
        entries = sorted(os.scandir(abs_dir), key=lambda e: e.name)
    except OSError as exc:
        raise from_os_error(exc, f"cannot list {abs_dir}") from exc
    for entry in entries:
        if TMP_MARK in entry.name:
            continue
        rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
        try:
            s = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue  # vanished while we looked: not part of this snapshot
        is_dir = st.S_ISDIR(s.st_mode)
        if ignore.excluded(rel, is_dir):
            continue
        _check_name(rel, entry.path)
        if is_dir:
            yield ScanItem(rel, entry.path, "dir", _slim(s))
            yield from _walk(entry.path, rel, ignore)
        elif st.S_ISREG(s.st_mode) or st.S_ISLNK(s.st_mode):
            yield _item(rel, entry.path, s)
        # sockets, fifos and devices are not data: skipped


def _item(rel: str, abspath: str, s: os.stat_result) -> ScanItem:
    if st.S_ISLNK(s.st_mode):
        target = os.readlink(abspath)
        _check_name(target, abspath, "the target of the symlink")
        return ScanItem(rel, abspath, "symlink", _slim(s), target)
    return ScanItem(rel, abspath, "file", _slim(s))


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
