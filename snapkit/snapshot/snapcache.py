"""A local, merged copy of the store's snapshot records (docs/format.md §11).

Listing the snapshots (`snap log`, a take finding its parent, forget) read every record,
one object each: 13–40 ms for 159 records here, growing with the store's history. The
merged copy holds the records as JSON in one file (sealed: `ObjectCache.put_sealed`);
each record is still checked against its id when used, so a wrong copy costs a read,
never a wrong answer.
"""

from __future__ import annotations

import json
from typing import Any

_VERSION = 1


def encode(records: dict[str, dict[str, Any]]) -> bytes:
    return json.dumps({"version": _VERSION, "snapshots": records}, separators=(",", ":")).encode()


def decode(data: bytes | None) -> dict[str, dict[str, Any]]:
    """snapshot id → record (as `Snapshot.to_json` gives it); empty if none or damaged."""
    if data is None:
        return {}
    try:
        doc = json.loads(data)
        records = doc["snapshots"] if doc.get("version") == _VERSION else {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}
    return records if isinstance(records, dict) else {}
