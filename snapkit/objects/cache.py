"""A disposable local cache of immutable store objects (indexes, trees).

Objects are named by their content hash, so a cached copy is either right or detectably
wrong (callers verify); deleting the cache folder at any time is always safe.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


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

    def discard(self, key: str) -> None:
        if self.root is not None:
            (self.root / key).unlink(missing_ok=True)
