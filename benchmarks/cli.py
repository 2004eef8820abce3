"""`python -m benchmarks`: parse options, run the plan, print and write the report."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks import machine, report
from benchmarks.datasets import DATASETS, FULL, QUICK, SMALL, dataset_dir
from benchmarks.emails import BLOCK_ROWS
from benchmarks.measure import tree_bytes
from benchmarks.results import write_section
from benchmarks.runner import DatasetSpec, Plan, run_plan
from benchmarks.tools.base import SCENARIOS, Sample, Tool
from benchmarks.tools.dvc import Dvc
from benchmarks.tools.snapkit import Snapkit
from benchmarks.trash import quiet_seconds_for

HERE = Path(__file__).resolve().parent
TOOLS: dict[str, type[Snapkit] | type[Dvc]] = {"snapkit": Snapkit, "dvc": Dvc}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    p.add_argument("--quick", action="store_true", help="small sizes: the whole run < 2 min")
    p.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    p.add_argument("--dataset", nargs="+", choices=DATASETS, help="default: both")
    p.add_argument("--tools", nargs="+", choices=list(TOOLS), default=list(TOOLS))
    p.add_argument("--reps", type=int, default=3, help="repetitions (medians are reported)")
    p.add_argument(
        "--scale",
        type=int,
        default=1,
        help="also run many-small with SCALE× the files (requirement 4)",
    )
    p.add_argument("--work", type=Path, default=HERE / "work", help="datasets and workspaces")
    p.add_argument(
        "--out", type=Path, default=HERE / "RESULTS.md", help="markdown report (- for none)"
    )
    p.add_argument("--label", help="section of --out to (re)write; default from the options")
    p.add_argument("--json", type=Path, help="also write every sample as JSON here")
    p.add_argument(
        "--quiet-seconds",
        type=float,
        help="wait between blocks after deleting their files (default: 61 on ext4 without a "
        "journal, where freed inodes slow file creation for 60 s; 0 with --quick or elsewhere)",
    )
    args = p.parse_args(argv)
    if args.reps < 1 or args.scale < 1:
        p.error("--reps and --scale must be at least 1")
    return args


def dataset_specs(args: argparse.Namespace) -> tuple[DatasetSpec, ...]:
    sizes = QUICK if args.quick else FULL
    names = args.dataset or ([SMALL] if args.scale > 1 else list(DATASETS))
    specs = [DatasetSpec(name, name, sizes) for name in names]
    if args.scale > 1 and SMALL in names:
        specs.append(DatasetSpec(f"{SMALL}×{args.scale}", SMALL, sizes.scaled(args.scale)))
    return tuple(specs)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse(argv)
    tools: tuple[Tool, ...] = tuple(TOOLS[name]() for name in args.tools)
    quiet = args.quiet_seconds
    if quiet is None:
        quiet = 0.0 if args.quick else quiet_seconds_for(args.work)
    specs, scenarios = dataset_specs(args), frozenset(args.scenario)
    plan = Plan(args.work, specs, scenarios, tools, args.reps, quiet)
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    samples = run_plan(plan, log=lambda line: print(line, flush=True))
    load = f"{load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end"
    body = render(args, plan, samples, shlex.join(["python", "-m", "benchmarks", *argv]), load)
    print("\n" + body)
    print(f"\n(whole run {time.perf_counter() - started:.0f}s)")
    if str(args.out) != "-":
        write_section(args.out, args.label or default_label(args), body)
    if args.json:
        args.json.write_text(json.dumps([asdict(s) for s in samples], indent=1))
    return 0


def default_label(args: argparse.Namespace) -> str:
    """The section a run rewrites: one per kind of run, so a partial run (some scenarios,
    one dataset, one tool) gets its own section instead of replacing the full one."""
    size = "quick" if args.quick else "full"
    if args.scale > 1:
        return f"{size}-scale{args.scale}"
    parts = [size]
    choices = ((args.scenario, SCENARIOS), (args.dataset, DATASETS), (args.tools, TOOLS))
    for chosen, every in choices:
        if chosen and set(chosen) != set(every):
            parts.append("+".join(chosen))
    return "-".join(parts)


def render(
    args: argparse.Namespace, plan: Plan, samples: list[Sample], command: str, load: str
) -> str:
    """The markdown section: when, how, where, the ratio table and the RSS table."""
    meds = report.medians(samples)
    labels = [spec.label for spec in plan.datasets]
    versions = {tool.name: tool.version() for tool in plan.tools}
    lines = [
        f"## {default_label(args)} run",
        "",
        f"- date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- command: `{command}`",
        *machine.describe(plan.work, versions),
        f"- load average (1 min): {load}",
        f"- {plan.reps} repetitions, medians; snapkit and DVC alternate which goes first",
        "- no folder of many files deleted within a block (one repetition of one dataset); "
        + quiet_line(plan),
        *[f"- {spec.label}: {data_summary(plan.work, spec)}" for spec in plan.datasets],
        "",
        "Ratios are snapkit/DVC: below 1 means snapkit is faster (or stores less).",
        "",
        report.ratio_table(meds, labels),
        "",
        "Peak RSS of each command (median over repetitions):",
        "",
        report.rss_table(meds, labels),
    ]
    if args.scale > 1 and len(labels) > 1:
        lines += ["", f"Scaling: snapkit at 1× and {args.scale}× the files:", ""]
        lines.append(report.scaling_table(meds, labels[0], labels[-1], args.scale))
    return "\n".join(lines)


def quiet_line(plan: Plan) -> str:
    if plan.quiet_seconds > 0:
        return (
            f"between blocks, {plan.quiet_seconds:.0f} s waited after deleting "
            "(ext4 without a journal; see benchmarks/trash.py)"
        )
    return "no wait between blocks"


def data_summary(work: Path, spec: DatasetSpec) -> str:
    root = dataset_dir(work, spec.kind, spec.sizes)
    files = sum(1 for p in (root / "v1").rglob("*") if p.is_file())
    changed = sum(1 for p in (root / "v2").rglob("*") if p.is_file())
    size = tree_bytes(root / "v1") / 1e6
    if spec.kind == SMALL:
        low, high = spec.sizes.small_min // 1024, spec.sizes.small_max // 1024
        return f"{files:,} files of {low}–{high} KiB, {size:,.0f} MB; {changed} files changed"
    rows = spec.sizes.group_blocks * BLOCK_ROWS
    return (
        f"{files} files ({spec.sizes.csv_files} CSV, {spec.sizes.parquet_files} Parquet in row "
        f"groups of {rows:,} rows), {size:,.0f} MB; 1% rows appended to one CSV and one Parquet"
    )
