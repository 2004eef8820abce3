"""Small tables and suites for the validation tests (written as real files, read back)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SPAM_RAW = ROOT / "expectations" / "spam_raw.json"
SPAM_FEATURES = ROOT / "expectations" / "spam_features.json"

# What the suite of write_suite() finds wrong in people(broken=True), by expectation.
FAILED_ON_BROKEN = {
    "expect_column_values_to_be_unique(column=id)",
    "expect_column_values_to_not_be_null(column=email)",
    "expect_column_values_to_match_regex(column=email)",
    "expect_column_values_to_be_between(column=age)",
    "expect_column_values_to_be_in_set(column=country)",
    "expect_column_distinct_values_to_be_in_set(column=country)",
}


def people(rows: int = 1000, *, broken: bool = False) -> Any:
    """id, email, age, score, country, label: clean, or with a few planted problems
    (a null email, two out-of-range ages, a bad email, a duplicated id, a new country)."""
    import pyarrow as pa

    ids = list(range(rows))
    emails: list[str | None] = [f"user{i}@example.org" for i in ids]
    ages = [18 + i % 60 for i in ids]
    countries = [("fr", "de", "it")[i % 3] for i in ids]
    if broken:
        emails[7] = None
        emails[rows - 3] = "not-an-email"
        ages[11], ages[rows - 2] = -4, 230
        ids[rows - 1] = 5  # equal to an id far away: only a global check sees it
        countries[rows // 2] = "xx"
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "email": pa.array(emails, pa.string()),
            "age": pa.array(ages, pa.int64()),
            "score": pa.array([((i * 37) % 101) / 100 for i in ids], pa.float64()),
            "country": pa.array(countries, pa.string()),
            "label": pa.array([i % 4 == 0 for i in ids], pa.bool_()).cast(pa.int64()),
        }
    )


PEOPLE_SUITE: dict[str, Any] = {
    "name": "people",
    "expectations": [
        {
            "type": "expect_table_columns_to_match_set",
            "kwargs": {"column_set": ["id", "email", "age", "score", "country", "label"]},
        },
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 10}},
        {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "email"}},
        {
            "type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "email", "regex": "^[^@]+@[^@]+$"},
        },
        {
            "type": "expect_column_values_to_be_between",
            "kwargs": {"column": "age", "min_value": 0, "max_value": 120},
        },
        {
            "type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "country", "value_set": ["fr", "de", "it"]},
        },
        {
            "type": "expect_column_mean_to_be_between",
            "kwargs": {"column": "label", "min_value": 0.2, "max_value": 0.3},
        },
        {
            "type": "expect_column_distinct_values_to_be_in_set",
            "kwargs": {"column": "country", "value_set": ["fr", "de", "it"]},
        },
    ],
    "meta": {"notes": "test suite"},
}


def write_parquet(table: Any, path: Path, row_group_size: int | None = None) -> Path:
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


def write_csv(table: Any, path: Path) -> Path:
    import pyarrow.csv as pacsv

    path.parent.mkdir(parents=True, exist_ok=True)
    pacsv.write_csv(table, path)
    return path


def write_suite(path: Path, doc: dict[str, Any] | None = None, **changes: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**(doc or PEOPLE_SUITE), **changes}, indent=1))
    return path


def suite_with(*expectations: tuple[str, dict[str, Any]], name: str = "t") -> dict[str, Any]:
    return {"name": name, "expectations": [{"type": t, "kwargs": k} for t, k in expectations]}
