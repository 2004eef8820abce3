"""Cut files into content-defined chunks (FastCDC) named by their BLAKE3 hash.

Small files are one chunk. A file's hash is its chunk's id when it has one chunk, else the
BLAKE3 of its chunk digests in order (see docs/format.md), so hashing each byte once is enough.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from blake3 import blake3
from pyfastcdc import FastCDC

FILE_HASH_DOMAIN = b"snapkit-file-v1\0"


@dataclass(frozen=True)
class ChunkerParams:
    """FastCDC parameters; they are part of a store's config so every writer cuts alike."""

    min_size: int = 256 * 1024
    avg_size: int = 1024 * 1024
    max_size: int = 4 * 1024 * 1024
    normalization: int = 1
    seed: int = 0

    def to_json(self) -> dict[str, int | str]:
        return {"algorithm": "fastcdc2020", **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, int | str]) -> ChunkerParams:
        return cls(
            int(data["min_size"]),
            int(data["avg_size"]),
            int(data["max_size"]),
            int(data.get("normalization", 1)),
            int(data.get("seed", 0)),
        )


@dataclass(frozen=True)
class Chunk:
    id: str
    data: memoryview | bytes


class Chunker:
    """Cuts one file at a time; one instance per thread (FastCDC objects are not shared)."""

    def __init__(self, params: ChunkerParams) -> None:
        self.params = params
        self._cdc = FastCDC(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            normalized_chunking=params.normalization,  # type: ignore[arg-type]
            seed=params.seed,
        )

    def chunks(self, path: str | os.PathLike[str], size: int) -> Iterator[Chunk]:
        """Yield the chunks of a file in order. Data views are valid until the next yield."""
        for data in self.pieces(path, size):
            yield Chunk(chunk_id(data), data)

    def pieces(self, path: str | os.PathLike[str], size: int) -> Iterator[bytes | memoryview]:
        """The bytes of each chunk of a file, in order, not hashed. Each view is valid until
        the next is asked for (the read buffer is reused)."""
        if size <= self.params.min_size:
            with open(path, "rb") as f:
                yield f.read()
            return
        # A stream, not cut_file's mmap: mapped pages would count in RSS for the whole
        # file, and a file truncated while mapped kills the process (SIGBUS).
        with open(path, "rb", buffering=0) as f:
            for piece in self._cdc.cut_stream(f):
                yield piece.data


def chunk_id(data: bytes | memoryview) -> str:
    """A chunk's id: the BLAKE3 of its raw bytes."""
    return blake3(data).hexdigest()


def file_hash(chunk_ids: list[str] | tuple[str, ...]) -> str:
    """The content hash of a file from its chunk ids (see module docstring)."""
    if len(chunk_ids) == 1:
        return chunk_ids[0]
    h = blake3(FILE_HASH_DOMAIN)
    for cid in chunk_ids:
        h.update(bytes.fromhex(cid))
    return h.hexdigest()


EMPTY_FILE_HASH = blake3(b"").hexdigest()
