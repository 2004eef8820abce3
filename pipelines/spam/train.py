"""Train the spam model: a logistic regression on the email features.

    python train.py FEATURES_DIR MODEL_DIR [--c 1.0] [--max-iter 200]

Learns from the rows of FEATURES_DIR/features.parquet whose `id % 5 != 0` (the rows with
`id % 5 == 0` are evaluate.py's holdout). Numeric features are standardized and
`sender_domain` is one-hot encoded, inside one scikit-learn pipeline, so the model takes
the feature table as it is. Writes MODEL_DIR/model.pkl (the fitted pipeline, for
evaluate.py) and MODEL_DIR/model.json (what the model is, readable: feature names,
standardization, coefficients and intercept rounded to 1e-9). Training the same input
again gives byte-identical files: BLAS runs on one thread, so the solver's sums do not
depend on the number of cores. model.pkl also records the scikit-learn version and the
exact floats, so another version or CPU may change its bytes; model.json is the artefact
meant to compare across machines.
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

NUMERIC = ["n_words", "n_links", "spam_word_share", "subject_len", "body_len_norm"]
CATEGORICAL = ["sender_domain"]
LABEL = "label"
HOLDOUT_EVERY = 5  # rows with id % 5 == 0 are held out for evaluate.py
RANDOM_STATE = 0
PICKLE_PROTOCOL = 5
DIGITS = 9


def training_rows(features_dir: Path) -> pa.Table:
    """The feature rows not held out for evaluation."""
    table = pq.read_table(
        features_dir / "features.parquet", columns=["id", *NUMERIC, *CATEGORICAL, LABEL]
    )
    keep = table["id"].to_numpy() % HOLDOUT_EVERY != 0
    return table.filter(pa.array(keep))


def build_model(c: float, max_iter: int) -> Any:
    """Standardize numbers, one-hot the sender domain, then logistic regression."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    encode = ColumnTransformer(
        [
            ("numeric", StandardScaler(), NUMERIC),
            ("categorical", OneHotEncoder(handle_unknown="ignore"), CATEGORICAL),
        ],
        verbose_feature_names_out=False,
    )
    classify = LogisticRegression(C=c, max_iter=max_iter, random_state=RANDOM_STATE)
    return Pipeline([("encode", encode), ("classify", classify)])


def rounded(values: Any) -> list[float]:
    """Floats rounded to 1e-9, with -0.0 written as 0.0."""
    return [round(float(v), DIGITS) + 0.0 for v in np.ravel(values)]


def describe(model: Any, rows: int) -> dict[str, Any]:
    """model.json: enough to read (and recompute) the model's decisions without pickle.

    A row's spam score is sigmoid(intercept + sum of coefficient * feature), where numeric
    features are first standardized ((x - mean) / scale) and `sender_domain_<d>` is 1 for
    the row's domain and 0 otherwise.
    """
    encode, classify = model.named_steps["encode"], model.named_steps["classify"]
    scaler = encode.named_transformers_["numeric"]
    names = [str(name) for name in encode.get_feature_names_out()]
    return {
        "model": "LogisticRegression",
        "params": {"C": classify.C, "max_iter": classify.max_iter, "random_state": RANDOM_STATE},
        "training_rows": rows,
        "iterations": int(np.max(classify.n_iter_)),
        "standardization": {
            "mean": dict(zip(NUMERIC, rounded(scaler.mean_), strict=True)),
            "scale": dict(zip(NUMERIC, rounded(scaler.scale_), strict=True)),
        },
        "coefficients": dict(zip(names, rounded(classify.coef_), strict=True)),
        "intercept": rounded(classify.intercept_)[0],
    }


def write_atomic(path: Path, data: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def train(features_dir: Path, model_dir: Path, c: float, max_iter: int) -> dict[str, Any]:
    """Fit the model and write model.pkl and model.json; returns what model.json says."""
    from threadpoolctl import threadpool_limits

    table = training_rows(features_dir)
    model = build_model(c, max_iter)
    # One BLAS thread: the sums inside the solver then run in one order on any machine,
    # so the fitted floats (and model.pkl) do not depend on the number of cores.
    with threadpool_limits(limits=1):
        model.fit(table.select(NUMERIC + CATEGORICAL), table[LABEL].to_numpy())
    summary = describe(model, table.num_rows)
    model_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(model_dir / "model.pkl", pickle.dumps(model, protocol=PICKLE_PROTOCOL))
    text = json.dumps(summary, indent=2, sort_keys=True) + "\n"
    write_atomic(model_dir / "model.json", text.encode())
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("features_dir", type=Path, help="folder with features.parquet")
    parser.add_argument("model_dir", type=Path, help="folder for model.pkl and model.json")
    parser.add_argument("--c", type=float, default=1.0, help="inverse regularization strength")
    parser.add_argument("--max-iter", type=int, default=200)
    args = parser.parse_args()
    if args.c <= 0 or args.max_iter <= 0:
        parser.error("--c and --max-iter must be positive")
    summary = train(args.features_dir, args.model_dir, args.c, args.max_iter)
    print(f"trained on {summary['training_rows']} rows in {summary['iterations']} iterations")


if __name__ == "__main__":
    main()
