"""The physical baseline for a cold take: read every file once and BLAKE3-hash it.

    python -m benchmarks.tools.hashall FOLDER

Files are spread over one thread per core (blake3 and reads release the GIL); each file
is read in 1 MiB blocks into one reused buffer. Prints the file count and bytes.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from blake3 import blake3

BLOCK = 1 << 20


def hash_file(path: str) -> int:
    """BLAKE3 of the file at `path`, streamed; returns its size."""
    hasher, buf, size = blake3(), bytearray(BLOCK), 0
    view = memoryview(buf)
    with open(path, "rb", buffering=0) as f:
        while n := f.readinto(buf):
            hasher.update(view[:n])
            size += n
    hasher.digest()
    return size


def files_under(root: Path) -> list[str]:
    """Every file under `root`, largest first (so threads finish together)."""
    paths = [os.path.join(d, name) for d, _dirs, names in os.walk(root) for name in names]
    return sorted(paths, key=os.path.getsize, reverse=True)


def main() -> None:
    paths = files_under(Path(sys.argv[1]))
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        total = sum(pool.map(hash_file, paths))
    print(f"{len(paths)} files, {total} bytes")


if __name__ == "__main__":
    main()
