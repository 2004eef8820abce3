"""Drift of each feature between two tables (experiment and production outputs of a step).

Categorical columns (strings, booleans, dictionaries, or `kind: categorical`): the
L-infinity distance between the two category-share vectors, nulls being a category. It
reads as "the largest change in the share of any one category", so a remapped category
shows up as the share it moved. Numeric columns: the Jensen-Shannon divergence (base 2,
so it lies in [0, 1]) of the two histograms, each side cut into `bins` equal bins over its
own range and both counted over the union of those edges (plus one bin for nulls and
non-finite values): neither side's range hides the other's shape.

Both tables are streamed column batch by column batch from the store, twice (ranges and
category counts, then histograms): memory holds counts, never the table.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from snapkit.validation.table_stream import Opener, iter_batches, table_schema
from snapkit.validation.thresholds import Thresholds

if TYPE_CHECKING:
    import numpy as np
    import pyarrow as pa

MAX_CATEGORIES = 100_000  # beyond this a column is not categorical in any useful sense
PLOT_CATEGORIES = 24  # the most changed/largest categories plotted; the rest as "(other)"


@dataclass(frozen=True)
class Distribution:
    """Both sides' shares of all rows, per category or per bin (what the plot shows)."""

    labels: tuple[str, ...]  # categories; for numeric columns, empty (see edges)
    edges: tuple[float, ...]  # numeric: bin edges, one more than the shares
    experiment: tuple[float, ...]
    production: tuple[float, ...]
    experiment_null: float = 0.0
    production_null: float = 0.0


@dataclass(frozen=True)
class ColumnDrift:
    path: str  # the table file, relative to the step's outputs
    column: str
    kind: str  # categorical | numeric
    metric: str  # linf | js
    value: float | None  # None: not measured (see note)
    threshold: float
    passed: bool
    experiment_rows: int = 0
    production_rows: int = 0
    distribution: Distribution | None = None
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Side:
    """What one pass over one side has counted so far."""

    rows: int = 0
    categories: dict[str, Counter[str]] = field(default_factory=dict)
    nulls: Counter[str] = field(default_factory=Counter)
    low: dict[str, float] = field(default_factory=dict)
    high: dict[str, float] = field(default_factory=dict)
    histograms: dict[str, Any] = field(default_factory=dict)  # column → counts per bin
    too_many: set[str] = field(default_factory=set)


def measure_drift(
    path: str,
    experiment: Opener,
    production: Opener,
    *,
    key: str | None,
    thresholds: Thresholds,
) -> tuple[ColumnDrift, ...]:
    """Drift of every column of table `path` (the key and skipped columns aside)."""
    schema_e, schema_p = table_schema(experiment, path), table_schema(production, path)
    kinds: dict[str, str] = {}
    out: list[ColumnDrift] = []
    for name in dict.fromkeys([*schema_e.names, *schema_p.names]):
        rule = thresholds.rule(name)
        if name == key or rule.skip:
            continue
        if name not in schema_e.names or name not in schema_p.names:
            side = "experiment" if name in schema_e.names else "production"
            out.append(_one_sided(path, name, side, thresholds))
            continue
        kind = rule.kind or column_kind(schema_e.field(name).type)
        if kind is None:
            continue  # nested values (lists, structs) have no distribution to compare
        kinds[name] = kind
    sides = [_first_pass(o, path, kinds) for o in (experiment, production)]
    integers = {n for n in kinds if _is_integer(schema_e.field(n).type, schema_p.field(n).type)}
    edges = {
        c: union_edges(sides, c, thresholds.bins, integer=c in integers)
        for c, k in kinds.items()
        if k == "numeric"
    }
    for opener, side in zip((experiment, production), sides, strict=True):
        _second_pass(opener, path, edges, side)
    for name, kind in kinds.items():
        out.append(
            _column_result(path, name, kind, sides[0], sides[1], edges.get(name), thresholds)
        )
    return tuple(out)


def column_kind(dtype: pa.DataType) -> str | None:
    import pyarrow as pa

    t = pa.types
    if t.is_integer(dtype) or t.is_floating(dtype) or t.is_decimal(dtype) or t.is_temporal(dtype):
        return "numeric"
    if t.is_nested(dtype):
        return None
    return "categorical"


# -- the two passes --------------------------------------------------------------------


def _first_pass(opener: Opener, path: str, kinds: dict[str, str]) -> _Side:
    """Row count, category counts and numeric ranges."""
    side = _Side()
    for batch in iter_batches(opener, path, list(kinds) or None):
        side.rows += batch.num_rows
        for name, kind in kinds.items():
            column = batch.column(name)
            if kind == "categorical":
                _count_categories(side, name, column)
            else:
                values = _finite(column)
                side.nulls[name] += len(column) - len(values)
                if len(values):
                    side.low[name] = min(side.low.get(name, values.min()), values.min())
                    side.high[name] = max(side.high.get(name, values.max()), values.max())
    return side


def _count_categories(side: _Side, name: str, column: pa.Array) -> None:
    import pyarrow as pa
    import pyarrow.compute as pc

    side.nulls[name] += column.null_count
    if name in side.too_many:
        return
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    counts = pc.value_counts(column.drop_null())
    values = pc.cast(counts.field("values"), pa.string()).to_pylist()
    tally = side.categories.setdefault(name, Counter())
    tally.update(dict(zip(values, counts.field("counts").to_pylist(), strict=True)))
    if len(tally) > MAX_CATEGORIES:
        side.too_many.add(name)
        side.categories[name] = Counter()  # memory back; the column is reported unmeasured


