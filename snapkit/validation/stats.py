"""Streaming statistics: the global value of aggregate expectations, batch by batch.

A table bigger than memory is validated in batches (see `batches.py`). Row-level
expectations are exact per batch; an aggregate (a mean, a row count, uniqueness) is not, so
its GX metric is computed here over all batches and GX then evaluates the expectation on
that metric (`Expectation._validate`), with the same rules as on a whole table.

What each aggregate keeps while streaming, and so the memory it needs:

- table row count, column count, columns to match set / ordered list, column to exist:
  counts and names (constant);
- column mean, sum, stdev, min, max, proportion of non-null values: count, mean, M2,
  sum, min, max (constant);
- column values to be unique, unique value count, proportion of unique values: a 64-bit
  hash and a count per distinct value (16 bytes per distinct value);
- distinct values to be in / contain / equal set, most common value in set: each
  distinct value and its count.

Row-level expectations (`MAP_TYPES`) need nothing kept: GX counts per batch. Hash
collisions (two distinct values with one 64-bit hash) are possible but rare: about one
chance in 3,000 at 100 million distinct values. Every other type (medians, quantiles,
z-scores, outliers, increasing/decreasing, value types, compound-column uniqueness, KL
divergence, SQL-only ones) and any aggregate with a `row_condition` needs all values or
their order at once: it runs only on data that fits one batch (`batch_mode` is None).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapkit.validation.gx import coerce_value_set
from snapkit.validation.suites import ExpectationSpec

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

# Row-level expectations: each row is checked alone, so per-batch GX results add up.
MAP_TYPES = frozenset(
    {
        "expect_column_values_to_not_be_null",
        "expect_column_values_to_be_null",
        "expect_column_values_to_be_between",
        "expect_column_values_to_be_in_set",
        "expect_column_values_to_not_be_in_set",
        "expect_column_values_to_match_regex",
        "expect_column_values_to_not_match_regex",
        "expect_column_values_to_match_regex_list",
        "expect_column_values_to_not_match_regex_list",
        "expect_column_values_to_match_like_pattern",
        "expect_column_values_to_not_match_like_pattern",
        "expect_column_values_to_match_like_pattern_list",
        "expect_column_values_to_not_match_like_pattern_list",
        "expect_column_values_to_match_strftime_format",
        "expect_column_values_to_be_dateutil_parseable",
        "expect_column_values_to_be_json_parseable",
        "expect_column_values_to_match_json_schema",
        "expect_column_value_lengths_to_be_between",
        "expect_column_value_lengths_to_equal",
        "expect_column_pair_values_to_be_equal",
        "expect_column_pair_values_a_to_be_greater_than_b",
        "expect_column_pair_values_to_be_in_set",
        "expect_multicolumn_sum_to_equal",
        "expect_multicolumn_values_to_be_equal",
        "expect_select_column_values_to_be_unique_within_record",
    }
)
# GX metric(s) each supported aggregate needs, computed here from the whole stream.
AGGREGATE_METRICS: dict[str, tuple[str, ...]] = {
    "expect_table_row_count_to_be_between": ("table.row_count",),
    "expect_table_row_count_to_equal": ("table.row_count",),
    "expect_table_column_count_to_be_between": ("table.column_count",),
    "expect_table_column_count_to_equal": ("table.column_count",),
    "expect_table_columns_to_match_set": ("table.columns",),
    "expect_table_columns_to_match_ordered_list": ("table.columns",),
    "expect_column_to_exist": ("table.columns",),
    "expect_column_mean_to_be_between": ("column.mean",),
    "expect_column_sum_to_be_between": ("column.sum",),
    "expect_column_stdev_to_be_between": ("column.standard_deviation",),
    "expect_column_min_to_be_between": ("column.min",),
    "expect_column_max_to_be_between": ("column.max",),
    "expect_column_proportion_of_non_null_values_to_be_between": ("column.non_null_proportion",),
    "expect_column_unique_value_count_to_be_between": ("column.distinct_values.count",),
    "expect_column_proportion_of_unique_values_to_be_between": ("column.unique_proportion",),
    "expect_column_values_to_be_unique": ("column_values.unique",),
    "expect_column_distinct_values_to_be_in_set": ("column.distinct_values.not_in_set",),
    "expect_column_distinct_values_to_contain_set": ("column.distinct_values.missing",),
    "expect_column_distinct_values_to_equal_set": (
        "column.distinct_values.not_in_set",
        "column.distinct_values.missing",
    ),
    "expect_column_most_common_value_to_be_in_set": ("column.most_common_value",),
}
_NEEDS = {  # what a column keeps for each metric
    "column.mean": "moments",
    "column.sum": "moments",
    "column.standard_deviation": "moments",
    "column.min": "minmax",
    "column.max": "minmax",
    "column.distinct_values.count": "hashes",
    "column.unique_proportion": "hashes",
    "column_values.unique": "hashes",
    "column.distinct_values.not_in_set": "values",
    "column.distinct_values.missing": "values",
    "column.most_common_value": "values",
}
MAX_DISTINCT = 20  # GX's MAX_DISTINCT_VALUES: distinct values listed in a result


def batch_mode(spec: ExpectationSpec) -> str | None:
    """'map' (GX per batch, results added up), 'aggregate' (metric streamed here), or None."""
    if spec.type in MAP_TYPES:
        return "map"
    if spec.type in AGGREGATE_METRICS and not spec.kwargs.get("row_condition"):
        return "aggregate"
    return None


def unsupported_reason(spec: ExpectationSpec) -> str:
    if spec.kwargs.get("row_condition") and spec.type in AGGREGATE_METRICS:
        return "a row_condition on an aggregate expectation"
    return "it needs all values (or their order) at once"


class MetricError(Exception):
    """A metric that cannot be computed: a missing column (worded as GX words it), a mean
    of text… The expectation then fails with this message, as GX's would."""


