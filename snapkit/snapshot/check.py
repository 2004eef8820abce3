"""check: walk refs → snapshots → trees → pack index → packs and report every problem.

Each problem names the object that is wrong and what it affects (snapshots, files), so a
user knows what a damaged store still holds. `read_data` also reads every pack in full and
verifies each chunk's hash.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict, deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

from snapkit.errors import CorruptObject, NotFound, SnapError
from snapkit.objects.packs import named_by_header
from snapkit.objects.store import ObjectStore, pack_key
from snapkit.progress import NoProgress, Progress
from snapkit.snapshot.model import FileEntry
from snapkit.snapshot.repo import Repo


@dataclass(frozen=True)
class Problem:
    kind: str  # missing-snapshot | corrupt-snapshot | missing-tree | missing-chunk | ...
    object: str
    message: str
    snapshots: tuple[str, ...] = ()
    files: tuple[str, ...] = ()


@dataclass
class CheckReport:
    snapshots: int = 0
    packs: int = 0
    chunks: int = 0
    read_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["ok"] = self.ok
        return d


def check(
    repo: Repo,
    *,
    read_data: bool = False,
    read_fraction: float = 0.0,
    progress: Progress | None = None,
) -> CheckReport:
    """Structure always; pack contents for all packs (`read_data`) or a random
    `read_fraction` of them (spreads the cost of reading a big store over several runs).
    `progress` hears of the bytes of packs read."""
    with repo.bypass_cache():
        return _check(repo, 1.0 if read_data else read_fraction, progress or NoProgress())


def _check(repo: Repo, read_fraction: float, progress: Progress) -> CheckReport:
    report = CheckReport()
    for exc in repo.objects.load_index_tolerant():
        report.problems.append(Problem("corrupt-index", exc.key, str(exc)))
    trees = _check_snapshots(repo, report)
    users = _check_trees(repo, trees, report)
    _check_packs(repo, users, report, _packs_to_read(repo, read_fraction), progress)
    report.packs = len(repo.objects.pack_sizes)
    report.chunks = len(repo.objects.index)
    return report


def _check_snapshots(repo: Repo, report: CheckReport) -> dict[str, list[str]]:
    """Refs and snapshot records; returns tree id → snapshots using it."""
    ids = set(repo.snapshot_ids())
    refs, unreadable = repo.refs.read_all()
    for exc in unreadable:
        report.problems.append(Problem("corrupt-ref", exc.key, str(exc)))
    for ref in refs:
        if ref.snapshot not in ids:
            report.problems.append(
                Problem(
                    "missing-snapshot", ref.snapshot, f"tag {ref.name} points to a missing snapshot"
                )
            )
    trees: dict[str, list[str]] = defaultdict(list)
    for sid in sorted(ids):
        report.snapshots += 1
        try:
            trees[repo.load_snapshot(sid).tree].append(sid)
        except (CorruptObject, NotFound) as exc:
            report.problems.append(Problem("corrupt-snapshot", sid, str(exc), (sid,)))
    return trees


def _check_trees(
    repo: Repo, trees: dict[str, list[str]], report: CheckReport
) -> dict[str, list[tuple[str, str]]]:
    """Trees decode and every chunk they name is indexed. Returns chunk → (snapshot, file)."""
    users: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for tree_id, sids in trees.items():
        try:
            entries = repo.load_tree(tree_id)
        except (CorruptObject, NotFound) as exc:
            kind = "missing-tree" if isinstance(exc, NotFound) else "corrupt-tree"
            report.problems.append(Problem(kind, tree_id, f"tree {tree_id}: {exc}", tuple(sids)))
            continue
        for e in entries:
            _note_chunks(repo, e, sids, users, report)
    return users


def _note_chunks(
    repo: Repo,
    e: FileEntry,
    sids: list[str],
    users: dict[str, list[tuple[str, str]]],
    report: CheckReport,
) -> None:
    for cid in e.chunks:
        users[cid].append((sids[0], e.path))
        if not repo.objects.has(cid):
            report.problems.append(
                Problem(
                    "missing-chunk",
                    cid,
                    f"chunk {cid[:12]} of {e.path} is in no pack",
                    tuple(sids),
                    (e.path,),
                )
            )


def _packs_to_read(repo: Repo, fraction: float) -> set[str]:
    packs = sorted(repo.objects.pack_sizes)
    if fraction >= 1.0:
        return set(packs)
    if fraction <= 0.0 or not packs:
        return set()
    return set(random.sample(packs, max(1, math.ceil(fraction * len(packs)))))


def _check_packs(
    repo: Repo,
    users: dict[str, list[tuple[str, str]]],
    report: CheckReport,
    to_read: set[str],
    progress: Progress,
) -> None:
    # Sizes come with the listing: on S3 one request per 1,000 packs, not a HEAD per pack.
    listed = {k.rsplit("/", 1)[-1]: info.size for k, info in repo.storage.list_info("data/")}
    by_pack: dict[str, list[str]] = defaultdict(list)
    for cid, entry in repo.objects.index.items():
        by_pack[entry.pack].append(cid)
    found: dict[str, tuple[str, str, list[str]]] = {}
    reads: list[str] = []
    for pack_id, size in repo.objects.pack_sizes.items():
        problem = _structure_problem(repo, pack_id, size, listed, by_pack[pack_id])
        if problem is not None:
            found[pack_id] = problem
        elif pack_id in to_read:
            reads.append(pack_id)
    if reads:
        progress.start("reading packs", sum(repo.objects.pack_sizes[p] for p in reads))
        for pack_id, problem, read in _read_packs(repo, reads, by_pack):
            report.read_bytes += read
            progress.advance(read)
            if problem is not None:
                found[pack_id] = problem
        progress.finish()
    for pack_id in repo.objects.pack_sizes:  # in the index's order, whatever finished first
        if pack_id not in found:
            continue
        kind, message, bad = found[pack_id]
        affected = [u for cid in bad for u in users.get(cid, [])]
        report.problems.append(
            Problem(
                kind,
                pack_key(pack_id),
                message,
                tuple(sorted({s for s, _ in affected})),
                tuple(sorted({f for _, f in affected})),
            )
        )


def _structure_problem(
    repo: Repo, pack_id: str, size: int, listed: dict[str, int], chunks: list[str]
) -> tuple[str, str, list[str]] | None:
    """(kind, message, chunks affected) if the pack is missing or its size disagrees with
    the index; None if it looks sound without reading it."""
    if pack_id not in listed:
        return "missing-pack", f"pack {pack_id[:12]} is missing", chunks
    actual = listed[pack_id]
    index = repo.objects.index
    if actual != size:
        lost = [c for c in chunks if index[c].offset + index[c].length > actual]
        return "truncated-pack", f"pack {pack_id[:12]} is {actual} bytes, index says {size}", lost
    too_far = [c for c in chunks if index[c].offset + index[c].length > size]
    if too_far:
        return "bad-index", f"index entries point past the end of pack {pack_id[:12]}", too_far
    return None


def _read_packs(
    repo: Repo, packs: list[str], by_pack: dict[str, list[str]]
) -> Iterator[tuple[str, tuple[str, str, list[str]] | None, int]]:
    """(pack, problem or None, bytes read) for each pack, read and verified by
    `read_threads` threads: a remote store answers each GET after a round trip, and
    hashing and decoding run outside the GIL. At most two packs per thread are in memory."""
    threads = repo.objects.read_threads

    def one(pack_id: str) -> tuple[str, tuple[str, str, list[str]] | None, int]:
        try:
            # A range, not a GET: the local store maps it instead of reading it into a
            # fresh buffer (storage/fileio.map_range); its size matched the listing.
            size = repo.objects.pack_sizes[pack_id]
            data = memoryview(repo.storage.get_range(pack_key(pack_id), 0, size))
        except NotFound:  # deleted since the listing (a gc on another machine)
            return pack_id, ("missing-pack", f"pack {pack_id[:12]} is missing", by_pack[pack_id]), 0
        return pack_id, _content_problem(repo, pack_id, data, by_pack[pack_id]), len(data)

    with ThreadPoolExecutor(threads, thread_name_prefix="snap-check") as pool:
        pending: deque[Future] = deque(pool.submit(one, p) for p in packs[: threads * 2])
        for nxt in packs[threads * 2 :]:
            yield pending.popleft().result()
            pending.append(pool.submit(one, nxt))
        while pending:
            yield pending.popleft().result()


def _content_problem(
    repo: Repo, pack_id: str, data: memoryview, chunks: list[str]
) -> tuple[str, str, list[str]] | None:
    key = pack_key(pack_id)
    named = named_by_header(pack_id, data)
    if named is None:
        bad = _bad_chunks(repo, chunks)
        return "corrupt-pack", f"pack {pack_id[:12]} does not match its hash", bad
    if named:  # the name vouches for the header: each blob is checked against its chunk id
        bad = [cid for cid in chunks if not _blob_sound(repo, cid, data, key)]
        if bad:
            return "corrupt-pack", f"{len(bad)} chunk(s) in pack {pack_id[:12]} are corrupt", bad
    return None


def _blob_sound(repo: Repo, cid: str, pack: memoryview, key: str) -> bool:
    e = repo.objects.locate(cid)
    try:
        ObjectStore.decode_verified(cid, e, pack[e.offset : e.offset + e.length], key, copy=False)
    except CorruptObject:
        return False
    return True


def _bad_chunks(repo: Repo, chunks: list[str]) -> list[str]:
    bad = []
    for cid in chunks:
        try:
            repo.objects.read_chunk(cid)
        except SnapError:
            bad.append(cid)
    return bad
