"""Table facts (rows, columns, schema) for Parquet and CSV files, taken at snapshot time.

Parquet facts come from the footer alone. CSV rows are counted from the chunks already in
memory while hashing (`CsvCounter`), so a CSV is read once; only the header is parsed.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from snapkit.snapshot.model import TableFacts

TABLE_SUFFIXES = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv"}


def table_format(path: str | os.PathLike[str]) -> str | None:
    """The table format its suffix gives a path, as pathlib's `suffix` reads it (a name
    like `.csv` has none). Called once per file a take reads: string operations, not a
    Path (≈10 µs a file)."""
    name = os.path.basename(os.fspath(path))
    dot = name.rfind(".")
    return TABLE_SUFFIXES.get(name[dot:].lower()) if dot > 0 else None


def parquet_facts(path: str | Path) -> TableFacts | None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError):
        return None  # not a readable Parquet file: it is still snapshotted, as bytes
    return TableFacts(
        "parquet",
        meta.num_rows,
        tuple(schema.names),
        tuple((f.name, str(f.type)) for f in schema),
    )


class CsvCounter:
    """Counts records of a CSV fed chunk by chunk (newline count; quoted newlines aside)."""

    def __init__(self) -> None:
        self.newlines = 0
        self.head = b""
        self.last_byte = b""
        self.size = 0

    def feed(self, data: bytes | memoryview) -> None:
        if len(self.head) < 65536:
            self.head += bytes(data[: 65536 - len(self.head)])
        self.newlines += _count_newlines(data)
        if len(data):
            self.last_byte = bytes(data[-1:])
        self.size += len(data)

    def facts(self) -> TableFacts | None:
        if self.size == 0:
            return TableFacts("csv", 0, ())
        lines = self.newlines + (0 if self.last_byte == b"\n" else 1)
        try:
            text = self.head.decode("utf-8", errors="replace")
            header = next(csv.reader(io.StringIO(text)))
        except (csv.Error, StopIteration):
            return None
        return TableFacts("csv", max(lines - 1, 0), tuple(header), _csv_schema(self.head, header))


def _count_newlines(data: bytes | memoryview) -> int:
    """Newlines in `data` without copying it (numpy compares outside the GIL).

    `bytes(view).count(b"\\n")` copied every chunk while holding the GIL, which made a take
    of large CSVs serialise on it.
    """
    import numpy as np

    return int(np.count_nonzero(np.frombuffer(data, dtype=np.uint8) == 10))


def _csv_schema(head: bytes, header: list[str]) -> tuple[tuple[str, str], ...]:
    """Column types inferred by pyarrow from the first 64 KiB (complete lines only)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    cut = head.rfind(b"\n")
    sample = head[: cut + 1] if cut > 0 else head
    try:
        schema = pacsv.read_csv(pa.BufferReader(sample)).schema
    except (pa.ArrowException, OSError):
        return tuple((name, "string") for name in header)
    return tuple((f.name, str(f.type)) for f in schema)
