"""diff: files by hash, tables by recorded facts, and rows by streaming both versions."""

from __future__ import annotations

import base64
import os
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest

from snapkit.api import Store
from snapkit.objects.reader import ChunkedFile
from snapkit.snapshot.diff import (
    RowChanges,
    TableChange,
    TypeChange,
    compare_rows,
    diff_trees,
    table_change,
)
from snapkit.snapshot.model import FileEntry, TableFacts
from tests.helpers import write

# -- diff_trees: pure ---------------------------------------------------------------------


def f(path: str, h: str = "h", size: int = 10, mode: int = 0o644, **kw) -> FileEntry:
    return FileEntry(path, "file", size=size, mode=mode, hash=h, **kw)


def test_diff_trees_finds_every_kind_of_change() -> None:
    old = [
        f("same", mtime_ns=1),
        f("edited", "a", size=100),
        f("gone", size=7),
        f("run.sh", mode=0o644),
        f("becomes-dir"),
        FileEntry("link", "symlink", link_target="same"),
    ]
    new = [
        f("same", mtime_ns=2),  # a newer mtime alone is no change
        f("edited", "b", size=150),
        f("born", size=42),
        f("run.sh", mode=0o755),
        FileEntry("becomes-dir", "dir", mode=0o755),
        FileEntry("link", "symlink", link_target="edited"),
    ]
    d = diff_trees(old, new)
    status = {c.path: c.status for c in d.changes}
    assert status == {
        "born": "added",
        "gone": "removed",
        "edited": "modified",
        "link": "modified",
        "run.sh": "mode-changed",
        "becomes-dir": "type-changed",
    }
    assert [c.path for c in d.changes] == sorted(status)
    assert d.unchanged == 1
    by_path = {c.path: c for c in d.changes}
    assert by_path["edited"].size_delta == 50
    assert by_path["gone"].size_delta == -7
    assert by_path["born"].size_delta == 42
    assert by_path["run.sh"].mode_changed
    assert d.size_delta == 50 - 7 + 42 - 10
    assert d.counts() == {
        "added": 1,
        "removed": 1,
        "modified": 2,
        "mode-changed": 1,
        "type-changed": 1,
        "unchanged": 1,
    }


def test_diff_trees_json_is_plain_data() -> None:
    facts = TableFacts("csv", 2, ("a",), (("a", "int64"),))
    d = diff_trees([f("t.csv", "x", table=facts)], [f("t.csv", "y", table=facts)])
    doc = d.to_json()
    (change,) = doc["changes"]
    assert change["status"] == "modified"
    assert change["old"]["hash"] == "x" and change["new"]["hash"] == "y"
    assert change["table"]["rows_delta"] == 0 and change["table"]["rows"] is None
    assert doc["summary"]["modified"] == 1


def test_identical_trees_have_no_changes() -> None:
    d = diff_trees([f("a"), f("b")], [f("b"), f("a")])
    assert d.changes == () and d.unchanged == 2


def test_table_change_from_recorded_facts_alone() -> None:
    old = TableFacts(
        "parquet", 100, ("id", "x", "label"), (("id", "int64"), ("x", "double"), ("label", "int64"))
    )
    new = TableFacts(
        "parquet", 90, ("label", "id", "y"), (("label", "string"), ("id", "int64"), ("y", "bool"))
    )
    t = table_change(old, new)
    assert t == TableChange(
        format="parquet",
        rows_before=100,
        rows_after=90,
        columns_added=("y",),
        columns_removed=("x",),
        type_changes=(TypeChange("label", "int64", "string"),),
        columns_reordered=True,
    )
    assert t.rows_delta == -10
    assert table_change(old, None) is None
    assert table_change(old, TableFacts("csv", 1, ("id",))) is None


# -- two versions of a table, through a real store ----------------------------------------

N = 10_000
DELETED = range(1_000, 1_300)  # 300 rows of v1 gone in v2
APPENDED = range(N, N + 800)  # 800 rows new in v2


