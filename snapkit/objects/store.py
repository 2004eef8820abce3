"""The object store: chunks in packs, found through the index, verified on every read.

Also holds the other immutable objects (trees, snapshots) written once under their hash.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from blake3 import blake3

from snapkit.errors import CorruptObject, NotFound
from snapkit.objects import indexcache
from snapkit.objects.cache import ObjectCache, worth_merging
from snapkit.objects.hashing import digest
from snapkit.objects.index import ChunkIndex, decode_index_rows, encode_index
from snapkit.objects.packs import (
    TRAILER_SIZE,
    BlobEntry,
    decode_blob,
    decode_blob_reusing,
    parse_pack_header,
    parse_pack_tail,
)
from snapkit.storage.base import Storage

T = TypeVar("T")
MAX_GAP = 1 << 20  # read through gaps up to 1 MiB rather than issue another request
MAX_RANGE = 8 << 20  # bounds memory: at most 2 × read_threads ranges in flight
# With a sink (restore), a thread's range is freed once written, so up to a whole pack is
# read with one request: fewer requests on S3 (and moto's server reads the whole object for
# every ranged GET).
MAX_RANGE_SINK = 20 << 20
MERGED_INDEX = "index.merged"  # the local merged copy of the index, in the object cache


def pack_key(pack_id: str) -> str:
    return f"data/{pack_id[:2]}/{pack_id}"


class ObjectStore:
    """Chunks, packs and the pack index over a byte-level `Storage`."""

    def __init__(
        self, storage: Storage, cache: ObjectCache | None = None, read_threads: int = 4
    ) -> None:
        self.storage = storage
        self.cache = cache or ObjectCache(None)
        self.read_threads = read_threads
        self.index = ChunkIndex()
        self.pack_sizes: dict[str, int] = {}
        self.index_ids: set[str] = set()
        self._lock = threading.Lock()

    # -- immutable named objects (trees, snapshots, indexes) ----------------------------

    def put_object(self, kind: str, data: bytes) -> str:
        """Write `data` under `kind/<hash>` once; rewriting the same bytes is a no-op."""
        oid = digest(data)
        self.storage.put_if_absent(f"{kind}/{oid}", data)
        return oid

    def get_object(self, kind: str, oid: str, *, cached: bool = False) -> bytes:
        """Read `kind/<oid>` and verify it hashes to `oid`."""
        key = f"{kind}/{oid}"
        data = self.cache.get(key) if cached else None
        if data is not None and digest(data) == oid:
            return data
        data = self.storage.get(key)
        if digest(data) != oid:
            raise CorruptObject(f"{key} is corrupt: its content does not match its name", key=key)
        if cached:
            self.cache.put(key, data)
        return data

    # -- index ----------------------------------------------------------------------

    def load_index(self) -> None:
        """Read every index object not loaded yet (cached locally: they never change).

        A first load starts from the local merged copy (`indexcache`) when every index
        object it merged is still in the store, and writes a new one when much of the
        index had to be decoded from the objects themselves."""
        listed = [key.rsplit("/", 1)[-1] for key in self.storage.list("index/")]
        first = not self.index_ids and not self.pack_sizes
        if first:
            self._start_from_merged(set(listed))
        new = [i for i in listed if i not in self.index_ids]
        known = len(self.index)
        with ThreadPoolExecutor(self.read_threads) as pool:
            blobs = list(pool.map(lambda i: self.get_object("index", i, cached=True), new))
        for index_id, data in zip(new, blobs, strict=True):
            self._add_index(index_id, data)
        decoded = len(self.index) - known
        if first and new and worth_merging(len(new), decoded, len(self.index)):
            # The in-memory index is exactly the union of the objects loaded: merge it.
            packs, keys, values = self.index.export()
            sizes = [(p, self.pack_sizes[p]) for p in packs]
            merged = indexcache.Merged(sorted(self.index_ids), sizes, keys, values)
            self.cache.put_sealed(MERGED_INDEX, indexcache.encode(merged))

    def _start_from_merged(self, listed: set[str]) -> None:
        merged = indexcache.decode(self.cache.get_sealed(MERGED_INDEX))
        if merged is None or not set(merged.index_ids) <= listed:
            return  # none, damaged, or gc has replaced index objects it merged
        with self._lock:
            try:
                self.index.start_from([p for p, _ in merged.packs], merged.keys, merged.values)
            except ValueError:
                return
            self.pack_sizes.update(merged.packs)
            self.index_ids.update(merged.index_ids)

    def load_index_tolerant(self) -> list[CorruptObject]:
        """Like `load_index`, but a missing or corrupt index object is returned, not raised
        (for `check`, which reports every problem rather than stopping at the first)."""
        problems: list[CorruptObject] = []
        for key in self.storage.list("index/"):
            index_id = key.rsplit("/", 1)[-1]
            if index_id in self.index_ids:
                continue
            try:
                self._add_index(index_id, self.get_object("index", index_id))
            except CorruptObject as exc:
                problems.append(exc)
        return problems

    def forget_index(self) -> None:
        """Drop the in-memory index (after gc rewrote it); the next load reads it afresh."""
        with self._lock:
            self.index.clear()
            self.pack_sizes.clear()
            self.index_ids.clear()

    def _add_index(self, index_id: str, data: bytes) -> None:
        packs = decode_index_rows(index_id, data)
        with self._lock:
            try:
                for pack_id, size, rows in packs:
                    self.pack_sizes[pack_id] = size
                    self.index.add_rows(pack_id, rows)
            except (ValueError, TypeError) as exc:  # (rows added before it are sound)
                raise CorruptObject(
                    f"index {index_id} is unreadable: {exc}", key=f"index/{index_id}"
                ) from exc
        self.index_ids.add(index_id)

    def add_pack(self, pack_id: str, size: int, entries: dict[str, BlobEntry]) -> None:
        with self._lock:
            self.pack_sizes[pack_id] = size
            self.index.add_pack(pack_id, entries)

    def write_index(self, packs: list[tuple[str, int, dict[str, BlobEntry]]]) -> str:
        data = encode_index(packs)
        index_id = self.put_object("index", data)
        self.cache.put(f"index/{index_id}", data)
        self.index_ids.add(index_id)
        return index_id

    def recover_unindexed_packs(self) -> int:
        """Index packs that landed without an index (a take killed mid-way). Returns count.

        Only each pack's tail is read, so this is cheap even for big packs.
        """
        found: list[tuple[str, int, dict[str, BlobEntry]]] = []
        for key in self.storage.list("data/"):
            pack_id = key.rsplit("/", 1)[-1]
            if pack_id in self.pack_sizes or key.endswith(".tmp"):
                continue
            try:
                found.append((pack_id, *self.read_pack_header(pack_id)))
            except (CorruptObject, NotFound):
                continue  # a torn or vanished pack is garbage for gc, not ours to index
        if found:
            for pack_id, size, entries in found:
                self.add_pack(pack_id, size, entries)
            self.write_index(found)
        return len(found)

    def read_pack_header(self, pack_id: str) -> tuple[int, dict[str, BlobEntry]]:
        key = pack_key(pack_id)
        size = self.storage.size(key)
        if size < TRAILER_SIZE:
            raise CorruptObject(f"pack {pack_id} is truncated", key=key)
        offset, length = parse_pack_tail(
            pack_id, self.storage.get_range(key, size - TRAILER_SIZE, TRAILER_SIZE), size
        )
        return size, parse_pack_header(pack_id, self.storage.get_range(key, offset, length))

    # -- chunks ---------------------------------------------------------------------

    def has(self, chunk_id: str) -> bool:
        return chunk_id in self.index

    def has_all(self, chunk_ids: Iterable[str]) -> bool:
        return self.index.has_all(chunk_ids)

    def locate(self, chunk_id: str) -> BlobEntry:
        entry = self.index.get(chunk_id)
        if entry is None:
            raise NotFound(f"chunk {chunk_id} is not in the store's index")
        return entry

    def read_chunk(self, chunk_id: str) -> bytes:
        """One chunk, verified, read in the calling thread (`fetch` would start a pool of
        threads for it: lazily read files and their read-ahead call this per chunk)."""
        for _, data in self._read_group([(chunk_id, self.locate(chunk_id))], copy=True):
            return data
        raise NotFound(f"chunk {chunk_id} is not in the store")

    def fetch(
        self,
        chunk_ids: Iterable[str],
        sink: Callable[[str, bytes], None] | None = None,
    ) -> Iterator[tuple[str, bytes]]:
        """Yield (chunk id, verified bytes) for each distinct chunk, grouped by pack.

        Neighbouring chunks of one pack are read with one ranged request; requests run
        in parallel; every chunk is checked against its BLAKE3 before it is yielded.
        With `sink`, the reading threads hand each verified chunk to it themselves (so
        writing overlaps reading and decoding) and nothing is yielded.
        """
        groups = self._plan_reads(chunk_ids, MAX_RANGE if sink is None else MAX_RANGE_SINK)
        if sink is not None:
            groups = _interleave(groups, self.read_threads)

        def read(group: list[tuple[str, BlobEntry]]) -> list[tuple[str, bytes]]:
            if sink is None:
                return list(self._read_group(group, copy=True))
            for cid, data in self._read_group(group, copy=False):
                sink(cid, data)
            return []

        with ThreadPoolExecutor(self.read_threads) as pool:
            window = self.read_threads * 2
            pending = [pool.submit(read, g) for g in groups[:window]]
            nxt = window
            while pending:
                result = pending.pop(0).result()
                if nxt < len(groups):
                    pending.append(pool.submit(read, groups[nxt]))
                    nxt += 1
                yield from result

    def _plan_reads(
        self, chunk_ids: Iterable[str], max_range: int
    ) -> list[list[tuple[str, BlobEntry]]]:
        by_pack: dict[str, dict[str, BlobEntry]] = defaultdict(dict)
        for cid in chunk_ids:
            entry = self.locate(cid)
            by_pack[entry.pack][cid] = entry
        groups: list[list[tuple[str, BlobEntry]]] = []
        for entries in by_pack.values():
            current: list[tuple[str, BlobEntry]] = []
            for cid, e in sorted(entries.items(), key=lambda kv: kv[1].offset):
                if current:
                    start = current[0][1].offset
                    end = current[-1][1].offset + current[-1][1].length
                    if e.offset - end > MAX_GAP or e.offset + e.length - start > max_range:
                        groups.append(current)
                        current = []
                current.append((cid, e))
            groups.append(current)
        return groups

    def _read_group(
        self, group: list[tuple[str, BlobEntry]], *, copy: bool
    ) -> Iterator[tuple[str, bytes | memoryview]]:
        """Read one range and yield its chunks, verified. Without `copy`, a chunk is a view
        (into the range, or into this thread's decoding buffer) valid only until the next
        one is asked for: a sink writes it straight."""
        pack = group[0][1].pack
        start = group[0][1].offset
        end = group[-1][1].offset + group[-1][1].length
        key = pack_key(pack)
        data = memoryview(self.storage.get_range(key, start, end - start))
        for cid, e in group:
            stored = data[e.offset - start : e.offset - start + e.length]
            yield cid, self.decode_verified(cid, e, stored, key, copy=copy)

    @staticmethod
    def decode_verified(
        cid: str, e: BlobEntry, stored: memoryview, key: str, *, copy: bool = True
    ) -> bytes | memoryview:
        """Chunk `cid` decoded from its stored bytes and checked against its id. Without
        `copy` the result may be a view, valid until this thread's next call."""
        if len(stored) != e.length:
            raise CorruptObject(
                f"pack {e.pack} is truncated: chunk {cid} is cut short", key=key, chunk=cid
            )
        try:
            raw = (
                decode_blob(stored, e.codec, e.raw_length)
                if copy
                else decode_blob_reusing(stored, e.codec, e.raw_length)
            )
        except Exception as exc:  # zstd and cramjam raise their own errors on garbage
            raise CorruptObject(
                f"chunk {cid} in pack {e.pack} is corrupt: {exc}", key=key, chunk=cid
            ) from exc
        if len(raw) != e.raw_length or blake3(raw).hexdigest() != cid:
            raise CorruptObject(f"chunk {cid} in pack {e.pack} is corrupt", key=key, chunk=cid)
        return raw

    def known_pack_ids(self) -> set[str]:
        return set(self.pack_sizes)

    def stats(self) -> dict[str, int]:
        return {"chunks": len(self.index), "packs": len(self.pack_sizes)}


def _interleave(groups: list[T], ways: int) -> list[T]:
    """`groups` cut into `ways` consecutive runs, then taken one from each run in turn.

    Chunks are packed in file order, so neighbouring reads usually feed the same file; the
    reading threads of a restore would then write into one file at once, and serialise on
    its inode lock (a Linux file takes one buffered writer at a time; waiters spin, which
    was 9 % of a 2 GB restore's CPU). Taking turns between runs puts the threads in
    different places, mostly different files, while each run is still read in order.
    """
    if ways < 2 or len(groups) <= ways:
        return groups
    size = -(-len(groups) // ways)
    runs = [groups[i : i + size] for i in range(0, len(groups), size)]
    return [run[i] for i in range(size) for run in runs if i < len(run)]
