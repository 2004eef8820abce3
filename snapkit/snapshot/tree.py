"""A snapshot's file table, stored as one Parquet object (columns in docs/format.md)."""

from __future__ import annotations

import io
import json
import sys
from array import array
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from itertools import accumulate
from typing import TYPE_CHECKING

from snapkit.errors import CorruptObject
from snapkit.snapshot.model import FileEntry, TableFacts

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.parquet as pq

# pyarrow (with numpy, ≈0.13 s) is imported by the functions that need it, not with this
# module: `snap log`, `tag`, `runs`, `unlock` never read a tree and start in half the time.


@cache
def tree_schema() -> pa.Schema:
    """The columns of a tree (docs/format.md §6)."""
    import pyarrow as pa

    return pa.schema(
        [
            ("path", pa.string()),
            ("kind", pa.string()),
            ("size", pa.int64()),
            ("mode", pa.int32()),
            ("mtime_ns", pa.int64()),
            ("hash", pa.string()),
            ("chunks", pa.list_(pa.string())),
            ("link_target", pa.string()),
            ("table_format", pa.string()),
            ("table_rows", pa.int64()),
            ("table_columns", pa.list_(pa.string())),
            ("table_schema", pa.string()),
        ],
        metadata={"snapkit.tree.version": "1"},
    )


def encode_tree(entries: Iterable[FileEntry]) -> bytes:
    """The tree as Parquet, rows sorted by path."""
    writer = TreeWriter()
    for entry in sorted(entries, key=lambda e: e.path):
        writer.add(entry)
    return writer.finish()


class TreeWriter:
    """Encodes a tree from entries given in path order, one batch of rows at a time, so a
    take of any number of files holds only one batch of entries.

    Columns are assembled from Arrow buffers (`_record_batch`): building arrays from Python
    lists (`pa.table(dict_of_lists)`, `pa.array`) makes pyarrow import pandas, ≈0.3 s and
    50 MB for every take, which was most of a small take's time.
    """

    def __init__(self, batch_rows: int = 16384) -> None:
        import pyarrow.parquet as pq

        self._out = io.BytesIO()
        self._writer = pq.ParquetWriter(
            self._out, tree_schema(), compression="zstd", use_dictionary=["kind"]
        )
        self._rows: list[FileEntry] = []
        self._batch_rows = batch_rows
        self._last: str | None = None

    def add(self, entry: FileEntry) -> None:
        if self._last is not None and entry.path <= self._last:
            raise ValueError(f"tree rows out of order: {entry.path!r} after {self._last!r}")
        self._last = entry.path
        self._rows.append(entry)
        if len(self._rows) >= self._batch_rows:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            self._writer.write_batch(_record_batch(self._rows))
            self._rows = []

    def finish(self) -> bytes:
        self._flush()
        self._writer.close()
        return self._out.getvalue()


def _record_batch(rows: list[FileEntry]) -> pa.RecordBatch:
    import pyarrow as pa

    facts = [e.table for e in rows]
    columns = [
        _strings([e.path for e in rows]),
        _strings([e.kind for e in rows]),
        _ints(pa.int64(), [e.size for e in rows]),
        _ints(pa.int32(), [e.mode for e in rows]),
        _ints(pa.int64(), [e.mtime_ns for e in rows]),
        _strings([e.hash for e in rows]),
        _string_lists([e.chunks for e in rows]),
        _strings([e.link_target for e in rows]),
    ]
    if facts.count(None) == len(rows):  # no table in the batch (checked in C)
        columns += [pa.nulls(len(rows), tree_schema().field(i).type) for i in range(8, 12)]
    else:
        columns += [
            _strings([t.format if t else None for t in facts]),
            _ints(pa.int64(), [t.rows if t else None for t in facts]),
            _string_lists([t.columns if t else None for t in facts]),
            _strings([json.dumps([list(p) for p in t.schema]) if t else None for t in facts]),
        ]
    return pa.RecordBatch.from_arrays(columns, schema=tree_schema())


