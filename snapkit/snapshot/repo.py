"""A snapkit store opened for use: config, objects, refs, trees and snapshots."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from snapkit.errors import CorruptObject, NotFound, StoreUnavailable, UsageError
from snapkit.objects.cache import ObjectCache, worth_merging
from snapkit.objects.chunker import ChunkerParams
from snapkit.objects.hashing import digest, is_object_id
from snapkit.objects.packs import COMPRESSIONS, DEFAULT_COMPRESSION
from snapkit.objects.store import ObjectStore
from snapkit.snapshot import snapcache
from snapkit.snapshot.model import FileEntry, Snapshot
from snapkit.snapshot.refs import RefStore
from snapkit.snapshot.tree import TreeTable, decode_tree, encode_tree, read_tree_table
from snapkit.storage.base import Storage

CONFIG_KEY = "config"
FORMAT_VERSION = 1
SNAPSHOTS_MERGED = "snapshots.merged"  # the local merged copy of the records, in the cache


def _checked(snap_id: str, record: dict | None) -> Snapshot | None:
    """The merged copy's record of `snap_id` if it is that snapshot (its id is the hash of
    its bytes), else None: read from the store instead."""
    if record is None:
        return None
    try:
        snap = Snapshot.from_json(record)
    except (ValueError, TypeError, KeyError):
        return None
    return snap if digest(snap.to_bytes()) == snap_id else None


def cache_root() -> Path:
    base = os.environ.get("SNAP_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "snapkit"
    )
    return Path(base)


class Repo:
    """Everything above raw bytes that take, restore and the commands share."""

    def __init__(self, storage: Storage, config: dict[str, object]) -> None:
        self.storage = storage
        self.config = config
        self.chunker = ChunkerParams.from_json(config["chunker"])  # type: ignore[arg-type]
        # Stores made before the setting existed were written with zstd: keep to it.
        self.compression = str(config.get("compression", "zstd"))
        if self.compression not in COMPRESSIONS:
            raise StoreUnavailable(
                f"store {storage.url} compresses with {self.compression!r}, "
                "which this snapkit does not know",
                hint="upgrade snapkit",
            )
        self.codec = COMPRESSIONS[self.compression]
        # `auto`: a local store's writers compress only while their writes lag (writer.py)
        self.adaptive = self.compression == "auto" and not storage.remote
        self.cache_dir = cache_root() / digest(storage.url.encode())[:16]
        self.objects = ObjectStore(storage, ObjectCache(self.cache_dir / "objects"))
        self.refs = RefStore(storage)
        self._index_loaded = False
        self._recovered = False  # unindexed packs looked for (`recover_unindexed_packs`)

    # -- opening ------------------------------------------------------------------

    @classmethod
    def init(cls, storage: Storage, compression: str | None = None) -> Repo:
        """Create a store (idempotent: an existing store is opened as it is).

        `compression` (auto, lz4, zstd or none; default auto) is fixed when the store is made:
        asking an existing store for another one is a usage error, not a silent no-op.
        """
        if compression is not None and compression not in COMPRESSIONS:
            raise UsageError(
                f"unknown compression {compression!r}",
                hint=f"choose one of {', '.join(COMPRESSIONS)}",
            )
        storage.create()
        config = {
            "format": "snapkit",
            "version": FORMAT_VERSION,
            "chunker": ChunkerParams().to_json(),
            "compression": compression or DEFAULT_COMPRESSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        storage.put_if_absent(CONFIG_KEY, json.dumps(config, indent=2).encode())
        repo = cls.open(storage)
        if compression is not None and repo.compression != compression:
            raise UsageError(
                f"store {storage.url} exists and compresses with {repo.compression}; "
                f"the compression is chosen when a store is created",
                hint="create a new store for another compression",
            )
        return repo

    @classmethod
    def open(cls, storage: Storage) -> Repo:
        try:
            raw = storage.get(CONFIG_KEY)
        except NotFound:
            raise StoreUnavailable(
                f"no snapkit store at {storage.url}",
                hint="check --store / SNAP_STORE, or create one with `snap init` (or `snap take`)",
            ) from None
        try:
            config = json.loads(raw)
            if config.get("format") != "snapkit":
                raise ValueError("not a snapkit config")
        except ValueError as exc:
            raise CorruptObject(
                f"store config at {storage.url} is unreadable: {exc}", key=CONFIG_KEY
            ) from exc
        if int(config.get("version", 0)) > FORMAT_VERSION:
            raise StoreUnavailable(
                f"store {storage.url} has format version {config['version']}, "
                "newer than this snapkit",
                hint="upgrade snapkit",
            )
        return cls(storage, config)

    @contextmanager
    def bypass_cache(self) -> Iterator[None]:
        """Read everything from the store itself (what `check` must verify), not the cache."""
        saved, self.objects.cache = self.objects.cache, ObjectCache(None)
        try:
            yield
        finally:
            self.objects.cache = saved

    def load_index(self) -> None:
        if not self._index_loaded:
            self.objects.load_index()
            self._index_loaded = True

    def recover_unindexed_packs(self) -> int:
        """Index packs a killed writer left without an index (`ObjectStore.
        recover_unindexed_packs`), once per opened store: it lists every pack, a request
        per 1,000 packs on S3, and a `snap run` takes a snapshot before and after each
        step. Until the index is invalidated (a take failed), later takes rely on it."""
        if self._recovered:
            return 0
        found = self.objects.recover_unindexed_packs()
        self._recovered = True
        return found

    def invalidate_index(self) -> None:
        self.objects.forget_index()
        self._index_loaded = False
        self._recovered = False

    def reload_index(self) -> None:
        self.invalidate_index()
        self.load_index()

    # -- trees and snapshots ------------------------------------------------------

    def save_tree(self, entries: list[FileEntry]) -> str:
        return self.save_encoded_tree(encode_tree(entries))

    def save_encoded_tree(self, data: bytes) -> str:
        """Store a tree a `TreeWriter` encoded."""
        return self.objects.put_object("trees", data)

    def load_tree(self, tree_id: str) -> list[FileEntry]:
        return decode_tree(tree_id, self.objects.get_object("trees", tree_id, cached=True))

    def load_tree_table(self, tree_id: str) -> TreeTable:
        """The tree kept columnar (verified like `load_tree`): for reading many rows without
        a FileEntry object per row."""
        return read_tree_table(tree_id, self.objects.get_object("trees", tree_id, cached=True))

    def save_snapshot(self, snap: Snapshot) -> str:
        return self.objects.put_object("snapshots", snap.to_bytes())

    def load_snapshot(self, snap_id: str) -> Snapshot:
        try:
            data = self.objects.get_object("snapshots", snap_id, cached=True)
        except NotFound:
            raise NotFound(f"no snapshot {snap_id}") from None
        try:
            return Snapshot.from_json(json.loads(data))
        except (ValueError, TypeError, KeyError) as exc:
            raise CorruptObject(
                f"snapshot {snap_id} is unreadable: {exc}", key=f"snapshots/{snap_id}"
            ) from exc

    def snapshot_ids(self) -> list[str]:
        return [k.rsplit("/", 1)[-1] for k in self.storage.list("snapshots/")]

    def snapshots(self) -> list[tuple[str, Snapshot]]:
        """All snapshots, oldest first.

        Records come from the local merged copy (`snapcache`) when it has them, each
        checked against its id, and are read one by one otherwise; the copy is rewritten
        once a fair part had to be read."""
        ids = self.snapshot_ids()
        merged = snapcache.decode(self.objects.cache.get_sealed(SNAPSHOTS_MERGED))
        known = {sid: snap for sid in ids if (snap := _checked(sid, merged.get(sid)))}
        missing = [sid for sid in ids if sid not in known]
        with ThreadPoolExecutor(8) as pool:  # one request each on S3 until cached locally
            known.update(zip(missing, pool.map(self.load_snapshot, missing), strict=True))
        if missing and worth_merging(len(missing), len(missing), len(ids)):
            records = {sid: snap.to_json() for sid, snap in known.items()}
            self.objects.cache.put_sealed(SNAPSHOTS_MERGED, snapcache.encode(records))
        return sorted(known.items(), key=lambda kv: (kv[1].time, kv[0]))

    def resolve(self, spec: str) -> str:
        """A tag, a full snapshot id, or a unique id prefix (≥ 4 characters) → snapshot id."""
        ref = self.refs.find(spec) if _could_be_tag(spec) else None
        if ref is not None:
            return ref.snapshot
        if is_object_id(spec):
            if not self.storage.exists(f"snapshots/{spec}"):
                raise NotFound(f"no snapshot {spec}")
            return spec
        if len(spec) >= 4 and all(c in "0123456789abcdef" for c in spec):
            matches = [sid for sid in self.snapshot_ids() if sid.startswith(spec)]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise UsageError(f"snapshot prefix {spec!r} is ambiguous ({len(matches)} match)")
        raise NotFound(
            f"no snapshot or tag named {spec!r}", hint="`snap log` lists snapshots and their tags"
        )

    def tags_by_snapshot(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for ref in self.refs.list():
            out.setdefault(ref.snapshot, []).append(ref.name)
        return out


def _could_be_tag(spec: str) -> bool:
    return bool(spec) and not spec.startswith("/") and ".." not in spec
