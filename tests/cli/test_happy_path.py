"""The everyday commands, end to end: take, log, show, ls, tag, restore, check."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.cli.conftest import assert_ok, make_project, run_snap
from tests.helpers import make_dataset, snapshot_of, write

CSV = "id,text,label\n1,hi,0\n2,yo,1\n3,hey,0\n"


@dataclass(frozen=True)
class Taken:
    root: Path  # the project (its path has a space, as users' paths do)
    raw: Path  # what was taken: data/raw
    id: str  # the full snapshot id
    take_stdout: str


@pytest.fixture(scope="module")
def taken(tmp_path_factory: pytest.TempPathFactory) -> Taken:
    """One project with `data/raw` taken as raw-v1, shared by the read-only tests below."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = tmp_path_factory.mktemp("happy")
    root = base / "my project"
    (root / ".git").mkdir(parents=True)
    raw = make_dataset(root / "data/raw")
    write(raw / "tables/emails.csv", CSV)
    table = pa.table({"id": list(range(5)), "text": list("abcde"), "score": [0.5] * 5})
    pq.write_table(table, raw / "tables/emails.parquet")
    env = {"SNAP_CACHE_DIR": str(base / "cache")}
    out = assert_ok(
        run_snap("take", "data/raw", "-m", "emails november", "--tag", "raw-v1", cwd=root, env=env)
    )
    log = json.loads(assert_ok(run_snap("log", "--json", cwd=root, env=env)))
    return Taken(root, raw, log[0]["id"], out)


def test_take_prints_the_snapshot_id_and_makes_the_store_at_the_project_root(taken: Taken):
    assert re.match(r"snapshot [0-9a-f]{12} ", taken.take_stdout)
    assert taken.take_stdout.split()[1] == taken.id[:12]
    assert "raw-v1" in taken.take_stdout
    assert (taken.root / ".snap/config").is_file()
    assert not (taken.raw / ".snap").exists()


def test_take_from_a_subfolder_makes_the_store_at_the_project_root(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    assert_ok(run_snap("take", "raw", "--tag", "v1", cwd=root / "data"))
    assert (root / ".snap/config").is_file()
    assert not (root / "data/.snap").exists()
    [entry] = json.loads(assert_ok(run_snap("log", "--json", cwd=root)))
    assert entry["source"] == "data/raw"  # recorded relative to the project root


def test_a_subfolder_finds_the_project_store_like_git(taken: Taken):
    deep = taken.raw / "nested/deeper"
    [entry] = json.loads(assert_ok(run_snap("log", "--json", cwd=deep)))
    assert entry["id"] == taken.id
    assert not (deep / ".snap").exists()


def test_log_lists_the_snapshot_with_message_and_tags(taken: Taken):
    out = assert_ok(run_snap("log", cwd=taken.root))
    [line] = out.splitlines()
    assert line.startswith(taken.id[:12])
    assert "data/raw" in line and "[raw-v1]" in line and "emails november" in line


def test_log_json(taken: Taken):
    [entry] = json.loads(assert_ok(run_snap("log", "--json", cwd=taken.root)))
    assert re.fullmatch(r"[0-9a-f]{64}", entry["id"])
    assert entry["current_tags"] == ["raw-v1"]
    assert entry["message"] == "emails november"
    assert entry["summary"]["files"] == 8


def test_show_by_tag_and_by_id_prefix(taken: Taken):
    out = assert_ok(run_snap("show", "raw-v1", cwd=taken.root))
    assert f"snapshot  {taken.id}" in out
    assert "emails november" in out and "raw-v1" in out and "data/raw (dir)" in out
    shown = json.loads(assert_ok(run_snap("show", taken.id[:8], "--json", cwd=taken.root)))
    assert shown["id"] == taken.id
    assert shown["current_tags"] == ["raw-v1"]
    assert shown["summary"]["tables"] == 3  # two here, x.csv in make_dataset


def test_ls_shows_table_facts_for_csv_and_parquet(taken: Taken):
    out = assert_ok(run_snap("ls", "raw-v1", cwd=taken.root))
    assert re.search(r"tables/emails\.csv  \(3 rows x 3 cols\)", out)
    assert re.search(r"tables/emails\.parquet  \(5 rows x 3 cols\)", out)
    assert re.search(r"link  link-to-a -> a\.txt", out)
    entries = json.loads(assert_ok(run_snap("ls", "raw-v1", "tables", "--json", cwd=taken.root)))
    tables = {e["path"]: e["table"] for e in entries if e["kind"] == "file"}
    assert set(tables) == {"tables/emails.csv", "tables/emails.parquet"}
    assert tables["tables/emails.csv"]["rows"] == 3
    assert tables["tables/emails.csv"]["columns"] == ["id", "text", "label"]
    assert tables["tables/emails.parquet"]["rows"] == 5
    assert tables["tables/emails.parquet"]["columns"] == ["id", "text", "score"]


def test_ls_path_lists_only_that_path(taken: Taken):
    out = assert_ok(run_snap("ls", "raw-v1", "nested/deeper", cwd=taken.root))
    paths = [line[12:].split("  (")[0] for line in out.splitlines()]  # after the size column
    assert paths == ["nested/deeper/", "nested/deeper/still/", "nested/deeper/still/x.csv"]


def test_restore_is_byte_identical(taken: Taken, tmp_path: Path):
    out = assert_ok(run_snap("restore", "raw-v1", str(tmp_path / "out"), cwd=taken.root))
    assert "wrote 9 files" in out
    assert snapshot_of(tmp_path / "out") == snapshot_of(taken.raw)


def test_restore_only_some_paths(taken: Taken, tmp_path: Path):
    target = tmp_path / "out"
    assert_ok(run_snap("restore", "raw-v1", str(target), "--path", "tables/*", cwd=taken.root))
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob("*")) == [
        "tables",
        "tables/emails.csv",
        "tables/emails.parquet",
    ]
    assert (target / "tables/emails.csv").read_text() == CSV


