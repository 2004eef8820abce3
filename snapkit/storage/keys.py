"""Key rules shared by every backend, so a store can move between backends unchanged.

A key is a relative '/'-separated name. Empty, absolute and '.'/'..' components are refused
everywhere (not only on disk, where they would escape the store's folder): a key that works on
S3 must also work in a local folder.
"""

from __future__ import annotations

_BAD_PARTS = frozenset({"", ".", ".."})


def check_key(key: str) -> str:
    """Return `key` unchanged if it is a valid storage key; raise ValueError otherwise."""
    if not key:
        raise ValueError("storage key is empty")
    if key.startswith("/") or "\\" in key or "\0" in key:
        raise ValueError(f"storage key {key!r} must be relative and '/'-separated")
    if any(part in _BAD_PARTS for part in key.split("/")):
        raise ValueError(f"storage key {key!r} has an empty, '.' or '..' component")
    return key


def check_prefix(prefix: str) -> str:
    """Like `check_key`, but "" and a trailing '/' are allowed (they are list prefixes)."""
    if prefix:
        check_key(prefix.removesuffix("/"))
    return prefix
