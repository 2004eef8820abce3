"""The measures behind `snap parity`, on small tables: drift, thresholds, key sampling."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from snapkit.errors import UsageError
from snapkit.validation.drift import js_divergence, linf_distance, measure_drift
from snapkit.validation.sampling import BottomK, key_hashes, sampled_batches
from snapkit.validation.table_stream import Opener
from snapkit.validation.thresholds import load_thresholds, parse_thresholds


def write_table(path: Path, rows: int, *, domains: list[str], seed: int) -> Path:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "id": np.arange(rows),
            "score": rng.normal(0.0, 1.0, rows),
            "domain": [domains[i % len(domains)] for i in range(rows)],
            "label": rng.integers(0, 2, rows),
        }
    )
    pq.write_table(table, path, row_group_size=1000)  # several batches to stream
    return path


def opener(path: Path) -> Opener:
    return lambda: open(path, "rb")


def test_js_divergence_is_base_2_and_bounded():
    assert js_divergence(np.array([5, 5]), np.array([1, 1])) == 0.0
    assert js_divergence(np.array([1, 0]), np.array([0, 1])) == 1.0  # disjoint
    half = js_divergence(np.array([1, 1]), np.array([1, 0]))
    assert math.isclose(half, 1.5 - 0.75 * math.log2(3), rel_tol=1e-12)  # ≈ 0.311


def test_linf_is_the_largest_share_change():
    assert linf_distance({"a": 0.5, "b": 0.5}, {"a": 0.2, "b": 0.5, "c": 0.3}) == pytest.approx(0.3)


def test_drift_streams_both_tables_and_names_the_remapped_category(tmp_path: Path):
    a = write_table(tmp_path / "a.parquet", 5000, domains=["x", "y", "z", "w"], seed=0)
    b = write_table(tmp_path / "b.parquet", 4000, domains=["x", "y", "x", "w"], seed=1)
    limits = parse_thresholds({"columns": {"label": {"kind": "categorical"}}})
    drift = {
        d.column: d
        for d in measure_drift("t.parquet", opener(a), opener(b), key="id", thresholds=limits)
    }
    assert sorted(drift) == ["domain", "label", "score"]  # the key is not a feature
    assert drift["domain"].value == pytest.approx(0.25) and not drift["domain"].passed
    plotted = drift["domain"].distribution
    assert plotted is not None and plotted.labels == ("x", "w", "y", "z")  # largest share first
    assert plotted.experiment == (0.25, 0.25, 0.25, 0.25) and plotted.production[-1] == 0.0
    assert drift["score"].metric == "js" and drift["score"].value < 0.02  # type: ignore[operator]
    assert drift["label"].metric == "linf" and drift["label"].passed
    assert (drift["score"].experiment_rows, drift["score"].production_rows) == (5000, 4000)


def test_thresholds_file_overrides_per_column_and_rejects_typos(tmp_path: Path):
    good = tmp_path / "parity.yaml"
    good.write_text("linf: 0.2\ncolumns:\n  sender_domain: {linf: 0.05}\n  notes: {skip: true}\n")
    limits = load_thresholds(good)
    assert limits.rule("sender_domain").linf == 0.05 and limits.rule("other").linf == 0.2
    assert limits.rule("notes").skip and limits.js == 0.1
    bad = tmp_path / "bad.yaml"
    bad.write_text("columns:\n  sender_domain: {lnf: 0.05}\n")
    with pytest.raises(UsageError, match=r"unknown key.*lnf"):
        load_thresholds(bad)
    with pytest.raises(UsageError, match="kind"):
        parse_thresholds({"columns": {"x": {"kind": "ordinal"}}})


def test_sample_is_exact_deterministic_and_the_same_in_every_table(tmp_path: Path):
    a = write_table(tmp_path / "a.parquet", 5000, domains=["x"], seed=0)
    sample = BottomK(700)
    for batch in pq.ParquetFile(a).iter_batches(batch_size=512, columns=["id"]):
        sample.add(key_hashes(batch.column("id")))
    assert sample.cutoff is not None
    rows = pa.Table.from_batches(list(sampled_batches(opener(a), "a.parquet", "id", sample.cutoff)))
    assert rows.num_rows == 700
    ids = rows["id"].to_pylist()
    assert ids != list(range(700))  # spread over the table, not its head
    again = pa.array(np.asarray(ids, dtype=np.int64))
    assert (key_hashes(again) <= np.uint64(sample.cutoff)).all()
    as_text = key_hashes(pa.array(["a", "b", None]))
    assert as_text[2] == np.iinfo(np.uint64).max  # a null key is never sampled
    assert (key_hashes(pa.array(["a", "b"])) == as_text[:2]).all()
