"""Failures: each kind has its own exit code and one `snap: error:` line, never a traceback."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from tests.cli.conftest import (
    assert_fails,
    assert_ok,
    make_project,
    run_in_mount_namespace,
    run_snap,
)
from tests.helpers import random_bytes, snapshot_of, write


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with data/raw taken as raw-v1; the tests below only read its store."""
    base = tmp_path_factory.mktemp("errors")
    root = make_project(base / "proj")
    env = {"SNAP_CACHE_DIR": str(base / "cache")}
    assert_ok(run_snap("take", "data/raw", "--tag", "raw-v1", cwd=root, env=env))
    return root


# -- not found: 3 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [("show", "nope"), ("ls", "nope"), ("restore", "nope", "out"), ("tag", "nope", "x")],
)
def test_unknown_snapshot_or_tag(project: Path, args: tuple[str, ...]):
    assert_fails(run_snap(*args, cwd=project), 3, "'nope'")
    assert not (project / "out").exists()


def test_unknown_path_in_ls(project: Path):
    assert_fails(run_snap("ls", "raw-v1", "nope", cwd=project), 3, "'nope'")


def test_taking_a_missing_path(project: Path):
    assert_fails(run_snap("take", "data/missing", cwd=project), 3, "data/missing")


def test_debug_shows_the_traceback(project: Path):
    result = run_snap("--debug", "show", "nope", cwd=project)
    assert result.returncode == 3
    assert "Traceback" in result.stderr
    assert "snap: error: no snapshot or tag named 'nope'" in result.stderr


# -- store unavailable: 4 -----------------------------------------------------------------


