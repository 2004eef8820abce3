"""A store in a local (or network-mounted POSIX) folder.

Every write goes to a temporary file in the target's own folder, is fsynced, and only then
becomes visible under its key: by `os.replace` (put), by `os.link`, which fails if the key
exists (put_if_absent), or by either under an exclusive `flock` on a per-key lock file
(put_if_match). Readers therefore see a whole old object or a whole new one, never half.

Names starting with `.snapkit-` are the backend's own (temp files, the lock folder): they are
never listed and cannot be used in keys. Lock files are left in place after use, because
removing a lock file that another process may be about to lock is racy; there is one per
compare-and-swapped key (refs), so they stay few.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import blake3

from snapkit.errors import Conflict, NotFound, SnapError, StoreUnavailable, from_os_error
from snapkit.storage.base import ObjectInfo, Storage
from snapkit.storage.fileio import map_range, write_all, write_past_cache
from snapkit.storage.keys import check_key, check_prefix

RESERVED = ".snapkit-"
TEMP_PREFIX = RESERVED + "tmp-"
LOCK_DIR = RESERVED + "locks"
# Packs are written without waiting for the disk; the next write of anything else (which
# may refer to them) first makes them durable. Same ordering guarantee, far less waiting.
DEFERRED_PREFIX = "data/"
_MISSING = (errno.ENOENT, errno.ENOTDIR, errno.EISDIR)
# Objects at least this big (packs) are written bypassing the page cache where the file
# system allows it, and ranges at least this big are mapped rather than copied: see fileio.
DIRECT_MIN = 1 << 20


def content_etag(data: bytes) -> str:
    """The etag of backends without a native one: the hex BLAKE3 of the content."""
    return blake3.blake3(data).hexdigest()


class LocalStorage(Storage):
    """Objects are files under `root`; the key is the relative path."""

    remote = False

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()
        self.url = self.root.as_uri()
        self._pending: list[Path] = []  # packs written but not yet fsynced
        self._pending_lock = threading.Lock()
        self._barrier = threading.Lock()

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except OSError as exc:
            raise _read_error(exc, key, self.url) from exc

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"bad range offset={offset} length={length}")
        path = self._path(key)
        try:
            if length >= DIRECT_MIN:  # a pack's chunks for a restore: mapped, not copied
                fd = os.open(path, os.O_RDONLY)
                try:
                    return map_range(fd, offset, length)
                finally:
                    os.close(fd)
            with path.open("rb") as f:
                f.seek(offset)
                return f.read(length)
        except OSError as exc:
            raise _read_error(exc, key, self.url) from exc

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, content_etag(data)

    def size(self, key: str) -> int:
        return self.stat(key).size

    def stat(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            st_ = path.stat()
        except OSError as exc:
            raise _read_error(exc, key, self.url) from exc
        if not stat.S_ISREG(st_.st_mode):
            raise NotFound(f"no object {key} in {self.url}")
        return ObjectInfo(st_.st_size, st_.st_mtime)

    def list(self, prefix: str = "") -> Iterator[str]:
        check_prefix(prefix)
        try:
            yield from _walk(self.root, "", prefix)
        except OSError as exc:
            raise from_os_error(exc, f"cannot list {prefix or '/'} in {self.url}") from exc

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with _os_errors(f"cannot write {key} in {self.url}"):
            self._sync_pending()
            _replace(path, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        with _os_errors(f"cannot write {key} in {self.url}"):
            if key.startswith(DEFERRED_PREFIX):
                written = _link(path, data, durable=False)
                if written:
                    with self._pending_lock:
                        self._pending.append(path)
                return written
            self._sync_pending()
            return _link(path, data)

    def _sync_pending(self) -> None:
        """The durability barrier: make every deferred pack durable before any write that
        could refer to it (an index, a tree, a snapshot, a ref) is made."""
        with self._barrier:  # a second writer waits until the first one's packs are durable
            with self._pending_lock:
                pending, self._pending = self._pending, []
            for folder in sorted({p.parent for p in pending}):
                for path in (p for p in pending if p.parent == folder):
                    fd = os.open(path, os.O_RDONLY)
                    try:
                        os.fsync(fd)
                    finally:
                        os.close(fd)
                _fsync_dir(folder)

    def close(self) -> None:
        with _os_errors(f"cannot finish writing to {self.url}"):
            self._sync_pending()

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        path = self._path(key)
        with _os_errors(f"cannot write {key} in {self.url}"):
            self._sync_pending()
        with self._locked(key):
            current = self._current_etag(path, key)
            if current != etag:
                raise Conflict(f"{key} in {self.url} changed (expected {etag}, found {current})")
            with _os_errors(f"cannot write {key} in {self.url}"):
                if etag is not None:
                    _replace(path, data)
                elif not _link(path, data):  # only a writer that skips the lock gets here
                    raise Conflict(f"{key} in {self.url} was created concurrently")
        return content_etag(data)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            path.unlink()
        except OSError as exc:
            if exc.errno not in _MISSING:
                raise from_os_error(exc, f"cannot delete {key} in {self.url}") from exc

    def create(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreUnavailable(
                f"{self.root} is a file, not a store folder", hint="choose another --store path"
            )
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise from_os_error(exc, f"cannot create {self.root}") from exc

    # -- helpers -------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        check_key(key)
        if any(part.startswith(RESERVED) for part in key.split("/")):
            raise ValueError(f"storage key {key!r} uses the reserved name prefix {RESERVED!r}")
        return self.root / key

    def _current_etag(self, path: Path, key: str) -> str | None:
        try:
            return content_etag(path.read_bytes())
        except OSError as exc:
            if exc.errno in _MISSING:
                return None
            raise from_os_error(exc, f"cannot read {key} in {self.url}") from exc

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """Hold an exclusive flock on this key's lock file (one per key, under LOCK_DIR)."""
        lock_dir = self.root / LOCK_DIR
        lock_path = lock_dir / blake3.blake3(key.encode()).hexdigest()[:32]
        try:
            lock_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as exc:
            raise from_os_error(exc, f"cannot lock {key} in {self.url}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


@contextmanager
def _os_errors(what: str) -> Iterator[None]:
    """Translate an OSError raised inside the block into the snapkit vocabulary."""
    try:
        yield
    except OSError as exc:
        raise from_os_error(exc, what) from exc


def _read_error(exc: OSError, key: str, url: str) -> SnapError:
    if exc.errno in _MISSING:
        return NotFound(f"no object {key} in {url}")
    return from_os_error(exc, f"cannot read {key} in {url}")


def _replace(path: Path, data: bytes) -> None:
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _link(path: Path, data: bytes, *, durable: bool = True) -> bool:
    """Create `path` holding `data` only if it does not exist. link(2) refuses an existing
    target atomically, and the temp file is complete before it gets the name. With
    `durable=False` the caller makes it durable later (see `LocalStorage._sync_pending`)."""
    if path.exists():
        return False  # cheap fast path: content-addressed objects are often there already
    tmp = _write_temp(path, data, durable=durable)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    if durable:
        _fsync_dir(path.parent)
    return True


def _write_temp(path: Path, data: bytes, *, durable: bool = True) -> Path:
    """Write `data` to a fresh temp file next to `path` and fsync it; return its path.

    The file is created with mode 0o666 & ~umask (not mkstemp's 0o600), so a store shared by
    a group stays readable after the rename. On failure (e.g. ENOSPC) nothing is left behind.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{os.urandom(8).hex()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        try:
            view = memoryview(data).cast("B")
            (write_past_cache if len(view) >= DIRECT_MIN else write_all)(fd, view)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return tmp


def _fsync_dir(folder: Path) -> None:
    """Make a rename or link in `folder` durable (the new name is a change to the folder)."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _walk(folder: Path, rel: str, prefix: str) -> Iterator[str]:
    """Yield keys under `folder` (whose key prefix is `rel`) that start with `prefix`,
    descending only into folders that can hold such keys."""
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return
    for entry in entries:
        if entry.name.startswith(RESERVED):
            continue
        key = rel + entry.name
        if entry.is_dir(follow_symlinks=False):
            sub = key + "/"
            if sub.startswith(prefix) or prefix.startswith(sub):
                yield from _walk(Path(entry.path), sub, prefix)
        elif key.startswith(prefix) and entry.is_file():
            yield key
