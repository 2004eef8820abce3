"""One conformance suite for every storage backend, then what is specific to each.

A new backend only adds a branch to the `storage` fixture.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import boto3
import fsspec
import pytest
from botocore.config import Config

from snapkit.errors import AccessDenied, Conflict, NotFound, StoreUnavailable, UsageError
from snapkit.storage import ReadOnlyStorage, RetryingStorage, Storage, open_storage
from snapkit.storage.base import ObjectInfo, TransientError
from snapkit.storage.fsspec_backend import FsspecStorage
from snapkit.storage.local import LocalStorage
from snapkit.storage.s3 import S3Storage

MiB = 1024 * 1024
T = TypeVar("T")

# -- the backends under test -------------------------------------------------------------


@pytest.fixture(params=["local", "memory", "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    """Each backend as `open_storage` gives it to the rest of snapkit."""
    memory_root = f"/snapkit-test-{uuid.uuid4().hex}"  # the memory filesystem is global
    if request.param == "local":
        store = open_storage(str(tmp_path / "store"))
    elif request.param == "memory":
        store = open_storage(f"memory:/{memory_root}")
    else:
        store = open_storage(request.getfixturevalue("s3_url"))
    yield store
    store.close()
    memory = fsspec.filesystem("memory")
    if memory.exists(memory_root):
        memory.rm(memory_root, recursive=True)


def payload(size: int) -> bytes:
    """Deterministic bytes that differ at every offset (so a wrong range is caught)."""
    block = bytes(range(251))  # prime length: no alignment with powers of two
    return (block * (size // len(block) + 1))[:size]


def test_a_backend_says_whether_its_bytes_cross_a_network(
    storage: Storage, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """What `auto` compression goes by (objects/writer.py): a local folder and memory are
    this machine's, S3 is remote; the retrying and read-only wrappers say what they wrap."""
    remote = request.node.callspec.params["storage"] == "s3"
    assert storage.remote is remote
    assert ReadOnlyStorage(storage).remote is remote
    assert FsspecStorage(f"file://{tmp_path / 'via-fsspec'}").remote is False


# -- reads and plain writes --------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 5 * MiB + 3])
def test_put_get_round_trip(storage: Storage, size: int) -> None:
    data = payload(size)
    storage.put("data/obj", data)
    assert storage.get("data/obj") == data
    assert storage.size("data/obj") == size


def test_stat_reports_size_and_write_time(storage: Storage) -> None:
    before = time.time()
    storage.put("data/obj", b"12345")
    info = storage.stat("data/obj")
    assert info.size == 5
    assert before - 5 <= info.modified <= time.time() + 5  # server clocks may lag a little


def test_missing_key_is_not_found(storage: Storage) -> None:
    reads: list[Callable[[], object]] = [
        lambda: storage.get("nope/x"),
        lambda: storage.get_with_etag("nope/x"),
        lambda: storage.get_range("nope/x", 0, 10),
        lambda: storage.size("nope/x"),
        lambda: storage.stat("nope/x"),
    ]
    for read in reads:
        with pytest.raises(NotFound):
            read()
    assert not storage.exists("nope/x")


def test_get_range(storage: Storage) -> None:
    data = payload(1000)
    storage.put("r", data)
    assert storage.get_range("r", 100, 50) == data[100:150]
    assert storage.get_range("r", 900, 100) == data[900:]
    assert storage.get_range("r", 950, 100) == data[950:]  # runs past the end
    assert storage.get_range("r", 1000, 10) == b""  # starts at the end
    assert storage.get_range("r", 5000, 10) == b""  # starts past the end
    assert storage.get_range("r", 10, 0) == b""


def test_put_overwrites(storage: Storage) -> None:
    storage.put("k", b"old")
    storage.put("k", b"new content")
    assert storage.get("k") == b"new content"
    assert storage.size("k") == len(b"new content")


def test_exists(storage: Storage) -> None:
    assert not storage.exists("a/b")
    storage.put("a/b", b"")
    assert storage.exists("a/b")
    assert not storage.exists("a")  # a "folder" is not an object


def test_delete(storage: Storage) -> None:
    storage.put("d/x", b"1")
    storage.put("d/y", b"2")
    storage.delete("d/x")
    assert not storage.exists("d/x")
    assert storage.get("d/y") == b"2"
    storage.delete("d/x")  # missing: not an error
    storage.delete("never/was")


# -- create-only and compare-and-swap -----------------------------------------------------


def test_put_if_absent(storage: Storage) -> None:
    assert storage.put_if_absent("objects/ab/abc", b"first") is True
    assert storage.put_if_absent("objects/ab/abc", b"second") is False
    assert storage.get("objects/ab/abc") == b"first"