def _validity(values: Sequence[object]) -> tuple[pa.Buffer | None, int]:
    """Arrow's validity bitmap (LSB first) for `values`, None when nothing is null."""
    import pyarrow as pa

    if None not in values:  # the common case, checked in C
        return None, 0
    if values.count(None) == len(values):  # a column no row has (table facts of non-tables)
        return pa.py_buffer(bytes((len(values) + 7) // 8)), len(values)
    nulls = [i for i, v in enumerate(values) if v is None]
    bits = bytearray(b"\xff" * ((len(values) + 7) // 8))
    for i in nulls:
        bits[i >> 3] &= ~(1 << (i & 7)) & 0xFF
    return pa.py_buffer(bits), len(nulls)


def _offsets(lengths: Iterable[int]) -> pa.Buffer:
    import pyarrow as pa

    return pa.py_buffer(array("i", accumulate(lengths, initial=0)))


def _strings(values: Sequence[str | None]) -> pa.Array:
    import pyarrow as pa

    validity, nulls = _validity(values)
    texts: Sequence[str] = [v or "" for v in values] if nulls else values  # type: ignore[assignment]
    joined = "".join(texts)
    if joined.isascii():  # (paths and ids mostly are): one encode, lengths as they are
        data, lengths = joined.encode("ascii"), map(len, texts)
    else:
        encoded = [t.encode() for t in texts]
        data, lengths = b"".join(encoded), map(len, encoded)
    buffers = [validity, _offsets(lengths), pa.py_buffer(data)]
    return pa.Array.from_buffers(pa.string(), len(values), buffers, null_count=nulls)


def _ints(kind: pa.DataType, values: Sequence[int | None]) -> pa.Array:
    import pyarrow as pa

    code = "q" if kind == pa.int64() else "i"
    validity, nulls = _validity(values)
    data = array(code, (v if v is not None else 0 for v in values) if nulls else values)
    return pa.Array.from_buffers(kind, len(values), [validity, pa.py_buffer(data)], nulls)


def _string_lists(values: Sequence[Sequence[str] | None]) -> pa.Array:
    import pyarrow as pa

    child = _strings([item for v in values if v is not None for item in v])
    validity, nulls = _validity(values)
    offsets = _offsets(len(v) if v is not None else 0 for v in values)
    return pa.Array.from_buffers(
        pa.list_(pa.string()), len(values), [validity, offsets], nulls, children=[child]
    )


# Rows made into entries at a time by `decode_tree`: one block's Python columns at a time.
_READ_ROWS = 16384


def decode_tree(tree_id: str, data: bytes) -> list[FileEntry]:
    """Every entry of the tree, in path order (`TreeTable` reads some rows only)."""
    table = read_tree_table(tree_id, data)
    out: list[FileEntry] = []
    for start in range(0, len(table), _READ_ROWS):
        out += table.entries(range(start, min(len(table), start + _READ_ROWS)))
    return out


def _entries(cols: dict[str, list]) -> Iterator[FileEntry]:
    intern = sys.intern  # table columns and types repeat across files: one copy each
    modes: dict[int, int] = {}  # a few distinct values: one int object each, not per file
    for i, path in enumerate(cols["path"]):
        fmt = cols["table_format"][i]
        facts = None
        if fmt is not None:
            facts = TableFacts(
                intern(fmt),
                cols["table_rows"][i],
                tuple(intern(c) for c in cols["table_columns"][i] or ()),
                tuple(
                    (intern(n), intern(t)) for n, t in json.loads(cols["table_schema"][i] or "[]")
                ),
            )
        h = cols["hash"][i]
        chunks = cols["chunks"][i]
        # a one-chunk file's hash is its chunk's id: one string for both
        chunks = (h,) if len(chunks) == 1 and chunks[0] == h else tuple(chunks)
        yield (
            FileEntry(
                path=path,
                kind=intern(cols["kind"][i]),
                size=cols["size"][i],
                mode=modes.setdefault(cols["mode"][i], cols["mode"][i]),
                mtime_ns=cols["mtime_ns"][i],
                hash=h,
                chunks=chunks,
                link_target=cols["link_target"][i],
                table=facts,
            )
        )


# -- a tree kept columnar -------------------------------------------------------------


class TreeTable:
    """A tree read from its Parquet bytes one row group at a time. It holds the compressed
    tree (≈70 bytes a file for small files) and one row group's decoded columns, where the
    whole tree decoded takes ≈210 bytes a file and as FileEntry objects ≈700. FileEntry
    objects are made only for the rows asked for. Rows are asked for by row number, in
    increasing order; a walk in row order decodes each row group once. One thread at a time.
    """

    def __init__(self, tree_id: str, file: pq.ParquetFile) -> None:
        self.tree_id = tree_id
        self._file = file
        meta = file.metadata
        sizes = (meta.row_group(g).num_rows for g in range(meta.num_row_groups))
        self._starts = list(accumulate(sizes, initial=0))  # first row of each row group
        self._group = -1  # the row group whose columns are decoded
        self._decoded: dict[str, pa.ChunkedArray] = {}

    def __len__(self) -> int:
        return self._starts[-1]

    def entry(self, row: int) -> FileEntry:
        return self.entries([row])[0]

    def entries(self, rows: Sequence[int]) -> list[FileEntry]:
        """The entries of `rows`."""
        return list(_entries(self._values(tree_schema().names, rows)))

    def column(self, name: str, rows: Sequence[int]) -> list:
        """One column's Python values for `rows`, e.g. paths, kinds or sizes."""
        return self._values([name], rows)[name]

    def _values(self, names: list[str], rows: Sequence[int]) -> dict[str, list]:
        out: dict[str, list] = {name: [] for name in names}
        for group, local in self._by_group(rows):
            for name, values in _pick(self._decode(group, names), local).items():
                out[name] += values
        return out

    def _by_group(self, rows: Sequence[int]) -> Iterator[tuple[int, Sequence[int]]]:
        """(row group, rows within it) for `rows`."""
        starts = self._starts
        if isinstance(rows, range) and rows.step == 1:  # (a walk of all or part of the tree)
            for g in range(len(starts) - 1):
                first, stop = max(rows.start, starts[g]), min(rows.stop, starts[g + 1])
                if first < stop:
                    yield g, range(first - starts[g], stop - starts[g])
            return
        g, group, local = 0, -1, array("I")
        for row in rows:
            if not 0 <= row < len(self):
                raise IndexError(f"tree {self.tree_id[:12]} has no row {row}")
            while row >= starts[g + 1]:
                g += 1
            while row < starts[g]:
                g -= 1
            if g != group and local:
                yield group, local
                local = array("I")
            group = g
            local.append(row - starts[g])
        if local:
            yield group, local

    def _decode(self, group: int, names: list[str]) -> pa.Table:
        """The columns `names` of one row group (the last group's columns are kept)."""
        import pyarrow as pa

        if group != self._group:
            self._group, self._decoded = group, {}
        missing = [name for name in names if name not in self._decoded]
        if missing:
            # An Arrow buffer and no thread pool: pq.read_table(io.BytesIO(...)) made the
            # process abort at exit now and then ("terminate called without an active
            # exception", the thread-pool teardown race of apache/arrow#50482).
            try:
                part = self._file.read_row_group(group, columns=missing, use_threads=False)
            except (pa.ArrowException, OSError) as exc:
                raise _unreadable(self.tree_id, exc) from exc
            self._decoded.update((name, part.column(name)) for name in missing)
        return pa.Table.from_arrays([self._decoded[name] for name in names], names=names)


def read_tree_table(tree_id: str, data: bytes) -> TreeTable:
    """The tree in `data` as a TreeTable; CorruptObject if it is not a readable tree (a
    row group found unreadable later raises the same error)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(pa.BufferReader(data))  # (holds `data`, no copy)
        schema = file.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise _unreadable(tree_id, exc) from exc
    if not schema.equals(tree_schema()):
        raise _unreadable(tree_id, "its columns are not a tree's")
    return TreeTable(tree_id, file)


def _unreadable(tree_id: str, why: object) -> CorruptObject:
    return CorruptObject(f"tree {tree_id} is unreadable: {why}", key=f"trees/{tree_id}")


# Rows lying between two wanted ones are read and dropped rather than cut into another
# slice when fewer than this: a slice each costs more. (`Table.take` would do, but it imports
# pyarrow.compute: 8 MB more for every restore.)
_GAP_ROWS = 64


def _pick(table: pa.Table, rows: Sequence[int]) -> dict[str, list]:
    """Python values of each column of `table` for `rows` (increasing row numbers), read
    from zero-copy slices of the runs of rows."""
    import pyarrow as pa

    if isinstance(rows, range) and rows.step == 1:
        return table.slice(rows.start, len(rows)).to_pydict()
    spans, places = _spans(rows)
    runs = [table.slice(start, stop - start) for start, stop in spans] or [table.slice(0, 0)]
    columns = pa.concat_tables(runs).to_pydict()
    if len(places) == sum(stop - start for start, stop in spans):
        return columns  # (no row read in between)
    return {name: [values[i] for i in places] for name, values in columns.items()}


def _spans(rows: Iterable[int]) -> tuple[list[tuple[int, int]], list[int]]:
    """The (start, stop) runs covering `rows`, joined when fewer than _GAP_ROWS apart, and
    where each row is in the runs laid end to end."""
    spans: list[tuple[int, int]] = []
    places: list[int] = []
    before = 0  # rows in the runs before the last
    for row in rows:
        if spans and row < spans[-1][1]:
            raise ValueError(f"tree rows must be asked for in increasing order, not {row} here")
        if spans and row - spans[-1][1] < _GAP_ROWS:
            spans[-1] = (spans[-1][0], row + 1)
        else:
            before += spans[-1][1] - spans[-1][0] if spans else 0
            spans.append((row, row + 1))
        places.append(before + row - spans[-1][0])
    return spans, places
