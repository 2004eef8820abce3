"""Faults: a store that goes away mid-take, a read-only store, corruption found by check."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import blake3
import pytest

from snapkit.api import Store
from snapkit.config import StoreLocation
from snapkit.errors import AccessDenied, CorruptObject, StoreUnavailable
from snapkit.snapshot.repo import Repo
from snapkit.storage import ReadOnlyStorage
from snapkit.storage.local import LocalStorage
from tests.faults import FaultyStorage
from tests.helpers import random_bytes, snapshot_of, write


def _store_on(storage, tmp_path: Path) -> Store:
    return Store(Repo.open(storage), StoreLocation(storage.url, "test", tmp_path))


def _source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    for i in range(6):
        write(src / f"part{i}.bin", random_bytes(12 << 20, seed=i))
    return src


def test_store_lost_mid_take_fails_clearly_and_next_take_resumes(store, tmp_path):
    src = _source(tmp_path)
    packs_written = []

    def network_drops_after_two_packs(op: str, key: str) -> None:
        if op == "put" and key.startswith("data/"):
            if len(packs_written) >= 2:
                raise StoreUnavailable(f"cannot reach the store while writing {key}")
            packs_written.append(key)

    flaky = _store_on(FaultyStorage(store.repo.storage, network_drops_after_two_packs), tmp_path)
    with pytest.raises(StoreUnavailable, match="cannot reach"):
        flaky.take(src, tags=["t"])
    assert store.log() == [] and store.repo.refs.find("t") is None
    assert store.check().ok

    result = store.take(src, tags=["t"])  # the network is back
    total = result.snapshot.summary.bytes
    assert result.snapshot.summary.new_bytes <= total - (32 << 20)  # two packs reused
    store.restore("t", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)


def test_read_only_store_restores_and_checks_but_refuses_writes(store, tmp_path):
    write(tmp_path / "src/a.txt", "a")
    store.take(tmp_path / "src", tags=["v1"])
    ro = _store_on(ReadOnlyStorage(LocalStorage(store.repo.storage.root)), tmp_path)
    ro.restore("v1", tmp_path / "out")
    assert (tmp_path / "out/a.txt").read_text() == "a"
    assert ro.check(read_data=True).ok
    with pytest.raises(AccessDenied, match="read-only"):
        ro.take(tmp_path / "src")
    with pytest.raises(AccessDenied):
        ro.tag("v1", "v2")


# -- every kind of corruption is named by check, with the snapshots and files it affects ----


@pytest.fixture
def damaged(store, tmp_path):
    write(tmp_path / "src/big.bin", random_bytes(3 << 20, seed=1))
    write(tmp_path / "src/small.txt", "small")
    sid = store.take(tmp_path / "src", tags=["v1"]).id
    root = store.repo.storage.root
    [pack] = [root / k for k in store.repo.storage.list("data/")]
    return store, sid, root, pack


def _problems(store, read_data: bool = False):
    report = store.check(read_data=read_data)
    assert not report.ok
    return report.problems


def test_check_missing_pack(damaged):
    store, sid, _, pack = damaged
    pack.unlink()
    [p] = _problems(store)
    assert p.kind == "missing-pack" and sid in p.snapshots and "big.bin" in p.files


def test_check_truncated_pack(damaged):
    store, sid, _, pack = damaged
    data = pack.read_bytes()
    pack.write_bytes(data[: len(data) // 2])
    [p] = _problems(store)
    assert p.kind == "truncated-pack" and sid in p.snapshots and "big.bin" in p.files


def test_restore_from_a_truncated_pack_names_the_file_and_writes_nothing(damaged, tmp_path):
    """The local store maps large ranges of packs; a range past a truncated pack's end is
    read instead (a mapped page past the end would kill the process with SIGBUS)."""
    store, _, _, pack = damaged
    data = pack.read_bytes()
    pack.write_bytes(data[: len(data) - (1 << 20)])
    with pytest.raises(CorruptObject, match=r"big\.bin"):
        store.restore("v1", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_check_flipped_byte_only_with_read_data(damaged):
    store, sid, _, pack = damaged
    data = bytearray(pack.read_bytes())
    data[100] ^= 1
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    assert store.check().ok  # structure is intact: only reading the data finds this
    [p] = _problems(store, read_data=True)
    assert p.kind == "corrupt-pack" and sid in p.snapshots and p.files == ("big.bin",)


def test_check_index_entry_past_pack_end(damaged):
    store, sid, root, _ = damaged
    from snapkit.objects.index import decode_index
    from snapkit.objects.packs import BlobEntry

    [key] = list(store.repo.storage.list("index/"))
    packs = decode_index("x", (root / key).read_bytes())
    pack_id, size, entries = packs[0]
    cid = next(c for c, e in entries.items() if e.raw_length < 100)  # small.txt's chunk
    e = entries[cid]
    entries[cid] = BlobEntry(e.pack, size + 10, e.length, e.raw_length, e.codec)
    (root / key).unlink()
    store.repo.objects.write_index([(pack_id, size, entries)])
    fresh = _store_on(LocalStorage(root), Path(root))
    [p] = _problems(fresh)
    assert p.kind == "bad-index" and sid in p.snapshots and p.files == ("small.txt",)


def test_check_snapshot_whose_tree_is_missing(damaged):
    store, sid, root, _ = damaged
    tree = store.show("v1").snapshot.tree
    (root / "trees" / tree).unlink()
    fresh = _store_on(LocalStorage(root), Path(root))
    [p] = _problems(fresh)
    assert p.kind == "missing-tree" and p.snapshots == (sid,)


def test_check_ref_to_missing_snapshot(damaged):
    store, sid, root, _ = damaged
    (root / "snapshots" / sid).unlink()
    [p] = _problems(store)
    assert p.kind == "missing-snapshot" and "v1" in p.message


def test_check_names_the_damaged_chunk_of_a_pack_named_by_its_header(damaged):
    """A pack's name vouches for its header; check then verifies each blob on its own, so a
    flipped byte in big.bin's data is pinned on big.bin, and one in the header on the pack."""
    store, sid, _, pack = damaged
    good = pack.read_bytes()
    os.chmod(pack, 0o644)
    for where, files in ((100, ("big.bin",)), (len(good) - 20, ())):
        data = bytearray(good)
        data[where] ^= 1
        pack.write_bytes(bytes(data))
        [p] = _problems(store, read_data=True)
        assert p.kind == "corrupt-pack" and p.files == files
        assert p.snapshots == ((sid,) if files else ())
        assert ("1 chunk(s)" in p.message) == bool(files)
        assert ("does not match its hash" in p.message) == (not files)
    pack.write_bytes(good)
    assert store.check(read_data=True).ok


