"""Which store a command uses: --store, then SNAP_STORE, then pyproject.toml, then .snap/."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.conftest import assert_ok, make_project, run_snap
from tests.helpers import write


def _ids(store: Path, cwd: Path) -> list[str]:
    out = assert_ok(run_snap("--store", str(store), "log", "--json", cwd=cwd))
    return [e["id"] for e in json.loads(out)]


def test_store_option_relative_to_the_current_folder(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    assert_ok(run_snap("--store", "../elsewhere", "take", "data/raw", cwd=root))
    assert (tmp_path / "elsewhere/config").is_file()
    assert not (root / ".snap").exists()
    assert len(_ids(tmp_path / "elsewhere", tmp_path)) == 1


def test_snap_store_environment_variable(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    env = {"SNAP_STORE": str(tmp_path / "from-env")}
    assert_ok(run_snap("take", "data/raw", "--tag", "v1", cwd=root, env=env))
    assert (tmp_path / "from-env/config").is_file()
    assert not (root / ".snap").exists()
    assert "v1" in assert_ok(run_snap("log", cwd=root, env=env))


def test_pyproject_store_is_relative_to_the_pyproject_folder(tmp_path: Path):
    root = tmp_path / "proj"
    write(root / "pyproject.toml", '[project]\nname = "x"\n\n[tool.snapkit]\nstore = "somewhere"\n')
    write(root / "data/raw/a.txt", "a\n")
    assert_ok(run_snap("take", "raw", "--tag", "v1", cwd=root / "data"))  # from a subfolder
    assert (root / "somewhere/config").is_file()
    assert not (root / "data/somewhere").exists() and not (root / ".snap").exists()
    assert len(_ids(root / "somewhere", tmp_path)) == 1


def test_option_beats_environment_beats_pyproject(tmp_path: Path):
    root = tmp_path / "proj"
    write(root / "pyproject.toml", '[tool.snapkit]\nstore = "from-pyproject"\n')
    write(root / "data/a.txt", "a\n")
    env = {"SNAP_STORE": str(tmp_path / "from-env")}
    assert_ok(run_snap("--store", str(tmp_path / "from-option"), "take", "data", cwd=root, env=env))
    assert (tmp_path / "from-option/config").is_file()
    assert not (tmp_path / "from-env").exists() and not (root / "from-pyproject").exists()
    assert_ok(run_snap("take", "data", cwd=root, env=env))
    assert (tmp_path / "from-env/config").is_file()
    assert not (root / "from-pyproject").exists()


def test_init_chooses_the_compression_once(tmp_path: Path):
    from snapkit.cli.snapshots import init
    from snapkit.objects.packs import COMPRESSIONS

    (choice,) = [p.type for p in init.params if p.name == "compression"]
    assert list(choice.choices) == list(COMPRESSIONS)  # the CLI offers every codec there is
    root = make_project(tmp_path / "proj")
    out = assert_ok(run_snap("init", "--compression", "zstd", "--json", cwd=root))
    assert json.loads(out)["compression"] == "zstd"
    assert "compression: zstd" in assert_ok(run_snap("init", cwd=root))  # kept
    refused = run_snap("init", "--compression", "lz4", cwd=root)
    assert refused.returncode == 2
    assert "compresses with zstd" in refused.stderr and "Traceback" not in refused.stderr
    assert_ok(run_snap("take", "data/raw", "--tag", "v1", cwd=root))
    fresh = assert_ok(run_snap("--store", "../other", "init", "--json", cwd=root))
    assert json.loads(fresh)["compression"] == "auto"  # the default
