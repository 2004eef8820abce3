"""Large writes: in pieces through the page cache, or straight to the disk for packs."""

from __future__ import annotations

import mmap
import os
from pathlib import Path

import pytest

from snapkit.storage import fileio
from snapkit.storage.local import LocalStorage

MiB = 1024 * 1024


def _direct_io_works(folder: Path) -> bool:
    try:
        fd = os.open(folder / "probe", os.O_WRONLY | os.O_CREAT | os.O_DIRECT, 0o644)
    except OSError:
        return False
    os.close(fd)
    os.unlink(folder / "probe")
    return True


def _aligned(data: bytes) -> memoryview:
    """`data` in page-aligned memory, as the pack builder holds a pack."""
    buf = mmap.mmap(-1, len(data))
    buf[:] = data
    return memoryview(buf)


def test_direct_write_covers_the_aligned_head_and_leaves_the_rest(tmp_path: Path) -> None:
    data = os.urandom(3 * MiB + 123)
    path = tmp_path / "pack"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        done = fileio.write_direct(fd, _aligned(data))
        expected = 3 * MiB if _direct_io_works(tmp_path) else 0
        assert done == expected
        assert os.lseek(fd, 0, os.SEEK_CUR) == done  # the caller goes on from here
        fileio.write_all(fd, data[done:])
    finally:
        os.close(fd)
    assert path.read_bytes() == data


def test_direct_write_of_unaligned_memory_writes_nothing(tmp_path: Path) -> None:
    data = os.urandom(2 * MiB + 1)
    unaligned = _aligned(data)[1:]  # one byte past a page boundary: O_DIRECT refuses it
    path = tmp_path / "pack"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert fileio.write_direct(fd, unaligned) == 0
        fileio.write_all(fd, unaligned)
    finally:
        os.close(fd)
    assert path.read_bytes() == data[1:]


def test_direct_write_of_less_than_a_block_writes_nothing(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "small", os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        assert fileio.write_direct(fd, _aligned(b"x" * 100)) == 0
    finally:
        os.close(fd)


def test_writes_in_pieces_land_whole_at_their_offsets(tmp_path: Path) -> None:
    first = os.urandom(fileio.PIECE * 3 + 17)  # several pieces and a remainder
    second = os.urandom(1000)
    path = tmp_path / "file"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        fileio.pwrite_all(fd, second, len(first))
        fileio.pwrite_all(fd, first, 0)
    finally:
        os.close(fd)
    assert path.read_bytes() == first + second


@pytest.mark.parametrize("aligned", [True, False], ids=["mmap", "bytes"])
def test_local_store_packs_read_back_whole_and_at_any_range(tmp_path: Path, aligned: bool) -> None:
    data = os.urandom(5 * MiB + 4097)  # over DIRECT_MIN, not a whole number of blocks
    storage = LocalStorage(tmp_path / "store")
    assert storage.put_if_absent("data/ab/pack1", _aligned(data) if aligned else data)
    storage.close()  # the durability barrier fsyncs it
    assert storage.get("data/ab/pack1") == data
    assert storage.get_range("data/ab/pack1", 4 * MiB + 5, 8000) == data[4 * MiB + 5 :][:8000]
    assert storage.get_range("data/ab/pack1", 7, 3 * MiB) == data[7 : 7 + 3 * MiB]  # mapped
    assert storage.get_range("data/ab/pack1", 4 * MiB, 2 * MiB) == data[4 * MiB :]  # to the end
    assert not [p for p in (tmp_path / "store" / "data" / "ab").iterdir() if p.name != "pack1"]


def test_reads_in_pieces_return_the_range_and_stop_at_the_end(tmp_path: Path) -> None:
    data = os.urandom(fileio.PIECE * 4 + 99)
    path = tmp_path / "file"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert fileio.pread_exactly(fd, 5, fileio.PIECE * 3) == data[5 : 5 + fileio.PIECE * 3]
        assert fileio.pread_exactly(fd, fileio.PIECE, len(data)) == data[fileio.PIECE :]
    finally:
        os.close(fd)


def test_mapped_ranges_hold_their_bytes_after_the_file_is_closed_and_deleted(
    tmp_path: Path,
) -> None:
    """A restore reads a pack's range while gc may delete the pack: the mapping stays."""
    data = os.urandom(3 * MiB + 123)
    path = tmp_path / "pack"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        ranges = [(0, MiB), (4097, 2 * MiB), (MiB + 1, len(data) - MiB - 1)]
        got = [fileio.map_range(fd, offset, length) for offset, length in ranges]
    finally:
        os.close(fd)
    path.unlink()
    for (offset, length), view in zip(ranges, got, strict=True):
        assert isinstance(view, memoryview)
        assert view == data[offset : offset + length]


def test_a_range_past_the_end_of_the_file_is_read_not_mapped(tmp_path: Path) -> None:
    """A page mapped past a file's end kills the process with SIGBUS when touched; a short
    (truncated) pack must come back short, for the caller to report it corrupt."""
    data = os.urandom(2 * MiB)
    path = tmp_path / "pack"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        short = fileio.map_range(fd, MiB, 2 * MiB)
        empty = fileio.map_range(fd, 3 * MiB, 0)
    finally:
        os.close(fd)
    assert bytes(short) == data[MiB:]
    assert bytes(empty) == b""
