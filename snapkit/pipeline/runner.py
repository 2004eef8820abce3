"""The runner: every step snapshotted before and after, with lineage, and a step cache.

For each selected step, in dependency order:
  1. snapshot its inputs (deps: code and data) → fingerprint (see fingerprint.py);
  2. if a successful record has that fingerprint (and not --force), restore its outputs
     from the store instead of running it (the step cache, shared through the store);
  3. else snapshot what its outputs hold now, clear them, run the command (output streamed
     to the terminal, stored with secrets masked), then snapshot its outputs — also when
     it failed, so a failed step can be restored for debugging;
  4. save the run record after every step. A failure stops the run: later steps are
     skipped and the error says how to restore that state and how to resume.
The runner does all the I/O of a step; steps only read their deps and write their outs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import BinaryIO, Protocol

from snapkit.errors import StepFailed
from snapkit.pipeline.fingerprint import (
    Fingerprint,
    fingerprint,
    installed_packages,
    python_version,
)
from snapkit.pipeline.records import (
    HEARTBEAT_SECONDS,
    RunRecord,
    RunStore,
    StepRecord,
    new_run_id,
)
from snapkit.pipeline.spec import Pipeline, Step
from snapkit.procenv import for_children
from snapkit.snapshot.model import FileEntry
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.take import TakeResult

Output = Callable[[str], None]


@dataclass(frozen=True)
class RunOptions:
    from_step: str | None = None
    to_step: str | None = None
    force: bool = False
    only: tuple[str, ...] = ()


def selected_steps(pipeline: Pipeline, options: RunOptions) -> list[str]:
    names = [s.name for s in pipeline.steps]
    if options.from_step:
        pipeline.step(options.from_step)
        names = names[names.index(options.from_step) :]
    if options.to_step:
        pipeline.step(options.to_step)
        names = names[: names.index(options.to_step) + 1]
    if options.only:
        names = [n for n in names if n in options.only]
    return names


class StepStore(Protocol):
    """The narrow part of a store the runner uses (`snapkit.api.Store` provides it)."""

    repo: Repo

    def take_paths(
        self,
        root: str | os.PathLike[str],
        paths: tuple[str, ...],
        *,
        label: str,
        message: str = "",
        labels: dict[str, str] | None = None,
    ) -> TakeResult: ...

    def restore_into(
        self, spec: str, target: str | os.PathLike[str], *, replace_paths: tuple[str, ...]
    ) -> object: ...

    def label_of(self, path: str | os.PathLike[str]) -> str: ...

    def open(self, spec: str, path: str | None = None) -> BinaryIO: ...  # validation reads

    def ls(self, spec: str, path: str | None = None) -> list[FileEntry]: ...


class Runner:
    def __init__(self, store: StepStore, pipeline: Pipeline, output: Output | None = None) -> None:
        self.store = store
        self.pipeline = pipeline
        self.runs = RunStore(store.repo.storage)
        self.output = output or (lambda line: None)
        self.label = store.label_of(pipeline.root)
        self._lock = threading.Lock()
        self.record: RunRecord | None = None

    # -- the run ----------------------------------------------------------------------

    def run(self, options: RunOptions) -> RunRecord:
        chosen = selected_steps(self.pipeline, options)
        record = self._start(chosen)
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(stop,), daemon=True)
        beat.start()
        failed: StepFailed | None = None
        try:
            for step in self.pipeline.steps:
                if step.name not in chosen:
                    continue
                if failed is not None:
                    self._save_step(
                        StepRecord(step.name, "skipped", step.cmd, step.deps, step.outs)
                    )
                    continue
                try:
                    self._run_step(step, options.force)
                except StepFailed as exc:
                    failed = exc
            status = "failed" if failed else "succeeded"
        except BaseException:
            status = "interrupted"
            raise
        finally:
            stop.set()
            record = self._finish(status)
        if failed:
            raise failed
        return record

    def _start(self, chosen: list[str]) -> RunRecord:
        now = time.time()
        steps = tuple(
            StepRecord(
                s.name, "pending" if s.name in chosen else "not-selected", s.cmd, s.deps, s.outs
            )
            for s in self.pipeline.steps
        )
        record = RunRecord(
            id=new_run_id(),
            pipeline=self.pipeline.name,
            spec=self.store.label_of(self.pipeline.spec_path),
            config=self.pipeline.config,
            status="running",
            started=datetime.now(UTC).isoformat(timespec="seconds"),
            host=os.uname().nodename,
            pid=os.getpid(),
            user=_user(),
            python=python_version(),
            packages=installed_packages(),
            steps=steps,
            heartbeat=now,
            kind=self.pipeline.kind,
        )
        self.record = record
        self.runs.save(record)
        return record

    def _finish(self, status: str) -> RunRecord:
        with self._lock:
            assert self.record is not None
            self.record = replace(
                self.record,
                status=status,
                finished=datetime.now(UTC).isoformat(timespec="seconds"),
                heartbeat=time.time(),
            )
            self.runs.save(self.record)
            return self.record

    def _save_step(self, step: StepRecord) -> None:
        with self._lock:
            assert self.record is not None
            self.record = replace(self.record.with_step(step), heartbeat=time.time())
            self.runs.save(self.record)

    def _heartbeat(self, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            with self._lock:
                if self.record is None or self.record.status != "running":
                    return
                self.record = replace(self.record, heartbeat=time.time())
                try:
                    self.runs.save(self.record)
                except Exception:  # a missed heartbeat only ages the record
                    continue

    # -- one step ---------------------------------------------------------------------

    def _run_step(self, step: Step, force: bool) -> None:
        run_id = self.record.id if self.record else ""
        started = time.monotonic()
        inputs = self._snapshot(step.inputs, run_id, step.name, "inputs")
        entries = self.store.repo.load_tree(self.store.repo.load_snapshot(inputs).tree)
        fp = fingerprint(step, entries, self.pipeline.root)
        base = StepRecord(
            step.name, "running", step.cmd, step.deps, step.outs, fp.to_json(), inputs
        )
        self._save_step(base)
        hit = None if force else self.runs.cached(fp.id)
        if hit is not None and not self._reuse(step, hit["outputs"]):
            self.runs.forget_cache(fp.id)  # its snapshot is gone: run, and remember anew
            hit = None
        if hit is not None:
            self.output(f"[{step.name}] unchanged: outputs restored from run {hit['run']}")
            warned = str(hit.get("warning") or "")
            if warned:  # an `on_fail: warn` failure stays visible in every run reusing it
                self.output(f"[{step.name}] warning (from run {hit['run']}): {warned}")
            self._save_step(
                replace(
                    base,
                    status="cached",
                    outputs=hit["outputs"],
                    cache_hit=True,
                    cached_from=hit["run"],
                    message=f"warning from run {hit['run']}: {warned}" if warned else "",
                    seconds=round(time.monotonic() - started, 3),
                )
            )
            return
        previous = self._clear_outputs(step, run_id)
        code, log = self._execute(step, run_id)
        missing = [o for o in step.outs if not (self.pipeline.root / o).exists()]
        outputs = self._snapshot(step.outs, run_id, step.name, "outputs")
        ok = code == 0 and not missing
        message = (
            ""
            if ok
            else (
                f"exited with code {code}" if code != 0 else f"did not write {', '.join(missing)}"
            )
        )
        validations: list[dict[str, object]] = []
        warned = ""
        if ok and step.expectations:  # checked on the outputs snapshot just taken
            from snapkit.validation.steps import check_outputs

            validations, problem = check_outputs(
                self.store, step.expectations, outputs, self.pipeline.root, f"{run_id}:{step.name}"
            )
            if problem and step.on_fail == "warn":
                self.output(f"[{step.name}] warning: {problem}")
                warned, message = problem, f"warning: {problem}"
            elif problem:
                ok, message = False, problem
        record = replace(
            base,
            status="succeeded" if ok else "failed",
            outputs=outputs,
            previous_outputs=previous,
            exit_code=code,
            log=log,
            message=message,
            seconds=round(time.monotonic() - started, 3),
            validations=validations,
        )
        self._save_step(record)
        if not ok:
            raise StepFailed(
                f"step {step.name} {message}; its partial outputs and log are snapshotted",
                hint=self._failure_hint(step, run_id),
            )
        self.runs.remember(fp.id, run_id, step.name, outputs, warned)

    def _failure_hint(self, step: Step, run_id: str) -> str:
        spec = self.store.label_of(self.pipeline.root)
        return (
            f"see the log: snap logs {run_id}:{step.name}; restore what it saw: "
            f"snap restore {run_id}:{step.name} --inputs; what it left: "
            f"snap restore {run_id}:{step.name} --outputs; after a fix, resume: "
            f"snap run {spec} --from {step.name}"
            + (f" --config {self.pipeline.config}" if self.pipeline.config != "default" else "")
        )

    def _snapshot(self, paths: tuple[str, ...], run_id: str, step: str, role: str) -> str:
        return self.store.take_paths(
            self.pipeline.root,
            paths,
            label=self.label,
            message=f"{role} of {self.pipeline.name}:{step} in run {run_id}",
            labels={"run": run_id, "step": step, "role": role},
        ).id

    def _reuse(self, step: Step, outputs: str) -> bool:
        """Put the cached outputs in place; False if that snapshot is gone (gc'd)."""
        from snapkit.errors import NotFound

        try:
            self.store.restore_into(outputs, self.pipeline.root, replace_paths=step.outs)
        except NotFound:
            return False
        return True

    def _clear_outputs(self, step: Step, run_id: str) -> str | None:
        """Snapshot what the outs hold (nothing is lost), then remove them for a clean run."""
        present = [o for o in step.outs if os.path.lexists(self.pipeline.root / o)]
        if not present:
            return None
        previous = self._snapshot(tuple(present), run_id, step.name, "previous-outputs")
        for o in present:
            path = self.pipeline.root / o
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink()
        return previous

    def _execute(self, step: Step, run_id: str) -> tuple[int, str]:
        """Run the command in the pipeline folder; stream and store its output (masked)."""
        secrets_ = [os.environ[v.name] for v in step.env if v.secret and os.environ.get(v.name)]
        env = {
            **step_environment(),
            "SNAP_RUN_ID": run_id,
            "SNAP_STEP": step.name,
            "SNAP_PARAMS": json.dumps(step.params, sort_keys=True),
        }
        self.output(f"[{step.name}] $ {step.cmd}")
        lines: list[str] = []

        def keep(line: str) -> None:
            masked = mask(line, secrets_)
            lines.append(masked)
            self.output(f"[{step.name}] {masked}")

        code = stream_command(step.cmd, self.pipeline.root, env, keep)
        log = "\n".join(lines) + ("\n" if lines else "")
        return code, self.store.repo.objects.put_object("logs", log.encode())


def stream_command(
    cmd: str, cwd: os.PathLike[str] | str, env: dict[str, str], on_line: Output
) -> int:
    """Run a step's shell command; each line of its output (stdout and stderr, in order)
    goes to `on_line` as it comes. Returns the exit code."""
    proc = subprocess.Popen(
        cmd,
        shell=True,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        bufsize=1,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        on_line(line.rstrip("\n"))
    return proc.wait()


def step_environment() -> dict[str, str]:
    """The environment steps run in: ours, with this interpreter's folder first on PATH, so
    `python` in a step is the interpreter recorded in its fingerprint (and sees the same
    packages). What the `snap` process set for itself only (`procenv`) is left out."""
    bin_dir = os.path.dirname(sys.executable)
    path = os.environ.get("PATH", "")
    env = for_children(os.environ)
    return {**env, "PATH": f"{bin_dir}{os.pathsep}{path}" if path else bin_dir}


def mask(line: str, secret_values: list[str]) -> str:
    """The line with every secret value replaced by ****."""
    for value in secret_values:
        if len(value) >= 3:
            line = line.replace(value, "****")
    return line


def compare_fingerprint(recorded: dict[str, object], current: Fingerprint) -> list[str]:
    return current.differences(Fingerprint.from_json(recorded))


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
