"""A store on any fsspec filesystem (memory://, gcs://, az://, sftp://, …).

fsspec has no portable compare-and-swap, so conditional writes are made atomic *within this
process* by a lock per key (striped over a fixed set of locks, so unrelated uploads still run
in parallel). Across processes, `put_if_absent` is only as strong as the filesystem's
`pipe_file(mode="create")` (a real conditional write on some, check-then-write on others), and
`put_if_match` is best effort. Use the local or S3 backend when several writers share a store.

fsspec's instance and listing caches are turned off: a stale listing would hide new objects.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import fsspec
from fsspec.core import url_to_fs

from snapkit.errors import (
    AccessDenied,
    Conflict,
    NotFound,
    StoreUnavailable,
    UsageError,
    from_os_error,
)
from snapkit.storage.base import ObjectInfo, Storage, TransientError
from snapkit.storage.keys import check_key, check_prefix
from snapkit.storage.local import content_etag

_STRIPES = [threading.Lock() for _ in range(64)]


def _key_lock(path: str) -> threading.Lock:
    return _STRIPES[hash(path) % len(_STRIPES)]


class FsspecStorage(Storage):
    """Objects are files under the URL's path on an fsspec filesystem."""

    def __init__(self, url: str) -> None:
        try:
            fs, root = url_to_fs(url, skip_instance_cache=True, use_listings_cache=False)
        except ValueError as exc:  # fsspec: "Protocol not known"
            raise UsageError(
                f"unknown kind of store URL {url!r}: {exc}",
                hint="use a folder, s3://bucket/prefix, or a URL fsspec knows (memory://, gcs://…)",
            ) from exc
        except ImportError as exc:  # e.g. gcs:// without gcsfs installed
            raise UsageError(f"store URL {url!r} needs a package that is missing: {exc}") from exc
        except OSError as exc:  # filesystems that connect when created (ftp, sftp)
            raise StoreUnavailable(f"cannot reach {url}: {exc.strerror or exc}") from exc
        self.fs: fsspec.AbstractFileSystem = fs
        self.root = root.rstrip("/")
        self.url = url
        self.remote = not {"file", "local", "memory"} & set(_protocols(fs))

    # -- reads ---------------------------------------------------------------------------

    def get(self, key: str) -> bytes:
        with self._errors("read", key):
            return self.fs.cat_file(self._path(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0:
            raise ValueError(f"bad range offset={offset} length={length}")
        path = self._path(key)
        with self._errors("read", key):
            try:
                return self.fs.cat_file(path, start=offset, end=offset + length)
            except (ValueError, OSError):
                # Some filesystems refuse a range that starts past the end (HTTP 416).
                if self.fs.size(path) <= offset:
                    return b""
                raise

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        data = self.get(key)
        return data, content_etag(data)

    def size(self, key: str) -> int:
        with self._errors("read", key):
            info = self.fs.info(self._path(key))
        if info.get("type") != "file":
            raise NotFound(f"no object {key} in {self.url}")
        return int(info["size"])

    def stat(self, key: str) -> ObjectInfo:
        with self._errors("read", key):
            info = self.fs.info(self._path(key))
        if info.get("type") != "file":
            raise NotFound(f"no object {key} in {self.url}")
        return _info(info)

    def list(self, prefix: str = "") -> Iterator[str]:
        for key, _ in self._found(prefix):
            yield key

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        for key, info in self._found(prefix):  # (`find` brought each object's details)
            yield key, _info(info)

    def _found(self, prefix: str) -> Iterator[tuple[str, dict]]:
        check_prefix(prefix)
        folder = f"{self.root}/{prefix.rpartition('/')[0]}".rstrip("/")
        with self._errors("list", prefix or "/"):
            try:
                paths = self.fs.find(folder, detail=True)
            except FileNotFoundError:
                paths = {}
        root = self.root + "/"
        for path, info in paths.items():
            key = path.removeprefix(root)
            if key != path and key.startswith(prefix):
                yield key, info

    # -- writes --------------------------------------------------------------------------

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        with self._errors("write", key):
            self._pipe(path, data, "overwrite")

    def put_if_absent(self, key: str, data: bytes) -> bool:
        path = self._path(key)
        with _key_lock(path), self._errors("write", key):
            try:
                self._pipe(path, data, "create")
            except FileExistsError:
                return False
        return True

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        path = self._path(key)
        with _key_lock(path):
            current = self._current_etag(key)
            if current != etag:
                raise Conflict(f"{key} in {self.url} changed (expected {etag}, found {current})")
            self.put(key, data)
        return content_etag(data)

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            with self._errors("delete", key):
                self.fs.rm_file(path)
        except NotFound:
            pass

    def create(self) -> None:
        with self._errors("create", self.root):
            self.fs.makedirs(self.root, exist_ok=True)

    # -- helpers -------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        return f"{self.root}/{check_key(key)}"

    def _pipe(self, path: str, data: bytes, mode: str) -> None:
        """Write a file, creating its parent folder on filesystems that need one."""
        data = bytes(data)  # some filesystems (memory://) keep what they are given
        try:
            self.fs.pipe_file(path, data, mode=mode)
        except FileNotFoundError:
            self.fs.makedirs(path.rpartition("/")[0], exist_ok=True)
            self.fs.pipe_file(path, data, mode=mode)

    def _current_etag(self, key: str) -> str | None:
        try:
            return self.get_with_etag(key)[1]
        except NotFound:
            return None

    @contextmanager
    def _errors(self, verb: str, key: str) -> Iterator[None]:
        """Translate the filesystem's exceptions into the snapkit vocabulary."""
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFound(f"no object {key} in {self.url}") from exc
        except PermissionError as exc:
            raise AccessDenied(f"cannot {verb} {key} in {self.url}: {exc}") from exc
        except (ConnectionError, TimeoutError) as exc:
            raise TransientError(f"cannot {verb} {key} in {self.url}: {exc}") from exc
        except socket.gaierror as exc:
            raise StoreUnavailable(f"cannot reach {self.url}: {exc.strerror or exc}") from exc
        except OSError as exc:
            raise from_os_error(exc, f"cannot {verb} {key} in {self.url}") from exc


def _info(info: dict) -> ObjectInfo:
    """Size and last-write time from an fsspec info dict (each file system names the time
    its own way)."""
    when = info.get("mtime") or info.get("created") or info.get("LastModified") or 0.0
    if hasattr(when, "timestamp"):
        when = when.timestamp()
    return ObjectInfo(int(info["size"]), float(when))


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)