def test_put_if_match_swaps_only_on_the_current_etag(storage: Storage) -> None:
    etag1 = storage.put_if_match("refs/tags/v1", b"snap-1", None)
    data, etag = storage.get_with_etag("refs/tags/v1")
    assert (data, etag) == (b"snap-1", etag1)

    with pytest.raises(Conflict):
        storage.put_if_match("refs/tags/v1", b"snap-x", "not-the-etag")
    assert storage.get("refs/tags/v1") == b"snap-1"

    etag2 = storage.put_if_match("refs/tags/v1", b"snap-2", etag1)
    assert etag2 != etag1
    assert storage.get_with_etag("refs/tags/v1") == (b"snap-2", etag2)

    with pytest.raises(Conflict):  # the old etag is stale now
        storage.put_if_match("refs/tags/v1", b"snap-3", etag1)
    assert storage.get("refs/tags/v1") == b"snap-2"


def test_put_if_match_none_on_existing_key_conflicts(storage: Storage) -> None:
    storage.put("refs/main", b"there")
    with pytest.raises(Conflict):
        storage.put_if_match("refs/main", b"mine", None)
    assert storage.get("refs/main") == b"there"


def test_put_if_match_etag_on_missing_key_conflicts(storage: Storage) -> None:
    etag = storage.put_if_match("refs/gone", b"v", None)
    storage.delete("refs/gone")
    with pytest.raises(Conflict):
        storage.put_if_match("refs/gone", b"v2", etag)
    assert not storage.exists("refs/gone")


def race(workers: int, call: Callable[[int], object]) -> list[object]:
    """Run `call(i)` in `workers` threads released together; return results or exceptions."""
    barrier = threading.Barrier(workers)
    results: list[object] = [None] * workers

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = call(i)
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_concurrent_put_if_match_has_one_winner(storage: Storage) -> None:
    # On S3 the server decides. moto checks the precondition and writes in two steps, so it
    # could in theory let two through; 0 in 400 trials did (real S3 is atomic).
    start = storage.put_if_match("refs/tags/latest", b"base", None)
    results = race(8, lambda i: storage.put_if_match("refs/tags/latest", b"w%d" % i, start))

    winners = [i for i, r in enumerate(results) if isinstance(r, str)]
    assert len(winners) == 1, results
    assert all(isinstance(r, Conflict) for r in results if not isinstance(r, str))
    assert storage.get_with_etag("refs/tags/latest") == (b"w%d" % winners[0], results[winners[0]])


def test_concurrent_put_if_absent_has_one_creator(storage: Storage) -> None:
    results = race(8, lambda i: storage.put_if_absent("objects/same", b"w%d" % i))

    assert results.count(True) == 1, results
    assert results.count(False) == 7, results
    assert storage.get("objects/same") == b"w%d" % results.index(True)


# -- listing ---------------------------------------------------------------------------


def test_list_by_prefix(storage: Storage) -> None:
    for key in ["a/1", "a/2", "a/b/3", "ab/4", "b/5"]:
        storage.put(key, b"x")
    assert sorted(storage.list()) == ["a/1", "a/2", "a/b/3", "ab/4", "b/5"]
    assert sorted(storage.list("a/")) == ["a/1", "a/2", "a/b/3"]
    assert sorted(storage.list("a")) == ["a/1", "a/2", "a/b/3", "ab/4"]
    assert sorted(storage.list("a/b")) == ["a/b/3"]
    assert sorted(storage.list("a/b/3")) == ["a/b/3"]
    assert list(storage.list("c/")) == []


def test_list_shows_only_objects(storage: Storage) -> None:
    """No temp files, lock files or other backend bookkeeping, whatever the write path."""
    storage.put("k/put", b"1")
    storage.put_if_absent("k/absent", b"2")
    storage.put_if_absent("k/absent", b"2")
    etag = storage.put_if_match("k/ref", b"3", None)
    storage.put_if_match("k/ref", b"4", etag)
    storage.put("k/gone", b"5")
    storage.delete("k/gone")
    assert sorted(storage.list()) == ["k/absent", "k/put", "k/ref"]


def test_list_info_gives_what_stat_gives(storage: Storage) -> None:
    """The listing's sizes and times, for check and gc to need no request per object."""
    before = time.time()
    for key, size in [("a/1", 3), ("a/2", 0), ("a/b/3", MiB + 7), ("ab/4", 1)]:
        storage.put(key, payload(size))
    found = dict(storage.list_info("a/"))
    assert sorted(found) == sorted(storage.list("a/")) == ["a/1", "a/2", "a/b/3"]
    for key, info in found.items():
        assert info.size == storage.stat(key).size
        assert abs(info.modified - storage.stat(key).modified) < 2
        assert before - 5 <= info.modified <= time.time() + 5
    assert list(storage.list_info("c/")) == []
    wrapped = ReadOnlyStorage(RetryingStorage(storage))
    assert dict(wrapped.list_info("a")) == dict(storage.list_info("a"))


