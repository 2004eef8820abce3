"""snapkit through its real command line (`.venv/bin/snap`), one subprocess per step."""

from __future__ import annotations

import compileall
from pathlib import Path

from benchmarks.datasets import apply_modification
from benchmarks.measure import tree_bytes
from benchmarks.tools.base import (
    BIN,
    GROWTH,
    PULL,
    PUSH,
    RESTORE,
    RESTORE_COLD,
    RETAKE,
    SIZE,
    TAKE,
    Job,
    Sample,
    base_env,
    command_version,
    evict,
    measured,
    warm,
)

SNAP = BIN / "snap"


class Snapkit:
    """With `profile_dir`, every measured command runs under `py-spy record` (raw format),
    one file per dataset, scenario and repetition (see benchmarks/profile.py)."""

    name = "snapkit"

    def __init__(self, profile_dir: Path | None = None) -> None:
        self.profile_dir = profile_dir

    def version(self) -> str:
        return command_version([SNAP, "--version"])

    def prepare(self) -> None:
        """Compile snapkit's bytecode, as `pip install` does for an installed package (DVC's
        was compiled when it was installed). An editable install is not compiled, and with
        PYTHONDONTWRITEBYTECODE set (as on our CI machines) every command would compile
        every module again: ≈30 ms of each measured command that no user pays."""
        import snapkit

        compileall.compile_dir(Path(snapkit.__file__).parent, quiet=1)

    def local(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        """Cold take into a fresh local store with an empty cache; then, as DVC's scenario
        does, remove the data and restore it into its place, the store in the page cache,
        then out of it; then the 1% modification and a re-take (same store and cache)."""
        ws = job.workspace
        data = job.fresh_data(ws / "data")
        env = self._env(ws, ws / "cache")
        store = ws / "store"
        samples = [self._snap(job, TAKE, ["--store", store, "take", "data", "-t", "v1"], env)]
        samples.append(job.stored(self.name, SIZE, tree_bytes(store)))
        # Restores in the same order as `dvc checkout` after removing the data. Restoring
        # into a new folder beside the data was not the same work on our VM: writing 2 GB
        # right after 2 GB were deleted took 2.8 s, without the deletion 4.9–5.2 s.
        for scenario, prepare in ((RESTORE, warm), (RESTORE_COLD, evict)):
            if scenario in scenarios:
                prepare(store)
                job.remove(data)
                restore = ["--store", store, "restore", "v1", data]
                samples.append(self._snap(job, scenario, restore, env))
                job.check_restored(data)
        if scenarios & {RETAKE, GROWTH}:
            apply_modification(job.dataset_root, data)
            before = tree_bytes(store)
            samples.append(self._snap(job, RETAKE, ["--store", store, "take", "data"], env))
            samples.append(job.stored(self.name, GROWTH, tree_bytes(store) - before))
        return samples

    def s3(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        """Take straight into S3 with an empty cache; restore from S3 into a fresh folder
        with another empty cache."""
        ws = job.workspace
        job.fresh_data(ws / "data")
        store = f"s3://{job.bucket}/snap"
        push_env = self._env(ws, ws / "cache-push", job.s3_endpoint)
        samples = [self._snap(job, PUSH, ["--store", store, "take", "data", "-t", "v1"], push_env)]
        if PULL in scenarios:
            pull_env = self._env(ws, ws / "cache-pull", job.s3_endpoint)
            pull = ["--store", store, "restore", "v1", ws / "pulled"]
            samples.append(self._snap(job, PULL, pull, pull_env))
            job.check_restored(ws / "pulled")
        return samples

    def _snap(self, job: Job, scenario: str, args: list[str | Path], env: dict[str, str]) -> Sample:
        """Run `snap ARGS` in the job's workspace (under py-spy when profiling); its sample."""
        prefix: list[str | Path] = []
        if self.profile_dir is not None:
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            out = self.profile_dir / f"{job.dataset}-{scenario}-r{job.rep}.txt"
            prefix = [BIN / "py-spy", "record", "--format", "raw", "--rate", "250", "-o", out, "--"]
        return job.timed(self.name, scenario, measured([*prefix, SNAP, *args], job.workspace, env))

    @staticmethod
    def _env(ws: Path, cache: Path, endpoint: str | None = None) -> dict[str, str]:
        env = base_env(ws)
        env["SNAP_CACHE_DIR"] = str(cache)
        if endpoint:
            env["AWS_ENDPOINT_URL"] = endpoint
        return env
