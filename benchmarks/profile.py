"""Where snapkit's time goes: run its side of the scenarios under py-spy and summarise.

    python -m benchmarks.profile [--quick] [--dataset NAME ...] [--scenario NAME ...]

Each measured `snap` command runs under `py-spy record --format raw` (CPU samples of every
thread, idle ones left out); the summary gives, per command, the functions with the most
samples on top of the stack (self) and in the stack at all (inclusive), as a share of all
samples. Profiles land in benchmarks/work/profiles/.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

from benchmarks.datasets import DATASETS, FULL, QUICK
from benchmarks.runner import DatasetSpec, Plan, run_plan
from benchmarks.tools.base import SCENARIOS
from benchmarks.tools.snapkit import Snapkit

HERE = Path(__file__).resolve().parent
_LINE = re.compile(r":\d+\)$")


def frame_name(frame: str) -> str:
    """`take (/…/snapkit/snapshot/take.py:123)` → `take (snapkit/snapshot/take.py)`."""
    frame = _LINE.sub(")", frame.strip())
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in frame:
            name, _, path = frame.partition(" (")
            return f"{name} ({path.split(marker, 1)[1]}"
    return frame


def summarise(raw: Path, top: int = 12) -> str:
    """A markdown table of the top functions (self and inclusive) of one py-spy raw file."""
    own, inclusive, total = Counter[str](), Counter[str](), 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [frame_name(f) for f in stack.split(";")]
        n = int(count)
        total += n
        own[frames[-1]] += n
        for f in set(frames):
            inclusive[f] += n
    rows = ["| self % | function | | inclusive % | function |", "|---:|---|---|---:|---|"]
    for (s_name, s_n), (i_name, i_n) in zip(
        own.most_common(top), inclusive.most_common(top), strict=False
    ):
        rows.append(
            f"| {100 * s_n / total:.1f} | `{s_name}` | | {100 * i_n / total:.1f} | `{i_name}` |"
        )
    return f"**{raw.stem}** ({total} samples)\n\n" + "\n".join(rows)


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--dataset", nargs="+", choices=DATASETS, default=list(DATASETS))
    p.add_argument("--scenario", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    p.add_argument("--work", type=Path, default=HERE / "work")
    args = p.parse_args()
    out = args.work / "profiles"
    sizes = QUICK if args.quick else FULL
    specs = tuple(DatasetSpec(name, name, sizes) for name in args.dataset)
    plan = Plan(args.work, specs, frozenset(args.scenario), (Snapkit(out),), reps=1)
    run_plan(plan)
    for raw in sorted(out.glob("*.txt")):
        print("\n" + summarise(raw))


if __name__ == "__main__":
    main()
