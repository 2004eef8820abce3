"""A real storage wrapper that injects faults: the byte-level contract makes this easy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from snapkit.storage.base import ObjectInfo, Storage


class FaultyStorage(Storage):
    """Delegates every call to `inner`, first asking `fault(op, key)`: it may raise."""

    def __init__(self, inner: Storage, fault: Callable[[str, str], None]) -> None:
        self.inner = inner
        self.fault = fault
        self.url = inner.url

    def get(self, key: str) -> bytes:
        self.fault("get", key)
        return self.inner.get(key)

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        self.fault("get_range", key)
        return self.inner.get_range(key, offset, length)

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        self.fault("get", key)
        return self.inner.get_with_etag(key)

    def put(self, key: str, data: bytes) -> None:
        self.fault("put", key)
        self.inner.put(key, data)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        self.fault("put", key)
        return self.inner.put_if_absent(key, data)

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        self.fault("put", key)
        return self.inner.put_if_match(key, data, etag)

    def size(self, key: str) -> int:
        self.fault("stat", key)
        return self.inner.size(key)

    def stat(self, key: str) -> ObjectInfo:
        self.fault("stat", key)
        return self.inner.stat(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        self.fault("list", prefix)
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.fault("delete", key)
        self.inner.delete(key)


def first_two_gets_meet(prefix: str) -> tuple[Callable[[str, str], None], list[str]]:
    """A FaultyStorage hook whose first two GETs under `prefix` wait for each other at a
    barrier: reads made one after the other never pass it (BrokenBarrierError after 10 s).
    Returns the hook and the keys that met."""
    import threading

    meet = threading.Barrier(2, timeout=10)
    met: list[str] = []
    lock = threading.Lock()

    def hook(op: str, key: str) -> None:
        with lock:
            first_two = op == "get" and key.startswith(prefix) and len(met) < 2
            if first_two:
                met.append(key)
        if first_two:
            meet.wait()

    return hook, met
