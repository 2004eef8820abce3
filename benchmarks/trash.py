"""Removing folders between measured commands without slowing the commands that follow.

ext4 without a journal (our VM's root file system: /sys/fs/ext4/vda/journal_task reads
`<none>`) will not reuse an inode freed less than 60 s ago, 360 s while its inode table
block is dirty (`recently_deleted()` in fs/ext4/ialloc.c). Each new file's inode search
starts at the beginning of its group and looks up every recently freed inode on the way,
so creating many files soon after deleting many costs up to ≈500 µs a file instead of
≈40: `perf` showed 60 % of the kernel time in `recently_deleted` and the buffer look-ups
it makes. Measured on one script creating 20,000 files of 10 KB: 0.85 s on a quiet file
system, 3.4–5.9 s after a few rounds of create-and-delete.

Both tools create many files (DVC's cache on `dvc add`, both restores), so which one ran
after a big deletion, and how long after, decided much of their time. The harness
therefore never deletes many files inside a block of measurements: such a folder is moved
into the trash (a rename frees no inode), the trash is emptied between blocks, and with
such a file system the next block starts once the freed inodes are out of that window. A
journalled ext4, as most machines have, skips the check, and nothing is waited for.

A folder of few files (the few-large set's data, a store of packs, DVC's cache of it) is
deleted at once, as before. This VM reports freed memory to its host (virtio-balloon free
page reporting, 2 MiB blocks and up) within seconds, and writing into reported memory
again costs a fault to the host per page; memory freed by deleting gigabytes of page cache
is written into again before it is reported (2 GB: ≈0.4 s just after a deletion, 2–5 s
in 1–4 MiB writes once reported; benchmarks/tools/pagecache.py, storage/fileio.py).
Deleting at once keeps the few-large measurements where the issue's DVC figures are
(`dvc add` 4.4 s, `dvc checkout` 1.0 s), as on a machine without that cost.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

# 60 s after the deletion for a clean inode table block (the trash is synced first), and 1 s
# because the kernel compares whole seconds.
QUIET_SECONDS = 61.0
# A folder with fewer entries than this is deleted at once (see above).
FEW_ENTRIES = 1000


class Trash:
    """A folder that removed paths are renamed into, and emptied between blocks."""

    def __init__(self, root: Path, quiet_seconds: float) -> None:
        self.root = root
        self.quiet_seconds = quiet_seconds
        self._count = 0

    def discard(self, path: Path) -> None:
        """Delete `path` if it holds few entries, else move it into the trash (same file
        system, so a rename)."""
        if not os.path.lexists(path):
            return
        if _fewer_entries_than(path, FEW_ENTRIES):
            shutil.rmtree(path)
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._count += 1
        os.rename(path, self.root / f"{self._count:06d}-{path.name}")

    def empty(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    def settle(self, log: Callable[[str], None]) -> None:
        """Empty the trash, flush, and wait until the inodes it freed may be reused."""
        if not self.root.exists():
            return
        self.empty()
        os.sync()
        if self.quiet_seconds > 0:
            log(f"  (waiting {self.quiet_seconds:.0f} s: ext4 without a journal, see trash.py)")
            time.sleep(self.quiet_seconds)


def _fewer_entries_than(path: Path, limit: int) -> bool:
    """Whether the tree at `path` holds fewer than `limit` entries (stops counting there)."""
    count = 0
    folders = [path]
    while folders:
        with os.scandir(folders.pop()) as listing:
            for entry in listing:
                count += 1
                if count >= limit:
                    return False
                if entry.is_dir(follow_symlinks=False):
                    folders.append(Path(entry.path))
    return True


def quiet_seconds_for(path: Path) -> float:
    """QUIET_SECONDS if `path` is on an ext4 file system without a journal, else 0."""
    device = _device_of(path)
    if device is None:
        return 0.0
    try:
        task = Path(f"/sys/fs/ext4/{device}/journal_task").read_text().strip()
    except OSError:
        return 0.0  # not ext4 (or not Linux)
    return QUIET_SECONDS if task == "<none>" else 0.0


def _device_of(path: Path) -> str | None:
    """The block device name (`vda`) of the mount holding `path`, from /proc/mounts."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return None
    real = os.path.realpath(path)
    best: tuple[str, str] | None = None  # (mount point, source) of the deepest mount
    for line in mounts:
        source, point = line.split()[:2]
        inside = real == point or real.startswith(point.rstrip("/") + "/")
        if inside and (best is None or len(point) > len(best[0])):
            best = (point, source)
    if best is None or not best[1].startswith("/dev/"):
        return None
    return os.path.basename(os.path.realpath(best[1]))
