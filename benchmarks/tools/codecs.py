"""Compression codecs on one file, as a take uses them: 1 MiB pieces, one thread.

    python -m benchmarks.tools.codecs FILE [--mb 256]

Prints, for zstd level 1 (and −1) and LZ4 (snapkit's default, docs/format.md §4), the
stored fraction and the compress and decompress rates in MB/s. LZ4 decodes into a reused
buffer, as a restore does (`packs.decode_blob_reusing`).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import cramjam
import zstandard

from snapkit.objects.packs import CODEC_LZ4, decode_blob_reusing

PIECE = 1 << 20


def _rate(nbytes: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return nbytes / (time.perf_counter() - started) / 1e6


def _each(
    decompress: Callable[[bytes, int], bytes], packed: list[bytes], pieces: list[bytes]
) -> None:
    for b, p in zip(packed, pieces, strict=True):
        decompress(b, len(p))


def measure(data: bytes) -> list[tuple[str, float, float, float]]:
    """Rows of (codec, stored fraction, compress MB/s, decompress MB/s)."""
    pieces = [data[i : i + PIECE] for i in range(0, len(data), PIECE)]
    codecs: list[tuple[str, Callable[[bytes], bytes], Callable[[bytes, int], bytes]]] = []
    for level in (1, -1):
        cctx, dctx = zstandard.ZstdCompressor(level=level), zstandard.ZstdDecompressor()
        codecs.append(
            (
                f"zstd level {level}",
                cctx.compress,
                lambda b, n, d=dctx: d.decompress(b, max_output_size=n),
            )
        )
    codecs.append(
        (
            "lz4 (block)",
            lambda b: bytes(cramjam.lz4.compress_block(b, store_size=False)),
            lambda b, n: decode_blob_reusing(b, CODEC_LZ4, n),
        )
    )
    rows = []
    for name, compress, decompress in codecs:
        packed: list[bytes] = []
        c_rate = _rate(len(data), lambda c=compress, out=packed: out.extend(map(c, pieces)))
        # Each output is dropped at once, as a restore writes and drops it: keeping them all
        # would time first touches of new memory, which on this VM cost more than decoding.
        d_rate = _rate(len(data), lambda d=decompress, out=packed: _each(d, out, pieces))
        if any(decompress(b, len(p)) != p for b, p in zip(packed, pieces, strict=True)):
            raise SystemExit(f"{name} did not decode back to its input")
        rows.append((name, sum(map(len, packed)) / len(data), c_rate, d_rate))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--mb", type=int, default=256, help="how much of the file to use")
    args = parser.parse_args()
    with args.file.open("rb") as f:
        data = f.read(args.mb << 20)
    print("| codec | stored | compress | decompress |\n|---|---:|---:|---:|")
    for name, stored, c_rate, d_rate in measure(data):
        print(f"| {name} | {stored:.1%} | {c_rate:.0f} MB/s | {d_rate:.0f} MB/s |")


if __name__ == "__main__":
    main()