def test_a_pack_named_by_all_its_bytes_is_still_read_and_checked(damaged, tmp_path):
    """Packs written before header naming are named by the BLAKE3 of all their bytes:
    restore and check still accept them, and check still finds a flipped byte in them."""
    from snapkit.objects.hashing import digest
    from snapkit.objects.packs import BlobEntry, named_by_header
    from snapkit.objects.store import pack_key

    store, _, root, pack = damaged
    body = pack.read_bytes()
    old_id = digest(body)
    (new_id,) = store.repo.objects.pack_sizes
    assert named_by_header(new_id, body) is True and named_by_header(old_id, body) is False
    entries = {
        cid: BlobEntry(old_id, e.offset, e.length, e.raw_length, e.codec)
        for cid, e in store.repo.objects.index.items()
    }
    store.repo.storage.put_if_absent(pack_key(old_id), body)
    for key in store.repo.storage.list("index/"):
        (root / key).unlink()
    pack.unlink()
    store.repo.objects.write_index([(old_id, len(body), entries)])
    old = _store_on(LocalStorage(root), Path(root))
    assert old.check(read_data=True).ok
    old.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(tmp_path / "src")
    moved = root / pack_key(old_id)
    data = bytearray(body)
    data[100] ^= 1
    os.chmod(moved, 0o644)
    moved.write_bytes(bytes(data))
    [p] = _problems(_store_on(LocalStorage(root), Path(root)), read_data=True)
    assert p.kind == "corrupt-pack" and "does not match its hash" in p.message
    assert p.files == ("big.bin",)


def test_check_read_data_subset_reads_some_packs(damaged):
    store, _, _, pack = damaged
    data = bytearray(pack.read_bytes())
    data[100] ^= 1
    os.chmod(pack, 0o644)
    pack.write_bytes(bytes(data))
    report = store.check(read_fraction=0.01)  # one pack at least: here, the only one
    assert report.read_bytes == len(data)
    assert [p.kind for p in report.problems] == ["corrupt-pack"]


def test_check_reads_packs_in_parallel_and_reports_each_in_index_order(store, tmp_path):
    """Two damaged packs and one deleted while check reads (a gc elsewhere) among eight:
    each is reported once, naming its files, in the index's order whichever read ended
    first."""
    from snapkit.errors import NotFound
    from snapkit.objects.store import pack_key

    for i in range(8):
        write(tmp_path / f"src{i}/f{i}.bin", random_bytes(200_000, seed=i))
        store.take(tmp_path / f"src{i}", tags=[f"t{i}"])
    root = store.repo.storage.root
    assert len(store.repo.objects.pack_sizes) == 8
    pack_of = {i: store.repo.objects.locate(store.ls(f"t{i}")[0].chunks[0]).pack for i in range(8)}
    for i in (1, 5):
        path = root / pack_key(pack_of[i])
        data = bytearray(path.read_bytes())
        data[1000] ^= 1
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))

    def vanished(op: str, key: str) -> None:
        if op in ("get", "get_range") and key == pack_key(pack_of[3]):
            raise NotFound(f"no object {key}")

    faulty = _store_on(FaultyStorage(LocalStorage(root), vanished), tmp_path)
    report = faulty.check(read_data=True)
    kinds = {1: "corrupt-pack", 3: "missing-pack", 5: "corrupt-pack"}
    order = list(faulty.repo.objects.pack_sizes)  # (as check loaded the index)
    expected = sorted(kinds, key=lambda i: order.index(pack_of[i]))
    assert [(p.kind, p.object, p.files) for p in report.problems] == [
        (kinds[i], pack_key(pack_of[i]), (f"f{i}.bin",)) for i in expected
    ]


