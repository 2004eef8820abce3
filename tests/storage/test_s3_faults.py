"""S3 faults on the wire: a real HTTP proxy in front of moto answers 5xx, throttles, resets
connections or loses responses, and the S3 storage (as `open_storage` builds it: botocore's
standard retries inside snapkit's RetryingStorage) must ride them out, or fail clearly.

Nothing here patches boto3: every fault is an HTTP answer (or a TCP reset) from the proxy.
Setup and checks go straight to moto (`direct`), so the proxy sees only the call under test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from snapkit.errors import Conflict, StoreUnavailable
from snapkit.storage import Storage, open_storage
from snapkit.storage.base import TransientError
from snapkit.storage.s3 import S3Storage, make_client
from tests.s3proxy import S3Proxy

KEY = "k/obj"
DATA = b"the payload " * 1000
SANITY_SECONDS = 45.0  # a give-up must come in bounded time (backoff is jittered); not a benchmark
BOTO_ATTEMPTS = 4  # `max_attempts: 3` in botocore's Config counts retries, not attempts
ATTEMPTS = BOTO_ATTEMPTS * 3  # and RetryingStorage makes 3 calls

# Non-throttling faults back off from 50 ms, throttling ones from 1 s (botocore's standard
# mode), so the throttles are injected fewer times to keep the suite fast.
FAULTS = [("500", 3), ("503", 3), ("reset", 3), ("slowdown", 1), ("throttle", 1)]


@pytest.fixture
def proxy(s3_server: str) -> Iterator[S3Proxy]:
    with S3Proxy(s3_server) as p:
        yield p


@pytest.fixture
def store(proxy: S3Proxy, s3_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Storage]:
    """The store snapkit would open for `s3_url`, reaching moto through the proxy."""
    monkeypatch.setenv("SNAP_S3_ENDPOINT_URL", proxy.url)
    storage = open_storage(s3_url)
    yield storage
    storage.close()


@pytest.fixture(scope="module")
def moto_client(s3_server: str) -> Iterator[Any]:
    client = make_client(s3_server)
    yield client
    client.close()


@pytest.fixture
def direct(moto_client: Any, s3_url: str) -> S3Storage:
    """The same bucket and prefix, straight to moto: for setup and checks."""
    bucket, _, prefix = s3_url.removeprefix("s3://").partition("/")
    return S3Storage(bucket, prefix, client=moto_client)


# -- the operations under test: each prepares through `direct`, then calls `store` once ---


def do_get(store: Storage, direct: S3Storage) -> None:
    direct.put(KEY, DATA)
    assert store.get(KEY) == DATA


def do_put_if_absent(store: Storage, direct: S3Storage) -> None:
    assert store.put_if_absent(KEY, DATA) is True
    assert direct.get(KEY) == DATA


def do_put_if_match(store: Storage, direct: S3Storage) -> None:
    old = direct.put_if_match(KEY, b"v1", None)
    new = store.put_if_match(KEY, DATA, old)
    assert direct.get_with_etag(KEY) == (DATA, new)


def do_list(store: Storage, direct: S3Storage) -> None:
    keys = [f"k/{i}" for i in range(3)]
    for key in keys:
        direct.put(key, b"x")
    assert sorted(store.list("k/")) == keys


OPS: dict[str, Callable[[Storage, S3Storage], None]] = {
    "get": do_get,
    "put_if_absent": do_put_if_absent,
    "put_if_match": do_put_if_match,
    "list": do_list,
}


# -- transient faults are retried ---------------------------------------------------------


@pytest.mark.parametrize(("kind", "times"), FAULTS)
@pytest.mark.parametrize("op", OPS)
def test_transient_faults_are_retried(
    op: str, kind: str, times: int, proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    proxy.fail_next(times, kind)
    OPS[op](store, direct)
    assert proxy.faults == times
    assert proxy.requests == times + 1  # each fault was followed by a retry


def test_faults_past_botocore_budget_are_retried_by_snapkit(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    proxy.fail_next(BOTO_ATTEMPTS + 1, "503")  # botocore gives up; RetryingStorage calls again
    do_get(store, direct)
    assert proxy.requests == BOTO_ATTEMPTS + 2


# -- what does not go away fails clearly, in bounded time ---------------------------------


@pytest.mark.parametrize(
    ("op", "what"),
    [("get", f"read {KEY}"), ("put_if_match", f"write {KEY}")],
)
def test_503_storm_fails_clearly_in_bounded_time(
    op: str, what: str, proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    proxy.fail_next(1000, "503")
    started = time.monotonic()
    with pytest.raises(TransientError) as caught:
        OPS[op](store, direct)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert what in message and store.url in message
    assert "ServiceUnavailable" in message and "after 3 attempts" in message
    assert proxy.requests == ATTEMPTS
    assert elapsed < SANITY_SECONDS, f"gave up after {elapsed:.1f}s"


def test_store_that_refuses_connections_is_unavailable_until_it_comes_back(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    direct.put(KEY, DATA)
    proxy.go_down("refuse")
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match="cannot reach") as caught:
        store.get(KEY)
    assert proxy.url in str(caught.value) and store.url in str(caught.value)
    assert caught.value.hint and "AWS_ENDPOINT_URL" in caught.value.hint
    assert time.monotonic() - started < SANITY_SECONDS
    proxy.come_back()
    assert store.get(KEY) == DATA


def test_store_that_resets_every_connection_fails_clearly(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    direct.put(KEY, DATA)
    proxy.go_down("reset")
    with pytest.raises(TransientError, match=f"read {KEY} .* still failing after 3 attempts"):
        store.get(KEY)
    assert proxy.faults == ATTEMPTS
    proxy.come_back()
    assert store.get(KEY) == DATA


# -- a write that landed but whose response was lost --------------------------------------


def test_put_if_match_with_lost_response_is_not_a_false_conflict(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    """botocore retries the PUT, which then fails its own precondition: S3Storage sees the
    object holds our bytes and returns its etag."""
    proxy.fail_next(1, "lose-response", method="PUT")
    do_put_if_match(store, direct)
    assert proxy.count("PUT") == 2


def test_lost_response_then_outage_is_not_a_false_conflict(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    """botocore gives up (lost, then 503s); RetryingStorage's next call meets a precondition
    that fails on its first try, and must still recognise the write as ours."""
    proxy.fail_next(1, "lose-response", method="PUT")
    proxy.fail_next(BOTO_ATTEMPTS - 1, "503", method="PUT")
    do_put_if_match(store, direct)
    assert proxy.count("PUT") == BOTO_ATTEMPTS + 1


def test_put_if_absent_with_lost_response_reports_existing_object(
    proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    """The documented answer: False (the key holds the same, content-addressed bytes)."""
    proxy.fail_next(1, "lose-response", method="PUT")
    assert store.put_if_absent(KEY, DATA) is False
    assert direct.get(KEY) == DATA


@pytest.mark.parametrize("faults_first", [0, 1])
def test_genuine_conflict_is_still_a_conflict(
    faults_first: int, proxy: S3Proxy, store: Storage, direct: S3Storage
) -> None:
    stale = direct.put_if_match(KEY, b"v1", None)
    direct.put_if_match(KEY, b"theirs", stale)
    proxy.fail_next(faults_first, "503")  # a retried PUT must not mistake theirs for ours
    with pytest.raises(Conflict, match=f"{KEY} in {store.url} changed"):
        store.put_if_match(KEY, DATA, stale)
    assert direct.get(KEY) == b"theirs"
    assert proxy.count("PUT") == 1 + faults_first
