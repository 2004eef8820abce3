"""Medians, the snapkit/DVC ratio table with the issue's targets, and the scaling table."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from benchmarks.datasets import LARGE, SMALL
from benchmarks.tools.base import (
    GROWTH,
    PULL,
    PUSH,
    RESTORE,
    RESTORE_COLD,
    RETAKE,
    SCENARIOS,
    SIZE,
    STORED,
    TAKE,
    Sample,
)

SNAPKIT, DVC, BASELINE = "snapkit", "dvc", "read+blake3"
COPY_BASELINE = "read+blake3+write"
RSS_LIMIT = 300 * 1024 * 1024
# (scenario, dataset) → the largest ratio snapkit/DVC that meets the target.
TARGETS: dict[tuple[str, str], float] = {
    (TAKE, SMALL): 0.5,
    (TAKE, LARGE): 0.5,
    (RETAKE, SMALL): 0.3,
    (RETAKE, LARGE): 0.6,
    (GROWTH, LARGE): 0.05,
    (PUSH, SMALL): 0.1,
    (PUSH, LARGE): 0.7,
    (PULL, SMALL): 0.1,
    (PULL, LARGE): 0.7,
    (RESTORE, SMALL): 0.5,
    (RESTORE, LARGE): 1.0,
}
BASELINE_TARGET = 2.0
WORDS = {
    TAKE: "cold take / cold `dvc add`",
    SIZE: "bytes stored by the cold take",
    RETAKE: "re-take after 1% change / re-add",
    GROWTH: "bytes stored by the 1% change",
    RESTORE: "restore to empty folder / `dvc checkout`",
    RESTORE_COLD: "the same, store / DVC cache not in the page cache",
    PUSH: "take into S3 / `dvc push`",
    PULL: "restore from S3 / `dvc pull` (fresh clone)",
}


@dataclass(frozen=True)
class Median:
    value: float  # seconds, or bytes for SIZE and GROWTH
    peak_rss: float | None  # bytes


def medians(samples: Iterable[Sample]) -> dict[tuple[str, str, str], Median]:
    """(scenario, dataset, tool) → the medians over repetitions."""
    groups: dict[tuple[str, str, str], list[Sample]] = defaultdict(list)
    for s in samples:
        groups[(s.scenario, s.dataset, s.tool)].append(s)
    out = {}
    for key, group in groups.items():
        values = [s.stored_bytes if s.scenario in STORED else s.seconds for s in group]
        rss = [s.peak_rss for s in group if s.peak_rss is not None]
        out[key] = Median(
            statistics.median(v for v in values if v is not None),
            statistics.median(rss) if rss else None,
        )
    return out


def _value(scenario: str, v: float) -> str:
    return f"{v / 1e6:,.2f} MB" if scenario in STORED else f"{v:,.2f} s"


def _verdict(ratio: float, limit: float | None) -> str:
    if limit is None:
        return "—"
    return f"≤ {limit:g} {'✓' if ratio <= limit else '✗'}"


def _kind(dataset: str) -> str:
    return SMALL if dataset.startswith(SMALL) else LARGE


def ratio_table(meds: dict[tuple[str, str, str], Median], datasets: list[str]) -> str:
    """One markdown table: each scenario and dataset, both medians, ratio, target, ✓/✗."""
    lines = [
        "| work | dataset | snapkit | DVC | snapkit/DVC | target |",
        "|---|---|---:|---:|---:|---|",
    ]
    for scenario in SCENARIOS:
        for dataset in datasets:
            mine, theirs = (
                meds.get((scenario, dataset, SNAPKIT)),
                meds.get((scenario, dataset, DVC)),
            )
            if mine is None or theirs is None:
                continue
            ratio = mine.value / theirs.value if theirs.value else float("inf")
            limit = TARGETS.get((scenario, dataset))
            lines.append(
                f"| {WORDS[scenario]} | {dataset} | {_value(scenario, mine.value)} "
                f"| {_value(scenario, theirs.value)} | **{ratio:.3f}** | {_verdict(ratio, limit)} |"
            )
    lines += _baseline_rows(meds, datasets) + _rss_rows(meds, datasets)
    return "\n".join(lines)


def _baseline_rows(meds: dict[tuple[str, str, str], Median], datasets: list[str]) -> list[str]:
    rows = []
    for dataset in datasets:
        mine, floor = meds.get((TAKE, dataset, SNAPKIT)), meds.get((TAKE, dataset, BASELINE))
        if mine and floor:
            ratio = mine.value / floor.value
            rows.append(
                f"| cold take / just read + BLAKE3 | {dataset} | {mine.value:.2f} s "
                f"| ({floor.value:.2f} s) | **{ratio:.3f}** | {_verdict(ratio, BASELINE_TARGET)} |"
            )
        copy = meds.get((TAKE, dataset, COPY_BASELINE))
        if mine and copy:
            rows.append(
                f"| cold take / read + BLAKE3 + write a copy | {dataset} | {mine.value:.2f} s "
                f"| ({copy.value:.2f} s) | **{mine.value / copy.value:.3f}** | — |"
            )
    return rows


def _rss_rows(meds: dict[tuple[str, str, str], Median], datasets: list[str]) -> list[str]:
    """Largest peak RSS over every command of each tool, per dataset; 300 MB is the limit."""
    rows = []
    for dataset in datasets:
        peaks = {
            tool: max(
                (m.peak_rss or 0 for (sc, ds, t), m in meds.items() if ds == dataset and t == tool),
                default=0,
            )
            for tool in (SNAPKIT, DVC)
        }
        if peaks[SNAPKIT] and peaks[DVC]:
            ok = "✓" if peaks[SNAPKIT] <= RSS_LIMIT else "✗"
            limit = f"snapkit ≤ 300 MB {ok}" if _kind(dataset) == LARGE else "—"
            rows.append(
                f"| peak RSS, largest command | {dataset} | {peaks[SNAPKIT] / 1e6:.0f} MB "
                f"| {peaks[DVC] / 1e6:.0f} MB | **{peaks[SNAPKIT] / peaks[DVC]:.3f}** | {limit} |"
            )
    return rows


def rss_table(meds: dict[tuple[str, str, str], Median], datasets: list[str]) -> str:
    """Peak RSS (median over repetitions) of every measured command."""
    lines = ["| work | dataset | snapkit | DVC |", "|---|---|---:|---:|"]
    for scenario in SCENARIOS:
        for dataset in datasets:
            cells = [meds.get((scenario, dataset, t)) for t in (SNAPKIT, DVC)]
            if any(c is not None and c.peak_rss for c in cells):
                shown = [f"{c.peak_rss / 1e6:.0f} MB" if c and c.peak_rss else "—" for c in cells]
                lines.append(f"| {WORDS[scenario]} | {dataset} | {shown[0]} | {shown[1]} |")
    return "\n".join(lines)


def scaling_table(
    meds: dict[tuple[str, str, str], Median], base: str, scaled: str, factor: int
) -> str:
    """snapkit at 1× and `factor`× the file count: time growth (linear = factor), memory."""
    lines = [
        f"| work | {base} | {scaled} | time ×{factor} files | RSS {base} | RSS {scaled} |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for scenario in SCENARIOS:
        one, many = meds.get((scenario, base, SNAPKIT)), meds.get((scenario, scaled, SNAPKIT))
        if one is None or many is None or scenario in STORED:
            continue
        lines.append(
            f"| {WORDS[scenario]} | {one.value:.2f} s | {many.value:.2f} s "
            f"| ×{many.value / one.value:.1f} | {(one.peak_rss or 0) / 1e6:.0f} MB "
            f"| {(many.peak_rss or 0) / 1e6:.0f} MB |"
        )
    return "\n".join(lines)
