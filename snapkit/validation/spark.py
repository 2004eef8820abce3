"""`--engine spark`: the same suite through GX's Spark data source, for data that outgrows
one machine.

Local files and folders are read by Spark itself (`spark.read.parquet/csv/json`), so on a
cluster they can be any path Spark reaches. Files in the store are first copied, streamed
and verified, to a temporary folder Spark can read (Spark has no reader for a snapkit
store), and the copy is removed afterwards. The session is the active one if there is
one (a cluster notebook), else a local one (`SNAP_SPARK_MASTER`, default `local[*]`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from snapkit.errors import SnapError
from snapkit.validation.batches import assemble
from snapkit.validation.gx import GxEngine
from snapkit.validation.results import ValidationResult
from snapkit.validation.sources import TableFile, TableSource
from snapkit.validation.suites import Suite


def validate_spark(suite: Suite, source: TableSource) -> ValidationResult:
    session = spark_session()
    with _readable_paths(source) as groups, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyspark on pandas 3 warns at every turn
        frame = _read(session, groups)
        results = GxEngine("spark").validate(list(suite.expectations), frame)
        rows = frame.count()
    return assemble(suite, source, rows, results, batches=1, engine="spark")


def spark_session() -> Any:
    """The active SparkSession, or a new local one; a clear error without pyspark/Java."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SnapError(
            "--engine spark needs pyspark, which is not installed",
            hint="pip install 'snapkit[spark]' (Spark also needs Java 17 or later)",
        ) from exc
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    master = os.environ.get("SNAP_SPARK_MASTER", "local[*]")
    builder = (
        SparkSession.builder.master(master)
        .appName("snapkit-validate")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
    )
    for key, value in (LOCAL_CONFIG if master.startswith("local") else {}).items():
        builder = builder.config(key, value)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            session = builder.getOrCreate()
    except Exception as exc:  # no Java, a master that cannot be reached…
        raise SnapError(f"cannot start Spark: {exc}", hint="Spark needs Java 17 or later") from exc
    session.sparkContext.setLogLevel("ERROR")
    return session


# GX runs many small jobs; on one machine compiling whole-stage code and re-planning
# adaptively cost more than they save (measured: the first suite 20 s → 16 s, later 6 → 2)
LOCAL_CONFIG = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}


def _read(session: Any, groups: dict[str, list[str]]) -> Any:
    frames = []
    for fmt, paths in groups.items():
        reader = session.read
        if fmt in ("csv", "tsv"):
            reader = reader.option("header", True).option("inferSchema", True)
            reader = reader.option("sep", "\t" if fmt == "tsv" else ",")
            frames.append(reader.csv(paths))
        elif fmt == "jsonl":
            frames.append(reader.json(paths))
        else:
            frames.append(reader.parquet(*paths))
    frame = frames[0]
    for other in frames[1:]:
        frame = frame.unionByName(other)
    return frame


@contextmanager
def _readable_paths(source: TableSource) -> Iterator[dict[str, list[str]]]:
    """format → file paths Spark can read; store files are staged in a temporary folder."""
    staging: Path | None = None
    groups: dict[str, list[str]] = {}
    try:
        for index, file in enumerate(source.files):
            path = file.local_path
            if path is None:
                staging = staging or Path(tempfile.mkdtemp(prefix="snap-spark-"))
                path = str(_stage(file, staging / f"{index:05d}-{Path(file.name).name}"))
            groups.setdefault(file.format, []).append(os.path.abspath(path))
        yield groups
    finally:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)


def _stage(file: TableFile, dest: Path) -> Path:
    with file.opener() as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 8 << 20)
    return dest
