"""Packs: the reused pack buffer, the compression choice, and what a take records."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
import zstandard

from snapkit.api import Store
from snapkit.errors import UsageError
from snapkit.objects.packs import (
    CODEC_RAW,
    CODEC_ZSTD,
    PackBuilder,
    encode_blob,
    parse_pack_header,
    parse_pack_tail,
)
from snapkit.objects.store import ObjectStore, pack_key
from snapkit.objects.writer import PackWriter
from snapkit.storage.local import LocalStorage
from tests.helpers import random_bytes, write


def _blobs_of(body: bytes | memoryview, pack_id: str) -> dict[str, bytes]:
    body = bytes(body)
    offset, length = parse_pack_tail(pack_id, body[-12:], len(body))
    entries = parse_pack_header(pack_id, body[offset : offset + length])
    return {cid: body[e.offset : e.offset + e.length] for cid, e in entries.items()}


def test_builder_reused_after_reset_holds_only_the_new_pack() -> None:
    builder = PackBuilder(1024)
    builder.add("a" * 64, b"x" * 600, 600, CODEC_RAW)
    first_id, first, _ = builder.finish()
    first_bytes = bytes(first)
    del first
    builder.reset()
    builder.add("b" * 64, b"y" * 10, 10, CODEC_RAW)
    second_id, second, entries = builder.finish()
    assert first_id != second_id
    assert _blobs_of(second, second_id) == {"b" * 64: b"y" * 10}
    assert _blobs_of(first_bytes, first_id) == {"a" * 64: b"x" * 600}
    assert entries["b" * 64].offset == 0


def test_builder_grows_past_its_capacity_without_touching_a_view_still_out() -> None:
    builder = PackBuilder(16)
    builder.add("a" * 64, b"1" * 10, 10, CODEC_RAW)
    pack_id, view, _ = builder.finish()  # header and trailer do not fit: a bigger buffer
    kept = bytes(view)
    builder.reset()
    builder.add("b" * 64, b"2" * 5000, 5000, CODEC_RAW)  # far past capacity, view still alive
    assert bytes(view) == kept
    assert _blobs_of(view, pack_id) == {"a" * 64: b"1" * 10}
    second_id, second, _ = builder.finish()
    assert _blobs_of(second, second_id) == {"b" * 64: b"2" * 5000}


def test_incompressible_and_compressed_formats_are_stored_raw() -> None:
    noise = random_bytes(1 << 20, seed=3)
    assert encode_blob(noise)[1] == CODEC_RAW
    # Already-compressed data (what Parquet pages are) saves a little: not worth the CPU.
    text = b"".join(b"row %d,some words here,%d\n" % (i, i * 7) for i in range(60_000))
    packed = zstandard.ZstdCompressor(level=19).compress(text)
    assert encode_blob(packed + noise[: (1 << 20) - len(packed)])[1] == CODEC_RAW
    stored, codec = encode_blob(text[: 1 << 20])
    assert codec == CODEC_ZSTD and len(stored) < (1 << 20) // 3


def test_writer_reuses_buffers_across_many_packs(store: Store) -> None:
    """Many small packs through few buffers: every chunk reads back as written."""
    objects = store.repo.objects
    store.repo.load_index()
    chunks = {f"{i:064x}": random_bytes(40_000 + i, seed=i) for i in range(60)}
    with PackWriter(objects, pack_target=100_000, upload_threads=2) as writer:
        for cid, data in chunks.items():
            writer.add(cid, data)
    assert writer.packs_written >= 20
    assert writer.written == []  # only gc asks to keep them
    for cid, data in chunks.items():
        entry = objects.locate(cid)
        body = objects.storage.get(pack_key(entry.pack))
        assert _blobs_of(body, entry.pack)[cid] == data


def test_csv_rows_counted_across_chunks(store: Store, tmp_path: Path) -> None:
    rows = [b"id,text\n"] + [b"%d,%s\n" % (i, os.urandom(40).hex().encode()) for i in range(60_000)]
    write(tmp_path / "data/big.csv", b"".join(rows))
    store.take(tmp_path / "data", tags=["v1"])
    (entry,) = store.ls("v1", "big.csv")
    assert len(entry.chunks) > 2
    assert entry.table is not None and entry.table.rows == 60_000
    assert entry.table.columns == ("id", "text")


def test_file_name_that_is_not_utf8_is_refused_before_anything_is_stored(
    store: Store, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    write(data / "ok.txt", b"fine")
    with open(os.path.join(os.fsencode(data), b"bad\xff.txt"), "wb") as f:
        f.write(b"x")
    with pytest.raises(UsageError, match=r"bad\\xff\.txt is not valid UTF-8.*--exclude"):
        store.take(data)
    assert store.log() == []
    store.take(data, exclude=["bad*"], tags=["v1"])
    assert [e.path for e in store.ls("v1")] == ["ok.txt"]


class _GatedStorage(LocalStorage):
    """Pack uploads wait until the test opens the gate: a slow store."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.gate = threading.Event()
        self.waiting = 0

    def put_if_absent(self, key: str, data: bytes) -> bool:
        if key.startswith("data/"):
            self.waiting += 1
            self.gate.wait(30)
        return super().put_if_absent(key, data)


def test_writer_memory_is_bounded_when_uploads_are_slow(tmp_path: Path) -> None:
    """One buffer filling plus one per upload thread: then `add` waits, nothing is lost."""
    storage = _GatedStorage(tmp_path / "store")
    storage.create()
    objects = ObjectStore(storage)
    chunks = {f"{i:064x}": random_bytes(30_000, seed=i) for i in range(40)}
    writer = PackWriter(objects, pack_target=50_000, upload_threads=2)
    added: list[str] = []

    def producer() -> None:
        for cid, data in chunks.items():
            writer.add(cid, data)
            added.append(cid)

    thread = threading.Thread(target=producer)
    thread.start()
    deadline = time.monotonic() + 10
    while storage.waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    assert thread.is_alive()  # blocked: every buffer is full or uploading
    assert len(added) < len(chunks)
    assert writer._buffers_left == 0 and not writer._free
    storage.gate.set()
    thread.join(10)
    writer.flush()
    writer.close()
    assert len(added) == len(chunks)
    for cid, data in chunks.items():
        entry = objects.locate(cid)
        assert _blobs_of(storage.get(pack_key(entry.pack)), entry.pack)[cid] == data
