"""Locks in the store, so gc never deletes what a take, tag or restore is using.

A lock is a small JSON object `locks/<random id>` recording kind, host, pid, user, command
and times. Shared locks (take, tag, restore, check) coexist; an exclusive lock (gc, forget)
excludes every other lock. Acquiring writes our lock first and then looks for conflicting
ones; on conflict it removes its own and backs off, so two racing lockers cannot both win.
A held lock is refreshed in the background; a lock is stale when it has not been refreshed
for `stale_after` seconds, or when its process is gone on this same host.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Literal

from snapkit.errors import AccessDenied, Locked, NotFound, SnapError
from snapkit.storage.base import Storage

PREFIX = "locks/"
REFRESH_SECONDS = 60.0
STALE_SECONDS = 300.0
SETTLE_SECONDS = 2.0  # how long a locker waits for a newer conflicting lock to back off
Kind = Literal["shared", "exclusive"]


@dataclass(frozen=True)
class LockInfo:
    id: str
    kind: Kind
    command: str
    host: str
    pid: int
    user: str
    created: float  # unix time
    refreshed: float

    def describe(self) -> str:
        since = datetime.fromtimestamp(self.created, UTC).isoformat(timespec="seconds")
        return (
            f"{self.kind} lock held by `snap {self.command}` "
            f"({self.user}@{self.host}, pid {self.pid}) since {since}"
        )

    def is_stale(self, now: float, stale_after: float) -> bool:
        if now - self.refreshed > stale_after:
            return True
        return self.host == socket.gethostname() and not pid_alive(self.pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists on this host."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    return True


class LockManager:
    def __init__(
        self,
        storage: Storage,
        *,
        refresh: float = REFRESH_SECONDS,
        stale_after: float = STALE_SECONDS,
    ) -> None:
        self.storage = storage
        self.refresh = refresh
        self.stale_after = stale_after
        self._seen: dict[str, list[LockInfo]] = {}  # our lock id → the others it found

    def list(self) -> list[LockInfo]:
        out = []
        for key in self.storage.list(PREFIX):
            info = self._read(key[len(PREFIX) :])
            if info is not None:
                out.append(info)
        return sorted(out, key=lambda i: i.created)

    def _read(self, lock_id: str) -> LockInfo | None:
        try:
            doc = json.loads(self.storage.get(PREFIX + lock_id))
            return LockInfo(id=lock_id, **doc)
        except NotFound:
            return None  # released while we looked
        except (ValueError, TypeError):
            # unreadable: treat as a lock nobody refreshes, so it turns stale
            return LockInfo(lock_id, "exclusive", "?", "?", 0, "?", 0.0, 0.0)

    @contextmanager
    def hold(
        self, kind: Kind, command: str, wait: float = 0.0, *, read_only: bool = False
    ) -> Iterator[LockInfo | None]:
        """Hold a lock for the duration of the block (see module docstring).

        `read_only` commands (restore, check) still work on a store they may not write to
        (read-only credentials, a mounted archive): they then run without a lock, as
        nothing they do can break the store; they still refuse while gc holds its lock.
        """
        try:
            info = self._acquire(kind, command, wait)
        except AccessDenied:
            if not read_only:
                raise
            blocker = self._conflict(None)
            if blocker is not None:
                raise Locked(f"store is locked: {blocker.describe()}") from None
            yield None
            return
        stop = threading.Event()
        refresher = threading.Thread(
            target=self._keep_fresh, args=(info, stop), name="snap-lock-refresh", daemon=True
        )
        refresher.start()
        try:
            yield info
        except BaseException:
            stop.set()
            refresher.join()
            self._seen.pop(info.id, None)
            # the error that stopped the work matters more than a lock we cannot remove
            # (it turns stale); don't let a failed delete hide it
            with contextlib.suppress(SnapError):
                self.storage.delete(PREFIX + info.id)
            raise
        stop.set()
        refresher.join()
        self._seen.pop(info.id, None)
        self.storage.delete(PREFIX + info.id)

    def _acquire(self, kind: Kind, command: str, wait: float) -> LockInfo:
        deadline = time.monotonic() + wait
        delay = 0.05
        while True:
            now = time.time()
            mine = LockInfo(
                id=os.urandom(16).hex(),
                kind=kind,
                command=command,
                host=socket.gethostname(),
                pid=os.getpid(),
                user=_user(),
                created=now,
                refreshed=now,
            )
            self._write(mine)
            blocker = self._settle(mine, self._conflict(mine))
            if blocker is None:
                return mine
            self.storage.delete(PREFIX + mine.id)
            self._seen.pop(mine.id, None)
            if time.monotonic() + delay > deadline:
                raise Locked(
                    f"store is locked: {blocker.describe()}",
                    hint="wait for it, pass --lock-wait SECONDS, or run `snap unlock` "
                    "if that process is gone",
                )
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 2.0)

    def _settle(self, mine: LockInfo, blocker: LockInfo | None) -> LockInfo | None:
        """Two lockers that write their locks at the same moment each see the other's and
        both back off: a take started just as a gc did failed although the gc gave way.
        A conflicting lock created after ours belongs to a locker that will see ours and
        back off, as ours would; give it SETTLE_SECONDS to go. (The earlier one of the two
        does not wait, so they never both wait; a newer lock that stays is a holder that
        looked before ours landed, and then we give up as before.)"""
        deadline = time.monotonic() + SETTLE_SECONDS
        while blocker is not None and blocker.created > mine.created:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
            blocker = self._conflict(mine)
        return blocker

    def _conflict(self, mine: LockInfo | None) -> LockInfo | None:
        """A live lock that excludes `mine` (None: a reader without a lock of its own)."""
        now = time.time()
        locks = self.list()
        if mine is not None:
            self._seen[mine.id] = [other for other in locks if other.id != mine.id]
        for other in locks:
            if (mine and other.id == mine.id) or other.is_stale(now, self.stale_after):
                continue
            if (mine and mine.kind == "exclusive") or other.kind == "exclusive":
                return other
        return None

    def others_seen(self, mine: LockInfo) -> list[LockInfo]:
        """The other locks, live or stale, that acquiring `mine` last found (no new look)."""
        return self._seen.get(mine.id, [])

    def _write(self, info: LockInfo) -> None:
        doc = asdict(info)
        del doc["id"]
        self.storage.put(PREFIX + info.id, json.dumps(doc).encode())

    def _keep_fresh(self, info: LockInfo, stop: threading.Event) -> None:
        while not stop.wait(self.refresh):
            try:
                self._write(LockInfo(**{**asdict(info), "refreshed": time.time()}))
            except Exception:  # a missed refresh only ages the lock
                continue

    def remove(self, *, stale_only: bool) -> list[LockInfo]:
        """Delete locks (all, or only stale ones). Returns what was removed."""
        now = time.time()
        removed = []
        for info in self.list():
            if stale_only and not info.is_stale(now, self.stale_after):
                continue
            self.storage.delete(PREFIX + info.id)
            removed.append(info)
        return removed


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