@dataclass
class Moments:
    """Count, sum, mean and M2 (sum of squared deviations), combined batch by batch with
    Chan et al.'s parallel formula, so the variance stays exact without a second pass."""

    n: int = 0
    total: Any = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: pa.Array) -> None:
        import pyarrow.compute as pc

        count = len(values)
        if count == 0:
            return
        batch_sum = pc.sum(values).as_py()
        batch_mean = batch_sum / count
        batch_m2 = pc.variance(values, ddof=0).as_py() * count
        delta = batch_mean - self.mean
        n = self.n + count
        self.mean += delta * count / n
        self.m2 += batch_m2 + delta * delta * self.n * count / n
        self.n = n
        self.total += batch_sum


@dataclass
class HashCounts:
    """How often each distinct value occurs, by 64-bit hash, merged every few million rows
    so memory follows the number of distinct values, not of rows."""

    keys: Any = None  # sorted unique hashes (numpy uint64)
    counts: Any = None  # occurrences of each
    pending: list[Any] = field(default_factory=list)
    pending_rows: int = 0

    def add(self, values: pa.Array) -> None:
        if len(values):
            self.pending.append(value_hashes(values))
            self.pending_rows += len(values)
            held = 0 if self.keys is None else len(self.keys)
            if self.pending_rows >= max(4_000_000, held // 2):  # amortized: O(n log n)
                self._merge()

    def result(self) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        self._merge()
        if self.keys is None:
            return np.array([], dtype=np.uint64), np.array([], dtype=np.int64)
        return self.keys, self.counts

    def _merge(self) -> None:
        """Fold the pending hashes into the sorted (hash, count) arrays."""
        import numpy as np

        if not self.pending:
            return
        keys, counts = np.unique(np.concatenate(self.pending), return_counts=True)
        self.pending, self.pending_rows = [], 0
        if self.keys is not None:
            keys = np.concatenate([self.keys, keys])
            counts = np.concatenate([self.counts, counts])
            order = np.argsort(keys, kind="stable")  # two sorted runs: a linear merge
            keys, counts = keys[order], counts[order]
            del order
            starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
            keys, counts = keys[starts], np.add.reduceat(counts, starts)
        self.keys, self.counts = keys, counts.astype(np.int64)


def value_hashes(values: pa.Array) -> np.ndarray:
    """64-bit hashes of non-null values; ints and floats hashed as int64 / float64 so a
    column whose type differs between files hashes alike."""
    import pandas as pd
    import pyarrow as pa

    if pa.types.is_integer(values.type):
        values = values.cast(pa.int64())
    elif pa.types.is_floating(values.type):
        values = values.cast(pa.float64())
    return pd.util.hash_array(values.to_numpy(zero_copy_only=False))


@dataclass
class ColumnStats:
    needs: set[str]
    rows: int = 0
    nulls: int = 0
    moments: Moments = field(default_factory=Moments)
    low: Any = None
    high: Any = None
    values: Counter[Any] = field(default_factory=Counter)
    hashes: HashCounts = field(default_factory=HashCounts)
    errors: dict[str, str] = field(default_factory=dict)  # need → why it failed

    def add(self, column: pa.ChunkedArray) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc

        array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        present = pc.invert(pc.is_null(array, nan_is_null=True))  # NaN is missing, as in pandas
        values = array.filter(present)
        self.rows += len(array)
        self.nulls += len(array) - len(values)
        updates = {
            "moments": self._add_moments,
            "minmax": self._add_minmax,
            "values": self._add_values,
            "hashes": self.hashes.add,
        }
        for need, update in updates.items():
            if need in self.needs and need not in self.errors:
                try:
                    update(values)
                except (pa.ArrowException, TypeError, ValueError) as exc:  # a mean of text…
                    self.errors[need] = f"{type(exc).__name__}: {exc}"

    def _add_moments(self, values: pa.Array) -> None:
        import pyarrow as pa

        self.moments.add(values.cast(pa.int8()) if pa.types.is_boolean(values.type) else values)

    def _add_minmax(self, values: pa.Array) -> None:
        import pyarrow.compute as pc

        if len(values):
            bounds = pc.min_max(values).as_py()
            self.low = bounds["min"] if self.low is None else min(self.low, bounds["min"])
            self.high = bounds["max"] if self.high is None else max(self.high, bounds["max"])

    def _add_values(self, values: pa.Array) -> None:
        import pyarrow.compute as pc

        for item in pc.value_counts(values).to_pylist():
            self.values[item["values"]] += item["counts"]


class TableStats:
    """Everything the aggregate expectations of a suite need, fed one batch at a time."""

    def __init__(self, specs: list[ExpectationSpec]) -> None:
        self.rows = 0
        self.columns: list[str] = []
        self.column_needs: dict[str, set[str]] = {}
        for spec in specs:
            for metric in AGGREGATE_METRICS[spec.type]:
                if spec.column is not None and metric in _NEEDS:
                    self.column_needs.setdefault(spec.column, set()).add(_NEEDS[metric])
                elif spec.column is not None:
                    self.column_needs.setdefault(spec.column, set())
        self.stats: dict[str, ColumnStats] = {}

    def add(self, table: pa.Table) -> None:
        if not self.columns:
            self.columns = list(table.column_names)
        self.rows += table.num_rows
        for name, needs in self.column_needs.items():
            if name in table.column_names:
                self.stats.setdefault(name, ColumnStats(needs)).add(table[name])

    def metrics(self, spec: ExpectationSpec) -> dict[str, Any]:
        """The GX metrics `spec`'s `_validate` reads, with their global values."""
        out: dict[str, Any] = {
            "table.row_count": self.rows,
            "table.columns": list(self.columns),
            "table.column_count": len(self.columns),
        }
        column = spec.column
        if column is None or spec.type == "expect_column_to_exist":
            return out
        if column not in self.columns:
            raise MetricError(f'Error: The column "{column}" in BatchData does not exist.')
        stats = self.stats.get(column) or ColumnStats(set())
        for metric in AGGREGATE_METRICS[spec.type]:
            if _NEEDS.get(metric) in stats.errors:
                raise MetricError(stats.errors[_NEEDS[metric]])
        out["column_values.nonnull.unexpected_count"] = stats.nulls
        out["column.non_null_proportion"] = (
            (self.rows - stats.nulls) / self.rows if self.rows else 0
        )
        out.update(_moment_metrics(stats.moments))
        out["column.min"], out["column.max"] = stats.low, stats.high
        if "hashes" in stats.needs:
            out.update(_hash_metrics(stats, self.rows))
        if "values" in stats.needs:
            out.update(_value_metrics(stats.values, spec.kwargs.get("value_set") or []))
        return out

    def duplicate_hashes(self, column: str) -> np.ndarray:
        keys, counts = self.stats[column].hashes.result()
        return keys[counts > 1]


def _moment_metrics(m: Moments) -> dict[str, Any]:
    return {
        "column.sum": m.total,
        "column.mean": m.total / m.n if m.n else None,
        "column.standard_deviation": (m.m2 / (m.n - 1)) ** 0.5 if m.n >= 2 else None,
    }


def _hash_metrics(stats: ColumnStats, rows: int) -> dict[str, Any]:
    _keys, counts = stats.hashes.result()
    distinct = len(counts)
    nonnull = rows - stats.nulls
    return {
        "column.distinct_values.count": distinct,
        "column.unique_proportion": distinct / nonnull if rows > 0 and nonnull else 0,
        "column_values.unique.unexpected_count": int(counts[counts > 1].sum()),
    }


def _value_metrics(values: Counter[Any], value_set: list[Any]) -> dict[str, Any]:
    present = set(values)
    expected = coerce_value_set(present, value_set)
    not_in_set = _sorted(present - expected)
    missing = _sorted(expected - present)
    top = max(values.values(), default=0)
    return {
        "column.distinct_values.not_in_set.count": len(not_in_set),
        "column.distinct_values.not_in_set": not_in_set[:MAX_DISTINCT],
        "column.distinct_values.missing_from_column.count": len(missing),
        "column.distinct_values.missing_from_column": missing[:MAX_DISTINCT],
        "column.most_common_value": _sorted(v for v, n in values.items() if n == top),
    }


def _sorted(items: Any) -> list[Any]:
    items = list(items)
    try:
        return sorted(items)
    except TypeError:  # mixed types
        return sorted(items, key=repr)
