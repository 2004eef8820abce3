"""A restore plan keeps the tree as stored (decoded a row group at a time) and its actions as
row numbers; FileEntry objects are made a block at a time, so memory does not grow with them.
These use blocks and batches far smaller than the real ones, so every walk crosses block and
batch boundaries."""

from __future__ import annotations

import gc
import io
import os
from array import array
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from snapkit.errors import CorruptObject, Refused
from snapkit.objects.store import pack_key
from snapkit.snapshot import restore
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.tree import TreeWriter, _record_batch, read_tree_table, tree_schema
from tests.helpers import random_bytes, run_python, snapshot_of, write


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    monkeypatch.setattr(restore, "ENTRY_ROWS", 7)
    monkeypatch.setattr(restore, "BATCH_FILES", 3)


def _many(root: Path, n: int = 60) -> Path:
    """`n` small files in 4 folders, with an empty file, a symlink and an executable."""
    for i in range(n):
        write(root / f"d{i % 4}" / f"f{i:03d}.txt", random_bytes(10 + i, seed=i))
    write(root / "d0/empty", b"")
    write(root / "d1/run.sh", "#!/bin/sh\n", mode=0o755)
    os.symlink("f001.txt", root / "d1/link")
    return root


def _tree(store, spec: str) -> list[FileEntry]:
    return store.repo.load_tree(store.show(spec).snapshot.tree)


def _live_entries() -> int:
    gc.collect()
    return sum(isinstance(o, FileEntry) for o in gc.get_objects())


def test_plan_holds_row_numbers_and_views_give_the_tree_entries(store, tmp_path):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    before = _live_entries()
    plan = store.plan_restore("v1", tmp_path / "out")
    assert _live_entries() - before < restore.ENTRY_ROWS  # none kept per file
    for rows in (plan.write_rows, plan.mkdir_rows, plan.touch_rows):
        assert isinstance(rows, array) and rows.typecode == "I"
    sequences = {k for k, v in vars(plan).items() if isinstance(v, (tuple, list, FileEntry))}
    assert sequences == {"delete", "changes", "leftovers"}
    assert plan.delete == plan.changes == plan.leftovers == ()
    tree = _tree(store, "v1")
    files = [e for e in tree if e.kind != "dir"]
    assert len(plan.write) == len(files) == 63
    assert list(plan.write) == files  # in tree order, across blocks
    assert list(plan.mkdir) == [e for e in tree if e.kind == "dir"]
    assert len(plan.touch) == 0
    assert plan.write[0] == files[0] and plan.write[-1] == files[-1]
    assert plan.write[8:11] == files[8:11]
    assert plan.bytes_to_write == sum(e.size for e in files if e.kind == "file")


def test_dry_run_json_lists_what_the_tree_says(store, tmp_path):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out)
    os.chmod(out / "d2/f002.txt", 0o600)  # metadata only
    write(out / "d3/f003.txt", "edited")  # a local change, not saved
    (out / "d0/f000.txt").unlink()  # missing
    tree = _tree(store, "v1")
    [f0] = [e for e in tree if e.path == "d0/f000.txt"]
    [f3] = [e for e in tree if e.path == "d3/f003.txt"]
    got = store.plan_restore("v1", out).to_json()
    local = got.pop("local_changes")
    assert got == {
        "snapshot": store.show("v1").id,
        "target": str(out),
        "write": ["d0/f000.txt", "d3/f003.txt"],
        "mkdir": [],
        "touch": ["d2/f002.txt"],
        "delete": [],
        "unchanged": len(tree) - 3,
        "bytes_to_write": f0.size + f3.size,
        "leftovers": [],
    }
    assert local == [{"path": "d3/f003.txt", "reason": "modified", "saved": False}]


def test_restore_across_blocks_and_batches_is_exact(store, tmp_path, monkeypatch):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    most: list[int] = []
    stage = restore._stage_batch

    def counting(*args, **kwargs):
        most.append(_live_entries())
        return stage(*args, **kwargs)

    monkeypatch.setattr(restore, "_stage_batch", counting)
    before = _live_entries()
    outcome = store.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)
    assert outcome.result.written == 63 and len(most) == 21  # 62 files in batches of 3
    assert max(most) - before < 3 * restore.ENTRY_ROWS  # a block or two, never all


