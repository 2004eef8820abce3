"""The byte-level storage contract every backend implements.

Keys are '/'-separated relative names ("data/3f/3f9a…", "refs/tags/raw-v1"). A backend knows
nothing about snapshots: it moves bytes. Content-addressed objects are written with
`put_if_absent`; refs move with `put_if_match` (compare-and-swap on an opaque etag).
Retry, read-only and fault injection are wrappers with this same interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from snapkit.errors import StoreUnavailable


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    modified: float  # unix time of the last write, as the backend reports it


T = TypeVar("T")

# Small objects read one per name (tags, run records): on S3 each is a GET, and hundreds of
# them in a row made `snap log` or `snap runs` wait for as many round trips.
READ_EACH_THREADS = 8


def read_each(read: Callable[[str], T], names: Sequence[str]) -> list[T]:
    """`read(name)` for each name, in order, READ_EACH_THREADS at a time."""
    if len(names) < 2:
        return [read(n) for n in names]
    with ThreadPoolExecutor(READ_EACH_THREADS, thread_name_prefix="snap-read") as pool:
        return list(pool.map(read, names))


class TransientError(StoreUnavailable):
    """A failure that may go away if the same call is made again (throttling, 5xx, a reset
    connection). Backends raise it once their own client-level retries are spent;
    `RetryingStorage` retries it. If it escapes, the store is, for now, unavailable."""


class Storage(ABC):
    """A flat key → bytes namespace with create-only and compare-and-swap writes."""

    url: str
    # Whether the bytes cross a network (S3, gcs…) rather than go to this machine's disks.
    # A store with compression `auto` compresses every chunk it can on a remote store, and
    # only while the writes lag on a local one (objects/writer.py).
    remote: bool = True

    @abstractmethod
    def get(self, key: str) -> bytes:
        """Return the whole object. Raises NotFound."""

    @abstractmethod
    def get_range(self, key: str, offset: int, length: int) -> bytes:
        """Return `length` bytes from `offset` (fewer only at the end of the object): any
        bytes-like object (the local store maps large ranges of its files: a memoryview)."""

    @abstractmethod
    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        """Return the object and an opaque etag to pass to `put_if_match`. Raises NotFound."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) an object atomically: readers see old or new, never half."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Create the object only if the key is free. True if written, False if it existed."""

    @abstractmethod
    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare-and-swap: write only if the current etag is `etag` (None: key must not
        exist). Returns the new etag. Raises Conflict when the precondition fails."""

    @abstractmethod
    def size(self, key: str) -> int:
        """Size in bytes of an object. Raises NotFound."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo:
        """Size and last-write time of an object (gc's grace period needs the time)."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Every key starting with `prefix` (in no particular order)."""

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        """Every key starting with `prefix`, with its size and last-write time. Backends
        whose listing already carries them (S3, most fsspec file systems) override this:
        a `stat` per key is a request per key there. A key removed between the listing and
        its `stat` is left out."""
        from snapkit.errors import NotFound

        for key in self.list(prefix):
            try:
                yield key, self.stat(key)
            except NotFound:
                continue

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove an object; removing a missing key is not an error."""

    def exists(self, key: str) -> bool:
        from snapkit.errors import NotFound

        try:
            self.size(key)
        except NotFound:
            return False
        return True

    def create(self) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """Make the container (folder, bucket prefix) ready for a new store."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections and handles."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"
