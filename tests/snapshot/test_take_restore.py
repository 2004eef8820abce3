"""take → restore through the Python API on a local store: exact, incremental, selective."""

from __future__ import annotations

import os
import time

import pytest

from snapkit.errors import NotFound, UsageError
from snapkit.snapshot import restore as restore_module
from tests.helpers import make_dataset, random_bytes, run_python, snapshot_of, write


def test_round_trip_is_exact(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    result = store.take(src, message="first", tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out)
    assert snapshot_of(out) == snapshot_of(src)
    s = result.snapshot.summary
    assert s.files == 6 and s.bytes == sum(
        p.stat().st_size for p in src.rglob("*") if p.is_file() and not p.is_symlink()
    )
    assert result.snapshot.message == "first" and result.snapshot.tags == ("v1",)


def test_snapshot_id_and_show_and_prefix(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    result = store.take(src, tags=["v1"])
    assert store.show("v1").id == result.id
    assert store.show(result.id[:8]).id == result.id
    with pytest.raises(NotFound):
        store.show("nope")
    with pytest.raises(UsageError):
        store.take(src, tags=["bad tag!"])


def test_big_file_spans_many_chunks(store, tmp_path):
    src = tmp_path / "src"
    write(src / "big.bin", random_bytes(20 << 20, seed=7))
    store.take(src, tags=["big"])
    entry = next(e for e in store.ls("big") if e.path == "big.bin")
    assert len(entry.chunks) >= 8
    store.restore("big", tmp_path / "out")
    assert (tmp_path / "out/big.bin").read_bytes() == (src / "big.bin").read_bytes()


def test_single_file_take_and_restore(store, tmp_path):
    f = write(tmp_path / "data" / "emails.csv", "id,text\n1,a\n2,b\n")
    result = store.take(f, tags=["one"])
    assert result.snapshot.root_kind == "file"
    [entry] = store.ls("one")
    assert entry.table is not None and entry.table.rows == 2
    store.restore("one", tmp_path / "back" / "copy.csv")
    assert (tmp_path / "back/copy.csv").read_bytes() == f.read_bytes()


def test_retake_unchanged_stores_nothing_and_skips_reading(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    time.sleep(1.1)  # past the stat cache's racy window
    first = store.take(src)
    packs = set(store.repo.storage.list("data/"))
    second = store.take(src)
    assert second.snapshot.summary.new_bytes == 0
    assert second.snapshot.tree == first.snapshot.tree
    assert second.snapshot.parent == first.id
    assert set(store.repo.storage.list("data/")) == packs
    assert second.reused_files == first.snapshot.summary.files


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_a_take_of_what_a_restore_wrote_reads_only_what_changed_since(store, tmp_path, existing):
    src = make_dataset(tmp_path / "src")
    taken = store.take(src, tags=["v1"])
    out = tmp_path / "out"
    if existing:  # files renamed into place one by one, not the whole folder at once
        out.mkdir()
    store.restore("v1", out)  # records its files in the stat cache, as `dvc checkout` does
    write(out / "a.txt", "HELLO\n")  # same size, new mtime
    again = store.take(out)
    files = taken.snapshot.summary.files
    assert again.reused_files == files - 1  # all but the changed file came from the cache
    assert again.snapshot.tree != taken.snapshot.tree
    assert [c.path for c in store.diff(taken.id, again.id).changes] == ["a.txt"]


def test_retake_reads_scattered_and_bunched_changes_in_order(store, tmp_path, monkeypatch):
    """A re-take reads a group with a few small changed files in the scanning thread and
    others in the pool, while earlier groups are still being read; the tree comes out in
    order and exact either way."""
    from snapkit.snapshot import take as take_module

    src = tmp_path / "src"
    write(src / "a/big.bin", random_bytes(9 << 20, seed=5))  # a group of its own, pooled
    for i in range(300):
        write(src / f"f{i:03d}.txt", f"file {i}\n" * 50)
    time.sleep(1.1)  # past the stat cache's racy window
    store.take(src, tags=["v1"])
    write(src / "a/big.bin", random_bytes(9 << 20, seed=6))
    # One every seventy (a group each, read here while big.bin is read), and a bunch of ten.
    changed = [f"f{i:03d}.txt" for i in [*range(0, 300, 70), *range(100, 110)]]
    for name in changed:
        write(src / name, f"changed {name}\n")
    decided = []
    decide = take_module._read_here
    monkeypatch.setattr(
        take_module, "_read_here", lambda *a: decided.append(decide(*a)) or decided[-1]
    )
    again = store.take(src, tags=["v2"])
    assert True in decided and False in decided  # both ways were taken
    assert again.reused_files == 300 - len(changed)
    store.restore("v2", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)
    diff = store.diff("v1", "v2")
    assert sorted(c.path for c in diff.changes) == sorted([*changed, "a/big.bin"])


def test_small_files_are_read_by_the_scanning_thread_and_larger_ones_by_the_pool(
    store, tmp_path, monkeypatch
):
    """Files of a few KiB are mostly Python work under the GIL: workers reading them only
    take turns with the scan, so groups of them are read where the scan runs."""
    import threading

    from snapkit.snapshot import take as take_module

    src = tmp_path / "src"
    for i in range(64):
        write(src / f"big/{i:02d}.bin", random_bytes(100 << 10, seed=i))
    for i in range(200):
        write(src / f"small/{i:03d}.txt", f"row {i}\n" * (50 + i))
    readers: dict[str, str] = {}
    read = take_module._Hasher._read

    def recording(self, item, writer):
        readers[item.relpath] = threading.current_thread().name
        return read(self, item, writer)

    monkeypatch.setattr(take_module._Hasher, "_read", recording)
    store.take(src, tags=["v1"])
    here = threading.current_thread().name
    assert all(readers[f"big/{i:02d}.bin"] != here for i in range(64))
    # (the group that straddles the two folders averages far above 16 KiB: pooled)
    assert {readers[f"small/{i:03d}.txt"] for i in range(100, 200)} == {here}
    store.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)


def test_append_one_percent_stores_a_few_percent(store, tmp_path):
    src = tmp_path / "src"
    size = 48 << 20
    write(src / "big.bin", random_bytes(size, seed=3))
    store.take(src)
    with open(src / "big.bin", "ab") as f:
        f.write(random_bytes(size // 100, seed=4))
    again = store.take(src)
    assert again.snapshot.summary.new_bytes < 0.06 * size


def test_excludes_and_snapignore(store, tmp_path):
    src = tmp_path / "src"
    write(src / "keep.txt", "k")
    write(src / "tmp/scratch.txt", "s")
    write(src / "deep/x.log", "l")
    write(src / "deep/keep.log", "l")
    write(src / ".snapignore", "# comment\n*.log\n!keep.log\n")
    store.take(src, exclude=["tmp/"], tags=["t"])
    paths = {e.path for e in store.ls("t")}
    assert paths == {"keep.txt", "deep", "deep/keep.log", ".snapignore"}


def test_restore_path_selects_part(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out, paths=["nested/deeper"])
    got = snapshot_of(out)
    assert set(got) == {
        "nested",
        "nested/deeper",
        "nested/deeper/still",
        "nested/deeper/still/x.csv",
    }


def test_dry_run_changes_nothing(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    outcome = store.restore("v1", out, dry_run=True)
    assert not out.exists()
    assert outcome.result is None and len(outcome.plan.write) == 7


def test_restore_writes_only_what_differs(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out)
    inode_before = os.stat(out / "nested/big.bin").st_ino
    write(src / "a.txt", "changed\n")
    store.take(src, tags=["v2"])
    outcome = store.restore("v2", out)
    assert [e.path for e in outcome.plan.write] == ["a.txt"]
    assert os.stat(out / "nested/big.bin").st_ino == inode_before
    assert (out / "a.txt").read_text() == "changed\n"


def test_restore_over_a_folder_reads_only_files_the_stat_cache_cannot_vouch_for(
    store, tmp_path, monkeypatch
):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out)  # records every file it wrote in the stat cache
    write(out / "a.txt", "edited\n")  # new mtime and ctime: not vouched for
    hashed: list[str] = []
    hash_file = restore_module._hash_file

    def counting(path, size, chunker):
        hashed.append(os.path.relpath(path, out))
        return hash_file(path, size, chunker)

    monkeypatch.setattr(restore_module, "_hash_file", counting)
    plan = store.plan_restore("v1", out)
    assert hashed == ["a.txt"]  # the other files were compared by their cached hash
    assert [(c.path, c.reason, c.saved) for c in plan.changes] == [("a.txt", "modified", False)]
    assert [e.path for e in plan.write] == ["a.txt"] and plan.unchanged > 0


def test_default_target_is_where_it_was_taken(tmp_path):
    import snapkit

    (tmp_path / ".git").mkdir()
    data = make_dataset(tmp_path / "data" / "raw")
    with snapkit.open_store(str(tmp_path / ".snap"), create=True, cwd=tmp_path) as store:
        result = store.take(data, tags=["raw-v1"])
        assert result.snapshot.source == "data/raw"
        before = snapshot_of(data)
        write(data / "a.txt", "scribble")  # content in no snapshot...
        store.take(data)  # ...until now
        store.restore("raw-v1")
        assert snapshot_of(data) == before


def test_missing_source_is_not_found(store, tmp_path):
    with pytest.raises(NotFound):
        store.take(tmp_path / "nope")


def test_take_and_restore_do_not_import_pandas(tmp_path):
    """pandas costs every command ≈0.3 s and 50 MB; trees are built without it (pyarrow
    imports it on the first array made from Python lists)."""
    write(tmp_path / "data/a.csv", "x,y\n1,2\n")
    write(tmp_path / "data/sub/b.bin", random_bytes(1000, seed=1))
    code = (
        "import sys, snapkit\n"
        f"s = snapkit.open_store({str(tmp_path / 'store')!r}, create=True)\n"
        f"r = s.take({str(tmp_path / 'data')!r})\n"
        f"s.restore(r.id, {str(tmp_path / 'back')!r})\n"
        "print('pandas' in sys.modules)\n"
    )
    assert run_python(code, tmp_path / "cache") == "False"
    assert snapshot_of(tmp_path / "back") == snapshot_of(tmp_path / "data")


def test_files_written_just_before_a_take_are_cached(store, tmp_path):
    """Sub-second timestamps (this filesystem): a 50 ms racy window, not 1 s, so a step's
    outputs snapshotted right after they were written are not re-read by the next take."""
    src = make_dataset(tmp_path / "src")
    time.sleep(0.15)
    first = store.take(src)
    second = store.take(src)
    assert second.reused_files == first.snapshot.summary.files


def test_change_that_keeps_size_and_mtime_is_still_seen(store, tmp_path):
    """ctime is part of the key and cannot be set back: a same-size rewrite with the old
    mtime restored is read again, not taken from the stat cache."""
    src = tmp_path / "src"
    write(src / "a.bin", b"x" * 1000)
    time.sleep(0.15)
    store.take(src, tags=["one"])
    before = os.stat(src / "a.bin")
    time.sleep(0.01)
    write(src / "a.bin", b"y" * 1000)
    os.utime(src / "a.bin", ns=(before.st_atime_ns, before.st_mtime_ns))
    second = store.take(src, tags=["two"])
    assert second.reused_files == 0
    (entry,) = store.ls("two", "a.bin")
    assert entry.hash != store.ls("one", "a.bin")[0].hash


def test_racy_entries_are_not_stored(tmp_path):
    from snapkit.snapshot.scan import FileStat
    from snapkit.snapshot.statcache import Cached, StatCache, racy_window

    start = 1_800_000_000 * 10**9
    coarse = FileStat(0o100644, 1, start - 10**9, start - 10**9, 1, 1)  # whole seconds
    fine = FileStat(0o100644, 1, start - 40_000_000, start - 40_000_123, 1, 2)
    assert racy_window(coarse) == 10**9 and racy_window(fine) == 50_000_000
    cache = StatCache(tmp_path / "sc.sqlite")
    old_enough = fine._replace(st_mtime_ns=start - 60_000_000, st_ctime_ns=start - 60_000_123)
    items = [
        ("/d/coarse", coarse, "h1", ("h1",), None),  # exactly 1 s before: still racy
        ("/d/fine", fine, "h2", ("h2",), None),  # 40 ms before: racy
        ("/d/ok", old_enough, "h3", ("h3",), None),  # 60 ms before: stored
    ]
    cache.store(items, start)
    rows = cache.under("/d")
    assert rows.lookup("/d/coarse", coarse) is None
    assert rows.lookup("/d/fine", fine) is None
    assert rows.lookup("/d/ok", old_enough) == Cached("h3", ("h3",), None)
    rows.close()
    cache.close()
