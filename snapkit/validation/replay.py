"""Replay: the experiment's recorded step, run on a sample of production's inputs.

The experiment step's inputs snapshot (its code, and its data) is restored into a
temporary folder; the data deps are then replaced by a key-hash sample of production's
inputs, read straight from the store and written at the same relative paths; and the
recorded command runs there with the experiment's params. Its outputs are compared with
what production's step made for the same keys (`skew.compare_table`). Any difference is
feature skew: production does not compute the features the model was trained on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from snapkit.errors import UsageError
from snapkit.validation.access import Output, RunStep, StoreAccess, data_deps, under
from snapkit.validation.sampling import BottomK, add_keys, sampled_batches
from snapkit.validation.skew import ColumnSkew, TableSkew, compare_table
from snapkit.validation.table_stream import Opener, is_table, table_schema, write_batches
from snapkit.validation.thresholds import Thresholds

if TYPE_CHECKING:
    from snapkit.pipeline.records import RunRecord, StepRecord
    from snapkit.snapshot.model import FileEntry

LOG_TAIL = 20


@dataclass(frozen=True)
class SampledInput:
    path: str
    rows: int  # rows written to the replay folder (the whole file when it has no key)
    sampled: bool  # False: copied whole (not a table, or no key column)


@dataclass(frozen=True)
class ReplayResult:
    step: str
    sample: int  # keys asked for
    keys: int  # distinct keys in the sample
    inputs: tuple[SampledInput, ...]
    exit_code: int | None  # None: the command did not run (see note)
    tables: tuple[TableSkew, ...]
    columns: tuple[ColumnSkew, ...]
    log_tail: tuple[str, ...] = ()
    note: str = ""

    @property
    def passed(self) -> bool:
        return (
            self.exit_code == 0
            and bool(self.tables)
            and all(t.passed for t in self.tables)
            and all(c.passed for c in self.columns)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "tables": [t.to_json() for t in self.tables],
            "columns": [c.to_json() for c in self.columns],
            "passed": self.passed,
        }


def replay_step(
    store: StoreAccess,
    run_step: RunStep,
    experiment: RunRecord,
    production: RunRecord,
    step: str,
    *,
    key: str,
    sample: int,
    thresholds: Thresholds,
    output: Output | None = None,
) -> ReplayResult:
    e, p = experiment.step(step), production.step(step)
    assert e.inputs and p.inputs and p.outputs  # checked by the caller (steps that ran)
    base = {"step": step, "sample": sample}
    deps = data_deps(experiment, e)
    inputs = under_any(store.ls(p.inputs), deps)
    keyed = [x.path for x in inputs if x.kind == "file" and _has_key(store, p.inputs, x, key)]
    if not keyed:
        columns = sorted({c for x in inputs if x.table for c in x.table.columns})
        raise UsageError(
            f"--key {key}: no table among production's data inputs of step {step} "
            f"({', '.join(deps) or 'none'}) has that column",
            hint=f"their columns: {', '.join(columns) or '(no tables)'}",
        )
    chosen = BottomK(sample)
    for path in keyed:
        add_keys(chosen, _opener(store, p.inputs, path), path, key)
    cutoff = chosen.cutoff
    if cutoff is None:
        note = "production's data inputs hold no rows with a key"
        return ReplayResult(
            **base, keys=0, inputs=(), exit_code=None, tables=(), columns=(), note=note
        )
    with tempfile.TemporaryDirectory(prefix=f"snap-parity-{step}-") as tmp:
        folder = Path(tmp)
        store.restore(e.inputs, folder)
        written = _replace_data(store, folder, p.inputs, deps, inputs, set(keyed), key, cutoff)
        log: list[str] = []
        code = run_step(e, folder, _tee(log, output))
        tail = tuple(log[-LOG_TAIL:])
        if code != 0:
            note = f"the experiment's command exited with code {code} on the sample"
            return ReplayResult(
                **base,
                keys=len(chosen.kept),
                inputs=written,
                exit_code=code,
                tables=(),
                columns=(),
                log_tail=tail,
                note=note,
            )
        tables, columns = _compare(store, folder, p, e, key, cutoff, thresholds)
    return ReplayResult(
        **base,
        keys=len(chosen.kept),
        inputs=written,
        exit_code=code,
        tables=tables,
        columns=columns,
        log_tail=tail,
    )


def under_any(entries: list[FileEntry], prefixes: tuple[str, ...]) -> list[FileEntry]:
    return [x for prefix in prefixes for x in under(entries, prefix)]


def _opener(store: StoreAccess, snapshot: str, path: str) -> Opener:
    return lambda: store.open(snapshot, path)


def _has_key(store: StoreAccess, snapshot: str, entry: FileEntry, key: str) -> bool:
    if not is_table(entry.path):
        return False
    if entry.table is not None and entry.table.columns:
        return key in entry.table.columns
    return key in table_schema(_opener(store, snapshot, entry.path), entry.path).names


def _replace_data(
    store: StoreAccess,
    folder: Path,
    snapshot: str,
    deps: tuple[str, ...],
    entries: list[FileEntry],
    keyed: set[str],
    key: str,
    cutoff: int,
) -> tuple[SampledInput, ...]:
    """Swap the experiment's data deps in `folder` for production's, sampled by key."""
    for dep in deps:
        target = folder / dep
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif os.path.lexists(target):
            target.unlink()
    written = []
    for entry in entries:
        target = folder / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        opener = _opener(store, snapshot, entry.path)
        if entry.kind == "dir":
            target.mkdir(exist_ok=True)
        elif entry.kind == "symlink":
            os.symlink(entry.link_target, target)
        elif entry.path in keyed:
            schema = table_schema(opener, entry.path)
            batches = sampled_batches(opener, entry.path, key, cutoff)
            rows = write_batches(str(target), entry.path, schema, batches)
            written.append(SampledInput(entry.path, rows, True))
        else:
            with opener() as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 20)
            rows = entry.table.rows if entry.table else 0
            written.append(SampledInput(entry.path, rows, False))
    return tuple(written)


def _compare(
    store: StoreAccess,
    folder: Path,
    p: StepRecord,
    e: StepRecord,
    key: str,
    cutoff: int,
    thresholds: Thresholds,
) -> tuple[tuple[TableSkew, ...], tuple[ColumnSkew, ...]]:
    """Every table production's step wrote, against the replay's file of the same path."""
    assert p.outputs is not None
    made = [
        x for x in under_any(store.ls(p.outputs), e.outs) if x.kind == "file" and is_table(x.path)
    ]
    tables: list[TableSkew] = []
    columns: list[ColumnSkew] = []
    for entry in made:
        replayed = folder / entry.path
        if not replayed.is_file():
            tables.append(TableSkew(entry.path, 0, 0, 0, 0, 0, "the replay did not write it"))
            continue
        table, cols = compare_table(
            replayed,
            entry.path,
            _opener(store, p.outputs, entry.path),
            key=key,
            cutoff=cutoff,
            thresholds=thresholds,
        )
        tables.append(table)
        columns += cols
    return tuple(tables), tuple(columns)


def _tee(lines: list[str], output: Output | None) -> Callable[[str], None]:
    def write(line: str) -> None:
        lines.append(line)
        if output is not None:
            output(line)

    return write
