"""forget + gc free exactly what nothing reaches; everything still reachable restores."""

from __future__ import annotations

import os
import time

import pytest

from snapkit.errors import Refused, UsageError
from snapkit.snapshot.gc import GcPlan, GcResult
from tests.helpers import random_bytes, snapshot_of, write


def _pack_bytes(store) -> int:
    return sum(store.repo.storage.size(k) for k in store.repo.storage.list("data/"))


def _age_everything(store, seconds: float = 7200) -> None:
    """Make every stored object look old, as if written `seconds` ago."""
    root = store.repo.storage.root
    past = time.time() - seconds
    for key in store.repo.storage.list(""):
        os.utime(root / key, (past, past))


def test_gc_frees_forgotten_data_and_keeps_the_rest_restorable(store, tmp_path):
    src = tmp_path / "src"
    write(src / "shared.bin", random_bytes(3 << 20, seed=1))
    write(src / "v1-only.bin", random_bytes(5 << 20, seed=2))
    first = store.take(src, tags=["v1"]).id
    os.remove(src / "v1-only.bin")
    write(src / "v2-only.bin", random_bytes(4 << 20, seed=3))
    store.take(src, tags=["v2"])
    expected = snapshot_of(src)

    with pytest.raises(Refused, match="tagged"):
        store.forget([first])
    store.untag("v1")
    assert store.forget([first], dry_run=True).forget == (first,)
    store.forget([first])
    before = _pack_bytes(store)

    plan = store.gc(grace_seconds=3600)
    assert isinstance(plan, GcPlan) and plan.nothing_to_do  # everything is young: kept
    assert plan.young_packs >= 1

    _age_everything(store)
    plan = store.gc(grace_seconds=3600)  # dry run by default
    assert isinstance(plan, GcPlan) and _pack_bytes(store) == before
    assert plan.repack_packs or plan.delete_packs
    result = store.gc(grace_seconds=3600, dry_run=False)
    assert isinstance(result, GcResult)
    after = _pack_bytes(store)
    assert after < before - (4 << 20)  # v1-only.bin (5 MiB, incompressible) is gone

    store.restore("v2", tmp_path / "out")
    assert snapshot_of(tmp_path / "out") == expected
    assert store.check(read_data=True).ok
    again = store.gc(grace_seconds=3600, dry_run=False)
    assert isinstance(again, GcPlan) and again.nothing_to_do


def test_gc_deletes_orphan_packs_of_a_killed_take_only_after_grace(store, tmp_path):
    src = tmp_path / "src"
    write(src / "a.bin", random_bytes(2 << 20, seed=5))
    store.take(src, tags=["keep"])
    orphan = "data/ab/ab" + "0" * 62
    store.repo.storage.put(orphan, b"half a pack from a take that was killed")
    assert store.gc(dry_run=False).nothing_to_do  # young: a take may still be publishing
    assert store.repo.storage.exists(orphan)
    _age_everything(store)
    store.gc(dry_run=False)
    assert not store.repo.storage.exists(orphan)
    assert store.check(read_data=True).ok


def test_keep_last_per_source_spares_tagged(store, tmp_path):
    ids = []
    for i in range(4):
        write(tmp_path / "a/x", str(i))
        ids.append(store.take(tmp_path / "a", tags=["first"] if i == 0 else []).id)
    write(tmp_path / "b/y", "other source")
    other = store.take(tmp_path / "b").id
    plan = store.forget(keep_last=1)
    assert set(plan.forget) == {ids[1], ids[2]}
    remaining = {i.id for i in store.log()}
    assert remaining == {ids[0], ids[3], other}
    with pytest.raises(UsageError):
        store.forget()


def test_gc_drops_an_index_entry_for_a_missing_unused_pack(store, tmp_path):
    write(tmp_path / "a/x.bin", random_bytes(1 << 20, seed=8))
    gone = store.take(tmp_path / "a").id
    write(tmp_path / "b/y.bin", random_bytes(1 << 20, seed=9))
    store.take(tmp_path / "b", tags=["keep"])
    store.repo.load_index()
    [pack] = {store.repo.objects.index[c].pack for e in store.ls(gone) for c in e.chunks}
    store.forget([gone])
    store.repo.storage.delete(f"data/{pack[:2]}/{pack}")
    assert not store.check().ok  # the index names a pack that is gone
    _age_everything(store)
    store.gc(dry_run=False)
    assert store.check(read_data=True).ok


def test_gc_repack_compresses_in_an_auto_store(store, tmp_path):
    """A local `auto` store keeps a small take raw (its disk kept up); gc, which runs to
    save space, compresses what it copies."""
    from snapkit.objects.packs import CODEC_LZ4, CODEC_RAW

    src = tmp_path / "src"
    text = b"".join(b"row %d,some words here,%d\n" % (i, i * 7) for i in range(40_000))
    write(src / "kept.csv", text)
    write(src / "gone.csv", text[::-1])
    first = store.take(src).id
    os.remove(src / "gone.csv")
    store.take(src, tags=["v2"])
    assert store.compression == "auto"
    (kept,) = store.ls("v2")
    assert {store.repo.objects.locate(c).codec for c in kept.chunks} == {CODEC_RAW}
    store.forget([first])
    _age_everything(store)
    result = store.gc(grace_seconds=3600, dry_run=False)
    assert result.plan.repack_packs
    store.repo.load_index()
    assert {store.repo.objects.locate(c).codec for c in kept.chunks} == {CODEC_LZ4}
    store.restore("v2", tmp_path / "out")
    assert (tmp_path / "out/kept.csv").read_bytes() == text
