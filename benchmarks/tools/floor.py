"""The least work snapkit's take and restore must do, with none of snapkit's bookkeeping:
what "at the physical limit" is measured against in RESULTS.md.

    python -m benchmarks.tools.floor take FOLDER OUT
    python -m benchmarks.tools.floor restore STORE SNAPSHOT OUT [--no-verify]

take: read every file, cut it with snapkit's FastCDC parameters, BLAKE3 each chunk,
compress it as a pack would (`encode_blob`: LZ4, the default, unless incompressible),
collect it in a 16 MiB buffer per thread and write each full buffer to a new file the way
the local store writes a pack (storage/fileio.py: direct I/O where possible), without
fsync. No pack ids, index, tree or stat cache.

restore: for every chunk of every file of SNAPSHOT in a local STORE, read its stored
bytes, decompress them, check their BLAKE3 and write them at their place in the output
file (in pieces, as `snap restore` does). No plan, staging, renames, metadata or stat
cache. With --no-verify, the BLAKE3 check is left out too: the difference is what
verifying every read costs (DESIGN.md's invariant; `dvc checkout` does not verify).

Both spread the work over one thread per core (zstd, BLAKE3, reads and writes release the
GIL) and print the seconds of the work itself, start-up and imports excluded.
"""

from __future__ import annotations

import mmap
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blake3 import blake3

from benchmarks.tools.hashall import files_under
from snapkit.storage.fileio import pwrite_all, write_past_cache


class _Packs:
    """One thread's output: blobs gathered in an aligned buffer, written out 16 MiB at a
    time to a new file each, as the local store writes packs."""

    TARGET = 16 << 20

    def __init__(self, out: Path, tag: str) -> None:
        self.out = out
        self.tag = tag
        self.buf = mmap.mmap(-1, self.TARGET + (4 << 20))
        self.size = 0
        self.files = 0

    def add(self, data: bytes | memoryview) -> None:
        self.buf[self.size : self.size + len(data)] = data
        self.size += len(data)
        if self.size >= self.TARGET:
            self.flush()

    def flush(self) -> None:
        if not self.size:
            return
        self.files += 1
        name = self.out / f"{self.tag}-{self.files}"
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with memoryview(self.buf)[: self.size] as view:
                write_past_cache(fd, view)
        finally:
            os.close(fd)
        self.size = 0


def take(folder: Path, out: Path) -> tuple[int, int]:
    from snapkit.objects.chunker import Chunker, ChunkerParams
    from snapkit.objects.packs import encode_blob

    out.mkdir(parents=True, exist_ok=True)
    local = threading.local()
    opened: list[_Packs] = []  # every thread's output, flushed once the pool is done

    def one(path: str) -> tuple[int, int]:
        if not hasattr(local, "out"):
            local.chunker = Chunker(ChunkerParams())
            local.out = _Packs(out, f"thread-{threading.get_ident()}")
            opened.append(local.out)
        read = stored = 0
        for chunk in local.chunker.chunks(path, os.path.getsize(path)):
            blake3(chunk.data).digest()
            data, _codec = encode_blob(chunk.data)
            local.out.add(data)
            read += len(chunk.data)
            stored += len(data)
        return read, stored

    try:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            sizes = list(pool.map(one, files_under(folder)))
    finally:
        for packs in opened:
            packs.flush()
    return sum(r for r, _ in sizes), sum(s for _, s in sizes)


def restore(store: str, spec: str, out: Path, verify: bool = True) -> tuple[int, int]:
    from snapkit.api import open_store
    from snapkit.objects.packs import decode_blob
    from snapkit.objects.store import pack_key

    repo = open_store(store).repo
    repo.load_index()
    entries = repo.load_tree(repo.load_snapshot(repo.resolve(spec)).tree)
    jobs = []  # (chunk id, index entry, fd, offset in the file)
    fds = []
    for e in entries:
        dest = out / e.path
        if e.kind == "dir":
            dest.mkdir(parents=True, exist_ok=True)
        if e.kind != "file":
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        fds.append(os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        offset = 0
        for cid in e.chunks:
            blob = repo.objects.locate(cid)
            jobs.append((cid, blob, fds[-1], offset))
            offset += blob.raw_length
    storage = repo.objects.storage

    def one(job: tuple) -> int:
        cid, blob, fd, offset = job
        stored = storage.get_range(pack_key(blob.pack), blob.offset, blob.length)
        raw = decode_blob(stored, blob.codec, blob.raw_length)
        if verify and blake3(raw).hexdigest() != cid:
            raise SystemExit(f"chunk {cid} is corrupt")
        pwrite_all(fd, raw, offset)
        return blob.raw_length

    try:
        with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            written = sum(pool.map(one, jobs))
    finally:
        for fd in fds:
            os.close(fd)
    return len(fds), written


def main(argv: list[str]) -> None:
    started = time.perf_counter()
    if argv[:1] == ["take"] and len(argv) == 3:
        read, stored = take(Path(argv[1]), Path(argv[2]))
        what = f"read {read} bytes, stored {stored}"
    elif argv[:1] == ["restore"] and len(argv) in (4, 5) and argv[4:] in ([], ["--no-verify"]):
        files, written = restore(argv[1], argv[2], Path(argv[3]), verify=len(argv) == 4)
        what = f"wrote {files} files, {written} bytes"
    else:
        raise SystemExit(__doc__)
    print(f"{what} in {time.perf_counter() - started:.2f} s of work")


if __name__ == "__main__":
    main(sys.argv[1:])
