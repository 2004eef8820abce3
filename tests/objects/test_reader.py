"""ChunkedFile: a stored file read lazily and verified, chunk by chunk; Store.open."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

import snapkit
from snapkit.api import Store
from snapkit.errors import CorruptObject, NotFound, UsageError
from snapkit.objects.reader import ChunkedFile
from snapkit.snapshot.model import FileEntry
from tests.helpers import random_bytes, write

BIG = 9 << 20  # several chunks at FastCDC's 1 MiB average


@pytest.fixture
def big(store: Store, tmp_path: Path) -> tuple[bytes, FileEntry]:
    """A random file of several chunks, taken into the store: (its bytes, its tree entry)."""
    data = random_bytes(BIG, seed=7)
    write(tmp_path / "data/big.bin", data)
    store.take(tmp_path / "data", tags=["v1"])
    (entry,) = store.ls("v1", "big.bin")
    assert len(entry.chunks) >= 4
    store.repo.load_index()
    return data, entry


def open_chunked(store: Store, entry: FileEntry) -> ChunkedFile:
    return ChunkedFile(store.repo.objects, entry.chunks, entry.size, name=entry.path)


def chunk_starts(store: Store, entry: FileEntry) -> list[int]:
    starts, offset = [], 0
    for cid in entry.chunks:
        starts.append(offset)
        offset += store.repo.objects.locate(cid).raw_length
    return starts


def test_reads_whole_file_byte_identically_with_four_chunks_at_most(store, big) -> None:
    data, entry = big
    with open_chunked(store, entry) as f:
        assert f.readable() and f.seekable() and not f.writable()
        assert f.read() == data
        assert f.max_resident_chunks == 4  # two cached, two read ahead
        assert f.chunks_loaded == len(entry.chunks)  # each chunk fetched once, in order


def test_the_next_chunks_are_fetched_before_they_are_asked_for(store, big, monkeypatch) -> None:
    """On S3 each chunk is a GET: a file read in order no longer waits a round trip per
    chunk. Reading the first bytes starts fetching chunks 1 and 2 in the background; the
    whole file is still fetched once, and a jump elsewhere drops the fetches it made
    useless."""
    import threading

    data, entry = big
    objects = store.repo.objects
    fetched: list[tuple[str, str]] = []
    read_chunk = objects.read_chunk

    def recording(cid: str) -> bytes:
        fetched.append((threading.current_thread().name, cid))
        return read_chunk(cid)

    monkeypatch.setattr(objects, "read_chunk", recording)
    with open_chunked(store, entry) as f:
        assert f.read(10) == data[:10]
        for ahead in list(f._ahead.values()):
            ahead.result()
        assert len(entry.chunks) >= 6
        assert [c for _, c in fetched] == list(entry.chunks[:3])
        assert [t.startswith("snap-ahead") for t, _ in fetched] == [False, True, True]
        assert f.read() == data[10:]
        assert sorted(c for _, c in fetched) == sorted(entry.chunks)
        f.seek(0)
        f.read(10)  # chunk 0 again: it left the cache; 1 and 2 are fetched ahead again
        assert set(f._ahead) == {1, 2}
        middle = chunk_starts(store, entry)[3]
        f.seek(middle)
        assert f.read(10) == data[middle : middle + 10]
        assert set(f._ahead) == {4, 5}  # 1 and 2 dropped
        assert f.max_resident_chunks <= 4


def test_seeks_start_middle_across_a_boundary_end_and_past_end(store, big) -> None:
    data, entry = big
    boundary = chunk_starts(store, entry)[2]
    with open_chunked(store, entry) as f:
        assert f.read(10) == data[:10]
        assert f.seek(boundary - 100) == boundary - 100
        assert f.read(200) == data[boundary - 100 : boundary + 100]
        assert f.tell() == boundary + 100
        assert f.seek(-50, io.SEEK_CUR) == boundary + 50
        assert f.read(3 << 20) == data[boundary + 50 : boundary + 50 + (3 << 20)]
        assert f.seek(-5, io.SEEK_END) == BIG - 5
        assert f.read(100) == data[-5:]
        assert f.read(100) == b""
        assert f.seek(BIG + 1000) == BIG + 1000
        assert f.read(10) == b""
        assert f.seek(0) == 0
        assert f.read(7) == data[:7]
        assert f.max_resident_chunks <= 4


def test_readinto_fills_across_chunks(store, big) -> None:
    data, entry = big
    buffer = bytearray(5 << 20)
    with open_chunked(store, entry) as f:
        f.seek(1234)
        assert f.readinto(buffer) == len(buffer)
    assert bytes(buffer) == data[1234 : 1234 + len(buffer)]


def test_bad_seeks_and_closed_file_raise(store, big) -> None:
    _, entry = big
    f = open_chunked(store, entry)
    with pytest.raises(ValueError, match="negative"):
        f.seek(-1)
    with pytest.raises(ValueError, match="whence"):
        f.seek(0, 7)
    f.close()
    with pytest.raises(ValueError, match="closed"):
        f.read(1)


def test_a_size_that_does_not_match_the_chunks_is_corruption(store, big) -> None:
    _, entry = big
    with pytest.raises(CorruptObject, match="add up to"):
        ChunkedFile(store.repo.objects, entry.chunks, entry.size + 1)


def test_corrupt_chunk_is_an_error_naming_the_file(store, big, tmp_path: Path) -> None:
    _, entry = big
    where = store.repo.objects.locate(entry.chunks[2])
    pack = tmp_path / "store/data" / where.pack[:2] / where.pack
    damaged = bytearray(pack.read_bytes())
    damaged[where.offset + 100] ^= 0xFF
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(damaged))
    with open_chunked(store, entry) as f:
        assert f.read(10)  # chunk 0 is fine
        with pytest.raises(CorruptObject, match=r"big\.bin"):
            f.read()


def test_empty_file(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "empty", b"")
    store.take(tmp_path / "empty", tags=["e"])
    with store.open("e") as f:
        assert f.read() == b""


# -- Store.open -------------------------------------------------------------------------


def emails(n: int) -> pa.Table:
    return pa.table(
        {
            "id": list(range(n)),
            "text": [f"message {i} " + "lorem ipsum " * (i % 7) for i in range(n)],
            "label": [i % 2 for i in range(n)],
        }
    )


def test_pyarrow_reads_parquet_and_csv_through_store_open(store: Store, tmp_path: Path) -> None:
    table = emails(20_000)
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data/emails.parquet", row_group_size=4_000)
    pacsv.write_csv(table, tmp_path / "data/emails.csv")
    store.take(tmp_path / "data", tags=["t"])
    with store.open("t", "emails.parquet") as f:
        assert pq.read_table(f).equals(table)
    with store.open("t", "/emails.parquet") as f:
        batches = list(pq.ParquetFile(pa.PythonFile(f, mode="r")).iter_batches(3_000))
        assert pa.Table.from_batches(batches).equals(table)
    with store.open("t", "emails.csv") as f:
        assert pacsv.read_csv(f).equals(table)


def test_open_a_single_file_snapshot_without_a_path(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "one.txt", "just me\n")
    store.take(tmp_path / "one.txt", tags=["one"])
    with store.open("one") as f:
        assert f.read() == b"just me\n"
    with store.open("one", "one.txt") as f:
        assert f.read() == b"just me\n"


def test_open_follows_symlinks_inside_the_snapshot(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "data/sub/real.txt", "real\n")
    os.symlink("sub/real.txt", tmp_path / "data/alias")
    os.symlink("../outside", tmp_path / "data/escape")
    store.take(tmp_path / "data", tags=["d"])
    with store.open("d", "alias") as f:
        assert f.read() == b"real\n"
    with pytest.raises(NotFound, match="escape"):
        store.open("d", "escape")


def test_open_missing_path_or_folder_is_a_clear_error(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "data/sub/a.txt", "a\n")
    store.take(tmp_path / "data", tags=["d"])
    with pytest.raises(NotFound, match=r"no file 'nope\.txt' in snapshot d"):
        store.open("d", "nope.txt")
    with pytest.raises(UsageError, match="folder"):
        store.open("d", "sub")
    with pytest.raises(UsageError, match="name the file"):
        store.open("d")


def test_store_open_streams_from_s3(s3_url: str, tmp_path: Path) -> None:
    table = emails(5_000)
    pq.write_table(table, tmp_path / "emails.parquet", row_group_size=1_000)
    with snapkit.open_store(s3_url, create=True, cwd=tmp_path) as s3_store:
        s3_store.take(tmp_path / "emails.parquet", tags=["t"])
        with s3_store.open("t") as f:
            assert pq.read_table(f).equals(table)


def test_reads_for_a_sink_take_turns_between_runs_of_the_packs() -> None:
    """Threads of a restore start in different places (different files), each run in order."""
    from snapkit.objects.store import _interleave

    order = _interleave(list(range(10)), 4)
    assert sorted(order) == list(range(10))
    assert order[:4] == [0, 3, 6, 9]  # one from each run first
    runs = [[g for g in order if g // 3 == r] for r in range(4)]
    assert all(run == sorted(run) for run in runs)
    assert _interleave([1, 2], 4) == [1, 2] and _interleave([1, 2, 3], 1) == [1, 2, 3]
