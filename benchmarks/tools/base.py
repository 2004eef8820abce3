"""What every tool shares: the scenarios, one job's inputs, samples, the environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from benchmarks.datasets import copy_tree
from benchmarks.measure import CommandFailed, Measurement, run, tree_bytes
from benchmarks.trash import Trash

TAKE = "take"  # cold take / cold `dvc add`
SIZE = "size"  # bytes the store (DVC cache) holds after that cold take
RETAKE = "retake"  # take again after the 1% modification / `dvc add` again
GROWTH = "growth"  # bytes the store (DVC cache) grew by with that re-take
RESTORE = "restore"  # into an empty folder / `dvc checkout` after removing the data
RESTORE_COLD = "restore-cold"  # the same with the store (DVC's cache) out of the page cache
PUSH = "push"  # take straight into S3 / `dvc push`
PULL = "pull"  # restore from S3 into a fresh folder, empty cache / `dvc pull` in a fresh clone
LOCAL_SCENARIOS = (TAKE, SIZE, RETAKE, GROWTH, RESTORE, RESTORE_COLD)
STORED = (SIZE, GROWTH)  # scenarios whose samples are bytes, not seconds
S3_SCENARIOS = (PUSH, PULL)
SCENARIOS = LOCAL_SCENARIOS + S3_SCENARIOS
BIN = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parents[2]  # so `python -m benchmarks…` works from anywhere
S3_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass(frozen=True)
class Sample:
    """One measured value of one scenario, dataset, tool and repetition."""

    scenario: str
    dataset: str
    tool: str
    rep: int
    seconds: float | None = None
    peak_rss: int | None = None
    stored_bytes: int | None = None


@dataclass(frozen=True)
class Job:
    """One tool's turn on one dataset in one repetition."""

    dataset: str
    dataset_root: Path  # holds v1/ and v2/ (see datasets.py)
    workspace: Path  # an empty folder of its own, removed afterwards
    rep: int
    s3_endpoint: str | None = None  # moto server URL, for the S3 scenarios
    bucket: str | None = None
    trash: Trash | None = None  # where removed folders go until the block is over

    def remove(self, path: Path) -> None:
        """Remove `path`: into the trash when there is one (see benchmarks/trash.py)."""
        if self.trash is not None:
            self.trash.discard(path)
        else:
            remove(path)

    def timed(self, tool: str, scenario: str, m: Measurement) -> Sample:
        return Sample(scenario, self.dataset, tool, self.rep, m.seconds, m.peak_rss)

    def stored(self, tool: str, scenario: str, size: int) -> Sample:
        return Sample(scenario, self.dataset, tool, self.rep, stored_bytes=size)

    def check_restored(self, folder: Path) -> None:
        """Fail unless `folder` holds as many bytes as the dataset's v1 (a cheap sanity check
        that a restore or pull really brought the data back; not timed)."""
        got, want = tree_bytes(folder), tree_bytes(self.dataset_root / "v1")
        if got != want:
            raise CommandFailed(f"{folder} holds {got} bytes after restoring, expected {want}")

    def fresh_data(self, target: Path) -> Path:
        """A copy of the dataset's v1 at `target`, flushed to disk (no writeback later)."""
        copy_tree(self.dataset_root / "v1", target)
        settle()
        return target


class Tool(Protocol):
    name: str

    def version(self) -> str: ...

    def prepare(self) -> None:
        """Anything to do once before the first measured command."""

    def local(self, job: Job, scenarios: frozenset[str]) -> list[Sample]: ...

    def s3(self, job: Job, scenarios: frozenset[str]) -> list[Sample]: ...


def settle() -> None:
    """Flush dirty pages so one command's writeback does not land in the next one's time."""
    os.sync()


def measured(cmd: Sequence[str | Path], cwd: Path, env: dict[str, str]) -> Measurement:
    """`run` then `settle`: the next command starts from a quiet disk."""
    m = run(cmd, cwd, env)
    settle()
    return m


def base_env(workspace: Path) -> dict[str, str]:
    """This environment without AWS/SNAP/DVC settings of the machine, plus dummy S3 keys."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SNAP_", "DVC_"))}
    env.update(S3_CREDENTIALS)
    home = workspace / "home"  # no user-level config of either tool
    home.mkdir(parents=True, exist_ok=True)
    env["HOME"] = str(home)
    return env


def command_version(cmd: Sequence[str | Path]) -> str:
    """The version number a `--version` command prints (`snap, version 0.1.0` → `0.1.0`)."""
    out = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, check=True)
    found = re.search(r"\d+(\.\d+)+\S*", out.stdout)
    return found.group(0) if found else out.stdout.strip()


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def warm(folder: Path) -> None:
    """Read every file under `folder` (not timed), so a restore from it starts, as the
    issue's figures were measured, with a warm page cache. `dvc add` leaves its cache
    there, having written it through the page cache; a take writes its packs past it
    (direct I/O, storage/fileio.py), so without this the two restores would read from
    different places: one from memory, one from the disk."""
    for path in _files(folder):
        with open(path, "rb", buffering=0) as f:
            while f.read(1 << 20):
                pass


def evict(folder: Path) -> None:
    """Drop the files under `folder` from the page cache (flushed first; not timed): a
    restore from it then reads from the disk, as on another machine or much later.
    Per file (posix_fadvise), not `drop_caches`: emptying the whole page cache of this
    VM slowed every write of new memory for many minutes after (RESULTS.md)."""
    os.sync()
    for path in _files(folder):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _files(folder: Path) -> list[str]:
    return [os.path.join(d, f) for d, _, names in os.walk(folder) for f in names]
