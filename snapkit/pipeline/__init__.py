"""Pipelines: step specs, fingerprints, the runner, run records, restore and rerun."""
