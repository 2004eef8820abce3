"""Writing chunks: dedupe against the index, compress, fill packs, upload in parallel.

Compression can adapt (a store's `auto`, on a local disk): a chunk is compressed only
while the uploads lag behind, i.e. while at least `upload_threads - 1` packs are being
written. A take is then bound by whichever of the CPU and the disk is slower, and
compressing moves work from the slower to the faster: when the disk keeps up, the CPU is
what limits and compressing would only slow the take down; when the disk falls behind,
the cores have time to spare and every byte compressed away is a byte less to write.
The 2 GB benchmark set into a local store on 2 cores: 2.7–3.0 s against 3.6–4.0 s
compressing everything and 3.0–3.9 s compressing nothing (RESULTS.md, session 12).

Publish order inside the object layer: a pack is uploaded first, then an index object that
names it. An index is written every `index_every` packs and at `flush()`, so a take killed
mid-way leaves packs that `ObjectStore.recover_unindexed_packs` can index again.
"""

from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor

from snapkit.objects.packs import CODEC_RAW, DEFAULT_CODEC, BlobEntry, PackBuilder, encode_blob
from snapkit.objects.store import ObjectStore, pack_key

# 16 MiB packs (restic's default too): few requests per GB, and with 3 uploads in flight
# plus the pack being filled a take holds ≈80 MiB of pack buffers.
PACK_TARGET = 16 << 20
# Three, not four: a fourth buffer took a 2 GB take into S3 (moto) from ≈270 to ≈300 MB of
# peak memory with no gain in speed, here or into a local store (RESULTS.md, session 11).
UPLOAD_THREADS = 3
# Room past the target in a pack's buffer: the blob that crosses it (a chunk is at most
# 4 MiB by default) plus the header.
_SLACK = (4 << 20) + (256 << 10)


