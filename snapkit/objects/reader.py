"""Read a stored file lazily, chunk by chunk, as a seekable binary file object.

`ChunkedFile` holds at most `cache_chunks` verified chunks in memory (two by default: a
reader that steps back across a chunk boundary, as Parquet readers do between a column
chunk and the footer, does not refetch), plus the `read_ahead` chunks after the one last
loaded, fetched in the background (two by default: on S3 each chunk is a GET, and a file
read in order waited a round trip per MiB), so memory stays bounded whatever the file size.
Wrap it in `io.BufferedReader` for small reads, or hand it to pyarrow as
`pa.PythonFile(f, mode="r")`.
"""

from __future__ import annotations

import io
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from snapkit.errors import CorruptObject
from snapkit.objects.store import ObjectStore


class ChunkedFile(io.RawIOBase):
    """A read-only view of the file made of `chunks` (in order), `size` bytes long.

    Every chunk is read through `ObjectStore.read_chunk`, so it is verified against its
    hash before one byte of it is returned. `readinto` fills the whole buffer (crossing
    chunk boundaries) unless the end of the file comes first: pyarrow treats a short read
    as the end of the file.
    """

    def __init__(
        self,
        objects: ObjectStore,
        chunks: Sequence[str],
        size: int,
        *,
        cache_chunks: int = 2,
        read_ahead: int = 2,
        name: str = "",
    ) -> None:
        super().__init__()
        self.objects = objects
        self.chunks = tuple(chunks)
        self.size = size
        self.name = name
        self._starts = _chunk_starts(objects, self.chunks, size, name)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cache_chunks = max(1, cache_chunks)
        self._read_ahead = max(0, read_ahead)
        self._ahead: dict[int, Future[bytes]] = {}  # chunk number → its fetch, under way
        self._pool: ThreadPoolExecutor | None = None
        self._pos = 0
        self.chunks_loaded = 0  # fetches from the store (a re-read after eviction counts)
        self.max_resident_chunks = 0  # the most chunks ever held at once (cached or ahead)

    # -- io.RawIOBase ---------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        self._check_open()
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}.get(whence)
        if base is None:
            raise ValueError(f"invalid whence ({whence})")
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        self._check_open()
        out = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(out) and self._pos < self.size:
            index = bisect_right(self._starts, self._pos) - 1
            data = self._chunk(index)
            offset = self._pos - self._starts[index]
            n = min(len(data) - offset, len(out) - filled)
            out[filled : filled + n] = data[offset : offset + n]
            filled += n
            self._pos += n
        return filled

    def close(self) -> None:
        self._cache.clear()
        self._drop_ahead(keep=range(0))
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        super().close()

    # -- chunks ---------------------------------------------------------------------

    def _chunk(self, index: int) -> bytes:
        cid = self.chunks[index]
        data = self._cache.get(cid)
        if data is not None:
            self._cache.move_to_end(cid)
            return data
        ahead = self._ahead.pop(index, None)
        if ahead is None:
            self.chunks_loaded += 1
        try:
            data = ahead.result() if ahead is not None else self._fetch(index)
        except CorruptObject as exc:
            if not self.name:
                raise
            raise CorruptObject(
                f"{exc} (it holds part of {self.name})", key=exc.key, chunk=exc.chunk
            ) from exc
        self._cache[cid] = data
        if len(self._cache) > self._cache_chunks:
            self._cache.popitem(last=False)
        self._fetch_ahead(index)
        self.max_resident_chunks = max(
            self.max_resident_chunks, len(self._cache) + len(self._ahead)
        )
        return data

    def _fetch(self, index: int) -> bytes:
        """One chunk from the store, verified (called here and by the read-ahead threads)."""
        return self.objects.read_chunk(self.chunks[index])

    def _fetch_ahead(self, index: int) -> None:
        """Start fetching the `read_ahead` chunks after `index` not held yet; drop fetches
        outside that window (the reader jumped elsewhere)."""
        window = range(index + 1, min(index + 1 + self._read_ahead, len(self.chunks)))
        self._drop_ahead(keep=window)
        if not window:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._read_ahead, thread_name_prefix="snap-ahead")
        for i in window:
            if i not in self._ahead and self.chunks[i] not in self._cache:
                self._ahead[i] = self._pool.submit(self._fetch, i)
                self.chunks_loaded += 1

    def _drop_ahead(self, keep: range) -> None:
        for i in [i for i in self._ahead if i not in keep]:
            if self._ahead.pop(i).cancel():  # (one already running finishes, unused)
                self.chunks_loaded -= 1

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed file")


def _chunk_starts(objects: ObjectStore, chunks: tuple[str, ...], size: int, name: str) -> list[int]:
    """Offset of each chunk in the file (from the index's raw lengths), then the total."""
    starts = [0]
    for cid in chunks:
        starts.append(starts[-1] + objects.locate(cid).raw_length)
    if starts[-1] != size:
        what = f"file {name}" if name else "a file"
        raise CorruptObject(
            f"the chunks of {what} add up to {starts[-1]} bytes, its tree entry says {size}"
        )
    return starts[:-1]
