"""Restore never loses data and never writes outside its target."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from snapkit.errors import CorruptObject, Refused, SnapError
from snapkit.progress import NoProgress
from snapkit.snapshot import swap
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.scan import TMP_MARK
from tests.cli.conftest import run_snap
from tests.helpers import make_dataset, snapshot_of, write


def test_local_changes_refuse_then_force_keeps_a_safety_snapshot(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    write(src / "a.txt", "precious edit\n")
    write(src / "new.txt", "brand new\n")
    edited = snapshot_of(src)

    with pytest.raises(Refused, match=r"a\.txt"):
        store.restore("v1", src)
    assert snapshot_of(src) == edited  # refused means untouched

    outcome = store.restore("v1", src, force=True)
    assert outcome.safety_snapshot is not None
    assert (src / "a.txt").read_text() == "hello\n"
    assert (src / "new.txt").exists()  # extra files stay unless --delete

    store.restore(outcome.safety_snapshot, src)
    assert snapshot_of(src) == edited
    assert any(t.startswith("safety/") for i in store.log() for t in i.tags)


def test_delete_extra_files_counts_as_a_change(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    write(src / "new.txt", "not saved anywhere\n")
    with pytest.raises(Refused, match=r"new\.txt"):
        store.restore("v1", src, delete=True)
    store.take(src)  # now it is saved: deleting it loses nothing
    store.restore("v1", src, delete=True)
    assert not (src / "new.txt").exists()


def test_restore_into_empty_or_new_folder_needs_no_flag(store, tmp_path):
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    (tmp_path / "empty").mkdir()
    store.restore("v1", tmp_path / "empty")
    store.restore("v1", tmp_path / "brand" / "new")
    assert snapshot_of(tmp_path / "empty") == snapshot_of(src)
    assert snapshot_of(tmp_path / "brand/new") == snapshot_of(src)


def _publish(store, entries: list[FileEntry], tag: str) -> None:
    tree = store.repo.save_tree(entries)
    snap = Snapshot(
        tree=tree,
        source="evil",
        root_kind="dir",
        host="h",
        user="u",
        time=datetime.now(UTC).isoformat(),
    )
    store.repo.refs.set(tag, store.repo.save_snapshot(snap))


@pytest.mark.parametrize(
    "bad_path", ["../escape.txt", "/tmp/abs-escape.txt", "ok/../../escape.txt", "a/./b"]
)
def test_tree_with_unsafe_paths_writes_nothing(store, tmp_path, bad_path):
    src = tmp_path / "src"
    write(src / "f.txt", "payload")
    store.take(src, tags=["good"])
    [entry] = [e for e in store.ls("good") if e.path == "f.txt"]
    safe = FileEntry("safe.txt", "file", entry.size, 0o644, 0, entry.hash, entry.chunks)
    evil = FileEntry(bad_path, "file", entry.size, 0o644, 0, entry.hash, entry.chunks)
    _publish(store, [safe, evil], "evil")
    target = tmp_path / "sandbox" / "target"
    with pytest.raises(Refused, match="unsafe path"):
        store.restore("evil", target)
    assert not (tmp_path / "sandbox").exists()
    assert not (tmp_path / "sandbox" / "escape.txt").exists()
    assert not os.path.exists("/tmp/abs-escape.txt")


def test_tree_writing_through_its_own_symlink_is_refused(store, tmp_path):
    src = tmp_path / "src"
    write(src / "f.txt", "payload")
    store.take(src, tags=["good"])
    [entry] = [e for e in store.ls("good") if e.path == "f.txt"]
    outside = tmp_path / "outside"
    outside.mkdir()
    link = FileEntry("link", "symlink", link_target=str(outside))
    through = FileEntry("link/pwned.txt", "file", entry.size, 0o644, 0, entry.hash, entry.chunks)
    _publish(store, [link, through], "evil")
    with pytest.raises(Refused):
        store.restore("evil", tmp_path / "target")
    assert list(outside.iterdir()) == []


def test_symlink_already_in_target_is_not_followed(store, tmp_path):
    src = tmp_path / "src"
    write(src / "sub/f.txt", "payload")
    store.take(src, tags=["v1"])
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "sub")  # someone put a link where a folder goes
    store.restore("v1", target)
    assert list(outside.iterdir()) == []  # nothing went through the link...
    assert (target / "sub").is_dir() and not (target / "sub").is_symlink()  # ...it was replaced
    assert (target / "sub/f.txt").read_text() == "payload"


def _flip_byte_in_packs(store) -> None:
    root = store.repo.storage.root
    for key in store.repo.storage.list("data/"):
        path = root / key
        data = bytearray(path.read_bytes())
        data[len(data) // 3] ^= 0xFF
        os.chmod(path, 0o644)
        path.write_bytes(bytes(data))


def test_flipped_byte_fails_restore_naming_the_file_and_leaves_target_untouched(store, tmp_path):
    src = tmp_path / "src"
    write(src / "big.bin", os.urandom(3 << 20))
    write(src / "other.txt", "fine")
    store.take(src, tags=["v1"])
    target = tmp_path / "target"
    write(target / "big.bin", "old content")
    store.take(target)  # the old content is saved, so only corruption can stop us
    before = snapshot_of(target)
    _flip_byte_in_packs(store)
    with pytest.raises(CorruptObject, match=r"big\.bin") as err:
        store.restore("v1", target)
    assert "Nothing was written" in str(err.value)
    assert snapshot_of(target) == before
    assert not any(".snaptmp-" in p.name for p in target.rglob("*"))
    report = store.check(read_data=True)
    assert not report.ok and any("big.bin" in p.files for p in report.problems)


def test_delete_spares_ignored_files_and_stays_within_path(store, tmp_path):
    src = tmp_path / "src"
    write(src / "keep/a.txt", "a")
    write(src / "other/b.txt", "b")
    write(src / ".snapignore", "*.log\n")
    store.take(src, tags=["v1"])
    write(src / "debug.log", "ignored, so out of the snapshot's scope")
    write(src / "other/extra.txt", "saved below")
    write(src / "keep/extra.txt", "saved below")
    store.take(src)
    plan = store.plan_restore("v1", src, paths=["keep"], delete=True)
    assert plan.delete == ("keep/extra.txt",)
    store.restore("v1", src, delete=True)
    assert (src / "debug.log").exists() and not (src / "other/extra.txt").exists()


def test_failed_restore_puts_back_a_file_standing_where_a_folder_goes(store, tmp_path):
    src = tmp_path / "src"
    write(src / "sub/big.bin", os.urandom(1 << 20))
    store.take(src, tags=["v1"])
    target = tmp_path / "target"
    write(target / "sub", "a file where the snapshot has a folder")
    store.take(target)
    before = snapshot_of(target)
    _flip_byte_in_packs(store)
    with pytest.raises(CorruptObject):
        store.restore("v1", target)
    assert snapshot_of(target) == before


@pytest.mark.parametrize("can_swap", [True, False], ids=["renameat2", "no-renameat2"])
def test_a_failure_while_moving_files_into_place_puts_everything_back(
    store, tmp_path, monkeypatch, can_swap
):
    """Something standing in the way of one rename, once every file is staged: the files
    already moved are swapped back (and a new one removed, with its new folder), so the
    target is as it was; nothing staged is left behind, and the same restore finishes the
    job once the cause is gone. Without renameat2 (not Linux, some network file systems)
    files replace what was there for good, and the error says how many are in place."""
    if not can_swap:
        monkeypatch.setattr(swap, "_renameat2", None)
    src, target = tmp_path / "src", tmp_path / "target"
    for d in ("a", "b", "c"):
        write(src / d / "f.txt", f"{d} new\n")
        write(target / d / "f.txt", f"{d} old\n")
    write(src / "d/new.txt", "only in the snapshot\n")
    store.take(src, tags=["v2"])
    store.take(target)  # what the restore replaces is saved

    class Obstacle(NoProgress):  # a folder appears where b/f.txt goes, after staging
        def finish(self) -> None:
            if (target / "b/f.txt").is_file():
                (target / "b/f.txt").unlink()
                write(target / "b/f.txt/inner", "in the way\n")

    state = "target was left as it was" if can_swap else "3 of 4 files are in place"
    with pytest.raises(SnapError, match=state) as raised:
        store.restore("v2", target, progress=Obstacle())
    assert "run the same restore again" in (raised.value.hint or "")
    now = "old" if can_swap else "new"
    assert [(target / d / "f.txt").read_text() for d in "ac"] == [f"a {now}\n", f"c {now}\n"]
    assert (target / "b/f.txt/inner").read_text() == "in the way\n"
    assert (target / "d").exists() == (not can_swap)
    assert not [p for p in target.rglob("*") if TMP_MARK in p.name]
    (target / "b/f.txt/inner").unlink()
    (target / "b/f.txt").rmdir()
    store.restore("v2", target)
    assert snapshot_of(target) == snapshot_of(src)


def test_a_file_that_cannot_be_put_back_keeps_its_old_content_beside_it(
    store, tmp_path, monkeypatch
):
    """The worst case: the commit fails, and swapping one file back fails too. Its old
    content is not deleted with the staged files: it stays beside it, and the error says
    which file and where."""
    src, target = tmp_path / "src", tmp_path / "target"
    for d in ("a", "b"):
        write(src / d / "f.txt", f"{d} new\n")
        write(target / d / "f.txt", f"{d} old\n")
    store.take(src, tags=["v2"])
    store.take(target)

    class Obstacle(NoProgress):  # as above: b/f.txt cannot be moved into place
        def finish(self) -> None:
            if (target / "b/f.txt").is_file():
                (target / "b/f.txt").unlink()
                write(target / "b/f.txt/inner", "in the way\n")

    exchange = swap.exchange
    swaps: list[str] = []

    def exchange_once_for_a(one: str, other: str) -> None:  # a/f.txt: the way back fails
        swaps.append(other)
        if other.endswith("/a/f.txt") and swaps.count(other) > 1:
            raise OSError(errno.EIO, "simulated I/O error", other)
        exchange(one, other)

    monkeypatch.setattr(swap, "exchange", exchange_once_for_a)
    with pytest.raises(SnapError, match=r"1 of the 1 files moved could not be put back \(a/f"):
        store.restore("v2", target, progress=Obstacle())
    assert (target / "a/f.txt").read_text() == "a new\n"
    (old,) = [p for p in (target / "a").iterdir() if TMP_MARK in p.name]
    assert old.read_text() == "a old\n"
    assert (target / "b/f.txt/inner").read_text() == "in the way\n"


def test_a_restore_over_existing_files_leaves_no_old_copies(store, tmp_path):
    """Each file is swapped with what stood there, which is deleted once all are in place:
    files, symlinks (one to a folder elsewhere, left alone), and a folder standing where a
    file goes (a planned change)."""
    src, target = tmp_path / "src", tmp_path / "target"
    for name in ("w", "x", "y", "z"):
        write(src / name, f"{name} new\n")
    store.take(src, tags=["v2"])
    write(tmp_path / "elsewhere/kept.txt", "not the target's\n")
    write(target / "x", "x old\n")
    os.symlink(tmp_path / "elsewhere", target / "w", target_is_directory=True)
    os.symlink("x", target / "y")
    write(target / "z/inner.txt", "a folder where the snapshot has a file\n")
    store.restore("v2", target, force=True)  # (a folder's content counts as unsaved)
    assert snapshot_of(target) == snapshot_of(src)
    assert sorted(p.name for p in target.iterdir()) == ["w", "x", "y", "z"]
    assert (tmp_path / "elsewhere/kept.txt").read_text() == "not the target's\n"


@pytest.mark.parametrize("existing", [False, True], ids=["new-folder", "existing-folder"])
def test_a_restore_killed_before_its_moves_leaves_hidden_copies_the_next_one_reports(
    store, tmp_path, existing
):
    """`kill -9` once every file is staged (a real SIGKILL, from the progress hook): the
    staged tree beside a new target, or the staged files in an existing one, are left.
    The next restore works and reports them (API, and a note from the CLI), removing
    nothing."""
    src = make_dataset(tmp_path / "src")
    store.take(src, tags=["v1"])
    out = tmp_path / "out"
    if existing:
        write(out / "a.txt", "local\n")
        store.take(out)
    code = (
        "import os, signal, snapkit\n"
        "from snapkit.progress import NoProgress\n"
        "class Kill(NoProgress):\n"
        "    def finish(self):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        f"snapkit.open_store({str(tmp_path / 'store')!r}).restore('v1', {str(out)!r}, "
        "progress=Kill())\n"
    )
    env = {**os.environ, "SNAP_CACHE_DIR": str(tmp_path / "cache")}
    killed = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    where = out if existing else tmp_path
    left = sorted(str(p) for p in where.iterdir() if TMP_MARK in p.name)
    assert left and (existing or not out.exists())
    assert store.plan_restore("v1", out).leftovers == tuple(left)
    result = run_snap(
        "--store", str(tmp_path / "store"), "restore", "v1", str(out), cwd=tmp_path,
        env={"SNAP_CACHE_DIR": str(tmp_path / "cache")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"note: {len(left)} hidden .snaptmp- entries" in result.stderr
    assert left[0] in result.stderr
    restored = {k: v for k, v in snapshot_of(out).items() if TMP_MARK not in k}
    assert restored == snapshot_of(src)
    assert sorted(str(p) for p in where.iterdir() if TMP_MARK in p.name) == left  # kept


def test_single_file_force_restore_takes_a_safety_snapshot_of_that_file_only(store, tmp_path):
    f = write(tmp_path / "proj/data.csv", "id\n1\n")
    write(tmp_path / "proj/unrelated.bin", os.urandom(1000))
    store.take(f, tags=["v1"])
    write(f, "id\n1\n2\n")
    outcome = store.restore("v1", f, force=True)
    safety = store.show(outcome.safety_snapshot)
    assert safety.snapshot.root_kind == "file" and safety.snapshot.summary.files == 1
    store.restore(outcome.safety_snapshot, f)
    assert f.read_text() == "id\n1\n2\n"


def test_a_folder_standing_where_a_file_goes_is_replaced_by_the_file(store, tmp_path):
    src = tmp_path / "src"
    write(src / "x", "the file\n")
    write(src / "y", "another\n")
    store.take(src, tags=["v1"])
    target = tmp_path / "target"
    write(target / "x/inner.txt", "a folder where the snapshot has a file\n")
    with pytest.raises(Refused, match="x"):
        store.restore("v1", target)  # its content is in no snapshot
    store.restore("v1", target, force=True)
    assert (target / "x").read_text() == "the file\n" and (target / "y").exists()
