"""The local merged copy of the snapshot records (snapshot/snapcache.py): each record is
checked against its id, and only snapshots the store still lists are used."""

from __future__ import annotations

from pathlib import Path

import pytest

import snapkit
from snapkit.objects.cache import MERGE_AFTER
from snapkit.snapshot import snapcache
from snapkit.snapshot.repo import SNAPSHOTS_MERGED, Repo
from tests.helpers import write


def _open(tmp_path: Path) -> snapkit.Store:
    return snapkit.open_store(str(tmp_path / "store"), create=True, cwd=tmp_path)


def _take(tmp_path: Path, n: int, tag: str | None = None) -> str:
    write(tmp_path / "data" / f"f{n}.txt", f"version {n}")
    with _open(tmp_path) as s:
        return s.take(tmp_path / "data", tags=[tag] if tag else []).id


def _merged(s: snapkit.Store) -> Path:
    return s.repo.objects.cache.root / SNAPSHOTS_MERGED  # type: ignore[operator]


def _read(s: snapkit.Store) -> dict:
    """The merged records as a listing finds them (sealed in the object cache)."""
    return snapcache.decode(s.repo.objects.cache.get_sealed(SNAPSHOTS_MERGED))


def _from_store(s: snapkit.Store) -> list:
    with s.repo.bypass_cache():
        return s.repo.snapshots()


class _Reads:
    """Counts the records read one by one (Repo.load_snapshot)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ids: list[str] = []
        real = Repo.load_snapshot

        def counted(repo: Repo, snap_id: str):  # type: ignore[no-untyped-def]
            self.ids.append(snap_id)
            return real(repo, snap_id)

        monkeypatch.setattr(Repo, "load_snapshot", counted)


def test_records_come_from_the_copy_once_merged(tmp_path: Path, monkeypatch) -> None:
    ids = [_take(tmp_path, n) for n in range(3)]
    reads = _Reads(monkeypatch)
    with _open(tmp_path) as s:
        want = _from_store(s)
        assert [sid for sid, _ in want] == ids  # oldest first
        reads.ids.clear()
        assert s.repo.snapshots() == want and _merged(s).exists()
        reads.ids.clear()
        assert s.repo.snapshots() == want
        assert reads.ids == []  # every record from the merged copy
        assert [e.summary.files for _, e in s.repo.snapshots()] == [1, 2, 3]


def test_records_added_since_are_read_on_top(tmp_path: Path, monkeypatch) -> None:
    first = [_take(tmp_path, n) for n in range(3 * MERGE_AFTER)]
    with _open(tmp_path) as s:
        _merged(s).unlink()  # (the takes' own listings merged part of them)
        s.repo.snapshots()  # all read one by one: merged
        copy = _merged(s).read_bytes()
    newest = _take(tmp_path, 99)
    reads = _Reads(monkeypatch)
    with _open(tmp_path) as s:
        got = s.repo.snapshots()
        assert reads.ids == [newest]  # only the new record read one by one
        assert [sid for sid, _ in got] == [*first, newest] and got == _from_store(s)
        assert _merged(s).read_bytes() == copy  # one record of 25: not worth a rewrite


def test_forgotten_snapshots_are_not_listed_from_the_copy(tmp_path: Path) -> None:
    ids = [_take(tmp_path, n) for n in range(3)]
    with _open(tmp_path) as s:
        s.repo.snapshots()
        assert set(_read(s)) == set(ids)
        s.forget([ids[0]])
    with _open(tmp_path) as s:
        assert [sid for sid, _ in s.repo.snapshots()] == ids[1:]
        assert s.log()[-1].id == ids[1]


def test_a_record_that_is_not_its_snapshot_is_read_from_the_store(tmp_path: Path) -> None:
    sid = _take(tmp_path, 0, tag="v1")
    with _open(tmp_path) as s:
        s.repo.snapshots()
        records = _read(s)
        records[sid] = {**records[sid], "message": "not what was taken"}
        cache = s.repo.objects.cache
        cache.put_sealed(SNAPSHOTS_MERGED, snapcache.encode(records))  # intact, a wrong record
        ((got, snap),) = s.repo.snapshots()
        assert got == sid and snap.message == "" and snap == _from_store(s)[0][1]


@pytest.mark.parametrize("damage", [b"", b"{}", b"not json" + bytes(32)])
def test_a_damaged_copy_is_ignored(tmp_path: Path, damage: bytes) -> None:
    ids = [_take(tmp_path, n) for n in range(2)]
    with _open(tmp_path) as s:
        s.repo.snapshots()
        data = bytearray(_merged(s).read_bytes())
        data[5] ^= 1
        for bad in (bytes(data), damage):
            _merged(s).write_bytes(bad)
            assert _read(s) == {}
            assert [sid for sid, _ in s.repo.snapshots()] == ids
