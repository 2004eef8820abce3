"""Validation: Great Expectations suites checked against files, snapshots and run steps.

    from snapkit.validation import validate
    result = validate("raw-v1:emails.parquet", "expectations/spam_raw.json", store=store)
    result.success, result.failed

Modules: `suites` (strict loading), `sources` (what TARGET names, streamed as Arrow),
`batches` + `stats` (bounded-memory validation with global aggregates), `gx` (the only
module that talks to GX), `spark` (`engine="spark"`), `results` (frozen records),
`reports` (text, JUnit, Markdown), `profile` (`snap suite init`), `steps` (a pipeline
step's `expectations:`); the parity modules build on these.
Nothing heavy is imported until a function runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from snapkit.errors import UsageError

if TYPE_CHECKING:
    from snapkit.validation.results import ValidationResult
    from snapkit.validation.sources import StoreArg
    from snapkit.validation.suites import Suite

DEFAULT_BATCH_ROWS = 1_000_000
ENGINES = ("pandas", "spark")

__all__ = ["DEFAULT_BATCH_ROWS", "ENGINES", "init_suite", "validate"]


def validate(
    target: str,
    suite: str | os.PathLike[str] | Suite,
    *,
    store: StoreArg = None,
    path: str | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    memory_limit: int | None = None,
    engine: str = "pandas",
) -> ValidationResult:
    """Check `suite` (a file, or a loaded `Suite`) against TARGET: a local table file or
    folder, SNAP[:PATH], or RUN:STEP[:PATH] (read from `store`, a store or a function
    that opens one, called only when TARGET is not a local path). `path` is a glob that
    picks table files inside a folder or snapshot."""
    from snapkit.validation.sources import resolve_target
    from snapkit.validation.suites import Suite, load_suite

    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}: choose {' or '.join(ENGINES)}")
    source = resolve_target(target, store, path_glob=path)  # cheap: fails before GX loads
    checked = suite if isinstance(suite, Suite) else load_suite(suite)
    if engine == "spark":
        from snapkit.validation.spark import validate_spark

        return validate_spark(checked, source)
    from snapkit.validation.batches import validate_source

    return validate_source(checked, source, batch_rows=batch_rows, memory_limit=memory_limit)


def init_suite(
    data: str, *, store: StoreArg = None, name: str | None = None, path: str | None = None
) -> dict[str, Any]:
    """A starter suite document profiled from DATA (local file or folder, SNAP[:PATH] or
    RUN:STEP[:PATH]); it passes on that data. See `snapkit.validation.profile`."""
    from pathlib import PurePosixPath

    from snapkit.validation.profile import profile_suite
    from snapkit.validation.sources import resolve_target

    source = resolve_target(data, store, path_glob=path)
    default = PurePosixPath(source.files[0].name).stem if len(source.files) == 1 else data
    return profile_suite(source, name or _suite_name(default))


def _suite_name(text: str) -> str:
    import re

    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_") or "suite"
