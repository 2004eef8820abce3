"""Pack files: many chunks in one stored object, self-describing.

Layout (see docs/format.md):  blob_0 … blob_n-1 | header | u32 header length | b"SNAPPK01"
where the header is zstd-compressed JSON `[[chunk_id, offset, length, raw_length, codec], …]`.
The pack's name is the BLAKE3 of its header (`pack_id_of`): the header names every blob by
the hash of its content, which every read verifies, so hashing the whole pack again (0.35 s
of CPU per GB, a tenth of a take's) would vouch for nothing more. The header lets a pack that
landed before its index was written (a killed take) be indexed again by reading only its tail.
"""

from __future__ import annotations

import json
import mmap
import struct
import threading
from dataclasses import dataclass

import cramjam
import zstandard
from blake3 import blake3

from snapkit.errors import CorruptObject
from snapkit.objects.hashing import digest

PACK_MAGIC = b"SNAPPK01"
# Hashed ahead of the header for a pack's id. Packs written before it was introduced are
# named by the BLAKE3 of all their bytes (docs/format.md §4); readers accept both.
PACK_ID_DOMAIN = b"snapkit-pack-v2\0"
TRAILER = struct.Struct("<I")
TRAILER_SIZE = TRAILER.size + len(PACK_MAGIC)
CODEC_RAW = 0
CODEC_ZSTD = 1
CODEC_LZ4 = 2
# A store's `compression` setting (docs/format.md §2) → the codec its writers try. `auto`
# tries LZ4 only while the writes lag behind the reading, on a local store (writer.py).
COMPRESSIONS = {"auto": CODEC_LZ4, "lz4": CODEC_LZ4, "zstd": CODEC_ZSTD, "none": CODEC_RAW}
DEFAULT_COMPRESSION = "auto"
DEFAULT_CODEC = CODEC_LZ4
_SAMPLE = 16 * 1024
_WORTH = 0.92  # store compressed only when it saves at least 8 %
# A large chunk is compressed only if a 16 KiB sample shrinks below this. Compressing
# already-compressed data (Parquet pages sample at ≈0.87-0.90) would cost ≈1.5 s (lz4) to
# ≈2.5 s (zstd) of CPU per GB on this machine to save ≈10 %: not worth it.
_SAMPLE_WORTH = 0.8
ZSTD_LEVEL = 1

_local = threading.local()


def _compressor() -> zstandard.ZstdCompressor:
    c = getattr(_local, "cctx", None)
    if c is None:
        c = _local.cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return c


def _decompressor() -> zstandard.ZstdDecompressor:
    d = getattr(_local, "dctx", None)
    if d is None:
        d = _local.dctx = zstandard.ZstdDecompressor()
    return d


@dataclass(frozen=True, slots=True)
class BlobEntry:
    """Where one chunk lives: in pack `pack`, `length` stored bytes at `offset`."""

    pack: str
    offset: int
    length: int
    raw_length: int
    codec: int


def encode_blob(
    data: bytes | memoryview, codec: int = DEFAULT_CODEC
) -> tuple[bytes | memoryview, int]:
    """Compress with `codec` when it pays; incompressible data (Parquet, media) is kept raw.

    A 16 KiB sample decides for large chunks, so random data costs one small attempt. An
    LZ4 result is a view of this thread's scratch buffer, valid until its next call.
    """
    n = len(data)
    if n < 64 or codec == CODEC_RAW:
        return data, CODEC_RAW
    compress = _compress_lz4 if codec == CODEC_LZ4 else _compressor().compress
    if n > 4 * _SAMPLE and len(compress(data[:_SAMPLE])) > _SAMPLE * _SAMPLE_WORTH:
        return data, CODEC_RAW
    packed = compress(data)
    if len(packed) > n * _WORTH:
        return data, CODEC_RAW
    return packed, codec


