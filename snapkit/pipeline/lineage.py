"""Lineage: which step of which run made a snapshot (upstream), and which used it.

Within a run, a step's upstream is the steps whose outputs it reads. Across runs, a step
used an output when the digest of that dep in its fingerprint equals the digest of the
output's content: same bytes, wherever and whenever they were made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from snapkit.pipeline.fingerprint import dep_digests
from snapkit.pipeline.records import RunRecord, StepRecord
from snapkit.pipeline.spec import Step, _overlaps
from snapkit.snapshot.repo import Repo


@dataclass(frozen=True)
class Link:
    run: str
    step: str
    role: str  # what of that step is linked: its outputs (upstream) or inputs (downstream)
    snapshot: str | None
    path: str  # the path through which they are linked

    def describe(self) -> str:
        snap = f" [{self.snapshot[:12]}]" if self.snapshot else ""
        return f"{self.run}:{self.step} {self.role}{snap} via {self.path}"


@dataclass(frozen=True)
class Lineage:
    subject: str
    upstream: tuple[Link, ...]
    downstream: tuple[Link, ...]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def find_step_of_snapshot(
    runs: list[RunRecord], snapshot_id: str
) -> tuple[RunRecord, StepRecord] | None:
    """The step whose inputs or outputs snapshot is `snapshot_id` (outputs preferred)."""
    for role in ("outputs", "inputs"):
        for run in runs:
            for step in run.steps:
                if getattr(step, role) == snapshot_id and not step.cache_hit:
                    return run, step
    return None


def step_lineage(repo: Repo, runs: list[RunRecord], run: RunRecord, step: StepRecord) -> Lineage:
    upstream = []
    for other in run.steps:
        if other.name == step.name:
            continue
        for dep in step.deps:
            if _overlaps((dep,), other.outs):
                upstream.append(Link(run.id, other.name, "outputs", other.outputs, dep))
    if step.cache_hit and step.cached_from:
        upstream.append(Link(step.cached_from, step.name, "outputs", step.outputs, "step cache"))
    return Lineage(f"{run.id}:{step.name}", tuple(upstream), tuple(_used_by(repo, runs, run, step)))


def _used_by(repo: Repo, runs: list[RunRecord], run: RunRecord, step: StepRecord) -> list[Link]:
    if not step.outputs:
        return []
    entries = repo.load_tree(repo.load_snapshot(step.outputs).tree)
    as_deps = Step(step.name, step.cmd, deps=step.outs, outs=())
    made = dep_digests(as_deps, entries)  # out path → content digest
    links = []
    for other_run in runs:
        for other in other_run.steps:
            deps = (other.fingerprint or {}).get("deps", {})
            for path, digest in made.items():
                if deps.get(path) == digest and (other_run.id, other.name) != (run.id, step.name):
                    links.append(Link(other_run.id, other.name, "inputs", other.inputs, path))
    return links
