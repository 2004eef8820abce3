"""The spam pipeline's steps, run for real as the runner runs them.

Each step's `cmd` from pipelines/spam/pipeline.yaml is interpolated with the default params
(3,000 emails instead of 100,000) and run as a subprocess in a copy of pipelines/spam.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("sklearn", reason="the spam example needs scikit-learn")
yaml = pytest.importorskip("yaml", reason="reading pipeline.yaml needs PyYAML")
pq = pytest.importorskip("pyarrow.parquet")

ROOT = Path(__file__).resolve().parents[2]
PIPELINE = ROOT / "pipelines" / "spam"
ROWS = 3_000
FEATURE_COLUMNS = [
    "id",
    "n_words",
    "n_links",
    "spam_word_share",
    "subject_len",
    "body_len_norm",
    "sender_domain",
    "label",
]
OUTPUTS = ["data/features/features.parquet", "model/model.pkl", "model/model.json", "metrics.json"]


def load_pipeline() -> dict[str, Any]:
    return yaml.safe_load((PIPELINE / "pipeline.yaml").read_text())


def lookup(params: dict[str, Any], dotted: str) -> Any:
    value: Any = params
    for key in dotted.split("."):
        value = value[key]
    return value


def render(cmd: str, params: dict[str, Any]) -> list[str]:
    """The step's argv: `${a.b}` replaced by str(value) (so booleans become True/False)."""
    text = re.sub(r"\$\{([^}]+)\}", lambda m: str(lookup(params, m.group(1))), cmd)
    argv = shlex.split(text)
    return [sys.executable, *argv[1:]] if argv[0] == "python" else argv


def run_step(workdir: Path, argv: list[str]) -> str:
    done = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def run_steps(workdir: Path, names: list[str]) -> None:
    pipeline = load_pipeline()
    params = pipeline["params"]
    params["generate"]["rows"] = ROWS
    for name in names:
        run_step(workdir, render(pipeline["steps"][name]["cmd"], params))


def copy_pipeline(target: Path) -> Path:
    shutil.copytree(
        PIPELINE,
        target,
        ignore=shutil.ignore_patterns("data", "model", "metrics.json", "__pycache__", "*.partial"),
    )
    return target


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of pipelines/spam after all four steps ran once."""
    workdir = copy_pipeline(tmp_path_factory.mktemp("spam") / "spam")
    run_steps(workdir, ["generate", "preprocess", "train", "evaluate"])
    return workdir


def test_pipeline_yaml_declares_each_script_and_param() -> None:
    pipeline = load_pipeline()
    assert list(pipeline["steps"]) == ["generate", "preprocess", "train", "evaluate"]
    for name, step in pipeline["steps"].items():
        assert f"{name}.py" in step["deps"]
        assert (PIPELINE / f"{name}.py").is_file()
        for key in step["params"]:
            lookup(pipeline["params"], key)
        for suite in step.get("expectations", {}).values():
            assert (PIPELINE / suite).is_file()
    for key in pipeline["configs"]["production"]["params"]:
        lookup(pipeline["params"], key)


def test_steps_write_their_outputs(ran: Path) -> None:
    for out in ["data/raw/emails.csv", "data/raw/emails.parquet", *OUTPUTS]:
        assert (ran / out).is_file(), out


def test_features_have_one_row_per_email(ran: Path) -> None:
    features = pq.read_table(ran / "data/features/features.parquet")
    assert features.column_names == FEATURE_COLUMNS
    assert features.num_rows == ROWS
    assert sorted(features["id"].to_pylist()) == list(range(ROWS))
    shares = features["spam_word_share"].to_pylist()
    assert min(shares) >= 0.0 and max(shares) <= 1.0
    assert min(features["body_len_norm"].to_pylist()) > 0
    assert set(features["label"].to_pylist()) == {0, 1}


def test_suites_name_the_columns_the_steps_write(ran: Path) -> None:
    for table, suite in [
        ("data/raw/emails.parquet", "spam_raw.json"),
        ("data/features/features.parquet", "spam_features.json"),
    ]:
        expectations = json.loads((ROOT / "expectations" / suite).read_text())["expectations"]
        (match,) = [e for e in expectations if e["type"] == "expect_table_columns_to_match_set"]
        assert set(match["kwargs"]["column_set"]) == set(pq.read_schema(ran / table).names)


def test_metrics_are_sane(ran: Path) -> None:
    metrics = json.loads((ran / "metrics.json").read_text())
    assert sorted(metrics) == ["accuracy", "f1", "n_rows", "precision", "recall", "roc_auc"]
    assert metrics["n_rows"] == ROWS // 5  # the holdout: id % 5 == 0
    assert metrics["accuracy"] > 0.85
    assert metrics["roc_auc"] > 0.9
    assert 0.5 < metrics["precision"] <= 1 and 0.5 < metrics["recall"] <= 1
    model = json.loads((ran / "model/model.json").read_text())
    assert model["training_rows"] == ROWS - ROWS // 5
    assert model["coefficients"]["spam_word_share"] > 0


def test_rerun_is_byte_identical(ran: Path, tmp_path: Path) -> None:
    """Preprocess, train and evaluate again from the same raw data: the same bytes."""
    again = copy_pipeline(tmp_path / "spam")
    shutil.copytree(ran / "data/raw", again / "data/raw")
    run_steps(again, ["preprocess", "train", "evaluate"])
    for out in OUTPUTS:
        assert (again / out).read_bytes() == (ran / out).read_bytes(), out


def test_generate_is_deterministic_and_appends(ran: Path, tmp_path: Path) -> None:
    script = str(ran / "generate.py")
    run_step(tmp_path, [sys.executable, script, "same", "--rows", str(ROWS)])
    run_step(tmp_path, [sys.executable, script, "more", "--rows", str(ROWS + 100)])
    for name in ["emails.csv", "emails.parquet"]:
        assert (tmp_path / "same" / name).read_bytes() == (ran / "data/raw" / name).read_bytes()
    first = pq.read_table(tmp_path / "more/emails.parquet").slice(0, ROWS)
    assert first.equals(pq.read_table(ran / "data/raw/emails.parquet"))


@pytest.mark.parametrize(
    ("flags", "same_as_default"),
    [(["--lowercase", "true"], True), (["--lowercase"], True), (["--lowercase", "false"], False)],
)
def test_lowercase_flag(ran: Path, tmp_path: Path, flags: list[str], same_as_default: bool) -> None:
    """`--lowercase ${preprocess.lowercase}` takes true/false in any case; false changes rows."""
    argv = [sys.executable, "preprocess.py", "data/raw", str(tmp_path / "out"), *flags]
    run_step(ran, argv)
    written = (tmp_path / "out/features.parquet").read_bytes()
    default = (ran / "data/features/features.parquet").read_bytes()
    assert (written == default) is same_as_default
