"""Byte-level storage: the `Storage` contract, its backends and wrappers, and `open_storage`."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from snapkit.errors import UsageError
from snapkit.storage.base import Storage, TransientError
from snapkit.storage.readonly import ReadOnlyStorage
from snapkit.storage.retry import RetryingStorage

__all__ = ["ReadOnlyStorage", "RetryingStorage", "Storage", "TransientError", "open_storage"]


def open_storage(url: str) -> Storage:
    """The Storage for a store URL.

    `s3://bucket/prefix` → S3 (with retries); `file:///abs/path` or a plain path → a local
    folder; any other `proto://…` → fsspec. Backends are imported only when used, so a local
    store never imports boto3.
    """
    if not url:
        raise UsageError("the store URL is empty")
    if "://" not in url:
        return _local(Path(url))
    scheme = url.partition("://")[0].lower()
    if scheme == "file":
        return _local(_file_url_path(url))
    if scheme == "s3":
        return _s3(url)
    from snapkit.storage.fsspec_backend import FsspecStorage

    return FsspecStorage(url)


def _local(path: Path) -> Storage:
    from snapkit.storage.local import LocalStorage

    return LocalStorage(path)


def _file_url_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"{url}: a file:// URL must name a local path (file:///abs/path)")
    return Path(unquote(parts.path))


def _s3(url: str) -> Storage:
    from snapkit.storage.s3 import S3Storage

    parts = urlsplit(url)
    if not parts.netloc:
        raise UsageError(f"{url}: an S3 store URL is s3://bucket[/prefix]")
    # botocore retries each request; this outer layer retries whole calls a few times more
    return RetryingStorage(S3Storage(parts.netloc, parts.path.strip("/")), attempts=3)
