"""Run the plan: for each repetition, each dataset, each tool in alternating order."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path

from benchmarks.datasets import Sizes, dataset_dir
from benchmarks.s3 import create_bucket, moto_server, reset
from benchmarks.tools.base import LOCAL_SCENARIOS, S3_SCENARIOS, TAKE, Job, Sample, Tool
from benchmarks.tools.baseline import CopyBaseline, HashBaseline
from benchmarks.trash import Trash

Log = Callable[[str], None]


@dataclass(frozen=True)
class DatasetSpec:
    label: str  # what the report calls it: "many-small", "many-small×10"
    kind: str  # datasets.SMALL or datasets.LARGE
    sizes: Sizes


@dataclass(frozen=True)
class Plan:
    work: Path
    datasets: tuple[DatasetSpec, ...]
    scenarios: frozenset[str]
    tools: tuple[Tool, ...]  # compared tools, alternated: snapkit and DVC
    reps: int
    quiet_seconds: float = 0.0  # wait between blocks after emptying the trash (trash.py)


def run_plan(plan: Plan, log: Log = print) -> list[Sample]:
    """Every sample of the plan. The baseline runs first in each repetition; the compared
    tools alternate which goes first from one repetition to the next."""
    roots = {}
    for spec in plan.datasets:
        started = time.perf_counter()
        roots[spec.label] = dataset_dir(plan.work, spec.kind, spec.sizes)
        log(f"dataset {spec.label}: {roots[spec.label]} ({time.perf_counter() - started:.1f}s)")
    for tool in plan.tools:
        tool.prepare()
    samples: list[Sample] = []
    trash = Trash(plan.work / "trash", plan.quiet_seconds)
    with ExitStack() as stack:
        stack.callback(trash.empty)
        endpoint = stack.enter_context(moto_server()) if plan.scenarios & {*S3_SCENARIOS} else None
        for rep in range(plan.reps):
            for spec in plan.datasets:
                trash.settle(log)  # nothing is deleted within a block (one rep, one dataset)
                for tool in tool_order(plan, rep):
                    job = Job(spec.label, roots[spec.label], Path(), rep, endpoint, trash=trash)
                    samples += run_job(plan, tool, job, log)
    return samples


def tool_order(plan: Plan, rep: int) -> list[Tool]:
    tools = list(plan.tools) if rep % 2 == 0 else list(reversed(plan.tools))
    return [HashBaseline(), CopyBaseline(), *tools] if TAKE in plan.scenarios else tools


def run_job(plan: Plan, tool: Tool, job: Job, log: Log) -> list[Sample]:
    """One tool's local and/or S3 lifecycle on one dataset, in fresh workspaces."""
    wanted, out = plan.scenarios, []
    slug = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{job.dataset}-{tool.name}-r{job.rep}")
    if wanted & {*LOCAL_SCENARIOS}:
        local = _with_workspace(job, plan.work / "runs" / f"{slug}-local")
        out += _in_workspace(local, lambda: tool.local(local, wanted))
    if wanted & {*S3_SCENARIOS} and job.s3_endpoint:
        bucket = slug.lower().replace("_", "-").replace(".", "-")[:63]
        create_bucket(job.s3_endpoint, bucket)
        remote = _with_workspace(job, plan.work / "runs" / f"{slug}-s3", bucket)
        try:
            out += _in_workspace(remote, lambda: tool.s3(remote, wanted))
        finally:
            reset(job.s3_endpoint)
    kept = [s for s in out if s.scenario in wanted]
    for s in kept:
        log(describe(s))
    return kept


def _with_workspace(job: Job, workspace: Path, bucket: str | None = None) -> Job:
    return replace(job, workspace=workspace, bucket=bucket)


def _in_workspace(job: Job, body: Callable[[], Sequence[Sample]]) -> list[Sample]:
    job.remove(job.workspace)
    job.workspace.mkdir(parents=True)
    try:
        return list(body())
    finally:
        job.remove(job.workspace)


def describe(s: Sample) -> str:
    head = f"  rep {s.rep}  {s.dataset:<16} {s.scenario:<8} {s.tool:<12}"
    if s.stored_bytes is not None:
        return f"{head} {s.stored_bytes / 1e6:10.2f} MB stored"
    return f"{head} {s.seconds or 0:8.2f} s  {(s.peak_rss or 0) / 1e6:7.0f} MB RSS"
