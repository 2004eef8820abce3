"""The local merged copy of the index (objects/indexcache.py): used only while it is true."""

from __future__ import annotations

from pathlib import Path

import pytest

import snapkit
from snapkit.objects import indexcache
from snapkit.objects.cache import MERGE_AFTER, ObjectCache
from snapkit.objects.store import MERGED_INDEX, ObjectStore
from tests.helpers import random_bytes, write


def _open(tmp_path: Path) -> snapkit.Store:
    return snapkit.open_store(str(tmp_path / "store"), create=True, cwd=tmp_path)


def _take(tmp_path: Path, name: str, n: int, seed: int, tag: str) -> None:
    for i in range(n):
        write(tmp_path / "data" / name / f"f{i}.bin", random_bytes(3000, seed=seed * 1000 + i))
    with _open(tmp_path) as s:
        s.take(tmp_path / "data", tags=[tag])


def _merged(s: snapkit.Store) -> Path:
    return s.repo.objects.cache.root / MERGED_INDEX  # type: ignore[operator]


def _read(s: snapkit.Store) -> indexcache.Merged | None:
    """The merged copy as a load finds it (sealed in the object cache)."""
    return indexcache.decode(s.repo.objects.cache.get_sealed(MERGED_INDEX))


def _from_objects(s: snapkit.Store) -> dict:
    """The store's index decoded from its index objects alone, as `check` reads it."""
    objects = ObjectStore(s.repo.storage, ObjectCache(None))
    objects.load_index()
    return dict(objects.index.items())


class _Decoded:
    """Counts the index objects a load decodes (ObjectStore._add_index)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids: list[str] = []
        real = ObjectStore._add_index

        def counted(objects: ObjectStore, index_id: str, data: bytes) -> None:
            self.ids.append(index_id)
            real(objects, index_id, data)

        monkeypatch.setattr(ObjectStore, "_add_index", counted)


def test_a_first_load_merges_and_the_next_starts_from_the_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _take(tmp_path, "a", 20, 1, "v1")
    _take(tmp_path, "b", 20, 2, "v2")
    decoded = _Decoded(monkeypatch)
    with _open(tmp_path) as s:
        _merged(s).unlink()  # (the second take's own load merged the first index object)
        s.repo.load_index()
        assert len(decoded.ids) == 2 and _merged(s).exists()  # everything was decoded
        want = _from_objects(s)
    decoded.ids.clear()
    with _open(tmp_path) as s:
        s.repo.load_index()
        assert decoded.ids == []  # nothing decoded: the merged copy was enough
        assert dict(s.repo.objects.index.items()) == want and len(want) >= 40
        assert s.repo.objects.pack_sizes == {
            e.pack: s.repo.storage.size(f"data/{e.pack[:2]}/{e.pack}") for e in want.values()
        }
        s.restore("v2", tmp_path / "back")
    assert (tmp_path / "back/a/f3.bin").read_bytes() == random_bytes(3000, seed=1003)


def test_index_objects_added_since_are_loaded_on_top(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _take(tmp_path, "a", 40, 1, "v1")
    with _open(tmp_path) as s:
        s.repo.load_index()  # writes the merged copy
        before = _merged(s).read_bytes()
    _take(tmp_path, "b", 2, 2, "v2")  # a small take: one more index object
    decoded = _Decoded(monkeypatch)
    with _open(tmp_path) as s:
        s.repo.load_index()
        assert len(decoded.ids) == 1  # only the new one
        assert dict(s.repo.objects.index.items()) == _from_objects(s)
        assert _merged(s).read_bytes() == before  # one small object: not worth a rewrite
        s.restore("v2", tmp_path / "back")
    assert (tmp_path / "back/b/f1.bin").read_bytes() == random_bytes(3000, seed=2001)


def test_the_copy_is_rewritten_once_enough_objects_were_added(tmp_path: Path) -> None:
    _take(tmp_path, "a", 200, 1, "v0")
    with _open(tmp_path) as s:
        s.repo.load_index()
        first = _read(s)
    assert first is not None and len(first.index_ids) == 1
    for n in range(1, MERGE_AFTER + 1):
        _take(tmp_path, f"more{n}", 1, n + 1, f"v{n}")
    with _open(tmp_path) as s:
        s.repo.load_index()
        merged = _read(s)
        assert merged is not None and len(merged.index_ids) == MERGE_AFTER + 1
        assert set(merged.index_ids) == s.repo.objects.index_ids


def test_after_gc_replaced_the_index_objects_the_copy_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _take(tmp_path, "a", 20, 1, "v1")
    _take(tmp_path, "b", 20, 2, "v2")
    with _open(tmp_path) as s:
        s.repo.load_index()
        stale = _read(s)
    (tmp_path / "data/a").rename(tmp_path / "gone")
    with _open(tmp_path) as s:
        s.take(tmp_path / "data", tags=["v3"])  # a snapshot without a/
        s.untag("v1")
        s.untag("v2")
        s.forget(keep_last=1)
        s.gc(grace_seconds=0, dry_run=False)
        merged = _read(s)  # gc's own reload merged what it wrote
        assert stale is not None and merged is not None
        assert set(merged.index_ids) == s.repo.objects.index_ids != set(stale.index_ids)
        # as another machine's cache would still hold it:
        s.repo.objects.cache.put_sealed(MERGED_INDEX, indexcache.encode(stale))
    decoded = _Decoded(monkeypatch)
    with _open(tmp_path) as s:
        s.repo.load_index()
        assert decoded.ids  # the copy named index objects gc removed: decoded again
        assert dict(s.repo.objects.index.items()) == _from_objects(s)
        merged = _read(s)
        assert merged is not None and set(merged.index_ids) == s.repo.objects.index_ids
        s.restore("v3", tmp_path / "back")
    assert (tmp_path / "back/b/f0.bin").read_bytes() == random_bytes(3000, seed=2000)


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "foreign"])
def test_a_damaged_copy_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str
) -> None:
    _take(tmp_path, "a", 20, 1, "v1")
    with _open(tmp_path) as s:
        s.repo.load_index()
        path = _merged(s)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[:-100]
    elif damage == "empty":
        data = bytearray()
    else:
        data = bytearray(b"PAR1" + bytes(200))
    path.write_bytes(bytes(data))
    decoded = _Decoded(monkeypatch)
    with _open(tmp_path) as s:
        assert _read(s) is None
        s.repo.load_index()
        assert len(decoded.ids) == 1
        assert dict(s.repo.objects.index.items()) == _from_objects(s)
        s.restore("v1", tmp_path / "back")
        assert _read(s) is not None  # written again


def test_the_copy_is_never_written_with_packs_no_index_object_names(tmp_path: Path) -> None:
    """A process that has packs of its own in memory (a take before its index object is
    written) must not merge them: other readers could not find them, and gc may delete
    them."""
    _take(tmp_path, "a", 20, 1, "v1")
    with _open(tmp_path) as s:
        _merged(s).unlink(missing_ok=True)
        objects = s.repo.objects
        objects.add_pack("f" * 64, 100, {})
        s.repo.load_index()
        assert not _merged(s).exists()


def test_merged_round_trip_keeps_large_values() -> None:
    big = (1 << 39) << 136 | (1 << 136) - 1  # a pack number near the top, every field full
    merged = indexcache.Merged(
        ["i1", "i2"], [("p", 1), ("q", 2)], [bytes(32), b"\xff" * 32], [5, big]
    )
    assert indexcache.decode(indexcache.encode(merged)) == merged
    assert indexcache.decode(None) is None
    assert indexcache.decode(indexcache.encode(merged)[:-1]) is None  # a short body
