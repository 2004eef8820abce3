"""gc: delete what no snapshot reaches. Plan (mark and classify), then apply (sweep).

Mark: every snapshot in the store is a root (refs and runs point at snapshots; `forget`
is how snapshots go). Their trees name the live chunks. Sweep, only for objects older than
the grace period (so a take in flight that has uploaded packs but not yet published keeps
them): packs with no live chunk are deleted; packs with some are repacked (live chunks
copied into new packs, indexed, before the old pack is deleted); packs no index names
(left by a killed take) are deleted; trees no snapshot uses are deleted.

Apply order keeps every published snapshot readable at every step: new packs → one new
index for every surviving pack → old index objects deleted → old packs deleted.
The caller holds the store's exclusive lock.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

from snapkit.errors import SnapError
from snapkit.objects.packs import BlobEntry
from snapkit.objects.store import pack_key
from snapkit.objects.writer import PackWriter
from snapkit.progress import NoProgress, Progress
from snapkit.snapshot.repo import Repo
from snapkit.storage.base import ObjectInfo


@dataclass(frozen=True)
class GcPlan:
    snapshots: int
    live_chunks: int
    delete_packs: tuple[str, ...]  # no live chunk, older than grace
    repack_packs: tuple[str, ...]  # some live chunks, older than grace
    orphan_packs: tuple[str, ...]  # in no index, older than grace
    young_packs: int  # garbage within the grace period: kept this time
    delete_trees: tuple[str, ...]
    index_ids: tuple[str, ...]  # index objects this plan read (replaced on apply)
    copy_chunks: tuple[str, ...]  # live chunks to move out of repacked packs
    copy_bytes: int
    freed_bytes: int  # stored bytes that go away (before the repacked copies are added)
    pack_sizes: dict[str, int] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return not (
            self.delete_packs or self.repack_packs or self.orphan_packs or self.delete_trees
        )

    def to_json(self) -> dict[str, object]:
        return {
            "snapshots": self.snapshots,
            "live_chunks": self.live_chunks,
            "delete_packs": len(self.delete_packs),
            "repack_packs": len(self.repack_packs),
            "orphan_packs": len(self.orphan_packs),
            "young_packs_kept": self.young_packs,
            "delete_trees": len(self.delete_trees),
            "copy_bytes": self.copy_bytes,
            "freed_bytes": self.freed_bytes,
        }


@dataclass(frozen=True)
class GcResult:
    plan: GcPlan
    new_packs: int
    deleted_objects: int


def plan_gc(repo: Repo, grace_seconds: float, now: float | None = None) -> GcPlan:
    now = time.time() if now is None else now
    repo.load_index()
    snapshot_ids = repo.snapshot_ids()
    live_trees, live = _mark(repo, snapshot_ids)
    _adopt_live_orphans(repo, live)
    by_pack: dict[str, list[str]] = defaultdict(list)
    for cid, entry in repo.objects.index.items():
        by_pack[entry.pack].append(cid)

    # Sizes and times come with the listings: on S3 no HEAD per pack or tree.
    listed = {k.rsplit("/", 1)[-1]: info for k, info in repo.storage.list_info("data/")}

    def old(info: ObjectInfo) -> bool:
        return now - info.modified > grace_seconds

    delete, repack, young = [], [], 0
    copy: list[str] = []
    for pack_id in repo.objects.pack_sizes:
        live_here = [c for c in by_pack[pack_id] if c in live]
        if pack_id not in listed:  # the index names a pack that is gone
            if live_here:
                raise SnapError(
                    f"gc stopped before deleting anything: pack {pack_id[:12]} is missing and "
                    f"{len(live_here)} chunks that snapshots use were in it",
                    hint="run `snap check` to see which snapshots and files are affected",
                )
            delete.append(pack_id)  # dropped from the rewritten index; nothing to delete
            continue
        if by_pack[pack_id] and len(live_here) == len(by_pack[pack_id]):
            continue  # fully live (a pack none of whose chunks is indexed there is garbage)
        if not old(listed[pack_id]):
            young += 1
        elif live_here:
            repack.append(pack_id)
            copy += live_here
        else:
            delete.append(pack_id)
    orphans = [p for p, i in listed.items() if p not in repo.objects.pack_sizes and old(i)]
    trees = [
        k.rsplit("/", 1)[-1]
        for k, info in repo.storage.list_info("trees/")
        if k.rsplit("/", 1)[-1] not in live_trees and old(info)
    ]
    sizes = dict(repo.objects.pack_sizes)
    index = repo.objects.index
    return GcPlan(
        snapshots=len(snapshot_ids),
        live_chunks=len(live),
        delete_packs=tuple(delete),
        repack_packs=tuple(repack),
        orphan_packs=tuple(orphans),
        young_packs=young,
        delete_trees=tuple(trees),
        index_ids=tuple(sorted(repo.objects.index_ids)),
        copy_chunks=tuple(copy),
        copy_bytes=sum(index[c].length for c in copy),
        freed_bytes=sum(sizes[p] for p in (*delete, *repack) if p in listed)
        + sum(listed[p].size for p in orphans),
        pack_sizes=sizes,
    )


def _adopt_live_orphans(repo: Repo, live: set[str]) -> None:
    """Packs no index names but whose chunks a snapshot uses (a take that published after
    losing its index write) are taken into the in-memory index, so gc keeps them and its
    new index names them. If a live chunk is still nowhere, gc must not run."""
    missing = {c for c in live if not repo.objects.has(c)}
    if not missing:
        return
    for key in repo.storage.list("data/"):
        pack_id = key.rsplit("/", 1)[-1]
        if pack_id in repo.objects.pack_sizes:
            continue
        try:
            size, entries = repo.objects.read_pack_header(pack_id)
        except SnapError:
            continue
        if missing & set(entries):
            repo.objects.add_pack(pack_id, size, entries)
            missing -= set(entries)
    if missing:
        raise SnapError(
            f"gc stopped before deleting anything: {len(missing)} chunks that snapshots use "
            "are in no pack",
            hint="run `snap check` to see which snapshots and files are affected",
        )


def _mark(repo: Repo, snapshot_ids: list[str]) -> tuple[set[str], set[str]]:
    """Trees and chunks reachable from every snapshot. Any unreadable one stops gc."""
    trees: set[str] = set()
    chunks: set[str] = set()
    try:
        for sid in snapshot_ids:
            tree = repo.load_snapshot(sid).tree
            if tree in trees:
                continue
            trees.add(tree)
            for e in repo.load_tree(tree):
                chunks.update(e.chunks)
    except SnapError as exc:
        raise SnapError(
            f"gc stopped before deleting anything: {exc}",
            hint="run `snap check` and repair the store first",
        ) from exc
    return trees, chunks


def apply_gc(repo: Repo, plan: GcPlan, progress: Progress | None = None) -> GcResult:
    progress = progress or NoProgress()
    gone = set(plan.delete_packs) | set(plan.repack_packs)
    progress.start("repacking", plan.copy_bytes)
    # Not `adaptive` even in an `auto` store: gc runs to save space, and a repack that
    # found its disk keeping up would store raw what the takes had compressed.
    with PackWriter(repo.objects, dedupe=False, keep_written=True, codec=repo.codec) as writer:
        for cid, data in repo.objects.fetch(plan.copy_chunks):
            writer.add(cid, data)
            progress.advance(len(data))
    progress.finish()
    surviving: dict[str, dict[str, BlobEntry]] = defaultdict(dict)
    for cid, entry in repo.objects.index.items():
        if entry.pack not in gone:
            surviving[entry.pack][cid] = entry
    for pack_id, _, entries in writer.written:
        surviving[pack_id].update(entries)
    sizes = repo.objects.pack_sizes  # the writer added the new packs' sizes
    keep_index = repo.objects.write_index([(p, sizes[p], e) for p, e in surviving.items()])
    # every index object read by the plan or written by the repack is now covered by one
    replaced = (set(plan.index_ids) | repo.objects.index_ids) - {keep_index}
    stale_keys = [f"index/{i}" for i in sorted(replaced)]
    stale_keys += [
        pack_key(p) for p in (*plan.delete_packs, *plan.repack_packs, *plan.orphan_packs)
    ]
    stale_keys += [f"trees/{t}" for t in plan.delete_trees]
    for key in stale_keys:
        repo.storage.delete(key)
        repo.objects.cache.discard(key)
    repo.reload_index()
    return GcResult(plan, len(writer.written), len(stale_keys))
