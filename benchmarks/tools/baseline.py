"""The physical floor of a cold take: read every file once and BLAKE3-hash it (hashall.py)."""

from __future__ import annotations

import sys

from benchmarks.tools.base import PROJECT, TAKE, Job, Sample, base_env, measured


class HashBaseline:
    name = "read+blake3"

    def version(self) -> str:
        import blake3

        return f"blake3 {blake3.__version__}"

    def local(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        job.fresh_data(job.workspace / "data")
        cmd = [sys.executable, "-m", "benchmarks.tools.hashall", "data"]
        env = base_env(job.workspace)
        env["PYTHONPATH"] = str(PROJECT)
        return [job.timed(self.name, TAKE, measured(cmd, job.workspace, env))]

    def s3(self, job: Job, scenarios: frozenset[str]) -> list[Sample]:
        return []
