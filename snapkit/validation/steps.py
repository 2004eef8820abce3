"""Pipeline integration: a step's `expectations:` checked on the outputs it just made.

    steps:
      preprocess:
        outs: [data/features]
        expectations: {data/features/features.parquet: ../../expectations/spam_features.json}
        on_fail: error        # or warn

The runner calls `check_outputs` after a step succeeded and its outputs were snapshotted.
Files are read from that outputs snapshot in the store (what was recorded, not what the
folder holds by now). Each check becomes a plain dict in the step's run record; a
failure (or a suite that cannot be used, or a missing file) becomes one message naming
the suite, the file and the failed expectations, which the runner turns into a failed
step (`on_fail: error`) or a warning (`warn`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from snapkit.errors import SnapError
from snapkit.validation.sources import SnapshotReader

MAX_NAMED = 3  # failed expectations named in the message, per suite


def check_outputs(
    store: SnapshotReader,
    expectations: dict[str, str],
    outputs: str,
    root: Path,
    step_ref: str = "",
) -> tuple[list[dict[str, Any]], str | None]:
    """Validate each `{output file: suite path}` on snapshot `outputs` → (records, problem).

    Suite paths are relative to the pipeline folder `root`. `problem` is None when every
    suite passed; `step_ref` (RUN:STEP) goes into the hint for the full report."""
    from snapkit.validation import validate

    records: list[dict[str, Any]] = []
    problems: list[str] = []
    for file, suite_path in expectations.items():
        try:
            result = validate(f"{outputs}:{file}", root / suite_path, store=store)
        except SnapError as exc:
            records.append({"file": file, "suite": suite_path, "success": False, "error": str(exc)})
            problems.append(f"{file} against {suite_path}: {exc}")
            continue
        records.append(
            {
                "file": file,
                "suite": suite_path,
                "suite_name": result.suite,
                "success": result.success,
                "rows": result.rows,
                **result.counts,
                "failed": [r.label for r in result.failed],
            }
        )
        if not result.success:
            shown = os.path.relpath(root / suite_path)  # for the command in the hint
            problems.append(_failure(result.suite, file, shown, result.failed, step_ref))
    if not problems:
        return records, None
    return records, "failed its expectations: " + "; ".join(problems)


def _failure(suite: str, file: str, path: str, failed: Any, step_ref: str) -> str:
    names = ", ".join(r.label for r in failed[:MAX_NAMED])
    more = f" and {len(failed) - MAX_NAMED} more" if len(failed) > MAX_NAMED else ""
    see = f" (report: snap validate {step_ref}:{file} --suite {path})" if step_ref else ""
    return f"suite {suite} on {file}: {len(failed)} failed ({names}{more}){see}"