def test_restore_of_selected_paths(store, tmp_path):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    store.restore("v1", out, paths=["d1", "d2/f01*"])
    want = {p: v for p, v in snapshot_of(src).items() if p.startswith(("d1", "d2/f01"))}
    assert snapshot_of(out) == {**want, "d2": snapshot_of(src)["d2"]}
    assert len([p for p in want if p.startswith("d2/")]) == 3  # f010, f014, f018


def _flip_byte_of(store, chunk_id: str) -> None:
    """Corrupt one chunk where it is stored (packs are not cached: the next read sees it)."""
    blob = store.repo.objects.locate(chunk_id)
    path = store.repo.storage.root / pack_key(blob.pack)
    data = bytearray(path.read_bytes())
    data[blob.offset + blob.length // 2] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def test_chunk_corrupted_mid_restore_names_its_file_and_leaves_target_as_it_was(
    store, tmp_path, monkeypatch
):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    target = tmp_path / "target"
    write(target / "d0/f000.txt", "old content, saved below")
    write(target / "keep.txt", "not in the snapshot")
    store.take(target)
    before = snapshot_of(target)
    last = [e for e in _tree(store, "v1") if e.kind == "file"][-1]
    staged: list[int] = []
    stage = restore._stage_batch

    def corrupt_after_two_batches(*args, **kwargs):
        if len(staged) == 2:  # files of two batches are staged by now
            _flip_byte_of(store, last.chunks[0])
        staged.append(1)
        return stage(*args, **kwargs)

    monkeypatch.setattr(restore, "_stage_batch", corrupt_after_two_batches)
    with pytest.raises(CorruptObject, match=f"affected files: {last.path}") as err:
        store.restore("v1", target)
    assert "Nothing was written" in str(err.value)
    assert len(staged) == 21  # it failed at the last batch
    assert snapshot_of(target) == before
    assert not any(".snaptmp-" in p.name for p in target.rglob("*"))


def test_corrupt_pack_names_files_from_every_block(store, tmp_path, monkeypatch):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    files = [e for e in _tree(store, "v1") if e.kind == "file"]
    pack = store.repo.objects.locate(files[0].chunks[0]).pack
    err = CorruptObject("pack is corrupt", key=pack_key(pack))
    plan = store.plan_restore("v1", tmp_path / "out")
    named = str(restore._name_files(err, plan, store.repo))
    shown = ", ".join(e.path for e in files[:10])
    assert f"affected files: {shown} and {len(files) - 10} more" in named


def test_tree_table_reads_rows_across_row_groups():
    entries = [FileEntry(f"p{i:04d}", "file", i, 0o644, i, f"h{i}", (f"h{i}",)) for i in range(300)]
    writer = TreeWriter(batch_rows=64)  # row groups of 64 rows
    for e in entries:
        writer.add(e)
    tree = read_tree_table("t", writer.finish())
    assert len(tree) == 300
    for rows in (
        [],
        [5],
        [0, 63, 64, 200, 299],
        range(0, 300, 2),
        range(0, 300, 70),
        range(60, 200),
    ):
        assert tree.entries(rows) == [entries[i] for i in rows]
        assert tree.column("size", rows) == list(rows)
    with pytest.raises(ValueError, match="increasing"):
        tree.entries([3, 2])
    with pytest.raises(IndexError):
        tree.entry(300)


def test_unreadable_tree_is_a_corrupt_object():
    with pytest.raises(CorruptObject, match="tree t is unreadable"):
        read_tree_table("t", b"not parquet")


def test_restore_does_not_import_pyarrow_compute(store, tmp_path):
    """pyarrow.compute (what `Table.take` imports) costs every restore 8 MB."""
    src = _many(tmp_path / "src", n=8)
    store.take(src, tags=["v1"])
    code = (
        "import sys, snapkit\n"
        f"s = snapkit.open_store({str(tmp_path / 'store')!r})\n"
        f"s.restore('v1', {str(tmp_path / 'out')!r}, paths=['d1'])\n"
        "print('pyarrow.compute' in sys.modules)\n"
    )
    assert run_python(code, tmp_path / "cache") == "False"
    assert (tmp_path / "out/d1/run.sh").exists() and not (tmp_path / "out/d0").exists()


