"""The in-memory pack index packs each entry into one int: every field must come back."""

from __future__ import annotations

import pytest

from snapkit.objects.index import ChunkIndex
from snapkit.objects.packs import BlobEntry


def _id(n: int) -> str:
    return f"{n:064x}"


def test_entries_come_back_exactly_including_large_values():
    index = ChunkIndex()
    big = BlobEntry("p2", (1 << 48) - 1, (1 << 40) - 1, (1 << 40) - 1, 255)
    index.add_pack(
        "p1", {_id(1): BlobEntry("p1", 0, 10, 20, 1), _id(2): BlobEntry("p1", 10, 5, 5, 0)}
    )
    index.add_pack("p2", {_id(3): big})
    assert index[_id(1)] == BlobEntry("p1", 0, 10, 20, 1)
    assert index.get(_id(2)) == BlobEntry("p1", 10, 5, 5, 0)
    assert index[_id(3)] == big
    assert len(index) == 3
    assert dict(index.items()) == {
        _id(1): BlobEntry("p1", 0, 10, 20, 1),
        _id(2): BlobEntry("p1", 10, 5, 5, 0),
        _id(3): big,
    }


def test_a_chunk_keeps_its_first_location_and_unknown_ids_are_absent():
    index = ChunkIndex()
    index.add_pack("p1", {_id(1): BlobEntry("p1", 0, 10, 10, 0)})
    index.add_pack("p2", {_id(1): BlobEntry("p2", 99, 10, 10, 0)})
    assert index[_id(1)].pack == "p1"
    assert _id(2) not in index and "not-hex" not in index and index.get("zz") is None
    with pytest.raises(KeyError):
        index[_id(2)]
    assert index.has_all([_id(1)]) and index.has_all([])
    assert not index.has_all([_id(1), _id(2)]) and not index.has_all([_id(1), "not-hex"])
    assert index.has_all((_id(1),)) and not index.has_all((_id(2),))  # the one-chunk path
    assert not index.has_all(("not-hex",))
    index.clear()
    assert len(index) == 0 and _id(1) not in index


@pytest.mark.parametrize(
    "row",
    [
        [_id(1), 1 << 48, 1, 1, 0],  # offset too large
        [_id(1), 0, -1, 1, 0],  # negative length
        [_id(1), 0, 1, 1, 256],  # codec out of range
        ["abc", 0, 1, 1, 0],  # not a chunk id
        [_id(1), 0, 1, 1],  # a field missing
    ],
)
def test_rows_out_of_range_are_refused(row):
    with pytest.raises(ValueError):
        ChunkIndex().add_rows("p", [row])
