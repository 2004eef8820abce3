"""Deterministic benchmark datasets: few-large (Parquet + CSV of emails) and many-small.

Each dataset is generated once into `<work>/datasets/<name>-<sizes hash>/`:

- `v1/`: the data to take;
- `v2/`: only the files the 1% modification changes, with their new content, so that
  copying `v2/` over a copy of `v1/` gives the modified data (`apply_modification`).

A `.complete` marker makes a later run reuse it. The same `Sizes` give byte-identical files.
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from benchmarks.emails import BLOCK_ROWS, SCHEMA, email_block, email_tables

SMALL = "many-small"
LARGE = "few-large"
DATASETS = (SMALL, LARGE)
MODIFIED_SHARE = 0.01


@dataclass(frozen=True)
class Sizes:
    """How big each dataset is. Table rows are counted in row groups of blocks."""

    small_files: int = 20_000
    small_min: int = 1_024
    small_max: int = 20 * 1_024
    group_blocks: int = 16  # a Parquet row group: 16 blocks of 4,096 = 65,536 rows
    csv_files: int = 2
    csv_groups: int = 27  # ≈ 500 MB each
    parquet_files: int = 4
    parquet_groups: int = 40  # ≈ 250 MB each

    def scaled(self, factor: int) -> Sizes:
        """Many-small with `factor` times the files (the scaling run)."""
        return replace(self, small_files=self.small_files * factor)

    def key(self, dataset: str) -> str:
        """A folder name that changes whenever the sizes that shape `dataset` change."""
        prefixes = ("small_",) if dataset == SMALL else ("csv_", "parquet_", "group_")
        fields = {k: v for k, v in asdict(self).items() if k.startswith(prefixes)}
        blob = json.dumps(fields, sort_keys=True).encode()
        return f"{dataset}-{hashlib.sha256(blob).hexdigest()[:10]}"


FULL = Sizes()
QUICK = Sizes(small_files=400, group_blocks=4, csv_groups=4, parquet_groups=4)
TINY = Sizes(
    small_files=40,
    small_max=4_096,
    group_blocks=1,
    csv_files=1,
    csv_groups=2,
    parquet_files=1,
    parquet_groups=2,
)


def dataset_dir(work: Path, dataset: str, sizes: Sizes) -> Path:
    """The generated dataset (`v1/`, `v2/`), generating it first if needed."""
    root = work / "datasets" / sizes.key(dataset)
    if not (root / ".complete").exists():
        shutil.rmtree(root, ignore_errors=True)
        (generate_small if dataset == SMALL else generate_large)(root, sizes)
        (root / ".complete").write_text(json.dumps(asdict(sizes)))
    return root


def apply_modification(dataset_root: Path, data: Path) -> None:
    """Copy the modified files (`v2/`) over `data`, replacing files (never writing in place)."""
    for src in sorted((dataset_root / "v2").rglob("*")):
        if src.is_file():
            dst = data / src.relative_to(dataset_root / "v2")
            dst.unlink(missing_ok=True)
            shutil.copyfile(src, dst)


def copy_tree(src: Path, dst: Path) -> None:
    """`cp -a` (much faster than shutil for 200,000 files)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


# -- few-large ----------------------------------------------------------------------------


def _appended_blocks(blocks: int) -> int:
    return max(1, math.ceil(blocks * MODIFIED_SHARE))


def write_csv(path: Path, seed: int, blocks: int, group_blocks: int) -> None:
    with pacsv.CSVWriter(path, SCHEMA) as writer:
        for table in email_tables(seed, blocks, group_blocks):
            writer.write_table(table)


def write_parquet(path: Path, seed: int, blocks: int, group_blocks: int) -> None:
    """Row groups of exactly `group_blocks` blocks, content-defined pages: stable on append."""
    with pq.ParquetWriter(path, SCHEMA, use_content_defined_chunking=True) as writer:
        for table in email_tables(seed, blocks, group_blocks):
            writer.write_table(table, row_group_size=group_blocks * BLOCK_ROWS)


def generate_large(root: Path, sizes: Sizes) -> None:
    """v1: CSV and Parquet files of emails; v2: the first of each with 1% more rows."""
    for version in ("v1", "v2"):
        (root / version).mkdir(parents=True)
    g = sizes.group_blocks
    kinds = (
        ("csv", write_csv, sizes.csv_files, sizes.csv_groups),
        ("parquet", write_parquet, sizes.parquet_files, sizes.parquet_groups),
    )
    for ext, write, count, groups in kinds:
        for i in range(count):
            seed = 1_000 * (ext == "parquet") + i
            write(root / "v1" / f"emails-{i}.{ext}", seed, groups * g, g)
        extra = _appended_blocks(groups * g)
        write(root / "v2" / f"emails-0.{ext}", 1_000 * (ext == "parquet"), groups * g + extra, g)


# -- many-small ---------------------------------------------------------------------------

POOL_BYTES = 16 << 20


def _text_pool(seed: int) -> bytes:
    """≈16 MB of email text ("From: …\\nSubject: …\\n\\nbody\\n\\n") to cut small files from."""
    parts: list[bytes] = []
    size, block = 0, 0
    while size < POOL_BYTES:
        rows = email_block(seed, block).to_pydict()
        text = "".join(
            f"From: {s}\nSubject: {t}\n\n{b}\n\n"
            for s, t, b in zip(rows["sender"], rows["subject"], rows["body"], strict=True)
        ).encode()
        parts.append(text)
        size, block = size + len(text), block + 1
    return b"".join(parts)


def small_path(i: int) -> str:
    return f"d{i // 200:04d}/msg-{i:06d}.eml"


def generate_small(root: Path, sizes: Sizes) -> None:
    """v1: `small_files` files of `small_min`–`small_max` bytes, 200 per folder;
    v2: every 100th file with a line changed in the middle and a line appended."""
    pool = _text_pool(seed=7)
    rng = np.random.default_rng(7)
    lengths = rng.integers(sizes.small_min, sizes.small_max + 1, sizes.small_files)
    starts = rng.integers(0, len(pool) - sizes.small_max, sizes.small_files)
    for i, (start, length) in enumerate(zip(starts.tolist(), lengths.tolist(), strict=True)):
        header = f"Message-Id: <{i}@bench.test>\n".encode()
        body = header + pool[start : start + length - len(header)]
        _write(root / "v1" / small_path(i), body)
        if i % round(1 / MODIFIED_SHARE) == 0:
            middle = len(body) // 2
            changed = body[:middle] + b"\nX-Edited: yes\n" + body[middle:] + b"\nP.S. edited\n"
            _write(root / "v2" / small_path(i), changed)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
