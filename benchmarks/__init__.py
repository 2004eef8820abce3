"""snapkit against DVC, side by side, on the same data in the same run (issue 6).

    python -m benchmarks [--quick] [--scenario NAME ...] [--reps N] [--scale N]
                         [--out benchmarks/RESULTS.md] [--json results.json]

Scenarios (each tool through its own command line, one subprocess per measured step):

- take: cold `snap take` (fresh store, empty SNAP_CACHE_DIR) vs cold `dvc add` (fresh
  `dvc init --no-scm` repo and cache); also "just read + BLAKE3-hash the data";
- size: the bytes the store vs the DVC cache holds after that cold take;
- restore: `snap restore` into an empty folder vs `dvc checkout` after removing the data,
  with the store (DVC's cache) in the page cache, as the issue measured DVC (`dvc add`
  leaves it there; a take writes its packs past it, so the harness reads them first);
- restore-cold: the same with the store (DVC's cache) dropped from the page cache first,
  as a restore on another machine or days later finds it;
- retake / growth: after the 1% modification, take again vs `dvc add` again, and how many
  bytes the store vs the DVC cache grew by;
- push / pull: `snap take` straight into S3 and `snap restore` from it (fresh folder, empty
  cache) vs `dvc push` and `dvc pull` in a fresh clone, against a moto server on 127.0.0.1.

Modules: datasets.py (+ emails.py) make the data, tools/ wrap each tool, measure.py times
a subprocess and reads its peak RSS, runner.py alternates, report.py and results.py write.
`python -m benchmarks.profile` runs snapkit's side under py-spy and prints where time goes.
"""
