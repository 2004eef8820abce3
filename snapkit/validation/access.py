"""What parity needs from a store, as a narrow interface (a `snapkit.api.Store` fits it).

The validation layer sits below the pipeline layer: it reads run and step records as
plain values and is handed the store operations and the step runner it uses, so it never
imports the pipeline machinery or the API.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from snapkit.pipeline.records import RunRecord, StepRecord
    from snapkit.snapshot.model import FileEntry

Output = Callable[[str], None]
# runs a recorded step's command in a folder (snapkit.pipeline.replay.run_command)
RunStep = Callable[["StepRecord", Path, Output], int]
# a run → per step, output file → expectation suite path (from the run's pipeline spec)
StepSuites = Callable[["RunRecord"], dict[str, dict[str, str]]]


class StoreAccess(Protocol):
    def ls(self, spec: str, path: str | None = None) -> list[FileEntry]: ...

    def open(self, spec: str, path: str | None = None) -> BinaryIO: ...

    def restore(
        self, spec: str, target: str | os.PathLike[str] | None = None, **options: Any
    ) -> Any: ...

    def validate(self, target: str, suite: str) -> Any:
        """Run an expectation suite on TARGET (here RUN:STEP:PATH); a result with
        `.success` and `.to_json()` (`snapkit.validation.results.ValidationResult`)."""
        ...


def overlaps(a: str, b: str) -> bool:
    """Two paths touch: equal, or one inside the other."""
    return a == b or a.startswith(b + "/") or b.startswith(a + "/")


def data_deps(run: RunRecord, step: StepRecord) -> tuple[str, ...]:
    """The deps of `step` that other steps of `run` write (data); the others are code."""
    made = [o for s in run.steps if s.name != step.name for o in s.outs]
    return tuple(d for d in step.deps if any(overlaps(d, o) for o in made))


def under(entries: list[FileEntry], prefix: str) -> list[FileEntry]:
    return [e for e in entries if e.path == prefix or e.path.startswith(prefix + "/")]
