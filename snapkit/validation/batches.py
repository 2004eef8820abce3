"""Validating a table in batches, so data bigger than memory is checked with bounded memory.

Data that fits one batch is handed to GX whole: its result is GX's, for every expectation
type. Otherwise each batch of `batch_rows` rows goes through GX for the row-level
expectations, whose counts and samples are added up; aggregate expectations get their
global metric from `stats.TableStats`, streamed alongside; then GX evaluates each
expectation on the combined metrics. The result equals GX's on the whole table (tested),
except for float rounding in means and deviations. A suite with an expectation that has
no batch form (a median, say) is refused on data larger than one batch rather than given
a per-batch answer; `stats.py` lists what is supported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from snapkit.errors import InvalidSuite
from snapkit.validation.gx import GxEngine, evaluate, map_metrics
from snapkit.validation.results import SAMPLES, ExpectationResult, ValidationResult
from snapkit.validation.stats import (
    MetricError,
    TableStats,
    batch_mode,
    unsupported_reason,
    value_hashes,
)
from snapkit.validation.suites import ExpectationSpec, Suite

if TYPE_CHECKING:
    import pyarrow as pa

    from snapkit.validation.sources import TableSource

from snapkit.validation import DEFAULT_BATCH_ROWS


def validate_source(
    suite: Suite,
    source: TableSource,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    memory_limit: int | None = None,
) -> ValidationResult:
    """Check `suite` against every row of `source`, `batch_rows` rows at a time (fewer when
    `memory_limit`, in bytes, asks for it)."""
    rows = max(1, batch_rows)
    if memory_limit is not None:
        rows = min(rows, source.rows_for_memory(memory_limit))
    stream = source.batches(rows)
    first = next(stream)
    second = next(stream, None)
    engine = GxEngine()
    if second is None:
        results = engine.validate(list(suite.expectations), to_pandas(first))
        return assemble(suite, source, first.num_rows, results, batches=1)
    _refuse_unsupported(suite, rows)
    head = [first, second]
    del first, second  # held only by `head` from here, so each is freed once validated
    return _validate_batches(suite, source, _drain(head, stream), engine, rows)


def _drain(head: list[pa.Table], rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    while head:
        yield head.pop(0)
    yield from rest


def to_pandas(table: pa.Table) -> Any:
    """The pandas frame GX sees; the same conversion for a batch and for a whole table."""
    return table.to_pandas()


def assemble(
    suite: Suite,
    source: TableSource,
    rows: int,
    results: dict[int, ExpectationResult],
    *,
    batches: int,
    engine: str = "pandas",
) -> ValidationResult:
    ordered = tuple(results[s.index] for s in suite.expectations)
    return ValidationResult(
        success=all(r.success for r in ordered),
        suite=suite.name,
        target=source.target,
        rows=rows,
        results=ordered,
        engine=engine,
        batches=batches,
        files=tuple(f.name for f in source.files),
    )


def _refuse_unsupported(suite: Suite, rows: int) -> None:
    unsupported = [s for s in suite.expectations if batch_mode(s) is None]
    if unsupported:
        first = unsupported[0]
        names = ", ".join(s.label for s in unsupported)
        raise InvalidSuite(
            f"suite {suite.name}: {names} cannot be checked batch by batch "
            f"({unsupported_reason(first)}), and the data has more than {rows:,} rows",
            hint="raise --batch-rows (or --memory-limit) to validate it whole, "
            "or use --engine spark",
        )


def _validate_batches(
    suite: Suite,
    source: TableSource,
    tables: Iterator[pa.Table],
    engine: GxEngine,
    rows_per_batch: int,
) -> ValidationResult:
    maps = [s for s in suite.expectations if batch_mode(s) == "map"]
    aggregates = [s for s in suite.expectations if batch_mode(s) == "aggregate"]
    stats = TableStats(aggregates)
    parts: dict[int, list[ExpectationResult]] = defaultdict(list)
    broken: dict[int, ExpectationResult] = {}  # raised in some batch: reported as is
    batches = 0
    for table in tables:
        batches += 1
        stats.add(table)
        active = [s for s in maps if s.index not in broken]
        for index, result in engine.validate(active, to_pandas(table)).items():
            if result.exception is not None:
                broken[index] = result
            else:
                parts[index].append(result)
        del table
    results = {
        s.index: broken.get(s.index) or evaluate(s, map_metrics(s, parts[s.index])) for s in maps
    }
    for spec in aggregates:
        results[spec.index] = _aggregate(spec, stats, source, rows_per_batch)
    return assemble(suite, source, stats.rows, results, batches=batches)


def _aggregate(
    spec: ExpectationSpec, stats: TableStats, source: TableSource, rows: int
) -> ExpectationResult:
    try:
        metrics = stats.metrics(spec)
    except MetricError as exc:
        return ExpectationResult.error(spec, str(exc))
    if spec.type == "expect_column_values_to_be_unique":
        metrics["column_values.unique.unexpected_values"] = (
            _duplicate_samples(source, spec.column or "", stats, rows)
            if metrics["column_values.unique.unexpected_count"]
            else []
        )
    return evaluate(spec, metrics)


def _duplicate_samples(source: TableSource, column: str, stats: TableStats, rows: int) -> list[Any]:
    """The first values (in row order) that occur more than once: a second pass over the
    data, made only when uniqueness failed, to show what GX would show."""
    import numpy as np
    import pyarrow.compute as pc

    duplicated = stats.duplicate_hashes(column)
    samples: list[Any] = []
    for table in source.batches(rows):
        array = table[column].combine_chunks()
        values = array.filter(pc.invert(pc.is_null(array, nan_is_null=True)))
        hits = np.nonzero(np.isin(value_hashes(values), duplicated))[0][: SAMPLES - len(samples)]
        samples.extend(values.take(hits).to_pylist())
        if len(samples) >= SAMPLES:
            break
    return samples
