"""`snap://SNAPSHOT/PATH`: snapshots as a read-only fsspec filesystem.

    import pandas as pd
    pd.read_parquet("snap://raw-v1/emails.parquet")            # the configured store
    pd.read_parquet("snap://raw-v1/emails.parquet", storage_options={"store": "s3://b/p"})

SNAPSHOT is a tag, id or id prefix (tags may contain '/', e.g. prod/latest: the longest
leading part that names a snapshot wins). Files are read lazily from the store, chunk by
chunk, each chunk verified; nothing is restored to disk.
"""

from __future__ import annotations

from typing import Any

from fsspec.spec import AbstractFileSystem

from snapkit.errors import NotFound


class SnapFileSystem(AbstractFileSystem):
    protocol = "snap"
    root_marker = ""
    cachable = False  # the store comes from the environment/project: never reuse a stale one

    def __init__(self, store: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from snapkit.api import open_store

        self._store = open_store(store)

    @classmethod
    def _strip_protocol(cls, path: str | list[str]) -> Any:
        if isinstance(path, list):
            return [cls._strip_protocol(p) for p in path]
        return path.removeprefix("snap://").strip("/")

    def _split(self, path: str) -> tuple[str, str]:
        """'prod/latest/data/x.parquet' → ('prod/latest', 'data/x.parquet')."""
        parts = self._strip_protocol(path).split("/")
        for i in range(len(parts), 0, -1):
            spec = "/".join(parts[:i])
            try:
                self._store.repo.resolve(spec)
            except (NotFound, ValueError):
                continue
            except Exception:  # ambiguous prefixes and the like: try a shorter spec
                continue
            return spec, "/".join(parts[i:])
        raise FileNotFoundError(path)

    def _entries(self, spec: str) -> list[Any]:
        snap = self._store.repo.load_snapshot(self._store.repo.resolve(spec))
        return self._store.repo.load_tree(snap.tree)

    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        spec, inner = self._split(path)
        if not inner:
            return {"name": spec, "size": 0, "type": "directory"}
        for e in self._entries(spec):
            if e.path == inner:
                kind = "directory" if e.kind == "dir" else "file"
                return {"name": f"{spec}/{inner}", "size": e.size, "type": kind}
            if e.path.startswith(inner + "/"):
                return {"name": f"{spec}/{inner}", "size": 0, "type": "directory"}
        raise FileNotFoundError(path)

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        spec, inner = self._split(path)
        prefix = f"{inner}/" if inner else ""
        out = []
        for e in self._entries(spec):
            rest = e.path[len(prefix) :] if e.path.startswith(prefix) else None
            if rest and "/" not in rest:
                kind = "directory" if e.kind == "dir" else "file"
                out.append({"name": f"{spec}/{e.path}", "size": e.size, "type": kind})
        if not out and self.info(path)["type"] != "directory":
            return [self.info(path)] if detail else [path]
        return out if detail else [o["name"] for o in out]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if mode != "rb":
            raise PermissionError("snapshots are read-only")
        spec, inner = self._split(path)
        try:
            return self._store.open(spec, inner or None)
        except NotFound as exc:
            raise FileNotFoundError(str(exc)) from exc


def read_table(spec: str, path: str | None = None, *, store: str | None = None) -> Any:
    """A Parquet, CSV or JSON-lines file of a snapshot as a pyarrow Table (no restore)."""
    from snapkit.api import open_store
    from snapkit.snapshot.tables import table_format

    with open_store(store) as s, s.open(spec, path) as f:
        name = path or getattr(f, "name", "")
        fmt = table_format(str(name)) or (
            "jsonl" if str(name).endswith((".jsonl", ".json")) else None
        )
        if fmt == "parquet":
            import pyarrow.parquet as pq

            return pq.ParquetFile(f).read(use_threads=False)
        if fmt == "csv":
            import pyarrow.csv as pacsv

            return pacsv.read_csv(f)
        if fmt == "jsonl":
            import pyarrow.json as pajson

            return pajson.read_json(f)
    raise NotFound(f"{path or spec} is not a table snapkit can read (Parquet, CSV, JSON lines)")


def open_file(spec: str, path: str | None = None, *, store: str | None = None) -> Any:
    """A file of a snapshot as a read-only binary file object, read lazily from the store."""
    from snapkit.api import open_store

    s = open_store(store)
    return s.open(spec, path)
