"""A tiny PNG reader for screenshot tests (8-bit RGB/RGBA, non-interlaced): no Pillow needed."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_png(path: Path) -> np.ndarray:
    """The pixels as a (height, width, channels) uint8 array."""
    data = path.read_bytes()
    assert data[:8] == SIGNATURE, "not a PNG file"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0, header
    channels = 3 if colour == 2 else 4
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), dtype=np.uint8)
    return _unfilter(raw.reshape(height, 1 + width * channels), channels).reshape(
        height, width, channels
    )


def _unfilter(rows: np.ndarray, bpp: int) -> np.ndarray:
    out = np.zeros((rows.shape[0], rows.shape[1] - 1), dtype=np.uint8)
    prior = np.zeros(rows.shape[1] - 1, dtype=np.int32)
    for y, row in enumerate(rows):
        kind, line = row[0], row[1:].astype(np.int32)
        if kind == 0:
            cur = line
        elif kind == 1:  # Sub: a running sum per channel
            cur = np.cumsum(line.reshape(-1, bpp), axis=0).reshape(-1) % 256
        elif kind == 2:  # Up
            cur = (line + prior) % 256
        else:  # Average, Paeth: each byte depends on the one to its left
            cur = _sequential(kind, line, prior, bpp)
        out[y] = cur
        prior = cur.astype(np.int32)
    return out


def _sequential(kind: int, line: np.ndarray, prior: np.ndarray, bpp: int) -> np.ndarray:
    cur = [0] * len(line)
    up = prior.tolist()
    for i, x in enumerate(line.tolist()):
        left = cur[i - bpp] if i >= bpp else 0
        if kind == 3:
            cur[i] = (x + (left + up[i]) // 2) % 256
            continue
        corner = up[i - bpp] if i >= bpp else 0
        p = left + up[i] - corner
        pa, pb, pc = abs(p - left), abs(p - up[i]), abs(p - corner)
        pred = left if pa <= pb and pa <= pc else up[i] if pb <= pc else corner
        cur[i] = (x + pred) % 256
    return np.array(cur, dtype=np.int32)
