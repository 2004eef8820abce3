"""What changed between two snapshots: files, and for Parquet/CSV tables rows and columns.

Plan, then look closer: `diff_trees` compares two trees with no I/O (file hashes, modes,
kinds, and the table facts recorded at take time: row counts, columns, schema). For a
modified table, `count_row_changes` streams both versions in batches and counts the rows
found only in the old version (removed) and only in the new one (added). Rows are compared
as a multiset over the columns both versions share, by a 16-byte digest per row, so memory
grows with the number of distinct rows (≈100 bytes each), never with the file's size.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import IO, Any, Literal

from snapkit.errors import SnapError
from snapkit.snapshot.model import FileEntry, TableFacts

Status = Literal["added", "removed", "modified", "mode-changed", "type-changed"]
BATCH_ROWS = 65_536
CSV_BLOCK_BYTES = 1 << 20


@dataclass(frozen=True)
class TypeChange:
    column: str
    old: str
    new: str


@dataclass(frozen=True)
class RowChanges:
    """Rows only in the old version, only in the new one, and in both (as multisets)."""

    added: int
    removed: int
    unchanged: int
    compared_columns: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "rows_added": self.added,
            "rows_removed": self.removed,
            "rows_unchanged": self.unchanged,
            "compared_columns": list(self.compared_columns),
        }


@dataclass(frozen=True)
class TableChange:
    """How a table's recorded facts changed; `rows` only once its data was compared."""

    format: str
    rows_before: int
    rows_after: int
    columns_added: tuple[str, ...] = ()
    columns_removed: tuple[str, ...] = ()
    type_changes: tuple[TypeChange, ...] = ()
    columns_reordered: bool = False
    rows: RowChanges | None = None

    @property
    def rows_delta(self) -> int:
        return self.rows_after - self.rows_before

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows_before": self.rows_before,
            "rows_after": self.rows_after,
            "rows_delta": self.rows_delta,
            "columns_added": list(self.columns_added),
            "columns_removed": list(self.columns_removed),
            "type_changes": [
                {"column": t.column, "old": t.old, "new": t.new} for t in self.type_changes
            ],
            "columns_reordered": self.columns_reordered,
            "rows": self.rows.to_json() if self.rows else None,
        }


@dataclass(frozen=True)
class FileChange:
    """One path that differs. `old` is None when added, `new` is None when removed."""

    path: str
    status: Status
    old: FileEntry | None
    new: FileEntry | None
    table: TableChange | None = None

    @property
    def old_size(self) -> int:
        return self.old.size if self.old else 0

    @property
    def new_size(self) -> int:
        return self.new.size if self.new else 0

    @property
    def size_delta(self) -> int:
        return self.new_size - self.old_size

    @property
    def mode_changed(self) -> bool:
        return bool(self.old and self.new and self.old.mode != self.new.mode)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status,
            "old": _entry_json(self.old),
            "new": _entry_json(self.new),
            "size_delta": self.size_delta,
            "table": self.table.to_json() if self.table else None,
        }


@dataclass(frozen=True)
class TreeDiff:
    """Every changed path of a snapshot pair, sorted by path, plus the count of the same."""

    changes: tuple[FileChange, ...]
    unchanged: int
    old_snapshot: str = ""
    new_snapshot: str = ""

    def of(self, status: Status) -> tuple[FileChange, ...]:
        return tuple(c for c in self.changes if c.status == status)

    @property
    def size_delta(self) -> int:
        return sum(c.size_delta for c in self.changes)

    def counts(self) -> dict[str, int]:
        keys: tuple[Status, ...] = (
            "added",
            "removed",
            "modified",
            "mode-changed",
            "type-changed",
        )
        return {k: len(self.of(k)) for k in keys} | {"unchanged": self.unchanged}

    def with_rows(self, rows: dict[str, RowChanges]) -> TreeDiff:
        """A copy whose table changes carry the row comparisons in `rows` (by path)."""
        changes = tuple(
            replace(c, table=replace(c.table, rows=rows[c.path]))
            if c.table is not None and c.path in rows
            else c
            for c in self.changes
        )
        return replace(self, changes=changes)

    def to_json(self) -> dict[str, Any]:
        return {
            "old_snapshot": self.old_snapshot,
            "new_snapshot": self.new_snapshot,
            "changes": [c.to_json() for c in self.changes],
            "summary": {**self.counts(), "size_delta": self.size_delta},
        }


def _entry_json(e: FileEntry | None) -> dict[str, Any] | None:
    if e is None:
        return None
    return {
        "kind": e.kind,
        "size": e.size,
        "mode": oct(e.mode),
        "hash": e.hash or None,
        "link_target": e.link_target or None,
        "table": e.table.to_json() if e.table else None,
    }


# -- trees ------------------------------------------------------------------------------


def diff_trees(old: list[FileEntry], new: list[FileEntry]) -> TreeDiff:
    """Compare two file tables by path (content by hash; modification times are ignored)."""
    before = {e.path: e for e in old}
    after = {e.path: e for e in new}
    changes: list[FileChange] = []
    unchanged = 0
    for path in sorted(before.keys() | after.keys()):
        change = _compare(path, before.get(path), after.get(path))
        if change is None:
            unchanged += 1
        else:
            changes.append(change)
    return TreeDiff(tuple(changes), unchanged)


def _compare(path: str, old: FileEntry | None, new: FileEntry | None) -> FileChange | None:
    if old is None:
        return FileChange(path, "added", None, new)
    if new is None:
        return FileChange(path, "removed", old, None)
    if old.kind != new.kind:
        return FileChange(path, "type-changed", old, new)
    if old.hash != new.hash or old.link_target != new.link_target:
        return FileChange(path, "modified", old, new, table_change(old.table, new.table))
    if old.mode != new.mode:
        return FileChange(path, "mode-changed", old, new)
    return None


