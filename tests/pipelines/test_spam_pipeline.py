"""The spam example runs under `snap run` at a small size: run, cached rerun, restore, rerun."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import snapkit
from tests.helpers import spam_project

SPAM = Path(__file__).resolve().parents[2] / "pipelines" / "spam"
SMALL = {"generate.rows": 3000}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return spam_project(tmp_path / "proj")


def test_spam_pipeline_end_to_end(project: Path, tmp_path: Path):
    pipe = project / "pipelines/spam"
    with snapkit.open_store(str(project / ".snap"), create=True, cwd=project) as store:
        first = store.run(pipe, params=SMALL)
        assert [s.status for s in first.steps] == ["succeeded"] * 4
        metrics = json.loads((pipe / "metrics.json").read_text())
        assert metrics["n_rows"] == 600 and metrics["accuracy"] > 0.85

        again = store.run(pipe, params=SMALL)
        assert [s.status for s in again.steps] == ["cached"] * 4

        prod = store.run(pipe, config="production", params=SMALL)
        assert prod.step("generate").status == "succeeded"  # other seed and mix
        assert prod.step("generate").fingerprint["params"]["generate.spam_share"] == 0.35

        store.restore_step(f"{first.id}:train", tmp_path / "train-inputs")
        assert (tmp_path / "train-inputs/data/features/features.parquet").exists()
        for step in ("preprocess", "train", "evaluate"):
            result = store.rerun(f"{first.id}:{step}")
            assert result.reproduced, (step, result.differences)
