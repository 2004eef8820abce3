"""Refs: mutable names (tags such as `raw-v1`, `prod/latest`) for snapshots.

A ref is a small JSON object at `refs/tags/<name>`, moved only by compare-and-swap, so two
writers racing on one name never lose an update silently: one wins, the other gets Conflict.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from snapkit.errors import Conflict, CorruptObject, NotFound, UsageError
from snapkit.storage.base import Storage, read_each

PREFIX = "refs/tags/"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


@dataclass(frozen=True)
class Ref:
    name: str
    snapshot: str
    etag: str
    time: str


def check_name(name: str) -> str:
    if not _NAME.match(name) or ".." in name or len(name) > 200:
        raise UsageError(
            f"invalid tag name {name!r}",
            hint="use letters, digits, '.', '_', '-', and '/' between parts (e.g. prod/latest)",
        )
    return name


class RefStore:
    """Tags in the store. Deleting writes a tombstone by CAS, so a delete racing a move
    cannot silently undo it (an object-store DELETE has no compare-and-swap)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def _read(self, name: str) -> tuple[dict[str, str] | None, str | None]:
        """The ref's document and etag; (None, etag) for a tombstone, (None, None) if absent."""
        try:
            data, etag = self.storage.get_with_etag(PREFIX + name)
        except NotFound:
            return None, None
        try:
            doc = json.loads(data)
            if doc.get("deleted"):
                return None, etag
            if not isinstance(doc.get("snapshot"), str):
                raise ValueError("no snapshot id")
        except (ValueError, AttributeError) as exc:
            raise CorruptObject(
                f"tag {name!r} is unreadable ({exc})",
                key=PREFIX + name,
                hint=f"point it again with `snap tag SNAPSHOT {name}`",
            ) from exc
        return doc, etag

    def get(self, name: str) -> Ref:
        doc, etag = self._read(name)
        if doc is None or etag is None:
            raise NotFound(f"no tag named {name!r}", hint="`snap log` lists snapshots and tags")
        return Ref(name, doc["snapshot"], etag, doc.get("time", ""))

    def find(self, name: str) -> Ref | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def _etag(self, name: str) -> str | None:
        """The current etag, also of an unreadable ref (so it can be overwritten)."""
        try:
            return self._read(name)[1]
        except CorruptObject:
            return self.storage.get_with_etag(PREFIX + name)[1]

    def set(self, name: str, snapshot_id: str, *, expect: str | bool | None = True) -> Ref:
        """Point `name` at `snapshot_id`.

        `expect` is the etag the ref must still have (None: it must not exist yet). With
        the default `True` the current value is read first and swapped in one CAS, so a
        concurrent writer in between still makes this fail with Conflict.
        """
        check_name(name)
        etag = self._etag(name) if expect is True else expect
        assert not isinstance(etag, bool)
        return Ref(name, snapshot_id, self._swap(name, {"snapshot": snapshot_id}, etag), "")

    def delete(self, name: str) -> None:
        try:
            doc, etag = self._read(name)
        except CorruptObject:  # an unreadable tag can still be deleted
            doc, etag = {}, self._etag(name)
        if doc is None:
            raise NotFound(f"no tag named {name!r}")
        self._swap(name, {"deleted": True}, etag)

    def _swap(self, name: str, doc: dict[str, object], etag: str | None) -> str:
        doc["time"] = datetime.now(UTC).isoformat(timespec="seconds")
        # Etags are content hashes (S3's MD5, BLAKE3 locally): a nonce makes every write's
        # etag new, so re-writing the same value still invalidates other writers' etags.
        doc["nonce"] = os.urandom(8).hex()
        try:
            return self.storage.put_if_match(PREFIX + name, json.dumps(doc).encode(), etag)
        except Conflict:
            raise Conflict(
                f"tag {name!r} was changed by someone else at the same time",
                hint="run `snap log` to see where it points now, then try again",
            ) from None

    def list(self) -> list[Ref]:
        """Every readable tag (an unreadable one is left out here; `check` reports it)."""
        return self.read_all()[0]

    def unreadable(self) -> list[CorruptObject]:
        return self.read_all()[1]

    def read_all(self) -> tuple[list[Ref], list[CorruptObject]]:
        """The readable tags by name, and the errors of the unreadable ones (one pass)."""
        found = self._all()
        refs = sorted((r for r in found if isinstance(r, Ref)), key=lambda r: r.name)
        return refs, [exc for exc in found if isinstance(exc, CorruptObject)]

    def _all(self) -> list[Ref | CorruptObject | None]:
        """Each listed tag read: its Ref, None for a tombstone (or one deleted since the
        listing), the error for an unreadable one; several at a time (`read_each`)."""
        return read_each(self._read_one, [k[len(PREFIX) :] for k in self.storage.list(PREFIX)])

    def _read_one(self, name: str) -> Ref | CorruptObject | None:
        try:
            return self.find(name)
        except CorruptObject as exc:
            return exc
