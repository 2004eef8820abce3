"""Store locks: shared locks coexist, exclusive ones exclude, stale ones do not block."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from snapkit.errors import Locked
from snapkit.snapshot.locks import LockInfo, LockManager
from tests.helpers import write


@pytest.fixture
def locks(store) -> LockManager:
    return LockManager(store.repo.storage, refresh=0.2, stale_after=2.0)


def test_shared_locks_coexist_and_exclusive_waits_for_them(locks):
    with locks.hold("shared", "take"), locks.hold("shared", "tag"):
        assert len(locks.list()) == 2
        with (
            pytest.raises(Locked, match=r"shared lock held by `snap (take|tag)`"),
            locks.hold("exclusive", "gc"),
        ):
            pass
    with (
        locks.hold("exclusive", "gc"),
        pytest.raises(Locked, match="exclusive lock held by `snap gc`"),
        locks.hold("shared", "take"),
    ):
        pass
    assert locks.list() == []


def test_lock_wait_gets_the_lock_once_released(locks):
    release = threading.Event()

    def hold_briefly() -> None:
        with locks.hold("shared", "take"):
            release.wait(5)

    t = threading.Thread(target=hold_briefly)
    t.start()
    while not locks.list():
        time.sleep(0.01)
    threading.Timer(0.3, release.set).start()
    started = time.monotonic()
    with locks.hold("exclusive", "gc", wait=10):
        assert time.monotonic() - started >= 0.25
    t.join()


def test_held_lock_is_refreshed_and_silent_one_turns_stale(locks):
    with locks.hold("shared", "take") as mine:
        time.sleep(0.5)
        [seen] = locks.list()
        assert seen.refreshed > mine.refreshed
    ghost = LockInfo("ff" * 16, "exclusive", "gc", "elsewhere", 1, "u", 0.0, time.time() - 10)
    locks._write(ghost)
    with locks.hold("shared", "take"):  # a lock nobody refreshes does not block
        pass
    assert [i.id for i in locks.remove(stale_only=True)] == [ghost.id]


def test_lock_of_a_dead_process_on_this_host_is_stale(locks):
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(proc.stdout)
    import socket

    now = time.time()
    locks._write(
        LockInfo("ee" * 16, "exclusive", "gc", socket.gethostname(), dead_pid, "u", now, now)
    )
    with locks.hold("shared", "take"):
        pass
    assert locks.remove(stale_only=True)[0].pid == dead_pid


def test_gc_refuses_while_a_take_holds_its_lock(store, tmp_path):
    write(tmp_path / "a/x", "1")
    with store.locks.hold("shared", "take"), pytest.raises(Locked, match="take"):
        store.gc(dry_run=False)
    store.take(tmp_path / "a")
    assert store.locks.list() == []  # released after use


def test_of_two_lockers_that_collide_the_earlier_one_wins(store):
    """A take and a gc write their locks at the same moment, so each sees the other's: the
    newer one (gc) backs off, and the take waits for it to go instead of giving up too.
    Staged: gc writes its lock after the take wrote its own, and lists only once the take
    has read gc's lock."""
    from tests.faults import FaultyStorage

    gc_wrote, take_saw_gc = threading.Event(), threading.Event()
    gc_result: list[object] = []

    def gc() -> None:
        def wait_for_the_take(op: str, key: str) -> None:
            if op == "list" and key == "locks/":
                gc_wrote.set()
                assert take_saw_gc.wait(10)

        try:
            manager = LockManager(FaultyStorage(store.repo.storage, wait_for_the_take))
            with manager.hold("exclusive", "gc"):
                gc_result.append("held")
        except Locked as exc:
            gc_result.append(exc)

    own: list[str] = []
    started: list[threading.Thread] = []

    def stage(op: str, key: str) -> None:
        if op == "put" and key.startswith("locks/"):
            own.append(key)
        elif op == "list" and key == "locks/" and not started:
            started.append(threading.Thread(target=gc))
            started[0].start()
            assert gc_wrote.wait(10)
        elif op == "get" and key.startswith("locks/") and key not in own:
            take_saw_gc.set()

    take = LockManager(FaultyStorage(store.repo.storage, stage))
    with take.hold("shared", "take") as mine:
        started[0].join(10)
        assert mine is not None and [i.id for i in take.list()] == [mine.id]
    assert len(gc_result) == 1 and isinstance(gc_result[0], Locked)
    assert "snap take" in str(gc_result[0])
