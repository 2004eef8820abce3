"""The pack index: which pack holds each chunk, at which offset.

An index object is zstd-compressed JSON, named by the BLAKE3 of its stored bytes:
`{"version": 1, "packs": [{"id", "size", "blobs": [[chunk, offset, length, raw, codec]]}]}`.
Many index objects may exist; the store's index is their union.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

import zstandard

from snapkit.errors import CorruptObject
from snapkit.objects.packs import BlobEntry

INDEX_VERSION = 1


def encode_index(packs: Iterable[tuple[str, int, dict[str, BlobEntry]]]) -> bytes:
    doc = {
        "version": INDEX_VERSION,
        "packs": [
            {
                "id": pack_id,
                "size": size,
                "blobs": [
                    [cid, e.offset, e.length, e.raw_length, e.codec] for cid, e in blobs.items()
                ],
            }
            for pack_id, size, blobs in packs
        ],
    }
    raw = json.dumps(doc, separators=(",", ":")).encode()
    return zstandard.ZstdCompressor(level=3).compress(raw)


def decode_index(index_id: str, data: bytes) -> list[tuple[str, int, dict[str, BlobEntry]]]:
    """Parse one index object into (pack id, pack size, chunk → entry) triples."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 31))
        if doc.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported index version {doc.get('version')}")
        return [
            (
                p["id"],
                int(p["size"]),
                {b[0]: BlobEntry(p["id"], b[1], b[2], b[3], b[4]) for b in p["blobs"]},
            )
            for p in doc["packs"]
        ]
    except (zstandard.ZstdError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptObject(
            f"index {index_id} is unreadable: {exc}", key=f"index/{index_id}"
        ) from exc
