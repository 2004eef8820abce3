"""RetryingStorage: the same Storage, with transient failures retried.

Only failures that may go away are retried (TransientError, dropped connections, timeouts),
with exponential backoff and jitter. NotFound, Conflict, AccessDenied and every other answer
from the store are returned at once: retrying them would only delay the same answer.

A retried write may already have landed before the failure that caused the retry:
- put_if_absent then answers False, which is right, since the object holds the same bytes
  (objects written this way are content-addressed);
- put_if_match then fails its own precondition; if the object now holds exactly our bytes,
  that is our write (or an identical one, which leaves the ref where we wanted it), so its
  etag is returned instead of Conflict.
"""

from __future__ import annotations

import errno
import logging
import random
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from snapkit.errors import Conflict, NotFound, SnapError
from snapkit.storage.base import ObjectInfo, Storage, TransientError

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE, errno.EAGAIN}
)


def is_transient(exc: BaseException) -> bool:
    """True for failures worth trying again: the same call may well succeed."""
    if isinstance(exc, SnapError):
        return isinstance(exc, TransientError)
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    return isinstance(exc, OSError) and exc.errno in TRANSIENT_ERRNOS


class RetryingStorage(Storage):
    """Wraps any Storage; retries each call up to `attempts` times in all."""

    def __init__(
        self,
        inner: Storage,
        attempts: int = 5,
        base_delay: float = 0.05,
        *,
        max_delay: float = 5.0,
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.inner = inner
        self.remote = inner.remote
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.url = inner.url

    def get(self, key: str) -> bytes:
        return self._retry(f"read {key}", lambda: self.inner.get(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._retry(f"read {key}", lambda: self.inner.get_range(key, offset, length))

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        return self._retry(f"read {key}", lambda: self.inner.get_with_etag(key))

    def size(self, key: str) -> int:
        return self._retry(f"read {key}", lambda: self.inner.size(key))

    def stat(self, key: str) -> ObjectInfo:
        return self._retry(f"read {key}", lambda: self.inner.stat(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        # Collected in full so a retry never yields a key twice.
        keys = self._retry(f"list {prefix or '/'}", lambda: [*self.inner.list(prefix)])
        return iter(keys)

    def list_info(self, prefix: str = "") -> Iterator[tuple[str, ObjectInfo]]:
        found = self._retry(f"list {prefix or '/'}", lambda: [*self.inner.list_info(prefix)])
        return iter(found)

    def put(self, key: str, data: bytes) -> None:
        self._retry(f"write {key}", lambda: self.inner.put(key, data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._retry(f"write {key}", lambda: self.inner.put_if_absent(key, data))

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        first = True

        def attempt() -> str:
            nonlocal first
            try:
                return self.inner.put_if_match(key, data, etag)
            except Conflict:
                landed = None if first else _holds(self.inner, key, data)
                if landed is None:
                    raise
                return landed
            finally:
                first = False

        return self._retry(f"write {key}", attempt)

    def delete(self, key: str) -> None:
        self._retry(f"delete {key}", lambda: self.inner.delete(key))

    def create(self) -> None:
        self._retry("open store", self.inner.create)

    def close(self) -> None:
        self.inner.close()

    def _retry(self, what: str, call: Callable[[], T]) -> T:
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                if attempt == self.attempts:
                    raise _gave_up(exc, what, self.url, attempt) from exc
                delay = self._delay(attempt)
                log.debug(
                    "%s on %s failed (%s); retry %d in %.2fs", what, self.url, exc, attempt, delay
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _delay(self, attempt: int) -> float:
        """Exponential backoff with jitter, so many clients do not retry in lockstep."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(ceiling / 2, ceiling)


def _holds(storage: Storage, key: str, data: bytes) -> str | None:
    """The etag of `key` if it holds exactly `data`, else None."""
    try:
        current, etag = storage.get_with_etag(key)
    except NotFound:
        return None
    return etag if current == data else None


def _gave_up(exc: Exception, what: str, url: str, attempts: int) -> SnapError:
    message = f"{what} on {url} still failing after {attempts} attempts: {exc}"
    return TransientError(message, hint=getattr(exc, "hint", None))
