#!/usr/bin/env bash
# The snapkit tour on a local store, end to end. Run by `make demo` (which puts .venv on PATH).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
work="$here/demo-work"
rm -rf "$work"
mkdir -p "$work/project"
cd "$work/project"
git init -q . 2>/dev/null || mkdir -p .git   # a project root, found like git finds .git
export SNAP_CACHE_DIR="$work/cache"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "1. Generate 100,000 labelled emails (CSV + Parquet)"
show python "$here/pipelines/spam/generate.py" data/raw --rows 100000 --seed 0

step "2. Snapshot them: an immutable, deduplicated record in .snap/"
show snap take data/raw -m "emails november" --tag raw-v1

step "3. Take again with nothing changed: nothing new is stored"
show snap take data/raw

step "4. Append 1% new emails and take again: only the new chunks are stored"
python "$here/pipelines/spam/generate.py" data/raw --rows 101000 --seed 0
show snap take data/raw -m "emails november + 1%" --tag raw-v2

step "5. History, one snapshot, its files (with rows and columns of tables)"
show snap log
show snap show raw-v2
show snap ls raw-v2

step "6. Restore raw-v1 into a new folder: bit for bit"
show snap restore raw-v1 restored/raw
show cmp data/raw/emails.csv restored/raw/emails.csv || echo "(differs, as expected: data/raw is now raw-v2)"
show snap restore raw-v2 restored/raw
show cmp data/raw/emails.csv restored/raw/emails.csv && echo "identical to data/raw"

step "7. Local edits are protected: restore refuses, --force keeps a safety snapshot"
echo "my unsaved notes" >> data/raw/emails.csv
show snap restore raw-v1 --dry-run
set +e; snap restore raw-v1; rc=$?; set -e
echo "(exit code $rc: refused)"
show snap restore raw-v1 --force

step "8. Tags move by compare-and-swap; the store checks clean"
show snap tag raw-v1 prod/latest
show snap check --read-data

step "9. Run the spam pipeline: every step snapshotted before and after, with lineage"
mkdir -p pipelines
cp -r "$here/pipelines/spam" pipelines/spam
cp -r "$here/expectations" expectations  # the suites the steps' outputs are checked against
rm -rf pipelines/spam/data pipelines/spam/model pipelines/spam/metrics.json
show snap run pipelines/spam --config experiment
show cat pipelines/spam/metrics.json; echo

step "10. Run it again: nothing changed, so no step runs (outputs come from the step cache)"
show snap run pipelines/spam --config experiment

step "11. Production: the same steps on more, slightly different emails"
show snap run pipelines/spam --config production
show snap runs

step "12. Restore exactly what the train step of the first run saw, and rerun it"
first=$(snap runs --json | python -c "import json,sys; print(json.load(sys.stdin)[-1]['id'])")
show snap restore "$first:train"
show snap rerun "$first:train"
show snap lineage "$first:preprocess"

printf '\nDone. The demo project is in %s\n' "$work/project"