class PackWriter:
    """Thread-safe sink for chunks. Use as a context manager or call `flush()` at the end.

    Memory is bounded by the number of pack buffers: one being filled plus one per upload
    thread. When all are full or uploading, `add` waits for an upload to hand one back.
    """

    def __init__(
        self,
        objects: ObjectStore,
        *,
        pack_target: int = PACK_TARGET,
        upload_threads: int = UPLOAD_THREADS,
        index_every: int = 8,
        dedupe: bool = True,
        keep_written: bool = False,
        codec: int = DEFAULT_CODEC,
        adaptive: bool = False,
    ) -> None:
        self.objects = objects
        self.pack_target = pack_target
        self.index_every = index_every
        self.dedupe = dedupe  # False when repacking: the chunks are in packs about to go
        self.keep_written = keep_written  # gc needs the entries of the packs it wrote
        self.codec = codec  # what chunks are compressed with when it pays (the store's)
        self.adaptive = adaptive  # compress only while uploads lag (module docstring)
        self._lagging = max(1, upload_threads - 1)  # packs being written that mean a lag
        self._uploading = 0  # packs sealed whose buffer is not back yet
        self.written: list[tuple[str, int, dict[str, BlobEntry]]] = []
        self._lock = threading.Condition()
        self._buffers_left = upload_threads + 1  # buffers that may still be allocated
        self._free: list[PackBuilder] = []  # buffers of uploaded packs, reused
        self._builder: PackBuilder | None = self._next_builder()
        self._reserved: set[str] = set()
        self._pool = ThreadPoolExecutor(upload_threads, thread_name_prefix="snap-upload")
        self._futures: list[Future[None]] = []
        self._unindexed: list[tuple[str, int, dict[str, BlobEntry]]] = []
        self.new_bytes = 0  # stored (compressed) bytes of chunks this writer added
        self.new_raw_bytes = 0
        self.new_chunks = 0
        self.packs_written = 0

    def add(self, chunk_id: str, data: bytes | memoryview) -> bool:
        """Store a chunk unless the store (or this writer) already has it. True if new."""
        with self._lock:
            if chunk_id in self._reserved or (self.dedupe and self.objects.has(chunk_id)):
                return False
            self._reserved.add(chunk_id)
            compress = not self.adaptive or self._uploading >= self._lagging
        stored, codec = encode_blob(data, self.codec if compress else CODEC_RAW)
        with self._lock:
            while self._builder is None:  # every buffer is full or uploading
                self._lock.wait()
            self._builder.add(chunk_id, stored, len(data), codec)
            self.new_bytes += len(stored)
            self.new_raw_bytes += len(data)
            self.new_chunks += 1
            sealed = self._seal_if_full()
        if sealed is not None:
            self._submit(sealed)
        return True

    def _seal_if_full(self, force: bool = False) -> PackBuilder | None:
        """Under the lock: take the current pack if it is full (or any, with `force`)."""
        builder = self._builder
        if builder is None or len(builder) == 0:
            return None
        if builder.size < self.pack_target and not force:
            return None
        self._builder = self._next_builder()
        self._uploading += 1  # (every pack sealed is submitted)
        return builder

    def _next_builder(self) -> PackBuilder | None:
        """Under the lock: a free buffer, a new one while under the limit, else None."""
        if self._free:
            return self._free.pop().reset()
        if self._buffers_left > 0:
            self._buffers_left -= 1
            return PackBuilder(self.pack_target + _SLACK)
        return None

    def _give_back(self, builder: PackBuilder) -> None:
        with self._lock:
            self._uploading -= 1
            if self._builder is None:
                self._builder = builder.reset()
            else:
                self._free.append(builder)
            self._lock.notify_all()

    def _submit(self, builder: PackBuilder) -> None:
        self._raise_failed()
        future = self._pool.submit(self._upload, builder)
        with self._lock:
            self._futures.append(future)

    def _upload(self, builder: PackBuilder) -> None:
        try:
            pack_id, body, entries = builder.finish()
            size = len(body)
            self.objects.storage.put_if_absent(pack_key(pack_id), body)
            del body
        finally:
            self._give_back(builder)
        self.objects.add_pack(pack_id, size, entries)
        with self._lock:
            self.packs_written += 1
            self._unindexed.append((pack_id, size, entries))
            if self.keep_written:
                self.written.append((pack_id, size, entries))
            batch = self._take_unindexed(self.index_every)
        if batch:
            self.objects.write_index(batch)

    def _take_unindexed(self, at_least: int) -> list[tuple[str, int, dict[str, BlobEntry]]]:
        if len(self._unindexed) < at_least:
            return []
        batch, self._unindexed = self._unindexed, []
        return batch

    def _raise_failed(self) -> None:
        with self._lock:
            done = [f for f in self._futures if f.done()]
            self._futures = [f for f in self._futures if not f.done()]
        for f in done:
            f.result()  # re-raises an upload error in the caller's thread

    def flush(self) -> None:
        """Upload the last partial pack, wait for every upload, write the index."""
        with self._lock:
            sealed = self._seal_if_full(force=True)
        if sealed is not None:
            self._submit(sealed)
        with self._lock:
            futures, self._futures = self._futures, []
        for f in futures:
            f.result()
        with self._lock:
            batch = self._take_unindexed(1)
        if batch:
            self.objects.write_index(batch)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> PackWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        failed = exc_type is not None
        try:
            if not failed:
                self.flush()
        except BaseException:
            failed = True  # (an upload that failed surfaces here)
            raise
        finally:
            self.close()
            if failed:
                self._index_what_landed()

    def _index_what_landed(self) -> None:
        """After a failure, name the packs that did land in an index object, so that the
        next take reuses them without listing every pack (`Store.take` looks for packs
        without an index only when a lock shows a writer may have died). Best effort: if
        the store cannot be written to any more, the take's lock stays behind too, and
        that sends the next take looking."""
        with self._lock:
            batch = self._take_unindexed(1)
        if batch:
            with contextlib.suppress(Exception):
                self.objects.write_index(batch)
