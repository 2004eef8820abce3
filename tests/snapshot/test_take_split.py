"""A large file read while cores would idle: its reading thread cuts it, the chunk pool
hashes and stores the chunks. Same snapshot as reading it alone; nothing left running
when the take fails."""

from __future__ import annotations

import threading

import pytest

from snapkit.api import Store
from snapkit.config import StoreLocation
from snapkit.errors import StoreUnavailable
from snapkit.objects.chunker import Chunker
from snapkit.objects.writer import PackWriter
from snapkit.snapshot import take as take_module
from snapkit.snapshot.repo import Repo
from tests.faults import FaultyStorage
from tests.helpers import random_bytes, snapshot_of, write


@pytest.fixture
def split_small(monkeypatch):
    """Files from 1 MiB on count as large, so the tests stay small."""
    monkeypatch.setattr(take_module, "_SPLIT_MIN", 1 << 20)


def _adding_threads(monkeypatch) -> list[str]:
    names: list[str] = []
    add = PackWriter.add

    def recording(self, chunk_id, data):
        names.append(threading.current_thread().name)
        return add(self, chunk_id, data)

    monkeypatch.setattr(PackWriter, "add", recording)
    return names


def test_a_large_file_alone_is_stored_by_the_chunk_pool_with_the_same_chunks(
    store, tmp_path, split_small, monkeypatch
):
    big = tmp_path / "src/big.bin"
    write(big, random_bytes(24 << 20, seed=7))
    names = _adding_threads(monkeypatch)
    store.take(tmp_path / "src", tags=["v1"])

    assert any(n.startswith("snap-chunk") for n in names)  # handed out, not all inline
    [entry] = store.ls("v1")
    alone = [c.id for c in Chunker(store.repo.chunker).chunks(big, big.stat().st_size)]
    assert list(entry.chunks) == alone and len(alone) > 6  # in file order
    store.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(tmp_path / "src")


def test_a_take_failing_while_chunks_are_handed_out_stops_them_all(store, tmp_path, split_small):
    write(tmp_path / "src/big.bin", random_bytes(60 << 20, seed=8))
    packs: list[str] = []

    def store_lost_after_a_pack(op: str, key: str) -> None:
        if op == "put" and key.startswith("data/"):
            if packs:
                raise StoreUnavailable(f"cannot reach the store while writing {key}")
            packs.append(key)

    faulty = Store(
        Repo.open(FaultyStorage(store.repo.storage, store_lost_after_a_pack)),
        StoreLocation(store.repo.storage.url, "test", tmp_path),
    )
    with pytest.raises(StoreUnavailable):
        faulty.take(tmp_path / "src", tags=["v1"])
    assert not [t for t in threading.enumerate() if t.name.startswith("snap-chunk")]
    assert store.repo.refs.find("v1") is None and store.check().ok

    store.take(tmp_path / "src", tags=["v1"])  # the store is back
    store.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(tmp_path / "src")
