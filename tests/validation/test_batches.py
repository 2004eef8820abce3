"""Validation in batches gives GX's answer on the whole table, with bounded memory."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from snapkit.errors import InvalidSuite
from snapkit.validation import validate
from snapkit.validation.suites import parse_suite
from tests.validation.tables import people, suite_with, write_csv, write_parquet

EVERY_BATCH_TYPE = suite_with(
    ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 900}),
    ("expect_table_row_count_to_equal", {"value": 1000}),
    ("expect_table_column_count_to_be_between", {"min_value": 7}),
    ("expect_table_column_count_to_equal", {"value": 7}),
    ("expect_table_columns_to_match_set", {"column_set": ["id", "age"], "exact_match": True}),
    ("expect_table_columns_to_match_ordered_list", {"column_list": ["id", "email"]}),
    ("expect_column_to_exist", {"column": "nope"}),
    ("expect_column_values_to_be_unique", {"column": "id"}),
    ("expect_column_values_to_be_unique", {"column": "score", "mostly": 0.5}),
    ("expect_column_values_to_be_unique", {"column": "bonus"}),
    ("expect_column_values_to_not_be_null", {"column": "email"}),
    ("expect_column_values_to_not_be_null", {"column": "bonus", "mostly": 0.5}),
    ("expect_column_values_to_be_null", {"column": "bonus"}),
    ("expect_column_values_to_be_between", {"column": "age", "min_value": 0, "max_value": 120}),
    ("expect_column_values_to_be_between", {"column": "bonus", "min_value": 0.5}),
    ("expect_column_values_to_be_in_set", {"column": "country", "value_set": ["fr", "de", "it"]}),
    ("expect_column_values_to_not_be_in_set", {"column": "country", "value_set": ["xx"]}),
    ("expect_column_values_to_match_regex", {"column": "email", "regex": "^[^@]+@[^@]+$"}),
    ("expect_column_value_lengths_to_be_between", {"column": "email", "max_value": 18}),
    ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "age", "column_B": "label"}),
    ("expect_multicolumn_sum_to_equal", {"column_list": ["label", "label"], "sum_total": 0}),
    ("expect_column_mean_to_be_between", {"column": "score", "min_value": 0.4, "max_value": 0.6}),
    ("expect_column_mean_to_be_between", {"column": "bonus", "max_value": 0.1}),
    ("expect_column_sum_to_be_between", {"column": "age", "max_value": 1000}),
    ("expect_column_stdev_to_be_between", {"column": "score", "min_value": 0.2}),
    ("expect_column_min_to_be_between", {"column": "age", "min_value": 0}),
    ("expect_column_max_to_be_between", {"column": "bonus", "max_value": 0.5}),
    (
        "expect_column_proportion_of_non_null_values_to_be_between",
        {"column": "bonus", "min_value": 0.9},
    ),
    ("expect_column_unique_value_count_to_be_between", {"column": "country", "max_value": 3}),
    ("expect_column_proportion_of_unique_values_to_be_between", {"column": "id", "min_value": 1}),
    (
        "expect_column_distinct_values_to_be_in_set",
        {"column": "country", "value_set": ["fr", "de"]},
    ),
    (
        "expect_column_distinct_values_to_contain_set",
        {"column": "country", "value_set": ["fr", "es"]},
    ),
    ("expect_column_distinct_values_to_equal_set", {"column": "label", "value_set": [0, 1]}),
    ("expect_column_most_common_value_to_be_in_set", {"column": "label", "value_set": [1]}),
    ("expect_column_values_to_be_between", {"column": "missing", "min_value": 0}),
    ("expect_column_mean_to_be_between", {"column": "missing", "min_value": 0}),
)


def table_with_gaps(rows: int = 1000) -> Any:
    """`people` with its planted problems plus a float column with nulls and NaNs."""
    import pyarrow as pa

    table = people(rows, broken=True)
    bonus = [
        None if i % 7 == 0 else math.nan if i % 11 == 0 else (i % 13) / 10 for i in range(rows)
    ]
    return table.append_column("bonus", pa.array(bonus, pa.float64()))


def same(a: Any, b: Any) -> bool:
    """Equal JSON, floats to 1e-9 (a mean summed in another order)."""
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_batches_give_the_whole_table_result(tmp_path: Path, fmt: str):
    table = table_with_gaps()
    path = tmp_path / f"t.{fmt}"
    write_parquet(table, path, row_group_size=300) if fmt == "parquet" else write_csv(table, path)
    suite = parse_suite(EVERY_BATCH_TYPE)
    whole = validate(str(path), suite)
    parts = validate(str(path), suite, batch_rows=97)
    assert (whole.batches, parts.batches) == (1, 11)
    assert whole.rows == parts.rows == 1000
    differing = [
        (a.label, a.to_json(), b.to_json())
        for a, b in zip(whole.results, parts.results, strict=True)
        if not same(a.to_json(), b.to_json())
    ]
    assert differing == []
    assert [r.success for r in whole.results].count(False) > 20  # failures were compared
    unique = parts.results[7]
    assert (unique.unexpected_count, unique.partial_unexpected_list) == (2, (5, 5))


def test_an_aggregate_without_a_batch_form_is_refused_not_guessed(tmp_path: Path):
    path = write_parquet(people(200), tmp_path / "t.parquet")
    suite = parse_suite(
        suite_with(
            ("expect_column_values_to_not_be_null", {"column": "id"}),
            ("expect_column_median_to_be_between", {"column": "age", "min_value": 0}),
        )
    )
    assert validate(str(path), suite).success  # fits one batch: GX on the whole table
    with pytest.raises(InvalidSuite) as err:
        validate(str(path), suite, batch_rows=50)
    assert "expect_column_median_to_be_between(column=age)" in str(err.value)
    assert "more than 50 rows" in str(err.value)
    assert "--engine spark" in (err.value.hint or "")


def test_files_of_a_folder_are_batched_across_their_boundaries(tmp_path: Path):
    table = people(100, broken=True)
    write_parquet(table.slice(0, 40), tmp_path / "d/part-0.parquet")
    write_csv(table.slice(40), tmp_path / "d/part-1.csv")
    suite = parse_suite(
        suite_with(("expect_column_values_to_be_unique", {"column": "id"}), name="ids")
    )
    result = validate(str(tmp_path / "d"), suite, batch_rows=30)
    assert result.batches == 4 and result.rows == 100
    assert result.results[0].unexpected_count == 2  # id 5 in part-0 and again in part-1


MEASURE = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"code": done.returncode, "out": done.stdout, "err": done.stderr, "peak": peak}))
"""


