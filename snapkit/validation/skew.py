"""Feature skew: the experiment's step replayed on sampled production rows, against what
production's step made for the same rows, joined on the key.

Per feature column: how many rows were compared, matched and mismatched, and a few
mismatching rows with both values. Numbers match within the thresholds' rtol/atol (a
different summation order is not skew); everything else must be equal, nulls matching
nulls. Rows that only one side has are counted per table.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapkit.snapshot.tables import table_format
from snapkit.validation.sampling import sampled_batches
from snapkit.validation.table_stream import Opener, table_schema
from snapkit.validation.thresholds import Thresholds

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

EXAMPLES = 5


@dataclass(frozen=True)
class ColumnSkew:
    path: str
    column: str
    compared: int
    matched: int
    mismatched: int
    examples: tuple[dict[str, Any], ...] = ()  # {key, experiment, production}
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.mismatched == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


@dataclass(frozen=True)
class TableSkew:
    path: str
    replayed_rows: int
    production_rows: int  # production's output rows whose key is in the sample
    joined: int
    only_replayed: int
    only_production: int
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.note and self.only_replayed == 0 and self.only_production == 0

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare_table(
    replayed: Path,
    path: str,
    production: Opener,
    *,
    key: str,
    cutoff: int,
    thresholds: Thresholds,
) -> tuple[TableSkew, tuple[ColumnSkew, ...]]:
    """Join the replayed table with production's sampled rows of `path` and compare."""
    import pyarrow as pa

    mine = _read_local(replayed, path)
    if key not in mine.column_names:
        return TableSkew(path, mine.num_rows, 0, 0, 0, 0, f"no key column {key!r}"), ()
    schema = table_schema(production, path)
    theirs = pa.Table.from_batches(list(sampled_batches(production, path, key, cutoff)), schema)
    mine, theirs = _drop_null_keys(mine, key), _drop_null_keys(theirs, key)
    ri, pi = _join(mine[key], theirs[key])
    table = TableSkew(
        path,
        mine.num_rows,
        theirs.num_rows,
        len(ri),
        mine.num_rows - len(ri),
        theirs.num_rows - len(pi),
    )
    keys = mine[key].take(ri).to_pylist()
    columns = []
    for name in dict.fromkeys([*mine.column_names, *theirs.column_names]):
        if name == key:
            continue
        if name not in mine.column_names or name not in theirs.column_names:
            side = "production" if name in theirs.column_names else "replayed"
            note = f"column only in the {side} output"
            columns.append(ColumnSkew(path, name, len(ri), 0, len(ri), note=note))
            continue
        a, b = mine[name].take(ri), theirs[name].take(pi)
        columns.append(_compare_column(path, name, keys, a, b, thresholds))
    return table, tuple(columns)


def _read_local(file: Path, path: str) -> pa.Table:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    if table_format(path) == "parquet":
        return pq.read_table(file)
    return pacsv.read_csv(file)


def _drop_null_keys(table: pa.Table, key: str) -> pa.Table:
    import pyarrow.compute as pc

    return table.filter(pc.is_valid(table[key])) if table[key].null_count else table


def _join(a: pa.ChunkedArray, b: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of the keys both sides have (first row of a duplicated key)."""
    import numpy as np

    x = a.to_numpy() if a.type == b.type else np.asarray(a.to_pylist(), dtype=object)
    y = b.to_numpy() if a.type == b.type else np.asarray(b.to_pylist(), dtype=object)
    if x.dtype == object or y.dtype == object:
        x, y = x.astype(str), y.astype(str)
    _, ri, pi = np.intersect1d(x, y, assume_unique=False, return_indices=True)
    order = np.argsort(ri, kind="stable")  # rows in the replayed table's order
    return ri[order], pi[order]


def _compare_column(
    path: str, name: str, keys: list[Any], a: pa.ChunkedArray, b: pa.ChunkedArray, t: Thresholds
) -> ColumnSkew:
    import numpy as np

    same = _same_values(a, b, t)
    bad = np.flatnonzero(~same)
    examples = tuple(
        {"key": keys[i], "experiment": a[int(i)].as_py(), "production": b[int(i)].as_py()}
        for i in bad[:EXAMPLES]
    )
    return ColumnSkew(path, name, len(same), len(same) - len(bad), len(bad), examples)


def _same_values(a: pa.ChunkedArray, b: pa.ChunkedArray, t: Thresholds) -> np.ndarray:
    """Per row: equal (numbers within tolerance), or both null."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    both_null = (pc.is_null(a).to_numpy() & pc.is_null(b).to_numpy()).astype(bool)
    if _is_number(a.type) and _is_number(b.type):
        x = pc.cast(a, pa.float64()).to_numpy()
        y = pc.cast(b, pa.float64()).to_numpy()
        with np.errstate(invalid="ignore"):
            close = np.isclose(x, y, rtol=t.rtol, atol=t.atol, equal_nan=True)
        return close & (pc.is_null(a).to_numpy() == pc.is_null(b).to_numpy()) | both_null
    if a.type != b.type:
        a, b = pc.cast(a, pa.string()), pc.cast(b, pa.string())
    equal = pc.fill_null(pc.equal(a, b), False).to_numpy(zero_copy_only=False)
    return np.asarray(equal, dtype=bool) | both_null


def _is_number(dtype: pa.DataType) -> bool:
    import pyarrow as pa

    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype)
