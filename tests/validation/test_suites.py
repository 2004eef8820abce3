"""Strict suite loading: what GX would silently drop or misread is an error that names it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from snapkit.errors import InvalidSuite, NotFound
from snapkit.validation.suites import load_suite, parse_suite
from tests.validation.tables import PEOPLE_SUITE, SPAM_FEATURES, SPAM_RAW, suite_with


def test_the_shipped_suites_load():
    raw, features = load_suite(SPAM_RAW), load_suite(SPAM_FEATURES)
    assert (raw.name, len(raw.expectations)) == ("spam_raw", 13)
    assert (features.name, len(features.expectations)) == ("spam_features", 18)
    assert raw.expectations[2].label == "expect_column_values_to_not_be_null(column=id)"
    assert [e.index for e in raw.expectations] == list(range(13))


def test_a_suite_round_trips_through_json():
    suite = parse_suite(PEOPLE_SUITE)
    assert parse_suite(json.loads(json.dumps(suite.to_json()))) == suite


def test_a_misspelled_type_is_named_with_a_suggestion():
    doc = suite_with(("expect_column_values_to_be_betwen", {"column": "a", "min_value": 0}))
    with pytest.raises(InvalidSuite) as err:
        parse_suite(doc, "x.json")
    assert "expect_column_values_to_be_betwen" in str(err.value)
    assert "expectation #1" in str(err.value) and "x.json" in str(err.value)
    assert err.value.hint == "did you mean expect_column_values_to_be_between?"
    assert err.value.exit_code == 15


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"column": "a", "min_valu": 0}, "'min_valu'"),  # unknown kwarg
        ({"column": "a", "min_value": "zero"}, "min_value=zero"),  # bad value
        ({"min_value": 0}, "missing kwarg 'column'"),  # required kwarg missing
        ({"column": "a", "mostly": 3}, "mostly=3"),  # out of its range
    ],
)
def test_a_bad_kwarg_is_named(kwargs: dict, named: str):
    doc = suite_with(
        ("expect_column_values_to_not_be_null", {"column": "a"}),
        ("expect_column_values_to_be_between", kwargs),
    )
    with pytest.raises(InvalidSuite) as err:
        parse_suite(doc)
    message = str(err.value)
    assert "expectation #2 (expect_column_values_to_be_between)" in message
    assert named in message


def test_an_unknown_kwarg_gets_a_suggestion():
    doc = suite_with(("expect_column_values_to_be_in_set", {"column": "a", "valueset": [1]}))
    with pytest.raises(InvalidSuite) as err:
        parse_suite(doc)
    assert err.value.hint == "did you mean 'value_set'?"


def test_bad_json_names_the_line(tmp_path: Path):
    path = tmp_path / "broken.json"
    path.write_text('{\n "name": "x",\n "expectations": [\n  {"type": "a",}\n ]\n}\n')
    with pytest.raises(InvalidSuite, match=r"broken.json is not valid JSON: line 4"):
        load_suite(path)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "must be a JSON object"),
        ({"expectations": []}, "`name` must be a non-empty string"),
        ({"name": "x", "expectations": {}}, "`expectations` must be a list"),
        ({"name": "x", "expectations": [], "extra": 1}, "unknown field 'extra'"),
        ({"name": "x", "expectations": [{"kwargs": {}}]}, "`type` must be a string"),
        (
            {"name": "x", "expectations": [{"type": "expect_column_to_exist", "kwarg": {}}]},
            "unknown field 'kwarg'",
        ),
        (
            {"expectation_suite_name": "x", "expectations": []},
            "Great Expectations 0.x format",
        ),
        (
            {"name": "x", "expectations": [{"expectation_type": "expect_column_to_exist"}]},
            "uses `expectation_type`",
        ),
    ],
)
def test_malformed_suites_say_what_is_wrong(doc: object, message: str):
    with pytest.raises(InvalidSuite, match=message):
        parse_suite(doc)


def test_a_missing_suite_file_is_not_found(tmp_path: Path):
    with pytest.raises(NotFound, match=r"nope\.json"):
        load_suite(tmp_path / "nope.json")
