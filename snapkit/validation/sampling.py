"""A deterministic sample of rows by key: the `n` distinct keys with the smallest hash.

The same keys are chosen on any machine and in every table that has the key column, so
a step that joins several inputs still sees matching rows, and the rows of its output
that belong to the sample can be found again by the same test (`hash(key) <= cutoff`).
Keys are hashed in batches (integers by a splitmix64 finaliser in numpy, other values by
BLAKE2b of their text); only the `n` smallest hashes are kept while streaming.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from snapkit.validation.table_stream import Opener, iter_batches

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa


def key_hashes(keys: pa.Array) -> np.ndarray:
    """uint64 hashes of a key column; null keys get the largest hash (never sampled)."""
    import numpy as np
    import pyarrow as pa

    if pa.types.is_integer(keys.type):
        raw = keys.fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64).view(np.uint64)
        hashes = _splitmix64(raw)
    else:
        text = keys.cast(pa.string()).to_pylist()
        hashes = np.fromiter((_text_hash(v) for v in text), dtype=np.uint64, count=len(text))
    if keys.null_count:
        hashes[keys.is_null().to_numpy(zero_copy_only=False)] = np.iinfo(np.uint64).max
    return hashes


def _splitmix64(x: np.ndarray) -> np.ndarray:
    import numpy as np

    with np.errstate(over="ignore"):
        x = x + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _text_hash(value: str | None) -> int:
    if value is None:
        return 0
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8).digest(), "little")


class BottomK:
    """The `n` smallest distinct key hashes seen so far (memory: n + one batch)."""

    def __init__(self, n: int) -> None:
        import numpy as np

        self.n = n
        self.kept = np.empty(0, dtype=np.uint64)

    def add(self, hashes: np.ndarray) -> None:
        import numpy as np

        if len(self.kept) == self.n:  # full: only smaller hashes can still get in
            hashes = hashes[hashes < self.kept[-1]]
        self.kept = np.unique(np.concatenate([self.kept, hashes]))[: self.n]

    @property
    def cutoff(self) -> int | None:
        """Rows whose key hash is at most this are in the sample (None: no keys seen)."""
        import numpy as np

        usable = self.kept[self.kept != np.iinfo(np.uint64).max]
        return int(usable.max()) if len(usable) else None


def add_keys(sample: BottomK, opener: Opener, path: str, key: str) -> None:
    for batch in iter_batches(opener, path, [key]):
        sample.add(key_hashes(batch.column(key)))


def in_sample(batch: pa.RecordBatch, key: str, cutoff: int) -> pa.RecordBatch:
    """The rows of `batch` whose key is in the sample."""
    import numpy as np
    import pyarrow as pa

    mask = key_hashes(batch.column(key)) <= np.uint64(cutoff)
    return batch.filter(pa.array(mask))


def sampled_batches(opener: Opener, path: str, key: str, cutoff: int) -> Any:
    for batch in iter_batches(opener, path):
        yield in_sample(batch, key, cutoff)
