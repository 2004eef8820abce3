"""ReadOnlyStorage: the same Storage, with every write refused (for check, show, diff, …)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import NoReturn

from snapkit.errors import AccessDenied
from snapkit.storage.base import ObjectInfo, Storage


class ReadOnlyStorage(Storage):
    """Reads go to `inner`; every write raises AccessDenied before touching it."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.remote = inner.remote
        self.url = inner.url

    def get(self, key: str) -> bytes:
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self.inner.get_range(key, offset, length)

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        return self.inner.get_with_etag(key)

    def size(self, key: str) -> int:
        return self.inner.size(key)

    def stat(self, key: str) -> ObjectInfo:
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        return self.inner.list_info(prefix)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def put(self, key: str, data: bytes) -> None:
        self._refuse(key)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self._refuse(key)

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        self._refuse(key)

    def delete(self, key: str) -> None:
        self._refuse(key)

    def create(self) -> None:
        self._refuse("/")

    def close(self) -> None:
        self.inner.close()

    def _refuse(self, key: str) -> NoReturn:
        raise AccessDenied(f"store is read-only: cannot write {key} in {self.url}")
