"""Evaluate the spam model on the holdout rows.

    python evaluate.py MODEL_DIR FEATURES_DIR METRICS_JSON

Scores the rows of FEATURES_DIR/features.parquet with `id % 5 == 0` (train.py never sees
them) with MODEL_DIR/model.pkl and writes accuracy, precision, recall, f1, roc_auc and
n_rows to METRICS_JSON as sorted-keys JSON, floats rounded to 6 digits, so that the same
model and features give a byte-identical file.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HOLDOUT_EVERY = 5  # the complement of train.py's rows
THRESHOLD = 0.5
DIGITS = 6
Metrics = dict[str, float | int | None]


def holdout_rows(features_dir: Path) -> pa.Table:
    """The feature rows held out from training."""
    table = pq.read_table(features_dir / "features.parquet")
    keep = table["id"].to_numpy() % HOLDOUT_EVERY == 0
    return table.filter(pa.array(keep))


def load_model(model_dir: Path) -> Any:
    with open(model_dir / "model.pkl", "rb") as f:
        return pickle.load(f)


def metrics(labels: np.ndarray, scores: np.ndarray) -> Metrics:
    """Classification metrics at THRESHOLD, and ROC AUC of the scores."""
    from sklearn import metrics as m

    predicted = (scores >= THRESHOLD).astype(labels.dtype)
    both_classes = len(np.unique(labels)) == 2
    values = {
        "accuracy": m.accuracy_score(labels, predicted),
        "precision": m.precision_score(labels, predicted, zero_division=0),
        "recall": m.recall_score(labels, predicted, zero_division=0),
        "f1": m.f1_score(labels, predicted, zero_division=0),
    }
    result: Metrics = {k: round(float(v), DIGITS) for k, v in values.items()}
    # ROC AUC is undefined (null) when the holdout holds only one class.
    result["roc_auc"] = (
        round(float(m.roc_auc_score(labels, scores)), DIGITS) if both_classes else None
    )
    result["n_rows"] = len(labels)
    return result


def evaluate(model_dir: Path, features_dir: Path, metrics_json: Path) -> Metrics:
    """Score the holdout and write METRICS_JSON; returns the metrics."""
    from threadpoolctl import threadpool_limits

    model = load_model(model_dir)
    table = holdout_rows(features_dir)
    columns = list(model.feature_names_in_)
    with threadpool_limits(limits=1):  # as in train.py: the same floats on any machine
        scores = model.predict_proba(table.select(columns))[:, 1]
    result = metrics(table["label"].to_numpy(), scores)
    metrics_json.parent.mkdir(parents=True, exist_ok=True)
    partial = metrics_json.with_name(metrics_json.name + ".partial")
    partial.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    os.replace(partial, metrics_json)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="folder with model.pkl")
    parser.add_argument("features_dir", type=Path, help="folder with features.parquet")
    parser.add_argument("metrics_json", type=Path, help="file to write the metrics to")
    args = parser.parse_args()
    result = evaluate(args.model_dir, args.features_dir, args.metrics_json)
    print(" ".join(f"{k}={v}" for k, v in sorted(result.items())))


if __name__ == "__main__":
    main()