@pytest.mark.parametrize("key", ["", "/abs", "../x", "a/../b", "a//b", "./a", "a/"])
def test_bad_keys_are_refused(storage: Storage, key: str) -> None:
    with pytest.raises(ValueError):
        storage.put(key, b"x")
    with pytest.raises(ValueError):
        storage.get(key)


# -- local ---------------------------------------------------------------------------------


def test_local_keys_cannot_escape_the_root(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path / "store")
    with pytest.raises(ValueError):
        store.put("../x", b"escaped")
    with pytest.raises(ValueError):
        store.put(".snapkit-locks/x", b"reserved name")
    assert not (tmp_path / "x").exists()


def test_local_writes_leave_no_temp_files(tmp_path: Path) -> None:
    store = LocalStorage(tmp_path)
    store.put("a/b", b"1")
    store.put_if_absent("a/c", b"2")
    store.put_if_absent("a/c", b"2")
    store.put_if_match("a/d", b"3", None)
    assert sorted(os.listdir(tmp_path / "a")) == ["b", "c", "d"]


def test_local_url_round_trips_through_open_storage(tmp_path: Path) -> None:
    folder = tmp_path / "with space"
    store = open_storage(str(folder))
    assert isinstance(store, LocalStorage)
    store.put("k", b"v")
    again = open_storage(store.url)
    assert isinstance(again, LocalStorage)
    assert again.root == folder
    assert again.get("k") == b"v"


