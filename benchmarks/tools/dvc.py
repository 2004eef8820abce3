"""DVC through its command line (`.venv/bin/dvc`), each repository fresh (`dvc init --no-scm`).

Analytics are off; site cache (state db), global and system config live in the workspace,
so no run sees another's state. The cache is DVC's default (`.dvc/cache`, link type
`reflink,copy`: copies on ext4).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks.datasets import apply_modification
from benchmarks.measure import run, tree_bytes
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

DVC = BIN / "dvc"


class Dvc:
    name = "dvc"

    def version(self) -> str:
        return command_version([DVC, "--version"])

    def prepare(self) -> None:
        """Nothing: DVC's bytecode was compiled when it was installed."""

    def local(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        """Cold `dvc add` in a fresh repo; `dvc checkout` after removing the data, the cache
        in the page cache, then out of it; the 1% modification and `dvc add` again."""
        ws = job.workspace
        data = job.fresh_data(ws / "data")
        env = self._init(ws)
        samples = [job.timed(self.name, TAKE, measured([DVC, "add", "-q", "data"], ws, env))]
        cache = ws / ".dvc" / "cache"
        samples.append(job.stored(self.name, SIZE, tree_bytes(cache)))
        for scenario, prepare in ((RESTORE, warm), (RESTORE_COLD, evict)):
            if scenario in scenarios:
                prepare(cache)  # (after `dvc add` the cache is warm already)
                job.remove(data)
                checkout = measured([DVC, "checkout", "-q"], ws, env)
                samples.append(job.timed(self.name, scenario, checkout))
                job.check_restored(data)
        if scenarios & {RETAKE, GROWTH}:
            apply_modification(job.dataset_root, data)
            before = tree_bytes(cache)
            readd = measured([DVC, "add", "-q", "data"], ws, env)
            samples.append(job.timed(self.name, RETAKE, readd))
            samples.append(job.stored(self.name, GROWTH, tree_bytes(cache) - before))
        return samples

    def s3(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        """`dvc add` (not timed) and `dvc push` to an S3 remote on the moto server; then
        `dvc pull` in a fresh clone (the `.dvc` file and config, no cache)."""
        repo = job.workspace / "repo"
        job.fresh_data(repo / "data")
        env = self._init(repo)
        run([DVC, "add", "-q", "data"], repo, env)
        _set_remote(repo / ".dvc" / "config", f"s3://{job.bucket}/dvc", str(job.s3_endpoint))
        push = measured([DVC, "push", "-q"], repo, env)
        samples = [job.timed(self.name, PUSH, push)]
        if PULL in scenarios:
            clone = job.workspace / "clone"
            _clone(repo, clone)
            pull = measured([DVC, "pull", "-q"], clone, self._env(clone))
            samples.append(job.timed(self.name, PULL, pull))
            job.check_restored(clone / "data")
        return samples

    @classmethod
    def _init(cls, repo: Path) -> dict[str, str]:
        """`dvc init --no-scm` in `repo`; the environment to run DVC there with."""
        repo.mkdir(parents=True, exist_ok=True)
        env = cls._env(repo)
        run([DVC, "init", "--no-scm", "-q"], repo, env)
        return env

    @staticmethod
    def _env(repo: Path) -> dict[str, str]:
        env = base_env(repo)
        env["DVC_NO_ANALYTICS"] = "1"
        for var, sub in (
            ("DVC_SITE_CACHE_DIR", "site"),
            ("DVC_GLOBAL_CONFIG_DIR", "global"),
            ("DVC_SYSTEM_CONFIG_DIR", "system"),
        ):
            env[var] = str(repo / ".dvc-env" / sub)
        return env


def _set_remote(config: Path, url: str, endpoint: str) -> None:
    """What `dvc remote add -d s3 URL` and `dvc remote modify s3 endpointurl …` write
    (through configobj, as DVC does), without two more DVC start-ups per repetition."""
    from configobj import ConfigObj

    conf = ConfigObj(str(config))
    conf.setdefault("core", {})["remote"] = "s3"
    conf['remote "s3"'] = {"url": url, "endpointurl": endpoint}
    conf.write()


def _clone(repo: Path, clone: Path) -> None:
    """What a git clone of the repo holds: `.dvc/` without cache and tmp, and `data.dvc`."""
    shutil.copytree(repo / ".dvc", clone / ".dvc", ignore=shutil.ignore_patterns("cache", "tmp"))
    shutil.copyfile(repo / "data.dvc", clone / "data.dvc")