def table_change(old: TableFacts | None, new: TableFacts | None) -> TableChange | None:
    """What the recorded facts say changed (no data is read); None unless both are tables
    of the same format."""
    if old is None or new is None or old.format != new.format:
        return None
    old_types, new_types = dict(old.schema), dict(new.schema)
    old_names, new_names = set(old.columns), set(new.columns)
    common = [c for c in old.columns if c in new_names]
    return TableChange(
        format=new.format,
        rows_before=old.rows,
        rows_after=new.rows,
        columns_added=tuple(c for c in new.columns if c not in old_names),
        columns_removed=tuple(c for c in old.columns if c not in new_names),
        type_changes=tuple(
            TypeChange(c, old_types[c], new_types[c])
            for c in common
            if c in old_types and c in new_types and old_types[c] != new_types[c]
        ),
        columns_reordered=common != [c for c in new.columns if c in old_names],
    )


# -- rows -------------------------------------------------------------------------------


def compare_rows(
    diff: TreeDiff,
    open_file: Callable[[FileEntry], IO[bytes]],
    *,
    batch_rows: int = BATCH_ROWS,
) -> TreeDiff:
    """A copy of `diff` whose modified tables carry row counts, read through `open_file`."""
    import pyarrow as pa

    rows: dict[str, RowChanges] = {}
    for c in diff.changes:
        if c.table is None or c.old is None or c.new is None:
            continue
        assert c.old.table is not None and c.new.table is not None  # a table change has both
        try:
            with open_file(c.old) as old_file, open_file(c.new) as new_file:
                rows[c.path] = count_row_changes(
                    old_file, new_file, c.table, c.old.table, c.new.table, batch_rows=batch_rows
                )
        except pa.ArrowException as exc:
            raise SnapError(f"cannot compare the rows of {c.path}: {exc}") from exc
    return diff.with_rows(rows)


def count_row_changes(
    old_file: IO[bytes],
    new_file: IO[bytes],
    change: TableChange,
    old_facts: TableFacts,
    new_facts: TableFacts,
    *,
    batch_rows: int = BATCH_ROWS,
) -> RowChanges:
    """Stream both versions of a table and count the rows only in one of them.

    Rows are compared over the columns both versions have. A column whose type changed is
    compared by its text form (so int64 5 and string "5" are the same value); CSV columns
    are always read as text, as written.
    """
    new_names = set(new_facts.columns)
    columns = tuple(c for c in old_facts.columns if c in new_names)
    if not columns:  # nothing to match rows on: no row of one version is in the other
        old_rows = _count_rows(old_file, change.format, old_facts.columns[:1], batch_rows)
        new_rows = _count_rows(new_file, change.format, new_facts.columns[:1], batch_rows)
        return RowChanges(new_rows, old_rows, 0, ())
    as_text = {t.column for t in change.type_changes}
    balance: Counter[bytes] = Counter()
    old_rows = 0
    for digest in _row_digests(old_file, change.format, columns, as_text, batch_rows):
        balance[digest] += 1
        old_rows += 1
    for digest in _row_digests(new_file, change.format, columns, as_text, batch_rows):
        balance[digest] -= 1
    removed = sum(n for n in balance.values() if n > 0)
    added = -sum(n for n in balance.values() if n < 0)
    return RowChanges(added, removed, old_rows - removed, columns)


def _row_digests(
    f: IO[bytes], fmt: str, columns: tuple[str, ...], as_text: set[str], batch_rows: int
) -> Iterator[bytes]:
    for batch in _batches(f, fmt, columns, batch_rows):
        values = [_column_values(batch.column(name), name in as_text) for name in columns]
        for row in zip(*values, strict=True):
            yield hashlib.blake2b(repr(row).encode(), digest_size=16).digest()


def _count_rows(f: IO[bytes], fmt: str, columns: tuple[str, ...], batch_rows: int) -> int:
    return sum(batch.num_rows for batch in _batches(f, fmt, columns, batch_rows))


def _column_values(array: Any, as_text: bool) -> list[Any]:
    if not as_text:
        return array.to_pylist()
    import pyarrow as pa

    try:
        return array.cast(pa.string()).to_pylist()
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
        return [None if v is None else str(v) for v in array.to_pylist()]


def _batches(f: IO[bytes], fmt: str, columns: tuple[str, ...], batch_rows: int) -> Iterator[Any]:
    """Record batches of `columns` from a Parquet or CSV stream, one batch in memory."""
    import pyarrow as pa

    source = pa.PythonFile(f, mode="r")
    if fmt == "parquet":
        import pyarrow.parquet as pq

        # buffer_size streams each column chunk page by page instead of reading it whole;
        # no threads: reads go through Python anyway, and see apache/arrow#50482 (tree.py)
        parquet = pq.ParquetFile(source, buffer_size=1 << 20, pre_buffer=False)
        yield from parquet.iter_batches(batch_rows, columns=list(columns), use_threads=False)
    elif fmt == "csv":
        yield from _csv_batches(source, columns)
    else:
        raise ValueError(f"no row reader for table format {fmt!r}")


def _csv_batches(source: Any, columns: tuple[str, ...]) -> Iterator[Any]:
    """CSV as text: types inferred from the first block could fail on a later one.

    Batches are blocks of CSV_BLOCK_BYTES (the CSV reader cuts by bytes, not rows)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    reader = pacsv.open_csv(
        source,
        read_options=pacsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
        convert_options=pacsv.ConvertOptions(
            column_types=dict.fromkeys(columns, pa.string()),
            include_columns=list(columns),
        ),
    )
    yield from reader
