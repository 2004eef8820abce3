"""A local, merged copy of the store's snapshot records (docs/format.md §11).

Listing the snapshots (`snap log`, a take finding its parent, forget) read every record,
one object each: 13–40 ms for 159 records here, growing with the store's history. The
merged copy holds the records as JSON in one checksummed file; each record is still
checked against its id when used, so a wrong copy costs a read, never a wrong answer.
"""

from __future__ import annotations

import json
from typing import Any

from blake3 import blake3

_VERSION = 1
_SUM = 32


def encode(records: dict[str, dict[str, Any]]) -> bytes:
    body = json.dumps({"version": _VERSION, "snapshots": records}, separators=(",", ":"))
    data = body.encode()
    return data + blake3(data).digest()


def decode(data: bytes | None) -> dict[str, dict[str, Any]]:
    """snapshot id → record (as `Snapshot.to_json` gives it); empty if none or damaged."""
    if data is None or len(data) < _SUM or blake3(data[:-_SUM]).digest() != data[-_SUM:]:
        return {}
    try:
        doc = json.loads(data[:-_SUM])
        records = doc["snapshots"] if doc.get("version") == _VERSION else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    return records if isinstance(records, dict) else {}
