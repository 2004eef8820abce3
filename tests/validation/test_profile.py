"""`snap suite init`: a starter suite that passes on its data and catches shifted data."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

import snapkit
from snapkit.validation import init_suite, validate
from snapkit.validation.suites import parse_suite
from tests.validation.tables import people, write_csv, write_parquet


def by_type(doc: dict) -> dict[tuple[str, str | None], dict]:
    return {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in doc["expectations"]}


def test_a_profiled_suite_passes_on_its_data_and_fails_on_shifted_data(tmp_path: Path):
    data = write_parquet(people(500), tmp_path / "people.parquet")
    doc = init_suite(str(data))
    suite = parse_suite(doc)  # strict loading accepts it
    assert suite.name == "people"
    found = by_type(doc)
    assert found[("expect_table_columns_to_match_set", None)]["column_set"][:2] == ["id", "email"]
    assert found[("expect_table_row_count_to_be_between", None)] == {
        "min_value": 50,
        "max_value": 5000,
    }
    assert ("expect_column_values_to_be_unique", "id") in found
    assert ("expect_column_values_to_be_unique", "email") in found
    assert found[("expect_column_values_to_be_in_set", "country")]["value_set"] == [
        "de",
        "fr",
        "it",
    ]
    assert found[("expect_column_values_to_be_in_set", "label")]["value_set"] == [0, 1]
    assert found[("expect_column_values_to_be_between", "age")] == {
        "column": "age",
        "min_value": 12,
        "max_value": 83,
    }
    assert ("expect_column_values_to_not_be_null", "score") in found
    assert validate(str(data), suite).success
    assert validate(str(data), suite, batch_rows=64).success

    table = people(500)
    shifted = table.set_column(2, "age", pc.add(table["age"], 40))
    result = validate(str(write_parquet(shifted, tmp_path / "shifted.parquet")), suite)
    assert [r.label for r in result.failed] == ["expect_column_values_to_be_between(column=age)"]
    broken = validate(str(write_parquet(people(500, broken=True), tmp_path / "b.parquet")), suite)
    assert {r.label for r in broken.failed} >= {
        "expect_column_values_to_be_unique(column=id)",
        "expect_column_values_to_not_be_null(column=email)",
        "expect_column_values_to_be_in_set(column=country)",
    }


def test_nulls_and_floats_get_loose_starter_checks(tmp_path: Path):
    table = pa.table(
        {
            "x": pa.array([0.5, None, 2.25, 1.0], pa.float64()),
            "tag": pa.array(["a", "a", None, "b"]),
        }
    )
    data = write_csv(table, tmp_path / "t.csv")
    doc = init_suite(str(data), name="custom")
    found = by_type(doc)
    assert doc["name"] == "custom"
    assert ("expect_column_values_to_not_be_null", "x") not in found
    assert found[("expect_column_values_to_be_between", "x")] == {
        "column": "x",
        "min_value": 0.325,
        "max_value": 2.425,
    }
    assert found[("expect_column_values_to_be_in_set", "tag")]["value_set"] == ["a", "b"]
    assert validate(str(data), parse_suite(doc)).success


def test_a_snapshot_can_be_profiled(tmp_path: Path):
    root = tmp_path / "proj"
    (root / ".git").mkdir(parents=True)
    write_parquet(people(100), root / "data/people.parquet")
    with snapkit.open_store(str(root / ".snap"), create=True, cwd=root) as store:
        store.take(root / "data", tags=["people-v1"])
        doc = store.suite_init("people-v1:people.parquet")
        assert doc["meta"]["rows"] == 100 and doc["meta"]["profiled"] == "people-v1:people.parquet"
        assert store.validate("people-v1", parse_suite(doc)).success


@pytest.mark.parametrize("rows", [0, 1])
def test_tiny_tables_still_give_a_valid_passing_suite(tmp_path: Path, rows: int):
    data = write_parquet(people(rows), tmp_path / "t.parquet")
    suite = parse_suite(init_suite(str(data)))
    assert validate(str(data), suite).success
