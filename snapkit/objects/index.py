"""The pack index: which pack holds each chunk, at which offset.

An index object is zstd-compressed JSON, named by the BLAKE3 of its stored bytes:
`{"version": 1, "packs": [{"id", "size", "blobs": [[chunk, offset, length, raw, codec]]}]}`.
Many index objects may exist; the store's index is their union.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator

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
    return [
        (pack_id, size, {b[0]: BlobEntry(pack_id, b[1], b[2], b[3], b[4]) for b in blobs})
        for pack_id, size, blobs in decode_index_rows(index_id, data)
    ]


Row = list  # [chunk id, offset, length, raw length, codec], as the JSON holds it


def decode_index_rows(index_id: str, data: bytes) -> list[tuple[str, int, list[Row]]]:
    """Parse one index object into (pack id, pack size, rows); `ChunkIndex.add_rows`
    checks each row as it takes it."""
    try:
        doc = json.loads(zstandard.ZstdDecompressor().decompress(data, max_output_size=1 << 31))
        if doc.get("version") != INDEX_VERSION:
            raise ValueError(f"unsupported index version {doc.get('version')}")
        return [(p["id"], int(p["size"]), p["blobs"]) for p in doc["packs"]]
    except (zstandard.ZstdError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise CorruptObject(
            f"index {index_id} is unreadable: {exc}", key=f"index/{index_id}"
        ) from exc


# Field widths of a packed index entry (see ChunkIndex); the pack's number is above them.
_CODEC_BITS, _RAW_BITS, _LEN_BITS, _OFF_BITS = 8, 40, 40, 48
_RAW_AT = _CODEC_BITS
_LEN_AT = _RAW_AT + _RAW_BITS
_OFF_AT = _LEN_AT + _LEN_BITS
_PACK_AT = _OFF_AT + _OFF_BITS


class ChunkIndex:
    """chunk id → `BlobEntry` for every chunk of a store, held compactly.

    The whole store's index is in memory (as in restic), so its size per chunk is what a
    take or restore of many files grows by: a dict of 32-byte digests to one int packing
    (pack number, offset, length, raw length, codec) measured ≈250 bytes per chunk, where
    a dict of hex ids to BlobEntry objects was ≈365. Entries are unpacked on look-up.
    """

    def __init__(self) -> None:
        self._map: dict[bytes, int] = {}
        self._packs: list[str] = []
        self._pack_no: dict[str, int] = {}

    def add_pack(self, pack_id: str, entries: dict[str, BlobEntry]) -> None:
        """Index a pack's chunks; a chunk indexed already keeps its first location."""
        self.add_rows(
            pack_id, [[c, e.offset, e.length, e.raw_length, e.codec] for c, e in entries.items()]
        )

    def add_rows(self, pack_id: str, rows: Iterable[Row]) -> None:
        """`add_pack` from an index object's rows as they are (no BlobEntry per chunk).
        Raises ValueError or TypeError for a row that is not a chunk id and in-range ints."""
        no = self._pack_no.get(pack_id)
        if no is None:
            no = self._pack_no[pack_id] = len(self._packs)
            self._packs.append(pack_id)
        base = no << _PACK_AT
        setdefault = self._map.setdefault
        for cid, offset, length, raw, codec in rows:
            if (
                offset >> _OFF_BITS
                or length >> _LEN_BITS
                or raw >> _RAW_BITS
                or codec >> _CODEC_BITS
                or len(cid) != 64
            ):
                raise ValueError(f"index entry of chunk {cid} is out of range")
            setdefault(
                bytes.fromhex(cid),
                base | offset << _OFF_AT | length << _LEN_AT | raw << _RAW_AT | codec,
            )

    def export(self) -> tuple[list[str], list[bytes], list[int]]:
        """The packs in number order, the chunk digests and their packed entries (what
        `objects/indexcache.py` writes)."""
        return list(self._packs), list(self._map), list(self._map.values())

    def start_from(self, packs: list[str], keys: list[bytes], values: list[int]) -> None:
        """Become what `export` gave (an empty index only). Raises ValueError if an entry
        names a pack number it was not given."""
        if self._map or self._packs:
            raise ValueError("only an empty index can start from a merged copy")
        if len(keys) != len(values) or (values and max(values) >> _PACK_AT >= len(packs)):
            raise ValueError("merged index entries do not match its packs")
        self._packs = list(packs)
        self._pack_no = {p: i for i, p in enumerate(self._packs)}
        self._map = dict(zip(keys, values, strict=True))

    def _unpack(self, v: int) -> BlobEntry:
        return BlobEntry(
            self._packs[v >> _PACK_AT],
            (v >> _OFF_AT) & ((1 << _OFF_BITS) - 1),
            (v >> _LEN_AT) & ((1 << _LEN_BITS) - 1),
            (v >> _RAW_AT) & ((1 << _RAW_BITS) - 1),
            v & ((1 << _CODEC_BITS) - 1),
        )

    def get(self, chunk_id: str) -> BlobEntry | None:
        v = self._map.get(_key(chunk_id))
        return None if v is None else self._unpack(v)

    def __getitem__(self, chunk_id: str) -> BlobEntry:
        entry = self.get(chunk_id)
        if entry is None:
            raise KeyError(chunk_id)
        return entry

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and _key(chunk_id) in self._map

    def has_all(self, chunk_ids: Iterable[str]) -> bool:
        """Whether every one of `chunk_ids` is indexed: one call per file for a re-take's
        look-ups, not three per chunk."""
        indexed, key = self._map, bytes.fromhex
        try:
            if type(chunk_ids) is tuple and len(chunk_ids) == 1:  # most files: no generator
                return key(chunk_ids[0]) in indexed
            return all(key(c) in indexed for c in chunk_ids)
        except (ValueError, TypeError):
            return False  # not an id: in no index

    def __len__(self) -> int:
        return len(self._map)

    def items(self) -> Iterator[tuple[str, BlobEntry]]:
        for key, v in self._map.items():
            yield key.hex(), self._unpack(v)

    def clear(self) -> None:
        self._map.clear()
        self._packs.clear()
        self._pack_no.clear()


def _key(chunk_id: str) -> bytes:
    try:
        return bytes.fromhex(chunk_id)
    except ValueError:
        return b""  # not an id: in no index
