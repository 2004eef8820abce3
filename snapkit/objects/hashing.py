"""BLAKE3 naming of everything the store holds."""

from __future__ import annotations

from blake3 import blake3


def digest(data: bytes | memoryview) -> str:
    """Hex BLAKE3 of `data`: the name of a chunk, pack, index, tree or snapshot."""
    return blake3(data).hexdigest()


def is_object_id(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)
