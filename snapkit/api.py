"""The Python API: the same verbs as the `snap` command (which is a thin layer over this).

import snapkit
store = snapkit.open_store()                 # --store / SNAP_STORE / pyproject / .snap
result = store.take("data/raw", message="emails november", tags=["raw-v1"])
store.restore("raw-v1", "restored/raw")
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from snapkit.config import StoreLocation, locate_store
from snapkit.errors import NotFound, Refused, UsageError
from snapkit.progress import Progress
from snapkit.snapshot.check import CheckReport
from snapkit.snapshot.check import check as check_store
from snapkit.snapshot.forget import ForgetPlan, apply_forget, plan_forget
from snapkit.snapshot.gc import GcPlan, GcResult, apply_gc, plan_gc
from snapkit.snapshot.locks import LockInfo, LockManager
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.repo import Repo
from snapkit.snapshot.restore import Plan, RestoreResult, apply_plan, plan_restore
from snapkit.snapshot.take import TakeOptions, TakeResult
from snapkit.snapshot.take import take as take_snapshot
from snapkit.storage import open_storage


@dataclass(frozen=True)
class SnapshotInfo:
    id: str
    snapshot: Snapshot
    tags: tuple[str, ...]


@dataclass(frozen=True)
class RestoreOutcome:
    plan: Plan
    result: RestoreResult | None  # None for a dry run
    safety_snapshot: str | None  # taken first when --force had local changes to keep


class Store:
    """An opened store plus the project it serves (for relative paths and default targets)."""

    def __init__(self, repo: Repo, location: StoreLocation, *, lock_wait: float = 0.0) -> None:
        self.repo = repo
        self.location = location
        self.lock_wait = lock_wait  # seconds to wait for a conflicting lock, then Locked
        self.locks = LockManager(repo.storage)

    def _shared(
        self, command: str, read_only: bool = False
    ) -> AbstractContextManager[LockInfo | None]:
        return self.locks.hold("shared", command, self.lock_wait, read_only=read_only)

    def _exclusive(self, command: str) -> AbstractContextManager[LockInfo | None]:
        return self.locks.hold("exclusive", command, self.lock_wait)

    @property
    def url(self) -> str:
        return self.location.url

    # -- take / restore -------------------------------------------------------------

    def take(
        self,
        path: str | os.PathLike[str],
        *,
        message: str = "",
        tags: list[str] | tuple[str, ...] = (),
        exclude: list[str] | tuple[str, ...] = (),
        progress: Progress | None = None,
    ) -> TakeResult:
        source = Path(os.path.abspath(path))
        if not os.path.lexists(source):
            raise NotFound(f"{path} does not exist", hint="give a folder or a file to snapshot")
        options = TakeOptions(
            message=message,
            tags=tuple(tags),
            excludes=tuple(exclude),
            source_label=self._label(source),
        )
        with self._shared("take"):
            return take_snapshot(self.repo, source, options, progress)

    def plan_restore(
        self,
        spec: str,
        target: str | os.PathLike[str] | None = None,
        *,
        paths: list[str] | tuple[str, ...] = (),
        delete: bool = False,
    ) -> Plan:
        snap_id = self.repo.resolve(spec)
        snap = self.repo.load_snapshot(snap_id)
        dest = Path(target) if target is not None else self.default_target(snap)
        self.repo.load_index()
        return plan_restore(self.repo, snap_id, snap, dest, paths=tuple(paths), delete_extra=delete)

    def restore(
        self,
        spec: str,
        target: str | os.PathLike[str] | None = None,
        *,
        paths: list[str] | tuple[str, ...] = (),
        dry_run: bool = False,
        force: bool = False,
        delete: bool = False,
        progress: Progress | None = None,
    ) -> RestoreOutcome:
        with self._shared("restore", read_only=not force):
            plan = self.plan_restore(spec, target, paths=paths, delete=delete)
            if dry_run:
                return RestoreOutcome(plan, None, None)
            safety = None
            if plan.unsaved:
                if not force:
                    raise Refused(_unsaved_message(plan), hint=_unsaved_hint(plan))
                safety = self._safety_snapshot(plan)
            return RestoreOutcome(plan, apply_plan(self.repo, plan, progress), safety)

    def default_target(self, snap: Snapshot) -> Path:
        """Where a snapshot came from: restore puts it back there unless told otherwise."""
        source = Path(snap.source)
        return source if source.is_absolute() else self.location.project_root / source

    def _label(self, source: Path) -> str:
        root = self.location.project_root
        try:
            return source.relative_to(root).as_posix() or "."
        except ValueError:
            return str(source)

    def _safety_snapshot(self, plan: Plan) -> str:
        """Snapshot what the restore would overwrite: the target folder, or the one file."""
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S-%f")
        renamed = list(plan.rename.values())
        result = self.take(
            plan.target / renamed[0] if renamed else plan.target,
            message=f"safety snapshot before restoring {plan.snapshot_id[:12]}",
            tags=[f"safety/{stamp}"],
        )
        return result.id

    # -- inspection and tags ------------------------------------------------------

    def log(self) -> list[SnapshotInfo]:
        """Every snapshot, newest first, with the tags pointing at it."""
        tags = self.repo.tags_by_snapshot()
        return [
            SnapshotInfo(sid, snap, tuple(sorted(tags.get(sid, ()))))
            for sid, snap in reversed(self.repo.snapshots())
        ]

    def show(self, spec: str) -> SnapshotInfo:
        sid = self.repo.resolve(spec)
        tags = self.repo.tags_by_snapshot().get(sid, [])
        return SnapshotInfo(sid, self.repo.load_snapshot(sid), tuple(sorted(tags)))

    def ls(self, spec: str, path: str | None = None) -> list[FileEntry]:
        snap = self.repo.load_snapshot(self.repo.resolve(spec))
        entries = self.repo.load_tree(snap.tree)
        if not path:
            return entries
        prefix = path.strip("/")
        chosen = [e for e in entries if e.path == prefix or e.path.startswith(prefix + "/")]
        if not chosen:
            raise NotFound(f"no path {path!r} in snapshot {spec}")
        return chosen

    def tag(self, spec: str, name: str) -> str:
        with self._shared("tag"):
            sid = self.repo.resolve(spec)
            self.repo.refs.set(name, sid)
            return sid

    def untag(self, name: str) -> None:
        with self._shared("tag"):
            self.repo.refs.delete(name)

    def check(self, *, read_data: bool = False) -> CheckReport:
        """Verify the store from refs down to packs; see `snapkit.snapshot.check`."""
        with self._shared("check", read_only=True):
            return check_store(self.repo, read_data=read_data)

    # -- store care ---------------------------------------------------------------

    def forget(
        self,
        specs: list[str] | tuple[str, ...] = (),
        *,
        keep_last: int | None = None,
        dry_run: bool = False,
    ) -> ForgetPlan:
        """Remove snapshot records (tagged ones are never removed); gc frees their data."""
        if bool(specs) == (keep_last is not None):
            raise UsageError("name snapshots to forget, or give --keep-last N (not both)")
        with self._exclusive("forget"):
            plan = plan_forget(self.repo, list(specs), keep_last)
            if not dry_run:
                apply_forget(self.repo, plan)
            return plan

    def gc(
        self,
        *,
        grace_seconds: float = 3600.0,
        dry_run: bool = True,
        progress: Progress | None = None,
    ) -> GcResult | GcPlan:
        """Delete what no snapshot reaches (dry run unless `dry_run=False`)."""
        with self._exclusive("gc"):
            plan = plan_gc(self.repo, grace_seconds)
            if dry_run or plan.nothing_to_do:
                return plan
            return apply_gc(self.repo, plan, progress)

    def unlock(self, *, stale_only: bool = False) -> list[LockInfo]:
        """Remove store locks (all, or only those whose process is gone or silent)."""
        return self.locks.remove(stale_only=stale_only)

    def close(self) -> None:
        self.repo.storage.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _unsaved_message(plan: Plan) -> str:
    paths = [c.path for c in plan.unsaved]
    shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
    return f"{plan.target} has local changes that are in no snapshot: {shown}"


def _unsaved_hint(plan: Plan) -> str:
    return (
        "take a snapshot of them first (`snap take`), restore into another folder, or use "
        "--force to take a safety snapshot automatically and then restore"
    )


def open_store(
    url: str | None = None,
    *,
    create: bool = False,
    cwd: str | os.PathLike[str] | None = None,
    lock_wait: float = 0.0,
) -> Store:
    """Open the store at `url`, or the one configured for the project around `cwd`.

    With `create=True` a missing store is created (what `snap init` and `snap take` do).
    """
    location = locate_store(url, Path(cwd) if cwd else None)
    storage = open_storage(location.url)
    repo = Repo.init(storage) if create else Repo.open(storage)
    return Store(repo, location, lock_wait=lock_wait)


def take(path: str | os.PathLike[str], *, store: str | None = None, **kwargs: object) -> TakeResult:
    """Snapshot a folder or file into the store (created if needed). See `Store.take`."""
    with open_store(store, create=True) as s:
        return s.take(path, **kwargs)  # type: ignore[arg-type]


def restore(
    spec: str,
    target: str | os.PathLike[str] | None = None,
    *,
    store: str | None = None,
    **kwargs: object,
) -> RestoreOutcome:
    """Restore a snapshot (tag, id or id prefix). See `Store.restore`."""
    with open_store(store) as s:
        return s.restore(spec, target, **kwargs)  # type: ignore[arg-type]
