"""A local, merged copy of the store's index (docs/format.md §11): one file that loads fast.

Every take adds an index object, and every command that reads chunks loads all of them:
listing, reading, verifying, decompressing and decoding JSON, then packing each entry
(≈2 µs per chunk). The merged copy holds the union of the index objects it names, as
`ChunkIndex` keeps it, in fixed-width binary, so loading it is a few slices and
`int.from_bytes` per chunk. It is a cache: stored sealed by its own BLAKE3
(`ObjectCache.put_sealed`), and used only while every index object it names is still in
the store (gc replaces them all).

Layout: magic | u32 LE header length | header (JSON) | keys (32 B each) | values
(`VALUE_BYTES` LE each). The header names the index objects merged, the packs in
`ChunkIndex` order with their sizes, and the entry count.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

MAGIC = b"SNAPIDXC1\0"
_LEN = struct.Struct("<I")
KEY_BYTES = 32
VALUE_BYTES = 22  # a packed entry: 136 bits of fields, the pack's number above them


@dataclass(frozen=True)
class Merged:
    """What the file holds: the index ids merged, packs (id, size) in order, the entries."""

    index_ids: list[str]
    packs: list[tuple[str, int]]
    keys: list[bytes]
    values: list[int]


def encode(merged: Merged) -> bytes:
    header = json.dumps(
        {"indexes": merged.index_ids, "packs": merged.packs, "entries": len(merged.keys)},
        separators=(",", ":"),
    ).encode()
    return b"".join(
        [
            MAGIC,
            _LEN.pack(len(header)),
            header,
            b"".join(merged.keys),
            b"".join(v.to_bytes(VALUE_BYTES, "little") for v in merged.values),
        ]
    )


def decode(data: bytes | None) -> Merged | None:
    """The merged index in `data`, or None when there is none or it is not sound."""
    if data is None:
        return None
    try:
        return _decode(memoryview(data))
    except (ValueError, KeyError, TypeError, struct.error, UnicodeDecodeError):
        return None  # damaged or from another version: rebuilt from the index objects


def _decode(data: memoryview) -> Merged:
    if data[: len(MAGIC)] != MAGIC or len(data) < len(MAGIC) + _LEN.size:
        raise ValueError("not a merged index")
    at = len(MAGIC)
    (size,) = _LEN.unpack_from(data, at)
    at += _LEN.size
    header = json.loads(bytes(data[at : at + size]))
    at += size
    n = int(header["entries"])
    keys_end = at + n * KEY_BYTES
    if keys_end + n * VALUE_BYTES != len(data):
        raise ValueError("wrong length")
    blob = bytes(data[at:keys_end])
    values = bytes(data[keys_end : keys_end + n * VALUE_BYTES])
    from_bytes, width = int.from_bytes, VALUE_BYTES
    return Merged(
        [str(i) for i in header["indexes"]],
        [(str(p), int(s)) for p, s in header["packs"]],
        [blob[i : i + KEY_BYTES] for i in range(0, len(blob), KEY_BYTES)],
        [from_bytes(values[i : i + width], "little") for i in range(0, len(values), width)],
    )
