"""A snapshot's file table, stored as one Parquet object (columns in docs/format.md)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.parquet as pq

from snapkit.errors import CorruptObject
from snapkit.snapshot.model import FileEntry, TableFacts

TREE_SCHEMA = pa.schema(
    [
        ("path", pa.string()),
        ("kind", pa.string()),
        ("size", pa.int64()),
        ("mode", pa.int32()),
        ("mtime_ns", pa.int64()),
        ("hash", pa.string()),
        ("chunks", pa.list_(pa.string())),
        ("link_target", pa.string()),
        ("table_format", pa.string()),
        ("table_rows", pa.int64()),
        ("table_columns", pa.list_(pa.string())),
        ("table_schema", pa.string()),
    ],
    metadata={"snapkit.tree.version": "1"},
)


def encode_tree(entries: Iterable[FileEntry]) -> bytes:
    rows = sorted(entries, key=lambda e: e.path)
    t = [e.table for e in rows]
    columns = {
        "path": [e.path for e in rows],
        "kind": [e.kind for e in rows],
        "size": [e.size for e in rows],
        "mode": [e.mode for e in rows],
        "mtime_ns": [e.mtime_ns for e in rows],
        "hash": [e.hash for e in rows],
        "chunks": [list(e.chunks) for e in rows],
        "link_target": [e.link_target for e in rows],
        "table_format": [x.format if x else None for x in t],
        "table_rows": [x.rows if x else None for x in t],
        "table_columns": [list(x.columns) if x else None for x in t],
        "table_schema": [json.dumps([list(p) for p in x.schema]) if x else None for x in t],
    }
    table = pa.table(columns, schema=TREE_SCHEMA)
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", use_dictionary=["kind"])
    return out.getvalue()


def decode_tree(tree_id: str, data: bytes) -> list[FileEntry]:
    try:
        # An Arrow buffer and no thread pool: pq.read_table(io.BytesIO(...)) made the process
        # abort at exit now and then ("terminate called without an active exception", the
        # thread-pool teardown race of apache/arrow#50482); a tree is small enough for one thread.
        table = pq.ParquetFile(pa.BufferReader(data)).read(use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise CorruptObject(f"tree {tree_id} is unreadable: {exc}", key=f"trees/{tree_id}") from exc
    cols = table.to_pydict()
    out = []
    for i, path in enumerate(cols["path"]):
        fmt = cols["table_format"][i]
        facts = None
        if fmt is not None:
            facts = TableFacts(
                fmt,
                cols["table_rows"][i],
                tuple(cols["table_columns"][i] or ()),
                tuple(tuple(p) for p in json.loads(cols["table_schema"][i] or "[]")),
            )
        out.append(
            FileEntry(
                path=path,
                kind=cols["kind"][i],
                size=cols["size"][i],
                mode=cols["mode"][i],
                mtime_ns=cols["mtime_ns"][i],
                hash=cols["hash"][i],
                chunks=tuple(cols["chunks"][i]),
                link_target=cols["link_target"][i],
                table=facts,
            )
        )
    return out