def test_unindexed_packs_are_looked_for_only_when_a_writer_may_have_died(store, tmp_path):
    """Looking for packs without an index lists every pack (a request per 1,000 on S3). A
    take does it only when another lock, live or stale, is in the store: a take that fails
    indexes the packs that landed before letting go of its lock, and the next one reuses
    them without looking. A lock left by a killed writer sends the next take looking, once
    per opened store (a `snap run` takes before and after every step)."""
    from snapkit.snapshot.locks import LockInfo
    from snapkit.snapshot.take import TakeOptions, take

    listings: list[str] = []
    lock_looks: list[str] = []
    drop = {"puts": 0}

    def watch(op: str, key: str) -> None:
        if op == "list" and key == "data/":
            listings.append(key)
        if op == "list" and key == "locks/":
            lock_looks.append(key)
        if op == "put" and key.startswith("data/") and drop["puts"]:
            drop["puts"] -= 1
            if drop["puts"] == 0:
                raise StoreUnavailable(f"cannot reach the store while writing {key}")

    def opened() -> Store:
        return _store_on(FaultyStorage(LocalStorage(store.repo.storage.root), watch), tmp_path)

    s = opened()
    for i in range(2):
        write(tmp_path / f"src{i}/f.bin", random_bytes(100_000, seed=i))
        s.take(tmp_path / f"src{i}")
    assert listings == []
    assert len(lock_looks) == 2  # one look per take, when its lock is acquired
    src = _source(tmp_path)
    drop["puts"] = 3  # two packs land, the third fails
    with pytest.raises(StoreUnavailable):
        opened().take(src)
    result = opened().take(src)  # another process: no lock left, the two packs indexed
    assert listings == []
    assert result.snapshot.summary.new_bytes <= result.snapshot.summary.bytes - (32 << 20)

    dead = LockInfo("f" * 32, "shared", "take", "elsewhere", 1, "u", 0.0, 0.0)  # long stale
    s = opened()
    s.locks._write(dead)
    write(tmp_path / "src9/f.bin", random_bytes(100_000, seed=9))
    s.take(tmp_path / "src9")
    s.take(tmp_path / "src9")
    assert len(listings) == 1  # once per opened store
    assert [i.id for i in s.unlock(stale_only=True)] == [dead.id]
    repo = opened().repo
    for _ in range(2):  # a pipeline's step snapshots (one store, many takes): the first looks
        take(repo, tmp_path / "src9", TakeOptions())
    assert len(listings) == 2


def test_unlock_indexes_what_a_killed_writer_left_before_removing_its_lock(store, tmp_path):
    """A killed take's lock is what sends the next take looking for its packs: `unlock`
    indexes them first. With a live gc holding the store (only a full unlock removes its
    lock), that step is skipped and the locks still go."""
    from snapkit.objects.packs import CODEC_RAW, PackBuilder
    from snapkit.objects.store import pack_key
    from snapkit.snapshot.locks import LockInfo

    data = random_bytes(50_000, seed=3)
    cid = blake3.blake3(data).hexdigest()
    builder = PackBuilder(1 << 20)
    builder.add(cid, data, len(data), CODEC_RAW)
    pack_id, body, _ = builder.finish()
    store.repo.storage.put_if_absent(pack_key(pack_id), bytes(body))  # no index names it
    root = store.repo.storage.root
    killed = LockInfo("a" * 32, "shared", "take", "elsewhere", 1, "u", 0.0, 0.0)
    store.locks._write(killed)

    fresh = _store_on(LocalStorage(root), tmp_path)
    assert [i.id for i in fresh.unlock(stale_only=True)] == [killed.id]
    after = _store_on(LocalStorage(root), tmp_path)
    after.repo.load_index()
    assert after.repo.objects.locate(cid).pack == pack_id

    now = time.time()
    gc_lock = LockInfo(
        "b" * 32, "exclusive", "gc", socket.gethostname(), os.getpid(), "u", now, now
    )
    store.locks._write(gc_lock)
    assert [i.id for i in _store_on(LocalStorage(root), tmp_path).unlock()] == [gc_lock.id]
