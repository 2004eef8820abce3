"""snap:// through fsspec, pandas and pyarrow; snapkit.open and snapkit.read_table."""

from __future__ import annotations

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import snapkit
from tests.helpers import write


@pytest.fixture
def tagged(tmp_path, monkeypatch):
    data = tmp_path / "data"
    table = pa.table({"id": list(range(1000)), "text": [f"mail {i}" for i in range(1000)]})
    data.mkdir()
    pq.write_table(table, data / "emails.parquet")
    write(data / "sub/labels.csv", "id,label\n1,0\n2,1\n")
    store_url = str(tmp_path / "store")
    with snapkit.open_store(store_url, create=True) as store:
        store.take(data, tags=["raw-v1", "prod/latest"])
    monkeypatch.setenv("SNAP_STORE", store_url)
    return table


def test_pandas_reads_a_snapshot_directly(tagged):
    frame = pd.read_parquet("snap://raw-v1/emails.parquet")
    assert frame["id"].tolist() == tagged["id"].to_pylist()
    assert pd.read_csv("snap://prod/latest/sub/labels.csv")["label"].tolist() == [0, 1]


def test_fsspec_lists_and_refuses_writes(tagged):
    fs = fsspec.filesystem("snap", skip_instance_cache=True)
    assert sorted(fs.ls("raw-v1", detail=False)) == ["raw-v1/emails.parquet", "raw-v1/sub"]
    assert fs.info("raw-v1/sub/labels.csv")["size"] == len("id,label\n1,0\n2,1\n")
    with pytest.raises(FileNotFoundError):
        fs.info("raw-v1/nope.csv")
    with pytest.raises(PermissionError):
        fs.open("raw-v1/x.txt", "wb")


def test_open_and_read_table(tagged):
    assert snapkit.read_table("raw-v1", "emails.parquet").equals(tagged)
    assert snapkit.read_table("raw-v1", "sub/labels.csv").num_rows == 2
    with snapkit.open("raw-v1", "sub/labels.csv") as f:
        assert f.read().startswith(b"id,label")