def _compress_lz4(data: bytes | memoryview) -> memoryview:
    # A bare LZ4 block (the pack header records the raw length it decodes to), written
    # into a reused buffer: a fresh output per chunk would be new memory (see below).
    n = len(data)
    out = _scratch("compressed", n + n // 255 + 16)  # LZ4_compressBound
    return memoryview(out)[: cramjam.lz4.compress_block_into(data, out, store_size=False)]


def _scratch(name: str, size: int) -> mmap.mmap:
    """This thread's buffer `name`, at least `size` bytes (4 MiB, a largest chunk, at first).

    An anonymous mapping, not a zero-filled bytearray: only the pages a thread has written
    count in its memory."""
    buf = getattr(_local, name, None)
    if buf is None or len(buf) < size:
        buf = mmap.mmap(-1, max(size, 4 << 20))
        setattr(_local, name, buf)
    return buf


def decode_blob(stored: bytes | memoryview, codec: int, raw_length: int) -> bytes:
    if codec == CODEC_RAW:
        return bytes(stored)
    if codec == CODEC_LZ4:
        return bytes(cramjam.lz4.decompress_block(stored, output_len=raw_length))
    if codec == CODEC_ZSTD:
        return _decompressor().decompress(stored, max_output_size=raw_length)
    raise ValueError(f"unknown codec {codec}")


def decode_blob_reusing(stored: memoryview, codec: int, raw_length: int) -> bytes | memoryview:
    """Like `decode_blob`, but a raw blob is `stored` itself and an LZ4 blob is decoded into
    this thread's scratch buffer: the result is valid until the thread's next call.

    A fresh output for every chunk is new memory, which this VM faults in page by page
    (and python-lz4 copied its output once more into a `bytes`): LZ4 decoding into a
    reused buffer ran at ≈2.1 GB/s on the benchmark's CSV against ≈1.1 GB/s (RESULTS.md,
    session 11).
    """
    if codec == CODEC_RAW:
        return stored
    if codec != CODEC_LZ4:
        return decode_blob(stored, codec, raw_length)
    out = _scratch("decoded", raw_length)
    return memoryview(out)[: cramjam.lz4.decompress_block_into(stored, out, output_len=raw_length)]


class PackBuilder:
    """Accumulates encoded blobs in one preallocated buffer until the pack is big enough.

    The buffer is allocated once with room for a full pack and handed back by the writer
    after each upload (`reset`), so filling a pack is a memcpy per blob: no reallocation and
    no first-touch page faults for every new pack, and memory stays at one buffer per pack
    in flight.
    """

    def __init__(self, capacity: int) -> None:
        # An anonymous mapping rather than bytearray(capacity), which zero-fills (touches)
        # every page up front: a small take's single pack costs only the pages it fills.
        self._buf = mmap.mmap(-1, capacity)
        self._size = 0
        self._entries: list[list[object]] = []

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        return self._size

    def reset(self) -> PackBuilder:
        self._size = 0
        self._entries = []
        return self

    def add(self, chunk_id: str, stored: bytes | memoryview, raw_length: int, codec: int) -> None:
        n = len(stored)
        self._entries.append([chunk_id, self._size, n, raw_length, codec])
        self._put(stored)

    def _put(self, data: bytes | memoryview) -> None:
        end = self._size + len(data)
        if end > len(self._buf):  # only past the capacity asked for: move to a bigger buffer
            # (a new one rather than growing in place: a view of the old may still be out)
            bigger = mmap.mmap(-1, max(end, len(self._buf) * 5 // 4))
            bigger[: self._size] = memoryview(self._buf)[: self._size]
            self._buf = bigger
        self._buf[self._size : end] = data
        self._size = end

    def finish(self) -> tuple[str, memoryview, dict[str, BlobEntry]]:
        """Seal the pack: returns (pack id, pack bytes, chunk id → entry).

        The bytes are a view of this builder's buffer: valid until the next `reset`.
        """
        header = zstandard.ZstdCompressor(level=3).compress(
            json.dumps(self._entries, separators=(",", ":")).encode()
        )
        self._put(header)
        self._put(TRAILER.pack(len(header)))
        self._put(PACK_MAGIC)
        body = memoryview(self._buf)[: self._size]
        pack_id = pack_id_of(header)
        entries = {
            e[0]: BlobEntry(pack_id, e[1], e[2], e[3], e[4])  # type: ignore[arg-type]
            for e in self._entries
        }
        return pack_id, body, entries


def pack_id_of(header: bytes | memoryview) -> str:
    """A pack's id from its header as stored (compressed)."""
    h = blake3(PACK_ID_DOMAIN)
    h.update(header)
    return h.hexdigest()


def named_by_header(pack_id: str, body: bytes | memoryview) -> bool | None:
    """How the pack `body` is named: True by its header (then the blobs still need
    verifying, chunk by chunk), False by all its bytes (a pack from before the header
    naming: then they are vouched for), None if neither matches (corrupt)."""
    try:
        offset, length = parse_pack_tail(pack_id, bytes(body[-TRAILER_SIZE:]), len(body))
    except CorruptObject:
        offset, length = 0, -1
    if length >= 0 and pack_id_of(body[offset : offset + length]) == pack_id:
        return True
    return False if digest(body) == pack_id else None


def parse_pack_tail(pack_id: str, tail: bytes, pack_size: int) -> tuple[int, int]:
    """From the last TRAILER_SIZE bytes of a pack, return (header offset, header length)."""
    if len(tail) != TRAILER_SIZE or not tail.endswith(PACK_MAGIC):
        raise CorruptObject(f"pack {pack_id} has no valid trailer", key=pack_id)
    (header_len,) = TRAILER.unpack(tail[: TRAILER.size])
    offset = pack_size - TRAILER_SIZE - header_len
    if offset < 0:
        raise CorruptObject(f"pack {pack_id} header length is out of range", key=pack_id)
    return offset, header_len


def parse_pack_header(pack_id: str, header: bytes) -> dict[str, BlobEntry]:
    try:
        rows = json.loads(_decompressor().decompress(header, max_output_size=1 << 30))
    except (zstandard.ZstdError, ValueError) as exc:
        raise CorruptObject(f"pack {pack_id} header is unreadable: {exc}", key=pack_id) from exc
    return {r[0]: BlobEntry(pack_id, r[1], r[2], r[3], r[4]) for r in rows}