def test_restore_dry_run_prints_the_plan_and_writes_nothing(taken: Taken, tmp_path: Path):
    target = tmp_path / "out"
    out = assert_ok(run_snap("restore", "raw-v1", str(target), "--dry-run", cwd=taken.root))
    assert "would write 9 files" in out
    assert "  write  nested/big.bin" in out
    assert not target.exists()
    plan = json.loads(
        assert_ok(run_snap("restore", "raw-v1", str(target), "-n", "--json", cwd=taken.root))
    )
    assert plan["dry_run"] is True and "a.txt" in plan["write"]
    assert not target.exists()


def test_check_read_data_passes_on_a_sound_store(taken: Taken):
    out = assert_ok(run_snap("check", "--read-data", cwd=taken.root))
    assert "checked 1 snapshots" in out and "no problems" in out


def test_tag_then_delete_it(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    assert_ok(run_snap("take", "data/raw", "--tag", "raw-v1", cwd=root))
    out = assert_ok(run_snap("tag", "raw-v1", "prod/latest", cwd=root))
    [entry] = json.loads(assert_ok(run_snap("log", "--json", cwd=root)))
    assert out.strip() == f"prod/latest -> {entry['id'][:12]}"
    assert entry["current_tags"] == ["prod/latest", "raw-v1"]
    shown = json.loads(assert_ok(run_snap("show", "prod/latest", "--json", cwd=root)))
    assert shown["id"] == entry["id"]

    assert assert_ok(run_snap("tag", "--delete", "prod/latest", cwd=root)).strip() == (
        "deleted tag prod/latest"
    )
    [entry] = json.loads(assert_ok(run_snap("log", "--json", cwd=root)))
    assert entry["current_tags"] == ["raw-v1"]
    assert run_snap("show", "prod/latest", cwd=root).returncode == 3


def test_take_of_unchanged_data_stores_nothing_new(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    assert_ok(run_snap("take", "data/raw", cwd=root))
    out = assert_ok(run_snap("take", "data/raw", cwd=root))
    assert "new: 0 B (0 B stored)" in out
    second = json.loads(assert_ok(run_snap("take", "data/raw", "--json", cwd=root)))
    assert second["summary"]["new_bytes"] == 0
    assert second["summary"]["new_stored_bytes"] == 0


def test_take_json_has_the_id_and_summary(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    out = json.loads(assert_ok(run_snap("take", "data/raw", "-t", "v1", "--json", cwd=root)))
    assert re.fullmatch(r"[0-9a-f]{64}", out["id"])
    assert out["summary"]["files"] == 2
    assert out["summary"]["bytes"] == len("hello\nworld\n") + len("spam\nham\n")
    assert out["tags"] == ["v1"]
    assert out["source"] == "data/raw"
