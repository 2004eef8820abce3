"""Several processes writing one store at once: nothing lost, nothing corrupted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import snapkit
from tests.helpers import random_bytes, snapshot_of, write

SNAP = [sys.executable, "-m", "snapkit.cli.main"]


def _source(root: Path, i: int) -> Path:
    """Overlapping data: a part shared by every source (dedupe races) and a part of its own."""
    write(root / "shared.bin", random_bytes(3 << 20, seed=42))
    write(root / "own.bin", random_bytes((2 << 20) + i * 1000, seed=i))
    for j in range(30):
        write(root / f"small/{j}.txt", f"file {j} of source {i}\n" * (j + 1))
    return root


def _run_parallel(
    commands: list[list[str]], env: dict[str, str]
) -> list[subprocess.CompletedProcess]:
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for c in commands
    ]
    out = []
    for p, c in zip(procs, commands, strict=True):
        stdout, stderr = p.communicate(timeout=240)
        out.append(subprocess.CompletedProcess(c, p.returncode, stdout, stderr))
    return out


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_four_concurrent_takes_all_restore_exactly(backend, tmp_path, request):
    url = request.getfixturevalue("s3_url") if backend == "s3" else str(tmp_path / "store")
    snapkit.open_store(url, create=True).close()
    sources = [_source(tmp_path / f"src{i}", i) for i in range(4)]
    env = {**os.environ, "SNAP_CACHE_DIR": str(tmp_path / "cache")}
    results = _run_parallel(
        [
            [*SNAP, "--store", url, "--lock-wait", "60", "take", str(s), "--tag", f"t{i}", "--json"]
            for i, s in enumerate(sources)
        ],
        env,
    )
    for r in results:
        assert r.returncode == 0, r.stderr
    ids = [json.loads(r.stdout)["id"] for r in results]
    with snapkit.open_store(url) as store:
        for i, (sid, src) in enumerate(zip(ids, sources, strict=True)):
            out = tmp_path / f"out{i}"
            store.restore(sid, out)
            assert snapshot_of(out) == snapshot_of(src)
        report = store.check(read_data=True)
        assert report.ok, report.problems
        assert {r.name for r in store.repo.refs.list()} == {"t0", "t1", "t2", "t3"}


def test_concurrent_tag_of_one_name_never_loses_silently(tmp_path):
    url = str(tmp_path / "store")
    with snapkit.open_store(url, create=True) as store:
        ids = []
        for i in range(6):
            write(tmp_path / f"s{i}/x", str(i))
            ids.append(store.take(tmp_path / f"s{i}").id)
    env = {**os.environ, "SNAP_CACHE_DIR": str(tmp_path / "cache")}
    results = _run_parallel(
        [[*SNAP, "--store", url, "tag", sid, "prod/latest"] for sid in ids], env
    )
    winners = [sid for sid, r in zip(ids, results, strict=True) if r.returncode == 0]
    losers = [r for r in results if r.returncode != 0]
    for r in losers:  # a loser knows it lost: a conflict, with its own exit code
        assert r.returncode == 7, r.stderr
        assert "changed by someone else" in r.stderr
    with snapkit.open_store(url) as store:
        final = store.repo.refs.get("prod/latest").snapshot
    assert winners, "at least one tag must land"
    # every process that reported success wrote its value; the last of them is what stays,
    # and no process was told "done" for a value that was overwritten without it knowing
    assert final in winners


def test_gc_while_a_take_uploads_leaves_the_take_complete(tmp_path):
    import time

    url = str(tmp_path / "store")
    with snapkit.open_store(url, create=True) as store:
        write(tmp_path / "old/x.bin", random_bytes(4 << 20, seed=7))
        old = store.take(tmp_path / "old").id
        store.forget([old])  # garbage for gc to find
    src = tmp_path / "src"
    for i in range(10):
        write(src / f"p{i}.bin", random_bytes(24 << 20, seed=100 + i))
    env = {**os.environ, "SNAP_CACHE_DIR": str(tmp_path / "cache")}
    take = subprocess.Popen(
        [*SNAP, "--store", url, "take", str(src), "--tag", "big", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    while not (Path(url) / "locks").exists() or not any((Path(url) / "locks").iterdir()):
        assert take.poll() is None, take.stderr.read() if take.stderr else ""
        time.sleep(0.01)
    gc_now = subprocess.run(
        [*SNAP, "--store", url, "gc", "--yes", "--grace", "0s"],
        env=env,
        capture_output=True,
        text=True,
    )
    still_running = take.poll() is None
    if still_running:  # still uploading: gc must have refused, naming the take
        assert gc_now.returncode == 10, gc_now.stderr
        assert "snap take" in gc_now.stderr
    gc_wait = subprocess.run(
        [*SNAP, "--store", url, "--lock-wait", "120", "gc", "--yes", "--grace", "0s"],
        env=env,
        capture_output=True,
        text=True,
    )
    _, stderr = take.communicate(timeout=240)
    assert take.returncode == 0, stderr
    assert gc_wait.returncode == 0, gc_wait.stderr
    with snapkit.open_store(url) as store:
        assert store.check(read_data=True).ok
        store.restore("big", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == snapshot_of(src)