def peak_rss(*args: str, cwd: Path) -> tuple[int, dict[str, Any]]:
    """Peak RSS of `snap ARGS` (its own, not this process's other children) and its JSON."""
    snap = str(Path(sys.executable).parent / "snap")
    probe = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(MEASURE), snap, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(probe.stdout)
    assert report["code"] in (0, 14), report["err"]
    return report["peak"], json.loads(report["out"])


def write_big(path: Path, rows: int) -> None:
    """A table written in slices, so this process never holds it whole either."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema([("id", pa.int64()), ("x", pa.float64()), ("s", pa.string())])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 250_000):
            ids = np.arange(start, min(rows, start + 250_000))
            x = np.sin(ids.astype(np.float64))
            s = pa.array(np.char.add("user-", ids.astype(str)).astype(object))
            writer.write_table(pa.table({"id": ids, "x": x, "s": s}, schema), 50_000)


@pytest.mark.slow
def test_a_table_larger_than_the_memory_limit_streams(tmp_path: Path):
    """1 M rows (≈ 30 MiB as Arrow, ≈ 70 MiB in pandas) under --memory-limit 6M: the peak
    RSS stays within 200 MiB of that of validating a 10,000-row table (what GX and pandas
    cost anyway; measured: about +100 MiB, much of it the id hashes for uniqueness), where
    validating the big table whole costs about +330 MiB; and the result equals GX's on the
    whole table."""
    import pyarrow.parquet as pq

    write_big(tmp_path / "big.parquet", 1_000_000)
    write_big(tmp_path / "small.parquet", 10_000)
    suite = suite_with(
        ("expect_table_row_count_to_be_between", {"min_value": 1}),
        ("expect_column_values_to_be_unique", {"column": "id"}),
        ("expect_column_values_to_be_between", {"column": "x", "min_value": -0.99}),
        ("expect_column_values_to_match_regex", {"column": "s", "regex": "^user-[0-9]+$"}),
        (
            "expect_column_mean_to_be_between",
            {"column": "x", "min_value": -0.01, "max_value": 0.01},
        ),
        ("expect_column_stdev_to_be_between", {"column": "x", "min_value": 0.7}),
        name="big",
    )
    (tmp_path / "suite.json").write_text(json.dumps(suite))
    meta = pq.read_metadata(tmp_path / "big.parquet")
    table_bytes = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    assert table_bytes > 4 * (6 << 20)  # uncompressed, several times the limit
    common = ("--suite", "suite.json", "--memory-limit", "6M", "--json")
    small_peak, _ = peak_rss("validate", "small.parquet", *common, cwd=tmp_path)
    big_peak, streamed = peak_rss("validate", "big.parquet", *common, cwd=tmp_path)
    assert streamed["batches"] > 10 and streamed["rows"] == 1_000_000
    grown = big_peak - small_peak
    assert grown < 200 << 20, f"peak grew {grown >> 20} MiB over the small table's"

    whole = validate(str(tmp_path / "big.parquet"), tmp_path / "suite.json", batch_rows=10**9)
    assert whole.batches == 1
    assert same(whole.to_json()["results"], streamed["results"])
    failed = [r["type"] for r in streamed["results"] if not r["success"]]
    assert failed == ["expect_column_values_to_be_between"]  # sin reaches -1
