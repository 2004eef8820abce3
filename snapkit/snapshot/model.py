"""The immutable records of a snapshot: file entries and the snapshot itself."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

Kind = Literal["file", "dir", "symlink"]
SNAPSHOT_VERSION = 1


@dataclass(frozen=True, slots=True)
class TableFacts:
    """Rows, columns and schema of a Parquet or CSV file, recorded at take time."""

    format: str
    rows: int
    columns: tuple[str, ...]
    schema: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "rows": self.rows,
            "columns": list(self.columns),
            "schema": [list(p) for p in self.schema],
        }

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TableFacts:
        intern = sys.intern  # the same columns repeat across a tree's files: one copy each
        return cls(
            intern(d["format"]),
            int(d["rows"]),
            tuple(intern(c) for c in d["columns"]),
            tuple((intern(n), intern(t)) for n, t in d["schema"]),
        )


@dataclass(frozen=True, slots=True)
class FileEntry:
    """One row of a tree. `path` is relative, '/'-separated, never '..' nor absolute."""

    path: str
    kind: Kind
    size: int = 0
    mode: int = 0o644
    mtime_ns: int = 0
    hash: str = ""
    chunks: tuple[str, ...] = ()
    link_target: str = ""
    table: TableFacts | None = None


@dataclass(frozen=True)
class Summary:
    files: int = 0
    dirs: int = 0
    bytes: int = 0
    new_bytes: int = 0
    new_stored_bytes: int = 0
    new_chunks: int = 0
    seconds: float = 0.0
    tables: int = 0


@dataclass(frozen=True)
class Snapshot:
    """A snapshot record. Its id is the BLAKE3 of `to_bytes()`; it never changes.

    `source` is the path that was taken, relative to the project root when it lies inside
    it (so restore can put it back there by default), else absolute. `root_kind` says
    whether a directory or a single file was taken.
    """

    tree: str
    source: str
    root_kind: Kind
    time: str
    host: str
    user: str
    message: str = ""
    tags: tuple[str, ...] = ()
    parent: str | None = None
    summary: Summary = field(default_factory=Summary)
    labels: dict[str, str] = field(default_factory=dict)
    version: int = SNAPSHOT_VERSION

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Snapshot:
        d = dict(d)
        d["tags"] = tuple(d.get("tags", ()))
        d["summary"] = Summary(**d.get("summary", {}))
        return cls(**d)

    def with_changes(self, **changes: Any) -> Snapshot:
        return replace(self, **changes)