def text_of(i: int) -> str:
    return f"message {i} " + "spam " * (i % 5)


def v1_table() -> pa.Table:
    ids = list(range(N))
    return pa.table({"id": ids, "text": [text_of(i) for i in ids], "label": [i % 3 for i in ids]})


def v2_table() -> pa.Table:
    ids = [i for i in range(N) if i not in DELETED] + list(APPENDED)
    return pa.table(
        {
            "id": ids,
            "text": [text_of(i) for i in ids],
            "label": pa.array([str(i % 3) for i in ids], pa.string()),  # int64 cast to string
            "n_links": [i % 4 for i in ids],
        }
    )


def write_csv_v1(path: Path) -> None:
    lines = ["id,text,label"] + [f"{i},{text_of(i)},{i % 3}" for i in range(N)]
    write(path, "\n".join(lines) + "\n")


def write_csv_v2(path: Path) -> None:
    """Appended rows first, with a label "unknown": the inferred type of label turns to string
    (the first 64 KiB decide), while every kept row keeps its text."""
    new = [f"{i},{text_of(i)},unknown,{i % 4}" for i in APPENDED]
    kept = [f"{i},{text_of(i)},{i % 3},{i % 4}" for i in range(N) if i not in DELETED]
    write(path, "\n".join(["id,text,label,n_links", *new, *kept]) + "\n")


