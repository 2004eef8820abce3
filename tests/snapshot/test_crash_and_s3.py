"""A take killed with SIGKILL leaves a consistent store; S3 round trips from a cold cache."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import snapkit
from tests.helpers import make_dataset, random_bytes, snapshot_of, write


def _big_source(root: Path, files: int, size: int) -> Path:
    for i in range(files):
        write(root / f"part-{i:02d}.bin", random_bytes(size, seed=100 + i))
    return root


def _landed_packs(data_dir: Path) -> list[Path]:
    return [p for p in data_dir.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_kill_9_during_take_leaves_store_consistent_and_next_take_reuses(tmp_path):
    src = _big_source(tmp_path / "src", files=12, size=32 << 20)
    store_url = str(tmp_path / "store")
    snapkit.open_store(store_url, create=True).close()
    env = {**os.environ, "SNAP_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "snapkit.cli.main", "--store", store_url, "take", str(src)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    data_dir = Path(store_url) / "data"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        if data_dir.exists() and len(_landed_packs(data_dir)) >= 2:
            break
        time.sleep(0.005)
    assert proc.poll() is None, "take finished before it could be killed; make the data bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()

    with snapkit.open_store(store_url) as store:
        assert store.log() == []  # nothing was published...
        assert store.check(read_data=True).ok  # ...and nothing published is broken
        result = store.take(src, tags=["after-crash"])
        total = result.snapshot.summary.bytes
        assert result.snapshot.summary.new_bytes < total  # what had landed was reused
        assert store.check(read_data=True).ok
        store.restore("after-crash", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)


def test_s3_round_trip_into_fresh_folder_with_empty_cache(s3_url, tmp_path, monkeypatch):
    src = make_dataset(tmp_path / "src")
    write(src / "many/chunks.bin", random_bytes(9 << 20, seed=9))
    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache-writer"))
    with snapkit.open_store(s3_url, create=True) as store:
        store.take(src, tags=["raw-v1"])
        assert store.take(src).snapshot.summary.new_bytes == 0

    monkeypatch.setenv("SNAP_CACHE_DIR", str(tmp_path / "cache-reader"))  # another machine
    with snapkit.open_store(s3_url) as store:
        store.restore("raw-v1", tmp_path / "elsewhere")
        assert store.check(read_data=True).ok
    assert snapshot_of(tmp_path / "elsewhere") == snapshot_of(src)


def test_check_and_gc_on_s3_take_sizes_and_times_from_the_listing(
    s3_server, s3_url, tmp_path, monkeypatch
):
    """No HEAD per pack or tree: on a real bucket that is a round trip per object, minutes
    for a team store. Reading packs (`--read-data`) is one GET per pack, spread over
    threads, with progress in bytes."""
    from tests.s3proxy import S3Proxy

    with S3Proxy(s3_server) as proxy:
        monkeypatch.setenv("SNAP_S3_ENDPOINT_URL", proxy.url)
        with snapkit.open_store(s3_url, create=True) as store:
            for i in range(6):  # a pack, an index object and a tree each
                write(tmp_path / f"src{i}/f.bin", random_bytes(50_000, seed=i))
                store.take(tmp_path / f"src{i}", tags=[f"t{i}"])
            packs = len(store.repo.objects.pack_sizes)
            assert packs == 6
            proxy.seen.clear()
            assert store.check().ok
            assert proxy.count("HEAD") == 0

            class Bytes:
                total = done = 0

                def start(self, label, total):
                    self.total = total

                def advance(self, n):
                    self.done += n

                def finish(self):
                    pass

            progress = Bytes()
            proxy.seen.clear()
            report = store.check(read_data=True, progress=progress)
            assert report.ok and report.read_bytes == sum(store.repo.objects.pack_sizes.values())
            assert progress.total == progress.done == report.read_bytes
            assert proxy.count("HEAD") == 0
            assert proxy.count("GET", path_contains="/data/") == packs

            gone = [store.show(t).id for t in ("t0", "t1")]
            for t in ("t0", "t1"):
                store.untag(t)
            store.forget(gone)
            proxy.seen.clear()
            plan = store.gc(grace_seconds=0, dry_run=True)
            assert len(plan.delete_packs) == 2 and len(plan.delete_trees) == 2
            assert proxy.count("HEAD") == 0
