"""The physical baselines for a cold take: read every file once and BLAKE3-hash it, and
optionally also write what was read to a copy (what storing the data costs at the least).

    python -m benchmarks.tools.hashall FOLDER [--copy-to FOLDER]

Files are spread over one thread per core (blake3, reads and writes release the GIL); each
file is read in 1 MiB blocks into one reused buffer. Copies are plain writes (no fsync,
like DVC's cache; the harness syncs after every command, untimed). Prints the file count
and bytes.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from blake3 import blake3

BLOCK = 1 << 20


def hash_file(path: str, copy_to: str | None = None) -> int:
    """BLAKE3 of the file at `path`, streamed (and written to `copy_to`); returns its size."""
    hasher, buf, size = blake3(), bytearray(BLOCK), 0
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f, ExitStack() as stack:
        out = stack.enter_context(open(copy_to, "wb")) if copy_to else None
        while n := f.readinto(buf):
            hasher.update(view[:n])
            if out is not None:
                out.write(view[:n])
            size += n
    hasher.digest()
    return size


def files_under(root: Path) -> list[str]:
    """Every file under `root`, largest first (so threads finish together)."""
    paths = [os.path.join(d, name) for d, _dirs, names in os.walk(root) for name in names]
    return sorted(paths, key=os.path.getsize, reverse=True)


def main() -> None:
    paths = files_under(Path(sys.argv[1]))
    copies: list[str | None] = [None] * len(paths)
    if len(sys.argv) == 4 and sys.argv[2] == "--copy-to":
        Path(sys.argv[3]).mkdir(parents=True, exist_ok=True)
        copies = [os.path.join(sys.argv[3], str(i)) for i in range(len(paths))]
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        total = sum(pool.map(hash_file, paths, copies))
    print(f"{len(paths)} files, {total} bytes")


if __name__ == "__main__":
    main()
