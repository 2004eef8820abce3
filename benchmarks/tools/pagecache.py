"""How fast this machine reads and writes large files, by the size of each system call:
the measurements behind snapkit/storage/fileio.py (RESULTS.md, "Reading and writing
through the page cache").

    python -m benchmarks.tools.pagecache FOLDER [--mb 2000] [--pause 8]

In FOLDER (on the file system under test), it times:

- writes: MB of random bytes into a new file, with one write per 64 KiB, 512 KiB, 1 MiB
  and 4 MiB (the buffer is reused, so only the page cache is new memory);
- packs: 60 % of MB as 20 MiB files, each fsynced: written whole through the page cache,
  in 512 KiB pieces through the page cache, and with O_DIRECT (fileio.write_direct);
- reads: the packs again after dropping them from the page cache (posix_fadvise
  DONTNEED), 8 MiB and 512 KiB per read.

Each case waits `--pause` seconds first: on a VM that reports freed memory to its host
(virtio-balloon free page reporting), memory freed by the previous case is handed back
within seconds, and the effect measured is what touching such memory again costs.
"""

from __future__ import annotations

import argparse
import mmap
import os
import time
from collections.abc import Callable
from pathlib import Path

from snapkit.storage.fileio import write_all, write_direct

KiB = 1024
MiB = 1024 * KiB
PACK = 20 * MiB


def _timed(work: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, system CPU seconds) of `work`."""
    before, started = os.times(), time.perf_counter()
    work()
    return time.perf_counter() - started, os.times().system - before.system


def _write_file(path: Path, total: int, piece: int) -> None:
    buf = os.urandom(piece)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for _ in range(total // piece):
            os.write(fd, buf)
    finally:
        os.close(fd)


def _write_packs(folder: Path, count: int, how: str) -> None:
    buf = mmap.mmap(-1, PACK)
    buf[:] = os.urandom(PACK)
    view = memoryview(buf)
    for i in range(count):
        fd = os.open(folder / f"pack-{i}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            if how == "whole":
                os.write(fd, view)
            elif how == "pieces":
                write_all(fd, view)
            else:
                write_all(fd, view[write_direct(fd, view) :])
            os.fsync(fd)
        finally:
            os.close(fd)
    view.release()
    buf.close()


def _read_packs(folder: Path, piece: int) -> None:
    paths = sorted(folder.glob("pack-*"))
    for path in paths:  # out of the page cache first (written data is on disk: fsynced)
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

    for path in paths:
        with open(path, "rb", buffering=0) as f:
            while f.read(piece):
                pass


def measure(folder: Path, total_mb: int, pause: float) -> list[tuple[str, float, float]]:
    """Rows of (case, wall seconds, system seconds)."""
    folder.mkdir(parents=True, exist_ok=True)
    total = total_mb * MiB
    rows: list[tuple[str, float, float]] = []
    target = folder / "written.bin"
    for piece in (64 * KiB, 512 * KiB, 1 * MiB, 4 * MiB):
        time.sleep(pause)
        wall, sys_ = _timed(lambda p=piece: _write_file(target, total - total % p, p))
        rows.append((f"write {total_mb} MB, {piece // KiB} KiB per write", wall, sys_))
        target.unlink()
    count = max(1, total * 6 // 10 // PACK)
    for how in ("whole", "pieces", "direct"):
        time.sleep(pause)
        wall, sys_ = _timed(lambda h=how: _write_packs(folder, count, h))
        label = {
            "whole": "whole-pack writes",
            "pieces": "512 KiB writes",
            "direct": "O_DIRECT",
        }[how]
        rows.append((f"write {count} packs of 20 MiB + fsync, {label}", wall, sys_))
    for piece in (8 * MiB, 512 * KiB):
        time.sleep(pause)
        wall, sys_ = _timed(lambda p=piece: _read_packs(folder, p))
        label = f"read {count} packs not in the page cache, {piece // KiB} KiB reads"
        rows.append((label, wall, sys_))
    for path in folder.glob("pack-*"):
        path.unlink()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--mb", type=int, default=2000, help="size of each write case (MB)")
    parser.add_argument("--pause", type=float, default=8.0, help="seconds before each case")
    args = parser.parse_args()
    print("| case | wall | system CPU |\n|---|---:|---:|")
    for case, wall, sys_ in measure(args.folder, args.mb, args.pause):
        print(f"| {case} | {wall:.2f} s | {sys_:.2f} s |")


if __name__ == "__main__":
    main()