def _second_pass(opener: Opener, path: str, edges: dict[str, Any], side: _Side) -> None:
    """Histogram counts of the numeric columns over the union edges."""
    import numpy as np

    if not edges:
        return
    for batch in iter_batches(opener, path, list(edges)):
        for name, bins in edges.items():
            counts, _ = np.histogram(_finite(batch.column(name)), bins=bins)
            side.histograms[name] = side.histograms.get(name, 0) + counts


def _finite(column: pa.Array) -> np.ndarray:
    """A numeric column as float64, without nulls, NaN and infinities."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_temporal(column.type):
        column = pc.cast(column, pa.int64())
    values = pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False)
    return values[np.isfinite(values)]


def _is_integer(*types: pa.DataType) -> bool:
    import pyarrow as pa

    return all(pa.types.is_integer(t) for t in types)


def union_edges(sides: list[_Side], name: str, bins: int, *, integer: bool = False) -> np.ndarray:
    """Each side's equal-width edges over its own range, merged into one sorted set.

    For integers the edges sit between whole numbers (widths whole too), so no bin holds
    one more possible value than its neighbour: a flat histogram looks flat."""
    import numpy as np

    parts = []
    for side in sides:
        if name not in side.low:
            continue
        low, high = side.low[name], side.high[name]
        if integer:
            step = max(1, int(np.ceil((high - low + 1) / bins)))
            count = int(np.ceil((high - low + 1) / step))
            parts.append(low - 0.5 + step * np.arange(count + 1))
        else:
            if low == high:
                low, high = low - 0.5, high + 0.5
            parts.append(np.linspace(low, high, int(bins) + 1))
    return np.unique(np.concatenate(parts)) if parts else np.array([0.0, 1.0])


# -- the measures -------------------------------------------------------------------------


def linf_distance(p: dict[str, float], q: dict[str, float]) -> float:
    """Largest difference of any category's share (0: same shares, 1: disjoint)."""
    return max((abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q)), default=0.0)


def js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence of two count vectors over the same bins, base 2: [0, 1]."""
    import numpy as np

    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    if p.sum() == 0 or q.sum() == 0:
        return 0.0 if p.sum() == q.sum() else 1.0
    p, q = p / p.sum(), q / q.sum()
    m = (p + q) / 2

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    return min(max(0.5 * kl(p) + 0.5 * kl(q), 0.0), 1.0)


def _column_result(
    path: str,
    name: str,
    kind: str,
    exp: _Side,
    prod: _Side,
    edges: Any,
    thresholds: Thresholds,
) -> ColumnDrift:
    rule = thresholds.rule(name)
    metric, limit = ("linf", rule.linf) if kind == "categorical" else ("js", rule.js)
    rows = {"experiment_rows": exp.rows, "production_rows": prod.rows}
    if name in exp.too_many or name in prod.too_many:
        note = f"more than {MAX_CATEGORIES} categories: not measured (set kind or skip)"
        return ColumnDrift(path, name, kind, metric, None, limit, True, **rows, note=note)
    if kind == "categorical":
        value, dist = _categorical(name, exp, prod)
    else:
        value, dist = _numeric(name, exp, prod, edges)
    return ColumnDrift(
        path, name, kind, metric, value, limit, value <= limit, **rows, distribution=dist
    )


def _categorical(name: str, exp: _Side, prod: _Side) -> tuple[float, Distribution]:
    shares = [
        _shares(s.categories.get(name, Counter()), s.nulls[name], s.rows) for s in (exp, prod)
    ]
    one_empty = (exp.rows == 0) != (prod.rows == 0)
    value = 1.0 if one_empty else linf_distance(shares[0], shares[1])
    order = sorted(
        (k for k in set(shares[0]) | set(shares[1]) if k is not None),
        key=lambda k: (-max(shares[0].get(k, 0.0), shares[1].get(k, 0.0)), k),
    )
    shown, rest = order[:PLOT_CATEGORIES], order[PLOT_CATEGORIES:]
    labels = [*shown, *([f"(other {len(rest)})"] if rest else [])]

    def row(s: dict[Any, float]) -> tuple[float, ...]:
        other = sum(s.get(k, 0.0) for k in rest)
        return (*(s.get(k, 0.0) for k in shown), *([other] if rest else []))

    dist = Distribution(
        tuple(labels),
        (),
        row(shares[0]),
        row(shares[1]),
        shares[0].get(None, 0.0),
        shares[1].get(None, 0.0),
    )
    return value, dist


def _shares(counts: Counter[str], nulls: int, rows: int) -> dict[Any, float]:
    """Category → share of all rows; nulls under the key None."""
    if rows == 0:
        return {}
    out: dict[Any, float] = {k: v / rows for k, v in counts.items()}
    if nulls:
        out[None] = nulls / rows
    return out


def _numeric(name: str, exp: _Side, prod: _Side, edges: Any) -> tuple[float, Distribution]:
    import numpy as np

    bins = len(edges) - 1
    counts = [
        np.append(np.asarray(s.histograms.get(name, np.zeros(bins)), dtype=float), s.nulls[name])
        for s in (exp, prod)
    ]
    value = js_divergence(counts[0], counts[1])

    def share(c: np.ndarray, rows: int) -> tuple[float, ...]:
        return tuple(float(x) / rows if rows else 0.0 for x in c)

    e, p = share(counts[0], exp.rows), share(counts[1], prod.rows)
    dist = Distribution((), tuple(float(x) for x in edges), e[:-1], p[:-1], e[-1], p[-1])
    return value, dist


def _one_sided(path: str, name: str, side: str, thresholds: Thresholds) -> ColumnDrift:
    rule = thresholds.rule(name)
    return ColumnDrift(
        path,
        name,
        rule.kind or "categorical",
        "linf",
        None,
        rule.linf,
        False,
        note=f"column only in the {side} output",
    )
