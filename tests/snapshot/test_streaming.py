"""A take streams: the scan yields in tree order, the stat cache is merged in that order,
the tree is written batch by batch. These check the orders agree, where they could not."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from snapkit.snapshot.ignore import Ignore
from snapkit.snapshot.model import FileEntry, TableFacts
from snapkit.snapshot.scan import scan
from snapkit.snapshot.statcache import StatCache, racy_window
from snapkit.snapshot.tables import table_format
from snapkit.snapshot.tree import TreeWriter, decode_tree
from tests.helpers import snapshot_of, write

# Names whose folder order and path order differ: '-' and '.' sort before '/'.
TRICKY = ["a/b.txt", "a/c/d.txt", "a.txt", "a-b/x", "a0", "ab/y", "b", "é/z", "Z"]


def _tricky(root):
    for rel in TRICKY:
        write(root / rel, rel.encode())
    return root


def test_scan_yields_paths_in_tree_order(tmp_path):
    root = _tricky(tmp_path / "src")
    paths = [item.relpath for item in scan(root, Ignore([]))]
    assert paths == sorted(paths)
    assert set(paths) >= set(TRICKY) | {"a", "a/c", "a-b", "ab", "é"}


def test_scan_of_included_paths_is_in_order_with_their_parents(tmp_path):
    root = _tricky(tmp_path / "src")
    paths = [i.relpath for i in scan(root, Ignore([]), ("a/c/d.txt", "a.txt", "missing", "ab"))]
    assert paths == ["a", "a.txt", "a/c", "a/c/d.txt", "ab", "ab/y"]
    assert list(scan(root, Ignore([]), ())) == []


def test_take_of_tricky_names_round_trips(store, tmp_path):
    src = _tricky(tmp_path / "src")
    time.sleep(racy_window(os.lstat(src / "b")) / 1e9 + 0.05)  # else not cached (racy)
    store.take(src, tags=["v1"])
    write(src / "a.txt", b"changed")  # a re-take merges the stat cache in the same order
    again = store.take(src, tags=["v2"])
    assert again.reused_files == len(TRICKY) - 1
    store.restore("v2", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)


def test_stat_cache_lookups_merge_in_order(tmp_path):
    files = {}
    for name in ("a", "b", "c", "d"):
        write(tmp_path / "d" / name, name.encode())
        s = os.lstat(tmp_path / "d" / name)
        files[name] = (str(tmp_path / "d" / name), s)
    cache = StatCache(tmp_path / "sc.sqlite")
    old = max(s.st_mtime_ns for _, s in files.values()) + 10**10
    cache.store([(p, s, f"h{n}", (f"h{n}",), None) for n, (p, s) in files.items() if n != "c"], old)
    rows = cache.under(str(tmp_path / "d"))
    found = [rows.lookup(p, s) for p, s in files.values()]  # "c" missing between hits
    assert [f.hash if f else None for f in found] == ["ha", "hb", None, "hd"]
    rows.close()
    cache.close()


def test_stat_cache_rows_under_a_root_are_its_own_then_its_contents_only(tmp_path):
    names = ["d", "d/a", "d/b", "d.txt", "d0", "dd/a"]  # "d.txt" and "d0" sort around "d/"
    rows = []
    for name in names:
        write(tmp_path / "x" / name / "f" if name == "d" else tmp_path / "x" / name, name)
    for name in names:
        path = tmp_path / "x" / name
        rows.append((str(path), os.lstat(path), f"h-{name}", (f"h-{name}",), None))
    cache = StatCache(tmp_path / "sc.sqlite")
    cache.store(rows, max(s.st_ctime_ns for _, s, *_ in rows) + 10**10)
    under = cache.under(str(tmp_path / "x" / "d"))
    got = []
    while under._row is not None:
        got.append(under._row[0].removeprefix(str(tmp_path / "x") + "/"))
        under._next()
    assert got == ["d", "d/a", "d/b"]
    under.close()
    cache.close()


def test_tree_writer_refuses_rows_out_of_order():
    writer = TreeWriter(batch_rows=2)
    for path in ("a", "a.txt", "a/b"):
        writer.add(FileEntry(path, "dir"))
    with pytest.raises(ValueError, match="out of order"):
        writer.add(FileEntry("a/a", "dir"))


def test_tree_written_in_batches_reads_back(tmp_path):
    writer = TreeWriter(batch_rows=3)
    entries = [
        FileEntry(f"f{i:03}", "file", i, hash=f"{i:064x}", chunks=(f"{i:064x}",)) for i in range(10)
    ]
    for e in entries:
        writer.add(e)
    assert decode_tree("t", writer.finish()) == entries


def test_batches_with_and_without_tables_read_back():
    """A batch with no table gets all-null table columns; one with some keeps each row's."""
    writer = TreeWriter(batch_rows=3)
    facts = TableFacts("csv", 7, ("a", "b"), (("a", "int64"), ("b", "string")))
    entries = [
        FileEntry(f"f{i}", "file", i, hash=f"{i:064x}", chunks=(f"{i:064x}",), table=t)
        for i, t in enumerate([None, None, None, None, facts, None, facts])
    ]
    for e in entries:
        writer.add(e)
    assert decode_tree("t", writer.finish()) == entries


def test_a_stat_cache_that_cannot_be_made_is_only_ignored(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder goes")
    cache = StatCache(blocker / "statcache.sqlite")
    s = os.lstat(blocker)
    cache.store([(str(blocker), s, "h", ("h",), None)], s.st_mtime_ns + 10**10)
    rows = cache.under(str(tmp_path))
    assert rows.lookup(str(blocker), s) is None
    rows.close()
    cache.close()


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        ("a.csv", "csv"),
        ("d/a.CSV", "csv"),
        ("d/x.tar.pq", "parquet"),
        ("x.parquet", "parquet"),
        ("d/.csv", None),  # a hidden name, no suffix (as pathlib reads it)
        ("d.csv/x", None),  # the folder's suffix is not the file's
        ("a.", None),
        ("notes", None),
        (Path("p/q.Parquet"), "parquet"),
    ],
)
def test_table_format_reads_the_suffix_of_the_name(path, fmt):
    assert table_format(path) == fmt
