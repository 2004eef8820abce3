"""snapkit: Rok-style snapshots for ML data and pipeline steps, on object storage.

The Python API mirrors the `snap` command: `open_store`, `take`, `restore`, and the
`Store` methods `log`, `show`, `ls`, `tag`, `untag`, `check`. Names are imported on first use so
that `snap --help` does not pay for pyarrow and boto3.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "open_store": "snapkit.api",
    "take": "snapkit.api",
    "restore": "snapkit.api",
    "Store": "snapkit.api",
    "SnapshotInfo": "snapkit.api",
    "RestoreOutcome": "snapkit.api",
    "SnapError": "snapkit.errors",
    "NotFound": "snapkit.errors",
    "StoreUnavailable": "snapkit.errors",
    "AccessDenied": "snapkit.errors",
    "CorruptObject": "snapkit.errors",
    "Conflict": "snapkit.errors",
    "Refused": "snapkit.errors",
    "DiskFull": "snapkit.errors",
    "Locked": "snapkit.errors",
    "UsageError": "snapkit.errors",
    "TakeResult": "snapkit.snapshot.take",
    "read_table": "snapkit.fs",
    "open": "snapkit.fs",
}

__all__ = [
    "AccessDenied",
    "Conflict",
    "CorruptObject",
    "DiskFull",
    "Locked",
    "NotFound",
    "Refused",
    "RestoreOutcome",
    "SnapError",
    "SnapshotInfo",
    "Store",
    "StoreUnavailable",
    "TakeResult",
    "UsageError",
    "open",
    "open_store",
    "read_table",
    "restore",
    "take",
]

if TYPE_CHECKING:
    from snapkit.api import RestoreOutcome, SnapshotInfo, Store, open_store, restore, take
    from snapkit.errors import (
        AccessDenied,
        Conflict,
        CorruptObject,
        DiskFull,
        Locked,
        NotFound,
        Refused,
        SnapError,
        StoreUnavailable,
        UsageError,
    )
    from snapkit.fs import open_file as open
    from snapkit.fs import read_table
    from snapkit.snapshot.take import TakeResult


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'snapkit' has no attribute {name!r}")
    attr = "open_file" if name == "open" else name  # snapkit.open(ref, path)
    return getattr(importlib.import_module(module), attr)
