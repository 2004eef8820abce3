"""take and restore on S3 through a faulty network (a real HTTP proxy in front of moto).

Sporadic 5xx and resets are ridden out; a store that goes away mid-take fails the take with
a clear message and publishes nothing, and the next take reuses what had landed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import snapkit
from snapkit.errors import StoreUnavailable
from tests.helpers import random_bytes, snapshot_of, write
from tests.s3proxy import S3Proxy

pytestmark = pytest.mark.slow  # 48 MiB through moto

FILES = 3
FILE_SIZE = 16 << 20  # 48 MiB in all: one full pack, then a partial one
PACK_OVERHEAD = 64 << 10  # a pack's header and trailer, beyond its chunks' bytes


@pytest.fixture
def proxy(s3_server: str) -> Iterator[S3Proxy]:
    with S3Proxy(s3_server) as p:
        yield p


@pytest.fixture
def store_url(proxy: S3Proxy, s3_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """`s3_url`, reached through the proxy, with a fresh cache."""
    monkeypatch.setenv("SNAP_S3_ENDPOINT_URL", proxy.url)
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache-writer"))
    return s3_url


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    for i in range(FILES):
        write(root / f"part-{i}.bin", random_bytes(FILE_SIZE, seed=40 + i))
    write(root / "labels.csv", "id,label\n1,cat\n2,dog\n")
    return root


def test_take_and_restore_ride_out_sporadic_faults(
    proxy: S3Proxy,
    store_url: str,
    source: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy.fail_every(4, ("503", "reset", "500"))
    with snapkit.open_store(store_url, create=True) as store:
        store.take(source, tags=["v1"])
    faults_in_take = proxy.faults

    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache-reader"))  # another machine
    with snapkit.open_store(store_url) as store:
        store.restore("v1", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(source)
    assert faults_in_take >= 3 and proxy.faults > faults_in_take  # both saw faults
    assert proxy.count("PUT", "/data/") >= 2  # the packs went through the proxy too


def test_store_going_away_mid_take_fails_clearly_and_next_take_resumes(
    proxy: S3Proxy, store_url: str, source: Path
) -> None:
    proxy.go_down_at(1, method="PUT", path_contains="/data/")  # one pack lands, then outage
    with (
        snapkit.open_store(store_url, create=True) as store,
        pytest.raises(StoreUnavailable) as caught,
    ):
        store.take(source, tags=["v1"])
    message = str(caught.value)
    assert "cannot reach" in message and proxy.url in message and store_url in message
    landed = _data_puts(proxy)[0]

    proxy.come_back()
    with snapkit.open_store(store_url) as store:  # the next `snap take`
        assert store.log() == []
        assert store.repo.refs.list() == []
        result = store.take(source, tags=["v1"])
        summary = result.snapshot.summary
        assert 0 < summary.new_stored_bytes <= summary.bytes - landed + PACK_OVERHEAD
        assert store.check(read_data=True).ok
        assert [info.tags for info in store.log()] == [("v1",)]


def test_take_retried_on_the_same_store_after_an_outage_publishes_a_sound_snapshot(
    proxy: S3Proxy, store_url: str, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with snapkit.open_store(store_url, create=True) as store:
        proxy.go_down_at(1, method="PUT", path_contains="/index/", lands=False)
        with pytest.raises(StoreUnavailable):
            store.take(source)  # every pack landed; the index naming them did not
        proxy.come_back()
        store.take(source, tags=["v1"])  # a script's retry loop, say

    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache-reader"))
    with snapkit.open_store(store_url) as fresh:
        assert fresh.check().ok  # today: "chunk … of part-N.bin is in no pack"


def _data_puts(proxy: S3Proxy) -> list[int]:
    """Body sizes of the pack uploads the proxy saw, in order."""
    return [size for method, path, size in proxy.seen if method == "PUT" and "/data/" in path]