@pytest.fixture
def two_versions(store: Store, tmp_path: Path) -> Store:
    """Snapshots v1 and v2 of a folder whose Parquet and CSV tables changed as above."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(v1_table(), data / "emails.parquet")
    write_csv_v1(data / "emails.csv")
    write(data / "old.bin", b"old")
    write(data / "same.txt", "unchanged\n")
    store.take(data, tags=["v1"])
    pq.write_table(v2_table(), data / "emails.parquet")
    write_csv_v2(data / "emails.csv")
    os.remove(data / "old.bin")
    write(data / "new.csv", "a,b\n1,2\n")
    store.take(data, tags=["v2"])
    return store


def test_diff_reports_added_removed_and_modified_files(two_versions: Store) -> None:
    d = two_versions.diff("v1", "v2")
    assert {c.path: c.status for c in d.changes} == {
        "emails.csv": "modified",
        "emails.parquet": "modified",
        "new.csv": "added",
        "old.bin": "removed",
    }
    assert d.unchanged == 1
    assert d.old_snapshot == two_versions.repo.resolve("v1")
    assert d.new_snapshot == two_versions.repo.resolve("v2")


@pytest.mark.parametrize("path", ["emails.parquet", "emails.csv"])
def test_table_facts_change_without_reading_data(two_versions: Store, path: str) -> None:
    (change,) = [c for c in two_versions.diff("v1", "v2").changes if c.path == path]
    t = change.table
    assert t is not None and t.rows is None
    assert (t.rows_before, t.rows_after, t.rows_delta) == (10_000, 10_500, 500)
    assert t.columns_added == ("n_links",)
    assert t.columns_removed == ()
    assert t.type_changes == (TypeChange("label", "int64", "string"),)
    assert not t.columns_reordered


@pytest.mark.parametrize("path", ["emails.parquet", "emails.csv"])
def test_rows_added_and_removed_over_common_columns(two_versions: Store, path: str) -> None:
    d = two_versions.diff("v1", "v2", rows=True, batch_rows=1_000)
    (change,) = [c for c in d.changes if c.path == path]
    assert change.table is not None
    assert change.table.rows == RowChanges(
        added=800, removed=300, unchanged=9_700, compared_columns=("id", "text", "label")
    )
    assert change.table.to_json()["rows"]["rows_added"] == 800


def test_rows_are_compared_as_a_multiset(store: Store, tmp_path: Path) -> None:
    """A duplicated row is an added row; a reordered table has no row changes."""
    write(tmp_path / "t.csv", "a,b\n1,x\n2,y\n3,z\n")
    store.take(tmp_path / "t.csv", tags=["one"])
    write(tmp_path / "t.csv", "a,b\n3,z\n1,x\n2,y\n2,y\n")
    store.take(tmp_path / "t.csv", tags=["two"])
    (change,) = store.diff("one", "two", rows=True).changes
    assert change.table is not None and change.table.rows is not None
    assert (change.table.rows.added, change.table.rows.removed) == (1, 0)
    assert change.table.rows.unchanged == 3


def test_single_file_snapshots_compare_as_one_file(store: Store, tmp_path: Path) -> None:
    write(tmp_path / "a/v1.csv", "a\n1\n")
    write(tmp_path / "b/v2.csv", "a\n1\n2\n")
    store.take(tmp_path / "a/v1.csv", tags=["one"])
    store.take(tmp_path / "b/v2.csv", tags=["two"])
    (change,) = store.diff("one", "two").changes
    assert (change.path, change.status) == ("v2.csv", "modified")
    assert change.table is not None and change.table.rows_delta == 1


# -- streaming: a table bigger than a batch is never read whole -----------------------------


def random_table(ids: list[int], seed: int) -> pa.Table:
    """Incompressible text, so the Parquet file spans several store chunks."""
    blob = base64.b64encode(random.Random(seed).randbytes(36 * len(ids))).decode()
    return pa.table({"id": ids, "text": [blob[i * 48 : (i + 1) * 48] for i in range(len(ids))]})


def test_rows_are_streamed_in_batches_with_bounded_memory(store: Store, tmp_path: Path) -> None:
    n = 150_000
    v1 = random_table(list(range(n)), seed=1)
    pq.write_table(v1, tmp_path / "big.parquet", row_group_size=10_000)
    size = os.path.getsize(tmp_path / "big.parquet")
    store.take(tmp_path / "big.parquet", tags=["v1"])
    v2 = pa.concat_tables([v1.slice(1_000), random_table(list(range(n, n + 2_000)), seed=2)])
    pq.write_table(v2, tmp_path / "big.parquet", row_group_size=10_000)
    store.take(tmp_path / "big.parquet", tags=["v2"])

    opened: list[ChunkedFile] = []

    def open_file(e: FileEntry) -> ChunkedFile:
        opened.append(ChunkedFile(store.repo.objects, e.chunks, e.size, name=e.path))
        return opened[-1]

    store.repo.load_index()
    pool = pa.proxy_memory_pool(pa.default_memory_pool())
    default = pa.default_memory_pool()
    pa.set_memory_pool(pool)  # every Arrow allocation of the comparison goes through `pool`
    try:
        d = compare_rows(store.diff("v1", "v2"), open_file, batch_rows=5_000)
    finally:
        pa.set_memory_pool(default)

    (change,) = d.changes
    assert change.table is not None and change.table.rows is not None
    assert (change.table.rows.added, change.table.rows.removed) == (2_000, 1_000)
    assert len(opened) == 2
    for file in opened:
        assert len(file.chunks) >= 5  # the file is many chunks ...
        assert file.chunks_loaded >= len(file.chunks)  # ... all of them were read ...
        assert file.max_resident_chunks <= 4  # ... never more than four held at once
    assert pool.max_memory() < size / 3  # Arrow never held anything like the whole table


@pytest.mark.parametrize("name", ["t.csv", "t.parquet"])
def test_with_no_common_column_no_row_matches(store: Store, tmp_path: Path, name: str) -> None:
    def save(table: pa.Table, tag: str) -> None:
        if name.endswith(".csv"):
            pacsv.write_csv(table, tmp_path / name)
        else:
            pq.write_table(table, tmp_path / name)
        store.take(tmp_path / name, tags=[tag])

    save(pa.table({"a": [1, 2]}), "one")
    save(pa.table({"x": [1, 2, 3]}), "two")
    (change,) = store.diff("one", "two", rows=True).changes
    assert change.table is not None
    assert change.table.rows == RowChanges(added=3, removed=2, unchanged=0, compared_columns=())
