"""A snapshot's file table, stored as one Parquet object (columns in docs/format.md)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable

import pyarrow as pa
import pyarrow.json as pajson
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
    """The tree as Parquet, rows sorted by path.

    The rows go to Arrow as JSON lines with the schema given: building arrays from Python
    lists (`pa.table(dict_of_lists)`) makes pyarrow import pandas, ≈0.3 s and 50 MB for every
    take, which is most of a small take's time.
    """
    lines = [_row_json(e) for e in sorted(entries, key=lambda e: e.path)]
    if lines:
        table = pajson.read_json(
            pa.BufferReader("\n".join(lines).encode()),
            read_options=pajson.ReadOptions(block_size=_JSON_BLOCK, use_threads=False),
            parse_options=pajson.ParseOptions(
                explicit_schema=TREE_SCHEMA, unexpected_field_behavior="error"
            ),
        ).replace_schema_metadata(TREE_SCHEMA.metadata)
    else:
        table = TREE_SCHEMA.empty_table()
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd", use_dictionary=["kind"])
    return out.getvalue()


_JSON_BLOCK = 16 << 20  # a block must hold a whole row: a row lists every chunk of its file


def _row_json(e: FileEntry) -> str:
    t = e.table
    return json.dumps(
        {
            "path": e.path,
            "kind": e.kind,
            "size": e.size,
            "mode": e.mode,
            "mtime_ns": e.mtime_ns,
            "hash": e.hash,
            "chunks": list(e.chunks),
            "link_target": e.link_target,
            "table_format": t.format if t else None,
            "table_rows": t.rows if t else None,
            "table_columns": list(t.columns) if t else None,
            "table_schema": json.dumps([list(p) for p in t.schema]) if t else None,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


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