def test_local_unwritable_folder_is_access_denied(tmp_path: Path) -> None:
    """A read-only mount stops root too, so this runs the same for every user.

    The write happens in a child process inside its own mount namespace (`unshare`), where
    the folder is bind-mounted read-only: a real EROFS from the kernel, no patching.
    """
    folder = tmp_path / "store"
    folder.mkdir()
    code = (
        "import sys; from snapkit.storage.local import LocalStorage; "
        "from snapkit.errors import AccessDenied\n"
        "try:\n    LocalStorage(sys.argv[1]).put('k', b'v')\n"
        "except AccessDenied as e:\n    print('denied:', e); sys.exit(0)\n"
        "sys.exit(1)"
    )
    script = f'mount --bind -o ro "$1" "$1" && exec "{sys.executable}" -c "$2" "$1"'
    result = subprocess.run(
        ["unshare", "--mount", "--map-root-user", "sh", "-c", script, "sh", str(folder), code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "denied:" in result.stdout
    assert list(folder.iterdir()) == []


# -- fsspec and open_storage -------------------------------------------------------------


def test_open_storage_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(open_storage(f"file://{tmp_path}"), LocalStorage)
    assert isinstance(open_storage("memory://somewhere"), FsspecStorage)
    s3 = open_storage("s3://bucket/team/store/")
    assert isinstance(s3, RetryingStorage)
    assert isinstance(s3.inner, S3Storage)
    assert (s3.inner.bucket, s3.inner.prefix, s3.url) == ("bucket", "team/store", s3.inner.url)
    for bad in ["", "s3:///no-bucket", "file://host/path"]:
        with pytest.raises(UsageError):
            open_storage(bad)


# -- S3 ------------------------------------------------------------------------------------


def test_s3_missing_bucket_is_store_unavailable(s3_server: str) -> None:
    store = S3Storage("snapkit-no-such-bucket", "p", endpoint_url=s3_server)
    for call in [lambda: store.get("k"), lambda: store.put("k", b"v"), store.create]:
        with pytest.raises(StoreUnavailable, match="bucket snapkit-no-such-bucket does not"):
            call()


def test_s3_create_accepts_an_existing_bucket(s3_url: str) -> None:
    open_storage(s3_url).create()


def test_s3_unreachable_endpoint_is_store_unavailable() -> None:
    config = Config(connect_timeout=0.5, read_timeout=0.5, retries={"max_attempts": 1})
    client = boto3.client(
        "s3", endpoint_url="http://127.0.0.1:1", region_name="us-east-1", config=config
    )
    store = S3Storage("bucket", "p", client=client)
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=r"cannot reach http://127\.0\.0\.1:1") as info:
        store.get("k")
    assert not isinstance(info.value, TransientError)
    assert time.monotonic() - started < 5


# -- wrappers ------------------------------------------------------------------------------


class FlakyStorage(Storage):
    """Fault injection: the first `failures` calls raise `error` (after doing the work, when
    `after_write`, as when a write lands but its response is lost); then all calls pass."""

    def __init__(
        self,
        inner: Storage,
        failures: int,
        error: Callable[[], Exception] = lambda: TransientError("injected"),
        after_write: bool = False,
    ) -> None:
        self.inner = inner
        self.failures = failures
        self.error = error
        self.after_write = after_write
        self.url = inner.url
        self.calls = 0

    def _call(self, do: Callable[[], T]) -> T:
        self.calls += 1
        failing = self.calls <= self.failures
        if failing and not self.after_write:
            raise self.error()
        result = do()
        if failing:
            raise self.error()
        return result

    def get(self, key: str) -> bytes:
        return self._call(lambda: self.inner.get(key))

    def get_range(self, key: str, offset: int, length: int) -> bytes:
        return self._call(lambda: self.inner.get_range(key, offset, length))

    def get_with_etag(self, key: str) -> tuple[bytes, str]:
        return self._call(lambda: self.inner.get_with_etag(key))

    def put(self, key: str, data: bytes) -> None:
        self._call(lambda: self.inner.put(key, data))

    def put_if_absent(self, key: str, data: bytes) -> bool:
        return self._call(lambda: self.inner.put_if_absent(key, data))

    def put_if_match(self, key: str, data: bytes, etag: str | None) -> str:
        return self._call(lambda: self.inner.put_if_match(key, data, etag))

    def stat(self, key: str) -> ObjectInfo:
        return self._call(lambda: self.inner.stat(key))

    def size(self, key: str) -> int:
        return self._call(lambda: self.inner.size(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        return self._call(lambda: iter([*self.inner.list(prefix)]))

    def delete(self, key: str) -> None:
        self._call(lambda: self.inner.delete(key))


def test_retrying_storage_retries_transient_errors(tmp_path: Path) -> None:
    flaky = FlakyStorage(LocalStorage(tmp_path), failures=2)
    store = RetryingStorage(flaky, attempts=5, base_delay=0.001)
    store.put("k", b"v")
    assert flaky.calls == 3
    assert store.get("k") == b"v"


@pytest.mark.parametrize(
    "error", [lambda: ConnectionResetError(104, "reset"), lambda: TimeoutError("slow")]
)
def test_retrying_storage_retries_dropped_connections(
    tmp_path: Path, error: Callable[[], Exception]
) -> None:
    flaky = FlakyStorage(LocalStorage(tmp_path), failures=1, error=error)
    RetryingStorage(flaky, base_delay=0.001).put("k", b"v")
    assert flaky.calls == 2


def test_retrying_storage_gives_up_after_n_attempts(tmp_path: Path) -> None:
    flaky = FlakyStorage(LocalStorage(tmp_path), failures=100)
    store = RetryingStorage(flaky, attempts=4, base_delay=0.001)
    with pytest.raises(TransientError, match="after 4 attempts"):
        store.put("k", b"v")
    assert flaky.calls == 4


@pytest.mark.parametrize(
    "error", [lambda: NotFound("x"), lambda: Conflict("x"), lambda: AccessDenied("x")]
)
def test_retrying_storage_does_not_retry_answers(
    tmp_path: Path, error: Callable[[], Exception]
) -> None:
    flaky = FlakyStorage(LocalStorage(tmp_path), failures=1, error=error)
    with pytest.raises(type(error())):
        RetryingStorage(flaky, base_delay=0.001).get("k")
    assert flaky.calls == 1


def test_retried_writes_that_landed_still_succeed(tmp_path: Path) -> None:
    """The first attempt writes, then its response is "lost": the retry must not report
    the object as someone else's, nor the ref as moved by someone else."""
    inner = LocalStorage(tmp_path)
    store = RetryingStorage(FlakyStorage(inner, 1, after_write=True), base_delay=0.001)
    assert store.put_if_absent("objects/x", b"chunk") is False  # there, with our bytes
    assert inner.get("objects/x") == b"chunk"

    store = RetryingStorage(FlakyStorage(inner, 1, after_write=True), base_delay=0.001)
    etag = store.put_if_match("refs/main", b"snap-1", None)
    assert inner.get_with_etag("refs/main") == (b"snap-1", etag)


def test_read_only_storage_refuses_every_write(tmp_path: Path) -> None:
    inner = LocalStorage(tmp_path)
    inner.put("k", b"v")
    store = ReadOnlyStorage(inner)
    assert store.get("k") == b"v"
    assert list(store.list()) == ["k"]
    writes: list[Callable[[], object]] = [
        lambda: store.put("k", b"new"),
        lambda: store.put_if_absent("n", b"new"),
        lambda: store.put_if_match("k", b"new", None),
        lambda: store.delete("k"),
        store.create,
    ]
    for write in writes:
        with pytest.raises(AccessDenied, match="read-only"):
            write()
    assert inner.get("k") == b"v"
    assert list(inner.list()) == ["k"]
