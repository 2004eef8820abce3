"""`snap diff` end to end, through the real `snap` entry point."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.cli.conftest import run_snap
from tests.helpers import write


@dataclass(frozen=True)
class Result:
    exit_code: int
    output: str
    stderr: str


Snap = Callable[..., Result]

V1_CSV = "id,text\n" + "".join(f"{i},msg {i}\n" for i in range(100))
V2_CSV = "id,text\n" + "".join(f"{i},msg {i}\n" for i in range(10, 130))  # -10 rows, +30


@pytest.fixture
def snap(tmp_path: Path) -> Snap:
    """Run `snap --store <tmp store> ARGS` as a subprocess."""
    store = str(tmp_path / "store")

    def run(*args: str) -> Result:
        done: subprocess.CompletedProcess[str] = run_snap("--store", store, *args, cwd=tmp_path)
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture
def versions(snap: Snap, tmp_path: Path) -> Path:
    """Snapshots v1 and v2 of tmp/data: a Parquet and a CSV table changed, a file added,
    one removed, one made executable."""
    data = tmp_path / "data"
    data.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3], "label": [0, 1, 0]}), data / "emails.parquet")
    write(data / "emails.csv", V1_CSV)
    write(data / "old.bin", b"x" * 10)
    write(data / "run.sh", "echo hi\n", mode=0o644)
    assert snap("take", str(data), "-t", "v1").exit_code == 0
    table = pa.table({"id": [1, 2, 3, 4], "label": ["0", "1", "0", "1"], "n_links": [0] * 4})
    pq.write_table(table, data / "emails.parquet")
    write(data / "emails.csv", V2_CSV)
    os.remove(data / "old.bin")
    write(data / "new.csv", "a,b\n" + "1,2\n" * 2000)
    os.chmod(data / "run.sh", 0o755)
    assert snap("take", str(data), "-t", "v2").exit_code == 0
    return data


def test_text_output_names_each_change_and_sums_up(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v1", "v2")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:5] == [
        "M  emails.csv  +20 rows (100 → 120)",
        "M  emails.parquet  +1 row (3 → 4), +column n_links, type of label: int64 → string",
        "A  new.csv  7.8 KiB, 2,000 rows x 2 columns",
        "D  old.bin",
        "M  run.sh  mode 644 → 755",
    ]
    assert ": 1 added, 1 removed, 2 modified, 1 mode changed; 0 unchanged; size +" in lines[5]
    assert len(lines) == 6


def test_rows_counts_rows_added_and_removed(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v1", "v2", "--rows")
    assert result.exit_code == 0, result.output
    assert "M  emails.csv  +20 rows (100 → 120), rows: +30 -10 (90 unchanged)" in result.output
    assert "rows: +1 -0 (3 unchanged)" in result.output  # label compared by its text


def test_json_output(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v1", "v2", "--rows", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    changes = {c["path"]: c for c in doc["changes"]}
    assert {p: c["status"] for p, c in changes.items()} == {
        "emails.csv": "modified",
        "emails.parquet": "modified",
        "new.csv": "added",
        "old.bin": "removed",
        "run.sh": "mode-changed",
    }
    table = changes["emails.parquet"]["table"]
    assert table["rows_delta"] == 1
    assert table["columns_added"] == ["n_links"]
    assert table["type_changes"] == [{"column": "label", "old": "int64", "new": "string"}]
    assert table["rows"]["rows_added"] == 1 and table["rows"]["rows_removed"] == 0
    assert changes["old.bin"]["size_delta"] == -10 and changes["old.bin"]["new"] is None
    assert doc["summary"]["added"] == 1 and doc["summary"]["mode-changed"] == 1
    assert len(doc["old_snapshot"]) == 64


def test_stat_output(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v1", "v2", "--stat")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["M", "emails.csv", "|", "+280", "B", "+20", "rows"]
    assert lines[3].split() == ["D", "old.bin", "|", "-10", "B"]
    assert len(lines) == 6


def test_no_differences_exits_zero(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v2", "v2")
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 1
    assert "no differences (4 paths the same)" in result.output


def test_unknown_snapshot_is_not_found(snap: Snap, versions: Path) -> None:
    result = snap("diff", "v1", "nope")
    assert result.exit_code == 3
    assert "no snapshot or tag named 'nope'" in result.stderr


def test_help_describes_the_output(snap: Snap) -> None:
    result = snap("diff", "--help")
    assert result.exit_code == 0
    for words in ("--rows", "--stat", "--json", "A  added", "type of label: int64 → string"):
        assert words in result.output
