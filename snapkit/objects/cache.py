"""A disposable local cache of immutable store objects (indexes, trees).

Objects are named by their content hash, so a cached copy is either right or detectably
wrong (callers verify); deleting the cache folder at any time is always safe.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from blake3 import blake3

_SEAL = 32  # a sealed entry ends with the BLAKE3 of the bytes before it
# A merged copy (of the index, of the snapshot records) is rewritten once a command had to
# read this many objects beyond it, or a quarter of what it holds: small takes add one each.
MERGE_AFTER = 8


def worth_merging(objects_read: int, part_read: int, whole: int) -> bool:
    """Whether a command that read `objects_read` objects beyond a merged copy, making up
    `part_read` of `whole` entries, should write the copy anew."""
    return objects_read >= MERGE_AFTER or part_read * 4 >= whole


class ObjectCache:
    def __init__(self, root: Path | None) -> None:
        self.root = root

    def get(self, key: str) -> bytes | None:
        if self.root is None:
            return None
        try:
            return (self.root / key).read_bytes()
        except OSError:
            return None

    def put(self, key: str, data: bytes) -> None:
        if self.root is None:
            return
        path = self.root / key
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError:
            pass  # a cache that cannot be written is just a slower cache

    def get_sealed(self, key: str) -> bytes | None:
        """What `put_sealed` stored under `key`, or None if absent or not intact (a copy
        that is not named by its content checks itself)."""
        data = self.get(key)
        if data is None or len(data) < _SEAL:
            return None
        body = data[:-_SEAL]
        return body if blake3(body).digest() == data[-_SEAL:] else None

    def put_sealed(self, key: str, body: bytes) -> None:
        """Store `body` followed by its BLAKE3 (32 bytes), for `get_sealed`."""
        self.put(key, body + blake3(body).digest())

    def discard(self, key: str) -> None:
        if self.root is not None:
            (self.root / key).unlink(missing_ok=True)
