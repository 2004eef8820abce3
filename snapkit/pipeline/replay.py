"""Going back to a past step: resolve RUN:STEP, rerun it from its recorded inputs, compare.

`rerun` restores exactly what the step saw into an isolated folder, runs its recorded
command there, and compares every output with the recorded one: byte for byte, and for
tables that differ, which columns and how many rows. It also says what now differs from
the record in the environment (interpreter, packages, declared variables) and the code.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from snapkit.errors import NotFound, UsageError
from snapkit.objects.chunker import Chunker, file_hash
from snapkit.pipeline.fingerprint import (
    Fingerprint,
    dep_digests,
    env_values,
    installed_packages,
    packages_digest,
    python_version,
)
from snapkit.pipeline.records import RunRecord, RunStore, StepRecord
from snapkit.pipeline.runner import mask, step_environment, stream_command
from snapkit.pipeline.spec import EnvVar, Step
from snapkit.snapshot.ignore import Ignore
from snapkit.snapshot.model import FileEntry
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.scan import scan
from snapkit.snapshot.tables import table_format

Output = Callable[[str], None]


def parse_step_ref(text: str) -> tuple[str, str] | None:
    """'RUN:STEP' → (run, step); None when `text` is not of that form (a snapshot spec)."""
    run, sep, step = text.rpartition(":")
    if not sep or not run or not step or "/" in step:
        return None
    return run, step


def resolve_step(runs: RunStore, text: str) -> tuple[RunRecord, StepRecord]:
    ref = parse_step_ref(text)
    if ref is None:
        raise UsageError(f"{text!r} is not RUN:STEP (e.g. latest:train or 20261129-0612:train)")
    record = runs.resolve(ref[0])
    return record, record.step(ref[1])


def step_snapshot(step: StepRecord, which: str, run_id: str) -> str:
    snap = step.inputs if which == "inputs" else step.outputs
    if snap is None:
        raise NotFound(f"step {step.name} of run {run_id} has no {which} snapshot ({step.status})")
    return snap


# -- comparing outputs ------------------------------------------------------------------


@dataclass(frozen=True)
class TableDifference:
    rows_recorded: int
    rows_now: int
    columns_differing: tuple[str, ...]  # same name on both sides, some value differs
    columns_added: tuple[str, ...]
    columns_removed: tuple[str, ...]
    rows_differing: int  # rows with any differing value (when row counts match)


@dataclass(frozen=True)
class FileDifference:
    path: str
    change: str  # modified | missing | extra
    table: TableDifference | None = None


@dataclass(frozen=True)
class RerunResult:
    run: str
    step: str
    workdir: Path
    exit_code: int
    reproduced: bool
    differences: tuple[FileDifference, ...]
    now_differs: tuple[str, ...] = field(default_factory=tuple)  # env/code changes

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run,
            "step": self.step,
            "workdir": str(self.workdir),
            "exit_code": self.exit_code,
            "verdict": "reproduced" if self.reproduced else "differs",
            "differences": [
                {"path": d.path, "change": d.change, "table": d.table.__dict__ if d.table else None}
                for d in self.differences
            ],
            "now_differs": list(self.now_differs),
        }


def local_entries(root: Path, paths: tuple[str, ...], chunker: Chunker) -> list[FileEntry]:
    """What `paths` under `root` hold now, hashed as a take would (no snapshot made)."""
    out = []
    for item in scan(root, Ignore([]), paths):
        h = ""
        if item.kind == "file":
            h = file_hash([c.id for c in chunker.chunks(item.abspath, item.stat.st_size)])
        out.append(
            FileEntry(
                item.relpath,
                item.kind,
                item.stat.st_size,
                hash=h,  # type: ignore[arg-type]
                link_target=item.link_target,
            )
        )
    return out


def compare_outputs(
    repo: Repo, recorded: list[FileEntry], workdir: Path, outs: tuple[str, ...]
) -> list[FileDifference]:
    now = {
        e.path: e for e in local_entries(workdir, outs, Chunker(repo.chunker)) if e.kind == "file"
    }
    then = {e.path: e for e in recorded if e.kind == "file"}
    diffs = []
    for path in sorted(set(then) | set(now)):
        old, new = then.get(path), now.get(path)
        if old is None:
            diffs.append(FileDifference(path, "extra"))
        elif new is None:
            diffs.append(FileDifference(path, "missing"))
        elif old.hash != new.hash:
            table = _table_difference(repo, old, workdir / path) if table_format(path) else None
            diffs.append(FileDifference(path, "modified", table))
    return diffs


def _table_difference(repo: Repo, old: FileEntry, new_path: Path) -> TableDifference | None:
    import pyarrow as pa

    from snapkit.objects.reader import ChunkedFile

    try:
        recorded = _read_table(
            ChunkedFile(repo.objects, old.chunks, old.size, name=old.path), old.path
        )
        current = _read_table(open(new_path, "rb"), old.path)  # noqa: SIM115 - closed by reader
    except (pa.ArrowException, OSError, ValueError):
        return None
    common = [c for c in recorded.column_names if c in current.column_names]
    differing, rows_differing = [], 0
    if recorded.num_rows == current.num_rows:
        import pyarrow.compute as pc

        mask = None
        for col in common:
            a, b = recorded[col], current[col]
            same = a.type == b.type and a.equals(b)
            if not same:
                differing.append(col)
                try:
                    neq = pc.fill_null(pc.not_equal(a, b.cast(a.type)), True)
                except (pa.ArrowException, TypeError):
                    neq = pa.chunked_array([pa.array([True] * len(a))])
                mask = neq if mask is None else pc.or_(mask, neq)
        rows_differing = int(pc.sum(mask).as_py() or 0) if mask is not None else 0
    else:
        differing = common
        rows_differing = abs(recorded.num_rows - current.num_rows)
    return TableDifference(
        recorded.num_rows,
        current.num_rows,
        tuple(differing),
        tuple(c for c in current.column_names if c not in recorded.column_names),
        tuple(c for c in recorded.column_names if c not in current.column_names),
        rows_differing,
    )


def _read_table(f: Any, path: str) -> Any:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    with f:
        if table_format(path) == "parquet":
            return pq.ParquetFile(f).read(use_threads=False)
        return pacsv.read_csv(f)


# -- rerun --------------------------------------------------------------------------------


def now_differs(
    record: RunRecord, step: StepRecord, workspace: Path | None, repo: Repo
) -> list[str]:
    """What is different now from when the step ran: interpreter, packages, env, code."""
    recorded = Fingerprint.from_json(step.fingerprint)
    env_spec = tuple(EnvVar(k, v in ("(set)", "(unset)")) for k, v in recorded.env.items())
    as_step = Step(step.name, step.cmd, step.deps, step.outs, recorded.params, env_spec)
    deps = recorded.deps
    if workspace is not None and workspace.is_dir():
        deps = dep_digests(as_step, local_entries(workspace, step.deps, Chunker(repo.chunker)))
    current = Fingerprint(
        step.cmd,
        recorded.params,
        env_values(as_step),
        python_version(),
        packages_digest(installed_packages()),
        deps,
        recorded.suites,  # suites check outputs, they do not make them: not a rerun concern
    )
    notes = current.differences(recorded)
    if current.packages != recorded.packages:
        notes = [n for n in notes if n != "installed packages differ"]
        notes += _package_changes(record.packages, installed_packages())
    return [n.replace("content differs", "differs in the workspace now") for n in notes]


def _package_changes(then: dict[str, str], now: dict[str, str]) -> list[str]:
    out = []
    for name in sorted(set(then) | set(now)):
        if then.get(name) != now.get(name):
            out.append(
                f"package {name}: {then.get(name, '(absent)')} → {now.get(name, '(absent)')}"
            )
    return out


def run_command(step: StepRecord, workdir: Path, output: Output) -> int:
    """Run the recorded command in `workdir` (outputs cleared first, secrets masked)."""
    recorded = Fingerprint.from_json(step.fingerprint)
    import json
    import shutil

    for out in step.outs:  # stale outputs must not pass for reproduced ones
        path = workdir / out
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            path.unlink()
    secret_values = [
        os.environ[name]
        for name, value in recorded.env.items()
        if value == "(set)" and os.environ.get(name)
    ]
    env = {
        **step_environment(),
        "SNAP_STEP": step.name,
        "SNAP_PARAMS": json.dumps(recorded.params, sort_keys=True),
    }
    output(f"[{step.name}] $ {step.cmd}   (in {workdir})")
    return stream_command(
        step.cmd, workdir, env, lambda line: output(f"[{step.name}] {mask(line, secret_values)}")
    )
