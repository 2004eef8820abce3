"""Validation results: frozen records with plain JSON values, whatever engine made them.

GX results carry numpy scalars, pandas timestamps and NaN; reports, run records and
`--json` need plain values, so everything is converted once, here (`plain`).
"""

from __future__ import annotations

import datetime
import decimal
import math
from dataclasses import dataclass, field
from typing import Any

from snapkit.validation.suites import ExpectationSpec

SAMPLES = 20  # unexpected values kept per expectation (GX's partial_unexpected_count)
# GX result fields left out: row numbers differ between a whole table and its batches,
# and full lists would make a result as big as the data
DROPPED = {"unexpected_list", "unexpected_rows", "unexpected_index_column_names"}
DROPPED_SUFFIXES = ("index_list", "index_query", "_counts")


@dataclass(frozen=True)
class ExpectationResult:
    type: str
    kwargs: dict[str, Any]
    success: bool
    observed_value: Any = None
    element_count: int | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    missing_count: int | None = None
    partial_unexpected_list: tuple[Any, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)  # other GX result fields
    exception: str | None = None
    label: str = ""  # type(column=…), for reports

    @classmethod
    def from_gx(
        cls, spec: ExpectationSpec, success: bool, result: dict[str, Any]
    ) -> ExpectationResult:
        """From GX's `result` dict of one expectation (any result format)."""
        known = {
            "observed_value",
            "element_count",
            "unexpected_count",
            "unexpected_percent",
            "missing_count",
            "partial_unexpected_list",
        }
        rest = {
            k: plain(v)
            for k, v in result.items()
            if k not in known and k not in DROPPED and not k.endswith(DROPPED_SUFFIXES)
        }
        return cls(
            type=spec.type,
            kwargs=spec.kwargs,
            success=bool(success),
            observed_value=plain(result.get("observed_value")),
            element_count=_int(result.get("element_count")),
            unexpected_count=_int(result.get("unexpected_count")),
            unexpected_percent=plain(result.get("unexpected_percent")),
            missing_count=_int(result.get("missing_count")),
            partial_unexpected_list=tuple(
                plain(v) for v in (result.get("partial_unexpected_list") or [])[:SAMPLES]
            ),
            details=rest,
            label=spec.label,
        )

    @classmethod
    def error(cls, spec: ExpectationSpec, message: str) -> ExpectationResult:
        return cls(spec.type, spec.kwargs, False, exception=message, label=spec.label)

    def to_json(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "kwargs": self.kwargs,
            "success": self.success,
            "observed_value": self.observed_value,
            "element_count": self.element_count,
            "unexpected_count": self.unexpected_count,
            "unexpected_percent": self.unexpected_percent,
            "missing_count": self.missing_count,
            "partial_unexpected_list": list(self.partial_unexpected_list),
            "details": self.details,
            "exception": self.exception,
        }


@dataclass(frozen=True)
class ValidationResult:
    """One suite checked against one target (a file, folder, snapshot or run step)."""

    success: bool
    suite: str
    target: str
    rows: int
    results: tuple[ExpectationResult, ...]
    engine: str = "pandas"
    batches: int = 1
    files: tuple[str, ...] = ()

    @property
    def failed(self) -> tuple[ExpectationResult, ...]:
        return tuple(r for r in self.results if not r.success)

    @property
    def counts(self) -> dict[str, int]:
        failed = len(self.failed)
        return {
            "evaluated": len(self.results),
            "successful": len(self.results) - failed,
            "unsuccessful": failed,
        }

    def summary(self) -> str:
        """One line: `suite spam_raw on X: 2 of 13 expectations failed (a, b)`."""
        if self.success:
            return f"suite {self.suite} passed on {self.target} ({len(self.results)} expectations)"
        names = ", ".join(r.label for r in self.failed[:5])
        more = f" and {len(self.failed) - 5} more" if len(self.failed) > 5 else ""
        return (
            f"suite {self.suite} failed on {self.target}: {len(self.failed)} of "
            f"{len(self.results)} expectations failed ({names}{more})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "suite": self.suite,
            "target": self.target,
            "rows": self.rows,
            "engine": self.engine,
            "batches": self.batches,
            "files": list(self.files),
            "statistics": self.counts,
            "results": [r.to_json() for r in self.results],
        }


def plain(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars → Python, NaN → None, dates → ISO text."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [plain(v) for v in value]
        return sorted(items, key=repr) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    item = getattr(value, "item", None)  # numpy scalars (and pandas NA-likes below)
    if callable(item):
        try:
            return plain(item())
        except (ValueError, TypeError):
            pass
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "tolist"):
        return plain(value.tolist())
    text = str(value)
    return None if text in ("NaT", "<NA>", "nan") else text


def _int(value: Any) -> int | None:
    return None if value is None else int(value)
