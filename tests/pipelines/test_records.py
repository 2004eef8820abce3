"""Run records: listed oldest first, read several at a time."""

from __future__ import annotations

from snapkit.pipeline.records import RUNS, RunRecord, RunStore, new_run_id
from snapkit.storage.local import LocalStorage
from tests.faults import FaultyStorage, first_two_gets_meet


def _record(run_id: str, pipeline: str) -> RunRecord:
    return RunRecord(
        id=run_id,
        pipeline=pipeline,
        spec=f"pipelines/{pipeline}/pipeline.yaml",
        config="default",
        status="succeeded",
        started="2026-11-30T00:00:00+00:00",
        host="h",
        pid=1,
        user="u",
        python="3.11",
        packages={},
    )


def test_runs_are_read_several_at_a_time_oldest_first(tmp_path) -> None:
    """Each run record is a GET on S3: `snap runs`, `forget` and `latest/<pipeline>`
    read them concurrently. The first two reads meet at a barrier that reads made one
    after the other would never pass."""
    storage = LocalStorage(tmp_path / "store")
    storage.create()
    ids = sorted(new_run_id() for _ in range(10))
    for i, run_id in enumerate(ids):
        RunStore(storage).save(_record(run_id, f"p{i % 3}"))
    two_at_once, met = first_two_gets_meet(RUNS)

    records = RunStore(FaultyStorage(storage, two_at_once)).all()
    assert len(met) == 2
    assert [r.id for r in records] == ids
    assert [r.pipeline for r in records] == [f"p{i % 3}" for i in range(10)]
