"""`snap suite init`: profile a table into a starter suite that passes on it.

One streaming pass (bounded memory, like validation) collects per column: nulls, min and
max of numbers, up to `MAX_SET` distinct values, and whether values repeat (by 64-bit
hash, kept only for columns still unique). The suite then expects:

- the same set of columns, and a row count within a factor of ten;
- no nulls in columns that had none;
- numbers between min and max widened by `MARGIN` of their range (whole numbers for ints);
- a value set for strings, booleans and integers with at most `MAX_SET` distinct values;
- uniqueness for integer and string columns with no repeated value.

It is a start: read it, tighten it, and keep it in version control next to the data's code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapkit.validation.results import plain
from snapkit.validation.stats import HashCounts

if TYPE_CHECKING:
    import pyarrow as pa

    from snapkit.validation.sources import TableSource

MARGIN = 0.1
MAX_SET = 20
PROFILE_BATCH_ROWS = 500_000


@dataclass
class ColumnProfile:
    name: str
    kind: str  # int | float | bool | string | other
    nulls: int = 0
    low: Any = None
    high: Any = None
    values: set[Any] | None = field(default_factory=set)  # None once past MAX_SET
    unique: bool = True  # no repeated non-null value seen so far
    hashes: HashCounts = field(default_factory=HashCounts)

    def add(self, array: pa.Array) -> None:
        import pyarrow.compute as pc

        present = array.filter(pc.invert(pc.is_null(array, nan_is_null=True)))
        self.nulls += len(array) - len(present)
        if self.kind in ("int", "float") and len(present):
            bounds = pc.min_max(present).as_py()
            self.low = bounds["min"] if self.low is None else min(self.low, bounds["min"])
            self.high = bounds["max"] if self.high is None else max(self.high, bounds["max"])
        distinct = pc.unique(present)
        if self.values is not None and self.kind in ("int", "bool", "string"):
            self.values |= set(distinct.to_pylist())
            if len(self.values) > MAX_SET:
                self.values = None
        if self.unique and self.kind in ("int", "string"):
            self.unique = len(distinct) == len(present)  # a repeat inside this batch
            if self.unique:
                self.hashes.add(present)
        else:
            self.unique = False


def profile_suite(
    source: TableSource, name: str, *, batch_rows: int = PROFILE_BATCH_ROWS
) -> dict[str, Any]:
    """A GX 1.x suite document for `source` (see the module docstring)."""
    rows = 0
    columns: list[str] = []
    profiles: dict[str, ColumnProfile] = {}
    for table in source.batches(batch_rows):
        if not columns:
            columns = list(table.column_names)
            profiles = {c: ColumnProfile(c, _kind(table.schema.field(c).type)) for c in columns}
        rows += table.num_rows
        for column in columns:
            profiles[column].add(table[column].combine_chunks())
    for p in profiles.values():
        if p.unique:
            _keys, counts = p.hashes.result()
            p.unique = bool(len(counts)) and int(counts.max()) == 1
    expectations = [
        _expect("expect_table_columns_to_match_set", column_set=columns, exact_match=True),
        _expect(
            "expect_table_row_count_to_be_between",
            min_value=rows // 10,
            max_value=rows * 10 if rows else 1,
        ),
    ]
    for column in columns:
        expectations.extend(_column_expectations(profiles[column], rows))
    return {
        "name": name,
        "expectations": expectations,
        "meta": {
            "generated_by": "snap suite init",
            "profiled": source.target,
            "rows": rows,
            "notes": "A starter suite that passes on the profiled data: review and tighten it.",
        },
    }


def _column_expectations(p: ColumnProfile, rows: int) -> list[dict[str, Any]]:
    out = []
    if rows and p.nulls == 0:
        out.append(_expect("expect_column_values_to_not_be_null", column=p.name))
    if p.values is not None and p.kind in ("int", "bool", "string") and p.values and not p.unique:
        out.append(
            _expect(
                "expect_column_values_to_be_in_set",
                column=p.name,
                value_set=sorted(plain(v) for v in p.values),
            )
        )
    elif p.kind in ("int", "float") and p.low is not None:
        low, high = _widen(p.low, p.high, integer=p.kind == "int")
        out.append(
            _expect(
                "expect_column_values_to_be_between", column=p.name, min_value=low, max_value=high
            )
        )
    if p.unique and rows > 1:
        out.append(_expect("expect_column_values_to_be_unique", column=p.name))
    return out


def _widen(low: float, high: float, *, integer: bool) -> tuple[float, float]:
    span = (high - low) or abs(high) or 1
    low, high = low - MARGIN * span, high + MARGIN * span
    if integer:
        return math.floor(low), math.ceil(high)
    return _round_out(low, math.floor), _round_out(high, math.ceil)


def _round_out(value: float, direction: Any) -> float:
    """A readable bound, rounded outwards to 4 significant digits."""
    if value == 0 or not math.isfinite(value):
        return value
    value = float(f"{value:.12g}")  # 0.32499999999999996 is 0.325
    digits = 3 - math.floor(math.log10(abs(value)))
    rounded = direction(value * 10**digits) / 10**digits
    return round(rounded, digits) if digits > 0 else rounded


def _kind(arrow_type: pa.DataType) -> str:
    import pyarrow as pa

    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type) or pa.types.is_decimal(arrow_type):
        return "float"
    if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type):
        return "string"
    return "other"


def _expect(type_name: str, **kwargs: Any) -> dict[str, Any]:
    return {"type": type_name, "kwargs": kwargs}
