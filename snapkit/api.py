"""The Python API: the same verbs as the `snap` command (which is a thin layer over this).

import snapkit
store = snapkit.open_store()                 # --store / SNAP_STORE / pyproject / .snap
result = store.take("data/raw", message="emails november", tags=["raw-v1"])
store.restore("raw-v1", "restored/raw")
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from snapkit.config import StoreLocation, locate_store
from snapkit.errors import Locked, NotFound, Refused, UsageError
from snapkit.progress import Progress
from snapkit.snapshot.locks import LockInfo, LockManager
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.take import TakeOptions, TakeResult

# Commands other than take import what they use when called: a `snap take` does not pay
# for restore, diff, check, gc and forget (≈20 ms of a re-take's ≈0.6 s).
if TYPE_CHECKING:
    from snapkit.pipeline.lineage import Lineage
    from snapkit.pipeline.records import RunRecord, StepRecord
    from snapkit.pipeline.replay import RerunResult
    from snapkit.snapshot.check import CheckReport
    from snapkit.snapshot.diff import TreeDiff
    from snapkit.snapshot.forget import ForgetPlan
    from snapkit.snapshot.gc import GcPlan, GcResult
    from snapkit.snapshot.restore import Plan, RestoreResult
    from snapkit.validation.parity import ParityReport
    from snapkit.validation.results import ValidationResult
    from snapkit.validation.suites import Suite
    from snapkit.validation.thresholds import Thresholds
from snapkit.snapshot.take import take as take_snapshot
from snapkit.storage import open_storage


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    snapshot: Snapshot
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RestoreOutcome:
    plan: Plan
    result: RestoreResult | None  # None for a dry run
    safety_snapshot: str | None  # taken first when --force had local changes to keep


class Store:
    """An opened store plus the project it serves (for relative paths and default targets)."""

    def __init__(self, repo: Repo, location: StoreLocation, *, lock_wait: float = 0.0) -> None:
        self.repo = repo
        self.location = location
        self.lock_wait = lock_wait  # seconds to wait for a conflicting lock, then Locked
        self.locks = LockManager(repo.storage)

    def _shared(
        self, command: str, read_only: bool = False
    ) -> AbstractContextManager[LockInfo | None]:
        return self.locks.hold("shared", command, self.lock_wait, read_only=read_only)

    def _exclusive(self, command: str) -> AbstractContextManager[LockInfo | None]:
        return self.locks.hold("exclusive", command, self.lock_wait)

    @property
    def url(self) -> str:
        return self.location.url

    @property
    def compression(self) -> str:
        """How this store compresses chunks: "lz4", "zstd" or "none" (set at creation)."""
        return self.repo.compression

    # -- take / restore -------------------------------------------------------------

    def take(
        self,
        path: str | os.PathLike[str],
        *,
        message: str = "",
        tags: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        progress: Progress | None = None,
    ) -> TakeResult:
        source = Path(os.path.abspath(path))
        if not os.path.lexists(source):
            raise NotFound(f"{path} does not exist", hint="give a folder or a file to snapshot")
        options = TakeOptions(
            message=message,
            tags=tuple(tags),
            excludes=tuple(exclude),
            source_label=self._label(source),
        )
        with self._shared("take") as mine:
            options = replace(options, recover=self._writer_may_have_died(mine))
            return take_snapshot(self.repo, source, options, progress)

    def _writer_may_have_died(self, mine: LockInfo | None) -> bool:
        """Whether a take should look for packs without an index (listing every pack: on
        S3 a request per 1,000). Only a writer killed mid-way leaves such packs, and it
        leaves its lock too: a take that fails otherwise names the packs it wrote in an
        index before it lets go of its lock (`PackWriter.__exit__`), and `snap unlock`
        indexes them before removing a lock. So: only when acquiring our lock found
        another, live or stale, in the store (no second look at `locks/`)."""
        return mine is None or bool(self.locks.others_seen(mine))

    def take_paths(
        self,
        root: str | os.PathLike[str],
        paths: tuple[str, ...],
        *,
        label: str,
        message: str = "",
        labels: dict[str, str] | None = None,
        progress: Progress | None = None,
    ) -> TakeResult:
        """Snapshot only `paths` (relative to the folder `root`): a pipeline step's deps or
        outs. Paths that do not exist are left out (a failed step may not have made them)."""
        options = TakeOptions(
            message=message,
            source_label=label,
            labels=tuple(sorted((labels or {}).items())),
            include=tuple(paths),
            find_parent=False,
        )
        with self._shared("take"):
            return take_snapshot(self.repo, Path(os.path.abspath(root)), options, progress)

    def restore_into(
        self, spec: str, target: str | os.PathLike[str], *, replace_paths: tuple[str, ...]
    ) -> RestoreOutcome:
        """Make `replace_paths` under `target` exactly what snapshot `spec` holds there.

        Files in those paths that the snapshot lacks are removed; anything that was in no
        snapshot is first kept in a safety snapshot (the step cache uses this)."""
        return self.restore(spec, target, paths=replace_paths, delete=True, force=True)

    def label_of(self, path: str | os.PathLike[str]) -> str:
        """How a path is recorded: relative to the project root when inside it."""
        return self._label(Path(os.path.abspath(path)))

    def plan_restore(
        self,
        spec: str,
        target: str | os.PathLike[str] | None = None,
        *,
        paths: list[str] | tuple[str, ...] = (),
        delete: bool = False,
    ) -> Plan:
        from snapkit.snapshot.restore import plan_restore

        snap_id = self.repo.resolve(spec)
        snap = self.repo.load_snapshot(snap_id)
        dest = Path(target) if target is not None else self.default_target(snap)
        self.repo.load_index()
        return plan_restore(self.repo, snap_id, snap, dest, paths=tuple(paths), delete_extra=delete)

    def restore(
        self,
        spec: str,
        target: str | os.PathLike[str] | None = None,
        *,
        paths: list[str] | tuple[str, ...] = (),
        dry_run: bool = False,
        force: bool = False,
        delete: bool = False,
        progress: Progress | None = None,
    ) -> RestoreOutcome:
        with self._shared("restore", read_only=not force):
            plan = self.plan_restore(spec, target, paths=paths, delete=delete)
            if dry_run:
                return RestoreOutcome(plan, None, None)
            safety = None
            if plan.unsaved:
                if not force:
                    raise Refused(_unsaved_message(plan), hint=_unsaved_hint(plan))
                safety = self._safety_snapshot(plan)
            from snapkit.snapshot.restore import apply_plan

            return RestoreOutcome(plan, apply_plan(self.repo, plan, progress), safety)

    def default_target(self, snap: Snapshot) -> Path:
        """Where a snapshot came from: restore puts it back there unless told otherwise."""
        source = Path(snap.source)
        return source if source.is_absolute() else self.location.project_root / source

    def _label(self, source: Path) -> str:
        root = self.location.project_root
        try:
            return source.relative_to(root).as_posix() or "."
        except ValueError:
            return str(source)

    def _safety_snapshot(self, plan: Plan) -> str:
        """Snapshot what the restore would overwrite: the target folder, or the one file."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        renamed = list(plan.rename.values())
        result = self.take(
            plan.target / renamed[0] if renamed else plan.target,
            message=f"safety snapshot before restoring {plan.snapshot_id[:12]}",
            tags=[f"safety/{stamp}"],
        )
        return result.id

    # -- inspection and tags ------------------------------------------------------

    def log(self, *, steps: bool = False) -> list[SnapshotInfo]:
        """Every snapshot, newest first, with the tags pointing at it.

        Snapshots a pipeline run made of its steps are left out unless `steps=True`
        (`snap runs` and `snap run show` are where they are listed)."""
        tags = self.repo.tags_by_snapshot()
        return [
            SnapshotInfo(sid, snap, tuple(sorted(tags.get(sid, ()))))
            for sid, snap in reversed(self.repo.snapshots())
            if steps or "run" not in snap.labels
        ]

    def show(self, spec: str) -> SnapshotInfo:
        sid = self.repo.resolve(spec)
        tags = self.repo.tags_by_snapshot().get(sid, [])
        return SnapshotInfo(sid, self.repo.load_snapshot(sid), tuple(sorted(tags)))

    def ls(self, spec: str, path: str | None = None) -> list[FileEntry]:
        snap = self.repo.load_snapshot(self.repo.resolve(spec))
        entries = self.repo.load_tree(snap.tree)
        if not path:
            return entries
        prefix = path.strip("/")
        chosen = [e for e in entries if e.path == prefix or e.path.startswith(prefix + "/")]
        if not chosen:
            raise NotFound(f"no path {path!r} in snapshot {spec}")
        return chosen

    def tag(self, spec: str, name: str) -> str:
        with self._shared("tag"):
            sid = self.repo.resolve(spec)
            self.repo.refs.set(name, sid)
            return sid

    def untag(self, name: str) -> None:
        with self._shared("tag"):
            self.repo.refs.delete(name)

    def check(
        self,
        *,
        read_data: bool = False,
        read_fraction: float = 0.0,
        progress: Progress | None = None,
    ) -> CheckReport:
        """Verify the store from refs down to packs, reading all packs (`read_data`) or a
        random `read_fraction` of them; see `snapkit.snapshot.check`."""
        from snapkit.snapshot.check import check as check_store

        with self._shared("check", read_only=True):
            return check_store(
                self.repo, read_data=read_data, read_fraction=read_fraction, progress=progress
            )

    # -- pipelines ----------------------------------------------------------------

    def run(
        self,
        pipeline: str | os.PathLike[str],
        *,
        config: str | None = None,
        from_step: str | None = None,
        to_step: str | None = None,
        force: bool = False,
        params: dict[str, Any] | None = None,
        output: Callable[[str], None] | None = None,
    ) -> RunRecord:
        """Run a pipeline (folder with pipeline.yaml, or a dvc.yaml), snapshotting every
        step before and after; unchanged steps are restored from the step cache.
        Raises StepFailed (after recording the run) when a step fails."""
        from snapkit.pipeline.runner import Runner, RunOptions
        from snapkit.pipeline.spec import load_pipeline

        spec = load_pipeline(Path(pipeline), config, params)
        options = RunOptions(from_step=from_step, to_step=to_step, force=force)
        return Runner(self, spec, output).run(options)

    def runs(self) -> list[RunRecord]:
        """Every run, oldest first."""
        from snapkit.pipeline.records import RunStore

        return RunStore(self.repo.storage).all()

    def run_record(self, spec: str) -> RunRecord:
        """A run by id, unique id prefix, 'latest' or 'latest/<pipeline>'."""
        from snapkit.pipeline.records import RunStore

        return RunStore(self.repo.storage).resolve(spec)

    def step(self, ref: str) -> tuple[RunRecord, StepRecord]:
        """'RUN:STEP' → the run record and that step's record."""
        from snapkit.pipeline.records import RunStore
        from snapkit.pipeline.replay import resolve_step

        return resolve_step(RunStore(self.repo.storage), ref)

    def restore_step(
        self,
        ref: str,
        target: str | os.PathLike[str] | None = None,
        *,
        outputs: bool = False,
        **restore_options: Any,
    ) -> RestoreOutcome:
        """Put back what step RUN:STEP saw (its inputs) or made (`outputs=True`), into a new
        folder by default (`restored/<run>-<step>-inputs`). Options as for `restore`."""
        from snapkit.pipeline.replay import step_snapshot

        run, step = self.step(ref)
        which = "outputs" if outputs else "inputs"
        snap = step_snapshot(step, which, run.id)
        dest = Path(target) if target else Path("restored") / f"{run.id}-{step.name}-{which}"
        return self.restore(snap, dest, **restore_options)

    def rerun(
        self,
        ref: str,
        *,
        workdir: str | os.PathLike[str] | None = None,
        output: Callable[[str], None] | None = None,
    ) -> RerunResult:
        """Run step RUN:STEP again from its recorded inputs in an isolated folder and compare
        its outputs with the recorded ones (reproduced, or what differs)."""
        import tempfile

        from snapkit.pipeline.replay import (
            RerunResult,
            compare_outputs,
            now_differs,
            run_command,
            step_snapshot,
        )

        run, step = self.step(ref)
        folder = (
            Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"snap-rerun-{step.name}-"))
        )
        self.restore(step_snapshot(step, "inputs", run.id), folder)
        code = run_command(step, folder, output or (lambda _line: None))
        recorded = self.repo.load_tree(
            self.repo.load_snapshot(step_snapshot(step, "outputs", run.id)).tree
        )
        self.repo.load_index()
        diffs = compare_outputs(self.repo, recorded, folder, step.outs)
        workspace = self.location.project_root / Path(run.spec).parent
        notes = now_differs(run, step, workspace, self.repo)
        return RerunResult(
            run.id, step.name, folder, code, code == 0 and not diffs, tuple(diffs), tuple(notes)
        )

    def lineage(self, target: str) -> Lineage:
        """Upstream and downstream of a step (RUN:STEP) or of a snapshot a step made/used."""
        from snapkit.pipeline.lineage import Lineage, find_step_of_snapshot, step_lineage
        from snapkit.pipeline.replay import parse_step_ref

        all_runs = self.runs()
        if parse_step_ref(target) is not None:
            run, step = self.step(target)
        else:
            sid = self.repo.resolve(target)
            found = find_step_of_snapshot(all_runs, sid)
            if found is None:
                return Lineage(f"snapshot {sid[:12]}", (), ())
            run, step = found
        self.repo.load_index()
        return step_lineage(self.repo, all_runs, run, step)

    def step_log(self, ref: str) -> str:
        """The stored output of step RUN:STEP (of the run it was cached from, if it was)."""
        run, step = self.step(ref)
        if step.log is None and step.cache_hit and step.cached_from:
            return self.step_log(f"{step.cached_from}:{step.name}")
        if step.log is None:
            raise NotFound(f"step {step.name} of run {run.id} has no log ({step.status})")
        return self.repo.objects.get_object("logs", step.log).decode("utf-8", errors="replace")

    # -- parity between an experiment and a production run --------------------------

    def parity(
        self,
        experiment_run: str,
        production_run: str,
        *,
        step: str | tuple[str, ...] | list[str] | None = None,
        key: str = "id",
        sample: int = 10_000,
        thresholds: str | os.PathLike[str] | Thresholds | None = None,
        suite: str | os.PathLike[str] | None = None,
        output: Callable[[str], None] | None = None,
    ) -> ParityReport:
        """Does production run the same preprocessing as the experiment? For each chosen
        step (default: those with expectations that read another step's data, else
        `preprocess`): fingerprint parity, the suite on both outputs, the experiment's step
        replayed on `sample` production rows (feature skew, joined on `key`), and drift per
        feature within `thresholds` (a YAML/JSON file, or `Thresholds`). See
        `snapkit.validation.parity`; `report.passed` is the verdict."""
        from snapkit.pipeline.replay import run_command
        from snapkit.validation.parity import check_parity
        from snapkit.validation.thresholds import Thresholds, load_thresholds

        limits = thresholds if isinstance(thresholds, Thresholds) else load_thresholds(thresholds)
        steps = (step,) if isinstance(step, str) else tuple(step or ())
        return check_parity(
            self,
            self.run_record(experiment_run),
            self.run_record(production_run),
            steps=steps,
            key=key,
            sample=sample,
            thresholds=limits,
            suite=os.fspath(suite) if suite is not None else None,
            run_step=run_command,
            step_suites=self._step_suites,
            output=output,
        )

    def _step_suites(self, run: RunRecord) -> dict[str, dict[str, str]]:
        """Per step of `run`, output file → suite path, from the run's pipeline spec as it
        is in the project now (empty when the spec is gone or unreadable)."""
        from snapkit.errors import InvalidPipeline
        from snapkit.pipeline.spec import load_pipeline

        spec = self.location.project_root / run.spec
        if not spec.is_file():
            return {}
        try:
            config = None if run.config == "default" else run.config
            pipeline = load_pipeline(spec, config)
        except InvalidPipeline:
            return {}
        return {
            s.name: {out: os.fspath(pipeline.root / suite) for out, suite in s.expectations.items()}
            for s in pipeline.steps
            if s.expectations
        }

    # -- validation: expectation suites on files, snapshots and run steps -----------------

    def validate(
        self,
        target: str,
        suite: str | os.PathLike[str] | Suite,
        *,
        path: str | None = None,
        batch_rows: int = 1_000_000,
        memory_limit: int | None = None,
        engine: str = "pandas",
    ) -> ValidationResult:
        """Check an expectation suite (a GX 1.x JSON file) against TARGET: a local table
        file or folder, SNAP[:PATH], or RUN:STEP[:PATH] (that step's outputs), read
        straight from the store, never restored. `path` is a glob picking table files.
        More rows than `batch_rows` (or than fit `memory_limit` bytes) are validated batch
        by batch with global aggregates; `engine="spark"` uses GX's Spark data source.
        A failed suite is a result with `success=False`, not an exception."""
        from snapkit.validation import validate

        with self._shared("validate", read_only=True):
            return validate(
                target,
                suite,
                store=self,
                path=path,
                batch_rows=batch_rows,
                memory_limit=memory_limit,
                engine=engine,
            )

    def suite_init(
        self, data: str, *, name: str | None = None, path: str | None = None
    ) -> dict[str, Any]:
        """A starter suite (GX JSON document) profiled from DATA (file, folder or
        SNAP[:PATH]) that passes on it; see `snapkit.validation.profile`."""
        from snapkit.validation import init_suite

        with self._shared("suite init", read_only=True):
            return init_suite(data, store=self, name=name, path=path)

    # -- store care ---------------------------------------------------------------

    def forget(
        self,
        specs: list[str] | tuple[str, ...] = (),
        *,
        keep_last: int | None = None,
        dry_run: bool = False,
    ) -> ForgetPlan:
        """Remove snapshot records (tagged ones are never removed); gc frees their data."""
        from snapkit.snapshot.forget import apply_forget, plan_forget

        if bool(specs) == (keep_last is not None):
            raise UsageError("name snapshots to forget, or give --keep-last N (not both)")
        with self._exclusive("forget"):
            plan = plan_forget(self.repo, list(specs), keep_last, self._kept_by_runs())
            if not dry_run:
                apply_forget(self.repo, plan)
            return plan

    def _kept_by_runs(self) -> dict[str, list[str]]:
        """Snapshots that pipeline run records point to: forget must keep them."""
        kept: dict[str, list[str]] = {}
        for run in self.runs():
            for step in run.steps:
                for sid in (step.inputs, step.outputs, step.previous_outputs):
                    if sid:
                        kept.setdefault(sid, []).append(f"run {run.id}:{step.name}")
        return kept

    def gc(
        self,
        *,
        grace_seconds: float = 3600.0,
        dry_run: bool = True,
        progress: Progress | None = None,
    ) -> GcResult | GcPlan:
        """Delete what no snapshot reaches (dry run unless `dry_run=False`)."""
        from snapkit.snapshot.gc import apply_gc, plan_gc

        with self._exclusive("gc"):
            plan = plan_gc(self.repo, grace_seconds)
            if dry_run or plan.nothing_to_do:
                return plan
            return apply_gc(self.repo, plan, progress)

    def unlock(self, *, stale_only: bool = False) -> list[LockInfo]:
        """Remove store locks (all, or only those whose process is gone or silent).

        A writer's lock left behind is what sends the next take looking for the packs it
        wrote without an index; they are indexed here first, so removing it loses none.
        That is done under a shared lock of its own, so no gc deletes a pack meanwhile; a
        live gc or forget holding the store (only `snap unlock` without --stale-only
        removes its lock) left no take's packs behind, and then it is skipped."""
        if self.locks.list():
            with contextlib.suppress(Locked), self._shared("unlock"):
                self.repo.load_index()
                self.repo.recover_unindexed_packs()
        return self.locks.remove(stale_only=stale_only)

    def close(self) -> None:
        self.repo.storage.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- reading stored files, comparing snapshots --------------------------------------

    def open(self, spec: str, path: str | None = None) -> BinaryIO:
        """A file of snapshot `spec` as a read-only, seekable binary file object.

        It is read lazily from the store, chunk by chunk, each chunk verified, with at most
        four chunks in memory (two read, two fetched ahead), so pyarrow can stream a table
        bigger than memory from it.
        For the snapshot of a single file, `path` may be left out. No lock is held while
        the file is open: a concurrent `gc` may remove the data of a forgotten snapshot.
        """
        import io

        from snapkit.objects.reader import ChunkedFile

        snap = self.repo.load_snapshot(self.repo.resolve(spec))
        entries = self.repo.load_tree(snap.tree)
        entry = self._file_entry(entries, path, spec, single=snap.root_kind == "file")
        self.repo.load_index()
        return io.BufferedReader(
            ChunkedFile(self.repo.objects, entry.chunks, entry.size, name=entry.path)
        )

    def diff(self, a: str, b: str, *, rows: bool = False, batch_rows: int = 65_536) -> TreeDiff:
        """What changed from snapshot `a` to snapshot `b` (tags, ids or id prefixes).

        Files are compared by hash and tables by the facts recorded at take time. With
        `rows=True`, both versions of each modified Parquet/CSV table are streamed from the
        store in batches of `batch_rows` and their rows compared (see `snapshot.diff`).
        Two single-file snapshots are compared as one file even if its name changed.
        """
        from snapkit.snapshot.diff import compare_rows, diff_trees

        old_id, new_id = self.repo.resolve(a), self.repo.resolve(b)
        old_snap, new_snap = self.repo.load_snapshot(old_id), self.repo.load_snapshot(new_id)
        old, new = self.repo.load_tree(old_snap.tree), self.repo.load_tree(new_snap.tree)
        if old_snap.root_kind == new_snap.root_kind == "file" and len(old) == len(new) == 1:
            old = [replace(old[0], path=new[0].path)]
        result = replace(diff_trees(old, new), old_snapshot=old_id, new_snapshot=new_id)
        if not rows:
            return result
        from snapkit.objects.reader import ChunkedFile

        with self._shared("diff", read_only=True):
            self.repo.load_index()
            return compare_rows(
                result,
                lambda e: ChunkedFile(self.repo.objects, e.chunks, e.size, name=e.path),
                batch_rows=batch_rows,
            )

    def _file_entry(
        self, entries: list[FileEntry], path: str | None, spec: str, *, single: bool
    ) -> FileEntry:
        """The file at `path` (symlinks inside the snapshot followed), or the only file."""
        files = [e for e in entries if e.kind == "file"]
        if path is None:
            if single and len(files) == 1:
                return files[0]
            raise UsageError(
                f"snapshot {spec} holds a folder: name the file to open",
                hint=f"`snap ls {spec}` lists its files",
            )
        by_path = {e.path: e for e in entries}
        wanted = path.strip("/")
        entry = by_path.get(wanted)
        for _ in range(40):  # symlink hops, as the kernel's ELOOP limit
            if entry is None or entry.kind != "symlink":
                break
            entry = by_path.get(_link_path(entry))
        if entry is None or entry.kind == "symlink":
            raise NotFound(
                f"no file {path!r} in snapshot {spec}", hint=f"`snap ls {spec}` lists its files"
            )
        if entry.kind != "file":
            raise UsageError(f"{path!r} in snapshot {spec} is a folder, not a file")
        return entry


