"""Refs: mutable names (tags such as `raw-v1`, `prod/latest`) for snapshots.

A ref is a small JSON object at `refs/tags/<name>`, moved only by compare-and-swap, so two
writers racing on one name never lose an update silently: one wins, the other gets Conflict.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from snapkit.errors import Conflict, NotFound, UsageError
from snapkit.storage.base import Storage

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
    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get(self, name: str) -> Ref:
        try:
            data, etag = self.storage.get_with_etag(PREFIX + name)
        except NotFound:
            raise NotFound(f"no tag named {name!r}") from None
        doc = json.loads(data)
        return Ref(name, doc["snapshot"], etag, doc.get("time", ""))

    def find(self, name: str) -> Ref | None:
        try:
            return self.get(name)
        except NotFound:
            return None

    def set(self, name: str, snapshot_id: str, *, expect: str | bool | None = True) -> Ref:
        """Point `name` at `snapshot_id`.

        `expect` is the etag the ref must still have (None: it must not exist yet). With
        the default `True` the current value is read first and swapped in one CAS, so a
        concurrent writer in between still makes this fail with Conflict.
        """
        check_name(name)
        current = self.find(name) if expect is True else None
        etag = current.etag if current else (None if expect is True else expect)
        body = json.dumps(
            {"snapshot": snapshot_id, "time": datetime.now(UTC).isoformat(timespec="seconds")}
        ).encode()
        try:
            new_etag = self.storage.put_if_match(PREFIX + name, body, etag)  # type: ignore[arg-type]
        except Conflict:
            raise Conflict(
                f"tag {name!r} was changed by someone else at the same time",
                hint="run `snap log` to see where it points now, then try again",
            ) from None
        return Ref(name, snapshot_id, new_etag, "")

    def delete(self, name: str) -> None:
        if self.find(name) is None:
            raise NotFound(f"no tag named {name!r}")
        self.storage.delete(PREFIX + name)

    def list(self) -> list[Ref]:
        refs = []
        for key in self.storage.list(PREFIX):
            ref = self.find(key[len(PREFIX) :])
            if ref is not None:
                refs.append(ref)
        return sorted(refs, key=lambda r: r.name)
