"""Reading a stored table (Parquet or CSV) batch by batch, so memory stays bounded.

Parity reads tables straight from the store through `Store.open` (a lazy, verified file
object); these helpers only turn such a file object into record batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO, TYPE_CHECKING, Any

from snapkit.snapshot.tables import table_format

if TYPE_CHECKING:
    import pyarrow as pa

Opener = Callable[[], IO[bytes]]  # opens the same stored file afresh for each pass
BATCH_ROWS = 65_536


def is_table(path: str) -> bool:
    return table_format(path) is not None


def table_schema(open_file: Opener, path: str) -> pa.Schema:
    """The columns of a table, read from the Parquet footer or the CSV's first block."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with open_file() as f:
        if table_format(path) == "parquet":
            return pq.ParquetFile(f).schema_arrow
        return pacsv.open_csv(f).schema


def iter_batches(
    open_file: Opener, path: str, columns: list[str] | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[pa.RecordBatch]:
    """The record batches of a table (only `columns`, when given)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with open_file() as f:
        if table_format(path) == "parquet":
            # pre_buffer=False: pages are read as needed, not a whole row group up front
            pf = pq.ParquetFile(f, pre_buffer=False)
            yield from pf.iter_batches(batch_size=batch_rows, columns=columns, use_threads=False)
            return
        options = pacsv.ConvertOptions(include_columns=columns) if columns else None
        reader = pacsv.open_csv(f, convert_options=options)
        for batch in reader:
            yield from _split(batch, batch_rows)


def _split(batch: Any, rows: int) -> Iterator[Any]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def write_batches(target: str, path: str, schema: pa.Schema, batches: Iterator[Any]) -> int:
    """Write `batches` as a table of `path`'s format to the file `target`; returns rows."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    rows = 0
    writer: Any = (
        pq.ParquetWriter(target, schema)
        if table_format(path) == "parquet"
        else pacsv.CSVWriter(target, schema)
    )
    with writer:
        for batch in batches:
            writer.write_batch(batch)
            rows += batch.num_rows
    return rows