def _unsaved_message(plan: Plan) -> str:
    paths = [c.path for c in plan.unsaved]
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"{plan.target} has local changes that are in no snapshot: {shown}"


def _unsaved_hint(plan: Plan) -> str:
    return (
        "take a snapshot of them first (`snap take`), restore into another folder, or use "
        "--force to take a safety snapshot automatically and then restore"
    )


def open_store(
    url: str | None = None,
    *,
    create: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    lock_wait: float = 0.0,
    compression: str | None = None,
) -> Store:
    """Open the store at `url`, or the one configured for the project around `cwd`.

    With `create=True` a missing store is created (what `snap init` and `snap take` do),
    compressing chunks with `compression` ("auto", the default, "lz4", "zstd" or "none";
    see `snap init --help`).
    """
    if compression is not None and not create:
        raise UsageError("a compression is chosen only when a store is created (create=True)")
    location = locate_store(url, Path(cwd) if cwd else None)
    storage = open_storage(location.url)
    repo = Repo.init(storage, compression) if create else Repo.open(storage)
    return Store(repo, location, lock_wait=lock_wait)


def take(path: str | os.PathLike[str], *, store: str | None = None, **kwargs: object) -> TakeResult:
    """Snapshot a folder or file into the store (created if needed). See `Store.take`."""
    with open_store(store, create=True) as s:
        return s.take(path, **kwargs)  # type: ignore[arg-type]


def restore(
    spec: str,
    target: str | os.PathLike[str] | None = None,
    *,
    store: str | None = None,
    **kwargs: object,
) -> RestoreOutcome:
    """Restore a snapshot (tag, id or id prefix). See `Store.restore`."""
    with open_store(store) as s:
        return s.restore(spec, target, **kwargs)  # type: ignore[arg-type]


def _link_path(link: FileEntry) -> str:
    """Where a symlink of a tree points, as a tree path ('' when it leaves the tree)."""
    import posixpath

    if link.link_target.startswith("/"):
        return ""
    target = posixpath.normpath(posixpath.join(posixpath.dirname(link.path), link.link_target))
    return "" if target.startswith("../") or target == ".." else target
