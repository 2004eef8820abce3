"""Reading and writing large ranges of files the way this kind of machine is fastest at.

Three measured effects (benchmarks/RESULTS.md, "Reading and writing through the page cache"):

- On Linux 6.x a single read or write of 1 MiB or more gets large page-cache folios. On a
  VM that hands freed memory back to its host (virtio-balloon free page reporting, as here),
  those come from returned memory and fault page by page: 2 GB took 2.1–4.9 s written 1–4 MiB
  at a time and 0.43–0.55 s written 64–768 KiB at a time; 1.2 GB of packs not in the page
  cache took 1.35 s to read 8 MiB at a time and 0.70 s 512 KiB at a time. Reads and writes
  are therefore cut into pieces of PIECE; elsewhere that costs nothing measurable (4,000
  system calls per 2 GB).
- Data that must reach the disk before anything refers to it (packs) gains nothing from the
  page cache: `write_direct` hands an aligned buffer to the disk with O_DIRECT. 1.2 GB of
  packs took 0.53–0.74 s and 0.06 s of CPU that way, against 0.84 s and 0.35 s of CPU in
  pieces through the page cache, and 3.5–4.0 s in whole-pack writes.
- Ranges of packs read for a restore are verified, decoded and written out once each: a
  copy into a buffer of our own only adds work (and fresh memory, which faults page by page
  here). `map_range` maps them instead.
"""

from __future__ import annotations

import errno
import fcntl
import mmap
import os

PIECE = 512 << 10
# O_DIRECT needs offsets, lengths and memory aligned to the disk's logical block size
# (512 B or 4 KiB on common disks); 4 KiB covers both.
DIRECT_ALIGN = 4096


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write all of `data` at the file position, in pieces of at most PIECE."""
    view = memoryview(data).cast("B")
    while view:
        view = view[os.write(fd, view[:PIECE]) :]


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """Write all of `data` at `offset` (positional: safe from several threads at once)."""
    view = memoryview(data).cast("B")
    while view:
        n = os.pwrite(fd, view[:PIECE], offset)
        view = view[n:]
        offset += n


def pread_exactly(fd: int, offset: int, length: int) -> bytearray:
    """Read `length` bytes at `offset` in pieces of at most PIECE; shorter only at the end
    of the file. A bytearray, filled in place (no copy to make it `bytes`)."""
    buf = bytearray(length)
    got = 0
    with memoryview(buf) as view:
        while got < length:
            n = os.preadv(fd, [view[got : got + PIECE]], offset + got)
            if n == 0:
                break
            got += n
    del buf[got:]
    return buf


def map_range(fd: int, offset: int, length: int) -> memoryview | bytearray:
    """`length` bytes at `offset` of an immutable file (a pack), mapped rather than copied.

    Reading a pack's chunks for a restore copied every byte from the page cache into a
    fresh buffer before they were verified, decoded and written out; mapped, they are read
    where they lie, and MADV_WILLNEED starts reading the whole range from the disk at once.
    A 2 GB restore right after its take: 1.52–1.81 s against 1.62–2.21 s, 2.3–2.8 s of CPU
    against 2.5–3.4 s (RESULTS.md). The view keeps the mapping; it goes with the last view.

    Only for files nobody truncates (a page past the end of a file kills the process with
    SIGBUS): a range past the file's current end, or a file that cannot be mapped, is read
    with `pread_exactly` instead, which returns what is there.
    """
    size = os.fstat(fd).st_size
    start = offset - offset % mmap.ALLOCATIONGRANULARITY
    if length == 0 or offset + length > size:
        return pread_exactly(fd, offset, length)
    try:
        mapped = mmap.mmap(fd, offset + length - start, prot=mmap.PROT_READ, offset=start)
    except (OSError, ValueError):  # a file system without mmap
        return pread_exactly(fd, offset, length)
    mapped.madvise(mmap.MADV_WILLNEED)
    return memoryview(mapped)[offset - start :]


def write_past_cache(fd: int, data: memoryview) -> None:
    """Write all of `data` at the file position, its aligned head with direct I/O where
    possible (`write_direct`) and the rest in pieces (`write_all`): how packs are written."""
    done = write_direct(fd, data)
    write_all(fd, data[done:])


def write_direct(fd: int, data: memoryview) -> int:
    """Write the block-aligned head of `data` bypassing the page cache; return its length.

    The rest (under DIRECT_ALIGN bytes, or all of it) is the caller's to write normally,
    from the file position this leaves. Nothing is written, and 0 returned, where direct
    I/O is not possible: a file system without it (some network and FUSE mounts) or a
    buffer that is not aligned (a `bytes` object; the pack builder's mmap is aligned).
    """
    aligned = len(data) - len(data) % DIRECT_ALIGN
    if not aligned:
        return 0
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT)
    except OSError:
        return 0
    done = 0
    try:
        while done < aligned and done % DIRECT_ALIGN == 0:
            done += os.write(fd, data[done:aligned])
    except OSError as exc:
        if exc.errno != errno.EINVAL or done:
            raise
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags)
    return done