def test_no_store_in_this_project(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    assert_fails(run_snap("log", cwd=root), 4, str(root / ".snap"))
    assert not (root / ".snap").exists()  # reading never creates a store


def test_store_option_naming_a_missing_folder(project: Path):
    assert_fails(run_snap("--store", "/nonexistent/x", "log", cwd=project), 4, "/nonexistent/x")


def test_store_url_with_an_unknown_protocol_is_a_usage_error(project: Path):
    assert_fails(run_snap("--store", "nope://x/y", "log", cwd=project), 2, "nope")


def test_store_url_nobody_answers_is_unavailable(project: Path):
    assert_fails(run_snap("--store", "ftp://no-such-host.invalid/x", "log", cwd=project), 4)


def test_store_option_naming_a_file(project: Path):
    assert_fails(
        run_snap("--store", "data/raw/emails.txt", "take", "data/raw", cwd=project), 4, "emails.txt"
    )


def test_restore_under_a_file_is_refused(project: Path):
    result = run_snap("restore", "raw-v1", "data/raw/emails.txt/sub", cwd=project)
    assert_fails(result, 8, "not a folder")


def test_restore_path_that_matches_nothing(project: Path, tmp_path: Path):
    result = run_snap("restore", "raw-v1", str(tmp_path / "x"), "--path", "nope*", cwd=project)
    assert_fails(result, 3, "nope*")
    assert not (tmp_path / "x").exists()


# -- access denied: 5 ---------------------------------------------------------------------


def test_restore_onto_a_read_only_mount(project: Path, tmp_path: Path):
    """A read-only bind mount stops root too (EROFS is access denied as well)."""
    target = tmp_path / "ro"
    target.mkdir()
    script = (
        'mount --bind "$T" "$T" && mount -o remount,bind,ro "$T" || exit 99\n'
        'exec "$SNAP" restore raw-v1 "$T/out"\n'
    )
    result = run_in_mount_namespace(script, cwd=project, env={"T": str(target)})
    assert_fails(result, 5, str(target))
    assert list(target.iterdir()) == []


# -- corrupt: 6 ---------------------------------------------------------------------------


def _corrupt_first_chunk(root: Path) -> str:
    """Flip the first byte of a pack in root/.snap; returns the file whose chunk that is."""
    import snapkit

    with snapkit.open_store(str(root / ".snap"), cwd=root) as store:
        store.repo.load_index()
        index = store.repo.objects.index
        [(chunk, entry)] = [(c, e) for c, e in index.items() if e.offset == 0][:1]
        [victim] = [e.path for e in store.ls("v1") if chunk in e.chunks]
    pack = root / ".snap/data" / entry.pack[:2] / entry.pack
    data = bytearray(pack.read_bytes())
    data[0] ^= 0xFF
    pack.write_bytes(bytes(data))
    return victim


@pytest.fixture
def corrupt_project(tmp_path: Path) -> tuple[Path, str]:
    root = make_project(tmp_path / "proj")
    write(root / "data/raw/emails.bin", random_bytes(300_000, seed=3))
    assert_ok(run_snap("take", "data/raw", "--tag", "v1", cwd=root))
    return root, _corrupt_first_chunk(root)


def test_restore_of_a_corrupt_object_names_the_file_and_writes_nothing(
    corrupt_project: tuple[Path, str], tmp_path: Path
):
    root, victim = corrupt_project
    target = tmp_path / "out"
    write(target / "mine.txt", "already here\n")
    before = snapshot_of(target)
    assert_fails(run_snap("restore", "v1", str(target), cwd=root), 6, victim)
    assert snapshot_of(target) == before


def test_check_read_data_finds_the_corrupt_pack_and_names_the_file(
    corrupt_project: tuple[Path, str],
):
    root, victim = corrupt_project
    result = run_snap("check", "--read-data", cwd=root)
    assert_fails(result, 6, "problem")
    assert victim in result.stdout


# -- refused: 8 ---------------------------------------------------------------------------


@pytest.mark.parametrize("store_option", [False, True])
def test_restore_over_unsaved_changes_refuses_then_force_keeps_them(
    tmp_path: Path, store_option: bool
):
    root = make_project(tmp_path / "my project")
    raw = root / "data/raw"
    store = ("--store", str(tmp_path / "a store")) if store_option else ()
    assert_ok(run_snap(*store, "take", "data/raw", "--tag", "v1", cwd=root))
    write(raw / "emails.txt", "an edit that is in no snapshot\n")
    edited = snapshot_of(raw)

    assert_fails(run_snap(*store, "restore", "v1", cwd=root), 8, "emails.txt")
    assert snapshot_of(raw) == edited

    out = assert_ok(run_snap(*store, "restore", "v1", "--force", cwd=root))
    assert (raw / "emails.txt").read_text() == "hello\nworld\n"
    assert out.startswith("safety snapshot ")
    [go_back] = [line[2:] for line in out.splitlines() if line.startswith("  snap ")]
    argv = shlex.split(go_back)  # paths with spaces are quoted
    assert argv[0] == "snap"

    # as printed: from the project, or from anywhere when the store was named
    assert_ok(run_snap(*argv[1:], cwd=tmp_path if store_option else root))
    assert snapshot_of(raw) == edited


# -- disk full: 9 -------------------------------------------------------------------------


def test_restore_into_a_full_disk_leaves_no_partial_files(tmp_path: Path):
    root = make_project(tmp_path / "proj")
    write(root / "data/raw/big.bin", random_bytes(3 << 20, seed=4))
    assert_ok(run_snap("take", "data/raw", "--tag", "big", cwd=root))
    small = tmp_path / "small"
    small.mkdir()
    script = (
        'mount -t tmpfs -o size=1m tmpfs "$T" || exit 99\n'
        '"$SNAP" restore big "$T/out"; rc=$?\n'
        'echo listing-start; find "$T" -mindepth 1; echo listing-done\n'
        "exit $rc\n"
    )
    result = run_in_mount_namespace(script, cwd=root, env={"T": str(small)})
    line = assert_fails(result, 9)
    assert "No space left on device" in line
    listing = result.stdout.split("listing-start\n")[1].split("listing-done")[0]
    assert listing == ""  # no staged files, not even the folder restore made


# -- usage: 2 -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ("tag",),
        ("tag", "raw-v1"),
        ("tag", "raw-v1", "a", "b"),
        ("tag", "--delete", "a", "b"),
        ("tag", "--delete"),
    ],
)
def test_tag_with_the_wrong_number_of_arguments(project: Path, args: tuple[str, ...]):
    result = run_snap(*args, cwd=project)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "Usage: snap tag" in result.stderr


@pytest.mark.parametrize("name", ["bad name", "_x", "a/../b", "a//b", "trailing/"])
def test_invalid_tag_name(project: Path, name: str):
    assert_fails(run_snap("tag", "raw-v1", name, cwd=project), 2, "invalid tag name")
    assert_fails(run_snap("take", "data/raw", "--tag", name, cwd=project), 2, "invalid tag name")
