"""The physical floors of a cold take (hashall.py): read every file once and BLAKE3-hash
it; and the same plus writing a copy of every byte read (storing the data at all)."""

from __future__ import annotations

import sys

from benchmarks.tools.base import PROJECT, TAKE, Job, Sample, base_env, measured


class HashBaseline:
    name = "read+blake3"
    extra: tuple[str, ...] = ()

    def version(self) -> str:
        import blake3

        return f"blake3 {blake3.__version__}"

    def local(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        job.fresh_data(job.workspace / "data")
        cmd = [sys.executable, "-m", "benchmarks.tools.hashall", "data", *self.extra]
        env = base_env(job.workspace)
        env["PYTHONPATH"] = str(PROJECT)
        return [job.timed(self.name, TAKE, measured(cmd, job.workspace, env))]

    def s3(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        return []


class CopyBaseline(HashBaseline):
    name = "read+blake3+write"
    extra = ("--copy-to", "copy")