def test_delete_finds_extras_among_names_that_sort_around_folders(store, tmp_path):
    src = tmp_path / "src"
    for rel in ["a/b.txt", "a/c/d.txt", "a.txt", "a-b/x", "a0", "ab/y", "b", "é/z", "Z"]:
        write(src / rel, rel)
    store.take(src, tags=["v1"])
    extras = ["a/c.txt", "a/c/e", "a-b/w", "a.txt0", "é/y", "0"]
    for rel in extras:
        write(src / rel, "extra " + rel)
    store.take(src)  # saved, so --delete may remove them
    plan = store.plan_restore("v1", src, delete=True)
    assert sorted(plan.delete) == sorted(extras)
    store.restore("v1", src, delete=True)
    assert snapshot_of(src) == snapshot_of(store.restore("v1", tmp_path / "fresh").plan.target)


def test_tree_with_rows_out_of_order_is_refused(store, tmp_path):
    write(tmp_path / "src/f.txt", "payload")
    store.take(tmp_path / "src", tags=["good"])
    [f] = store.ls("good")
    rows = [f, FileEntry("b.txt", "file", f.size, 0o644, 0, f.hash, f.chunks)]  # f.txt, b.txt
    out = io.BytesIO()
    with pq.ParquetWriter(out, tree_schema()) as writer:
        writer.write_batch(_record_batch(rows))
    tree = store.repo.save_encoded_tree(out.getvalue())
    snap = Snapshot(tree=tree, source="x", root_kind="dir", time="t", host="h", user="u")
    store.repo.refs.set("unsorted", store.repo.save_snapshot(snap))
    with pytest.raises(Refused, match="out of path order"):
        store.restore("unsorted", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_new_target_is_staged_whole_and_appears_in_one_rename(store, tmp_path, monkeypatch):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    target = tmp_path / "new" / "target"  # neither exists yet
    plan = store.plan_restore("v1", target)
    assert plan.fresh and len(plan.write) == 63 and plan.unchanged == 0
    seen_during_staging: list[bool] = []
    stage = restore._stage_batch

    def watch(*args, **kwargs):
        seen_during_staging.append(target.exists())
        return stage(*args, **kwargs)

    monkeypatch.setattr(restore, "_stage_batch", watch)
    store.restore("v1", target)
    assert seen_during_staging and not any(seen_during_staging)  # nothing shown half-made
    assert snapshot_of(target) == snapshot_of(src)
    assert [p.name for p in target.parent.iterdir()] == ["target"]  # no staging folder left


def test_a_new_target_left_absent_when_a_chunk_is_corrupt(store, tmp_path, monkeypatch):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    last = [e for e in _tree(store, "v1") if e.kind == "file"][-1]
    staged: list[int] = []
    stage = restore._stage_batch

    def corrupt_after_two_batches(*args, **kwargs):
        if len(staged) == 2:
            _flip_byte_of(store, last.chunks[0])
        staged.append(1)
        return stage(*args, **kwargs)

    monkeypatch.setattr(restore, "_stage_batch", corrupt_after_two_batches)
    with pytest.raises(CorruptObject, match=f"affected files: {last.path}"):
        store.restore("v1", tmp_path / "new" / "target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "store"]  # nor "new" above it


def test_a_target_made_while_a_new_one_was_staged_is_left_alone(store, tmp_path, monkeypatch):
    src = _many(tmp_path / "src")
    store.take(src, tags=["v1"])
    target = tmp_path / "target"
    stage = restore._stage_batch

    def someone_else_writes(*args, **kwargs):
        write(target / "theirs.txt", "made meanwhile")
        return stage(*args, **kwargs)

    monkeypatch.setattr(restore, "_stage_batch", someone_else_writes)
    with pytest.raises(Refused, match="appeared while it was being restored"):
        store.restore("v1", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src", "store", "target"]
    assert [p.name for p in target.iterdir()] == ["theirs.txt"]
