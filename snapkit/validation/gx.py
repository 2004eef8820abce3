"""The one adapter to Great Expectations 1.x: everything else in snapkit speaks `Suite`,
`ExpectationSpec` and `ExpectationResult`, never GX objects.

GX runs in an ephemeral context (no project folder, no global state on disk) with its
progress bars off. Each expectation carries its position in the suite in its `meta`, so
results are matched to the suite even though GX may reorder them (failed metrics last).
"""

from __future__ import annotations

import functools
import logging
import warnings
from typing import TYPE_CHECKING, Any

from snapkit.validation.results import SAMPLES, ExpectationResult

if TYPE_CHECKING:
    from snapkit.validation.suites import ExpectationSpec

INDEX_KEY = "snapkit_index"
RESULT_FORMAT: dict[str, Any] = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLES}


@functools.cache
def import_gx() -> Any:
    """`great_expectations`, imported once and quietly: GX pulls in pyspark when it is
    installed, which warns about pandas versions on import, and GX logs on its own.

    Under `python -c`, `pyspark.sql.connect` takes the file-less `__main__` for a doctest
    run and calls sys.exit(0) — a validation that silently "passes". A placeholder
    `__file__` is set on `__main__` while GX imports pyspark."""
    import sys

    main = sys.modules.get("__main__")
    patch = main is not None and getattr(main, "__spec__", None) is None
    patch = patch and not hasattr(main, "__file__")
    if patch:
        main.__file__ = "<string>"  # type: ignore[union-attr]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import great_expectations
    finally:
        if patch:
            del main.__file__  # type: ignore[union-attr]
    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    return great_expectations


def expectation_class(type_name: str) -> type:
    """The GX class for an expectation type (GX's registry); KeyError when it has none."""
    import_gx()  # importing GX registers its expectation classes
    from great_expectations.exceptions import ExpectationNotFoundError
    from great_expectations.expectations.registry import get_expectation_impl

    try:
        return get_expectation_impl(type_name)
    except ExpectationNotFoundError:
        raise KeyError(type_name) from None


def known_types() -> list[str]:
    import_gx()
    from great_expectations.expectations.registry import (
        list_registered_expectation_implementations,
    )

    return sorted(list_registered_expectation_implementations())


def coerce_value_set(present: set[Any], value_set: list[Any]) -> set[Any]:
    """GX's own coercion of an expected value set to a column's type (date strings to
    dates…), as its pandas metrics apply it; plain values with a GX that lacks it."""
    try:
        from great_expectations.expectations.metrics.column_aggregate_metrics.column_distinct_values import (  # noqa: E501
            _coerce_value_set_to_column_type,
        )
    except ImportError:
        return set(value_set)
    return set(_coerce_value_set_to_column_type(present, value_set))


def gx_expectation(spec: ExpectationSpec) -> Any:
    """The GX expectation object for a (checked) spec, tagged with its suite position."""
    cls = expectation_class(spec.type)
    return cls(**spec.kwargs, meta={**spec.meta, INDEX_KEY: spec.index})


class GxEngine:
    """An ephemeral GX context with one dataframe asset: pandas, or Spark."""

    def __init__(self, engine: str = "pandas") -> None:
        gx = import_gx()
        from great_expectations.data_context.types.base import ProgressBarsConfig

        self.gx = gx
        self.context = gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        sources = self.context.data_sources
        source = (
            sources.add_spark("snapkit") if engine == "spark" else sources.add_pandas("snapkit")
        )
        self.batches = source.add_dataframe_asset("table").add_batch_definition_whole_dataframe(
            "whole"
        )

    def validate(self, specs: list[ExpectationSpec], frame: Any) -> dict[int, ExpectationResult]:
        """Run `specs` on a dataframe (pandas or Spark): suite position → result."""
        if not specs:
            return {}
        suite = self.gx.ExpectationSuite(
            name="snapkit", expectations=[gx_expectation(s) for s in specs]
        )
        batch = self.batches.get_batch(batch_parameters={"dataframe": frame})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outcome = batch.validate(suite, result_format=RESULT_FORMAT)
        by_index = {s.index: s for s in specs}
        results: dict[int, ExpectationResult] = {}
        for item in outcome.results:
            spec = by_index[int(item.expectation_config.meta[INDEX_KEY])]
            results[spec.index] = convert(spec, item.success, item.result, item.exception_info)
        return results


def convert(spec: ExpectationSpec, success: Any, result: Any, exception: Any) -> ExpectationResult:
    """One GX expectation result → an ExpectationResult (an exception makes it failed)."""
    info = _exception_info(exception)
    if info is not None:
        return ExpectationResult.error(spec, info)
    return ExpectationResult.from_gx(spec, bool(success), dict(result or {}))


def evaluate(spec: ExpectationSpec, metrics: dict[str, Any]) -> ExpectationResult:
    """GX's own verdict for `spec` given metric values computed elsewhere (streamed over
    batches): the same `_validate` GX runs after computing the metrics itself."""
    expectation = gx_expectation(spec)
    try:
        outcome = expectation._validate(
            metrics=metrics, runtime_configuration={"result_format": dict(RESULT_FORMAT)}
        )
    except Exception as exc:  # as GX's catch_exceptions: the expectation fails, with why
        return ExpectationResult.error(spec, f"{type(exc).__name__}: {exc}")
    return convert(spec, outcome.get("success"), outcome.get("result"), None)


def map_metrics(spec: ExpectationSpec, parts: list[ExpectationResult]) -> dict[str, Any]:
    """The metrics of a row-level expectation over all batches, from each batch's result."""
    expectation = gx_expectation(spec)
    rows = sum(p.element_count or 0 for p in parts)
    missing = sum(p.missing_count or 0 for p in parts)
    samples: list[Any] = []
    for p in parts:
        samples.extend(p.partial_unexpected_list[: SAMPLES - len(samples)])
    metric = expectation.map_metric
    return {
        "table.row_count": rows,
        "column_values.nonnull.unexpected_count": missing,
        f"{metric}.unexpected_count": sum(p.unexpected_count or 0 for p in parts),
        f"{metric}.unexpected_values": samples,
        f"{metric}.filtered_row_count": rows - missing,
    }


def _exception_info(info: Any) -> str | None:
    if not info:
        return None
    if hasattr(info, "to_json_dict"):
        info = info.to_json_dict()
    if isinstance(info, dict) and "raised_exception" not in info:
        # several metrics failed: {metric id: info}
        messages = [_exception_info(v) for v in info.values()]
        return "; ".join(dict.fromkeys(m for m in messages if m)) or None
    if isinstance(info, dict) and info.get("raised_exception"):
        return str(info.get("exception_message") or "GX raised an exception")
    return None
