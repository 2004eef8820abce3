"""Refs move by compare-and-swap; a delete cannot silently undo a concurrent move."""

from __future__ import annotations

import threading

import pytest

from snapkit.errors import Conflict, CorruptObject, NotFound
from tests.helpers import write


@pytest.fixture
def two_snapshots(store, tmp_path):
    write(tmp_path / "a/x", "1")
    first = store.take(tmp_path / "a").id
    write(tmp_path / "a/x", "2")
    second = store.take(tmp_path / "a").id
    return first, second


def test_stale_etag_loses_with_conflict(store, two_snapshots):
    first, second = two_snapshots
    refs = store.repo.refs
    ref = refs.set("prod/latest", first, expect=None)
    refs.set("prod/latest", second, expect=ref.etag)
    with pytest.raises(Conflict):
        refs.set("prod/latest", first, expect=ref.etag)
    assert refs.get("prod/latest").snapshot == second
    with pytest.raises(Conflict):
        refs.set("prod/latest", first, expect=None)  # "create" of an existing tag


def test_concurrent_moves_one_winner(store, two_snapshots):
    refs = store.repo.refs
    start = refs.set("race", two_snapshots[0])
    results: list[str] = []

    def move(target: str) -> None:
        try:
            refs.set("race", target, expect=start.etag)
            results.append("won")
        except Conflict:
            results.append("conflict")

    threads = [threading.Thread(target=move, args=(two_snapshots[i % 2],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["conflict"] * 7 + ["won"]


def test_delete_is_a_tombstone_and_tag_can_be_reused(store, two_snapshots):
    first, second = two_snapshots
    refs = store.repo.refs
    refs.set("t", first)
    stale = refs.get("t")
    refs.delete("t")
    with pytest.raises(NotFound):
        refs.get("t")
    assert [r.name for r in refs.list()] == []
    with pytest.raises(Conflict):  # a writer that had read the tag before the delete
        refs.set("t", second, expect=stale.etag)
    refs.set("t", second)
    assert refs.get("t").snapshot == second
    with pytest.raises(NotFound):
        refs.delete("never-was")


def test_unreadable_ref_is_a_clear_corruption(store, two_snapshots):
    store.repo.storage.put("refs/tags/broken", b"{not json")
    with pytest.raises(CorruptObject, match="broken"):
        store.repo.refs.get("broken")


def test_an_unreadable_tag_does_not_block_the_store(store, two_snapshots):
    first, second = two_snapshots
    store.repo.refs.set("good", first)
    store.repo.storage.put("refs/tags/broken", b"{not json")
    assert [i.id for i in store.log() if i.tags] == [first]  # log still works
    report = store.check()
    assert [p.kind for p in report.problems] == ["corrupt-ref"]
    store.tag(second, "broken")  # and the tag can be repaired by pointing it again
    assert store.show("broken").id == second
    assert store.check().ok


def test_tags_are_read_several_at_a_time_and_sorted(store, two_snapshots):
    """Listing 12 tags reads them concurrently (a GET each on S3): the first two reads
    meet at a barrier, which sequential reads would never pass. Tombstones and an
    unreadable tag are left out of the list; `unreadable` names the latter."""
    from snapkit.snapshot.refs import PREFIX, RefStore
    from tests.faults import FaultyStorage, first_two_gets_meet

    first, _ = two_snapshots
    names = [f"run/{i:02d}" for i in range(12)]
    for name in names:
        store.repo.refs.set(name, first)
    store.repo.refs.delete("run/03")
    store.repo.storage.put(PREFIX + "run/07", b"{not json")
    two_at_once, met = first_two_gets_meet(PREFIX)

    refs = RefStore(FaultyStorage(store.repo.storage, two_at_once))
    listed = refs.list()
    assert len(met) == 2
    assert [r.name for r in listed] == [n for n in names if n not in ("run/03", "run/07")]
    assert all(r.snapshot == first for r in listed)
    assert [exc.key for exc in RefStore(store.repo.storage).unreadable()] == [PREFIX + "run/07"]
