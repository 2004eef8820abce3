"""Packs: the reused pack buffer, the compression choice, and what a take records."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import blake3
import pytest
import zstandard

import snapkit
from snapkit.api import Store
from snapkit.errors import CorruptObject, StoreUnavailable, UsageError
from snapkit.objects.packs import (
    CODEC_LZ4,
    CODEC_RAW,
    CODEC_ZSTD,
    PackBuilder,
    decode_blob,
    decode_blob_reusing,
    encode_blob,
    named_by_header,
    pack_id_of,
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


def test_a_pack_is_named_by_its_header_which_names_each_blob() -> None:
    builder = PackBuilder(1 << 16)
    builder.add("a" * 64, b"x" * 600, 600, CODEC_RAW)
    pack_id, body, _ = builder.finish()
    body = bytes(body)
    offset, length = parse_pack_tail(pack_id, body[-12:], len(body))
    assert pack_id == pack_id_of(body[offset : offset + length]) != blake3.blake3(body).hexdigest()
    assert named_by_header(pack_id, body) is True
    assert named_by_header(blake3.blake3(body).hexdigest(), body) is False  # an older pack
    assert named_by_header(pack_id, body[:-1] + b"2") is None  # its trailer damaged
    assert named_by_header(pack_id, body[:offset] + b"\0" + body[offset + 1 :]) is None


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


TEXT = b"".join(b"row %d,some words here,%d\n" % (i, i * 7) for i in range(60_000))


@pytest.mark.parametrize("codec", [CODEC_LZ4, CODEC_ZSTD], ids=["lz4", "zstd"])
def test_incompressible_and_compressed_formats_are_stored_raw(codec: int) -> None:
    noise = random_bytes(1 << 20, seed=3)
    assert encode_blob(noise, codec)[1] == CODEC_RAW
    # Already-compressed data (what Parquet pages are) saves a little: not worth the CPU.
    packed = zstandard.ZstdCompressor(level=19).compress(TEXT)
    assert encode_blob(packed + noise[: (1 << 20) - len(packed)], codec)[1] == CODEC_RAW
    stored, used = encode_blob(TEXT[: 1 << 20], codec)
    assert used == codec and len(stored) < (1 << 20) // 3
    assert decode_blob(stored, used, 1 << 20) == TEXT[: 1 << 20]


def test_text_is_lz4_by_default_and_raw_when_compression_is_off() -> None:
    assert encode_blob(TEXT[:100_000])[1] == CODEC_LZ4
    stored, codec = encode_blob(TEXT[:100_000], CODEC_RAW)
    assert codec == CODEC_RAW and bytes(stored) == TEXT[:100_000]


def test_an_lz4_block_written_by_python_lz4_still_decodes() -> None:
    # `lz4.block.compress(data, store_size=False)` (python-lz4, which wrote LZ4 stores
    # before snapkit moved to cramjam): stores from then must read the same.
    data = b"snapkit, " * 40 + b"the end\n"
    block = bytes.fromhex("9f736e61706b69742c200900ff4d8074686520656e640a")
    assert decode_blob(block, CODEC_LZ4, len(data)) == data
    assert decode_blob_reusing(memoryview(block), CODEC_LZ4, len(data)) == data
    stored, codec = encode_blob(TEXT[:100_000])
    assert codec == CODEC_LZ4 and decode_blob(bytes(stored), codec, 100_000) == TEXT[:100_000]


def test_decoding_reuses_a_buffer_per_thread_and_keeps_raw_blobs_in_place() -> None:
    pieces = [TEXT[i * 200_000 : (i + 1) * 200_000] for i in range(6)]
    blobs = [bytes(encode_blob(p)[0]) for p in pieces]
    raw = memoryview(pieces[0])
    assert decode_blob_reusing(raw, CODEC_RAW, len(raw)) is raw  # a view: no copy
    zstd = zstandard.ZstdCompressor().compress(pieces[1])
    assert decode_blob_reusing(memoryview(zstd), CODEC_ZSTD, len(pieces[1])) == pieces[1]
    first = decode_blob_reusing(memoryview(blobs[0]), CODEC_LZ4, len(pieces[0]))
    second = decode_blob_reusing(memoryview(blobs[1]), CODEC_LZ4, len(pieces[1]))
    assert second == pieces[1] and first == pieces[1]  # one buffer: valid until the next
    failures: list[int] = []

    def decode_all(k: int) -> None:  # threads decoding at once each have their own buffer
        for _ in range(50):
            for i in range(k, 6, 2):
                if (
                    decode_blob_reusing(memoryview(blobs[i]), CODEC_LZ4, len(pieces[i]))
                    != (pieces[i])
                ):
                    failures.append(i)

    threads = [threading.Thread(target=decode_all, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []


@pytest.mark.parametrize("copy", [True, False], ids=["copied", "decoded-in-place"])
@pytest.mark.parametrize("codec", [CODEC_LZ4, CODEC_ZSTD], ids=["lz4", "zstd"])
def test_a_damaged_compressed_chunk_is_reported_corrupt(
    store: Store, codec: int, copy: bool
) -> None:
    objects = store.repo.objects
    store.repo.load_index()
    data = TEXT[:300_000]
    cid = blake3.blake3(data).hexdigest()
    with PackWriter(objects, codec=codec) as writer:
        writer.add(cid, data)
    entry = objects.locate(cid)
    assert entry.codec == codec
    key = pack_key(entry.pack)
    body = objects.storage.get(key)
    stored = bytearray(body[entry.offset : entry.offset + entry.length])
    intact = objects.decode_verified(cid, entry, memoryview(stored), key, copy=copy)
    assert intact == data
    stored[5:200] = bytes(195)
    with pytest.raises(CorruptObject, match=f"chunk {cid} in pack {entry.pack} is corrupt"):
        objects.decode_verified(cid, entry, memoryview(stored), key, copy=copy)
    stored[5:200] = b"\xff" * 195  # not a valid block at all: the decoder itself refuses
    with pytest.raises(CorruptObject, match=f"chunk {cid} in pack {entry.pack} is corrupt"):
        objects.decode_verified(cid, entry, memoryview(stored), key, copy=copy)


@pytest.mark.parametrize("compression", ["auto", "lz4", "zstd", "none"])
def test_a_store_compresses_with_what_it_was_created_with(tmp_path: Path, compression: str) -> None:
    # (auto: a take of one pack into a local folder never waits for its disk: stored raw)
    codec = {"auto": CODEC_RAW, "lz4": CODEC_LZ4, "zstd": CODEC_ZSTD, "none": CODEC_RAW}
    codec = codec[compression]
    write(tmp_path / "data/rows.csv", TEXT)
    url = str(tmp_path / "store")
    with snapkit.open_store(url, create=True, compression=compression, cwd=tmp_path) as s:
        s.take(tmp_path / "data", tags=["v1"])
    assert json.loads((tmp_path / "store/config").read_bytes())["compression"] == compression
    with snapkit.open_store(url, cwd=tmp_path) as s:  # every later writer keeps to it
        assert s.compression == compression
        write(tmp_path / "data/more.csv", TEXT[::-1])
        s.take(tmp_path / "data", tags=["v2"])
        s.repo.load_index()
        codecs = {s.repo.objects.locate(c).codec for e in s.ls("v2") for c in e.chunks}
        assert codecs == {codec}
        s.restore("v2", tmp_path / "back")
    assert (tmp_path / "back/more.csv").read_bytes() == TEXT[::-1]


def test_an_existing_store_keeps_its_compression(tmp_path: Path) -> None:
    url = str(tmp_path / "store")
    snapkit.open_store(url, create=True, compression="zstd", cwd=tmp_path).close()
    snapkit.open_store(url, create=True, compression="zstd", cwd=tmp_path).close()  # same: fine
    snapkit.open_store(url, create=True, cwd=tmp_path).close()  # none asked for: fine
    with pytest.raises(UsageError, match="compresses with zstd"):
        snapkit.open_store(url, create=True, compression="lz4", cwd=tmp_path)
    with pytest.raises(UsageError, match="unknown compression"):
        snapkit.open_store(url, create=True, compression="brotli", cwd=tmp_path)
    with pytest.raises(UsageError, match="only when a store is created"):
        snapkit.open_store(url, compression="zstd", cwd=tmp_path)


def test_a_store_from_before_the_setting_keeps_zstd_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    url = str(tmp_path / "store")
    snapkit.open_store(url, create=True, cwd=tmp_path).close()
    config_path = tmp_path / "store/config"
    config = json.loads(config_path.read_bytes())
    del config["compression"]
    os.chmod(config_path, 0o644)
    config_path.write_text(json.dumps(config))
    with snapkit.open_store(url, cwd=tmp_path) as s:
        assert s.compression == "zstd" and s.repo.codec == CODEC_ZSTD
    config_path.write_text(json.dumps({**config, "compression": "zpaq"}))
    with pytest.raises(StoreUnavailable, match=r"with 'zpaq', which this snapkit does not know"):
        snapkit.open_store(url, cwd=tmp_path)


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


def test_adaptive_writer_compresses_only_while_its_uploads_lag(tmp_path: Path) -> None:
    """`auto` on a local store: chunks are stored raw while the disk keeps up, and
    compressed once `upload_threads - 1` packs are being written at the same time."""
    storage = _GatedStorage(tmp_path / "store")
    storage.create()
    objects = ObjectStore(storage)
    pieces = [TEXT[i * 30_000 : (i + 1) * 30_000] for i in range(12)]
    ids = [blake3.blake3(p).hexdigest() for p in pieces]
    writer = PackWriter(objects, pack_target=50_000, upload_threads=3, adaptive=True)
    for cid, data in zip(ids[:4], pieces[:4], strict=True):  # two packs, sealed, held
        writer.add(cid, data)
    deadline = time.monotonic() + 10
    while storage.waiting < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert storage.waiting == 2  # two of three uploads busy: the writes lag
    for cid, data in zip(ids[4:8], pieces[4:8], strict=True):
        writer.add(cid, data)
    storage.gate.set()  # now a disk that keeps up: every upload done before the next add
    writer.flush()
    for cid, data in zip(ids[8:], pieces[8:], strict=True):
        writer.add(cid, data)
        writer.flush()
    writer.close()
    codecs = [objects.locate(cid).codec for cid in ids]
    assert codecs == [CODEC_RAW] * 4 + [CODEC_LZ4] * 4 + [CODEC_RAW] * 4
    for cid, data in zip(ids, pieces, strict=True):
        entry = objects.locate(cid)
        stored = _blobs_of(storage.get(pack_key(entry.pack)), entry.pack)[cid]
        assert decode_blob(stored, entry.codec, entry.raw_length) == data


def test_a_store_made_with_the_default_adapts_locally_and_compresses_on_s3(
    tmp_path: Path, s3_url: str
) -> None:
    write(tmp_path / "data/rows.csv", TEXT)
    for url, codec in ((str(tmp_path / "store"), CODEC_RAW), (s3_url, CODEC_LZ4)):
        with snapkit.open_store(url, create=True, cwd=tmp_path) as s:
            assert s.compression == "auto"
            s.take(tmp_path / "data", tags=["v1"])
            s.repo.load_index()
            (entry,) = s.ls("v1")
            assert {s.repo.objects.locate(c).codec for c in entry.chunks} == {codec}
            s.restore("v1", tmp_path / f"back-{codec}")
        assert (tmp_path / f"back-{codec}/rows.csv").read_bytes() == TEXT
