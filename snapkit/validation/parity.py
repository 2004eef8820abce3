"""Parity: does production run the same preprocessing as the experiment?

For each chosen step of two runs of one pipeline, four checks, all measured and reported
whether they pass or not:

a. fingerprint: the same command, params, environment, interpreter, packages, suites and code
   (`fingerprint_parity`); data deps differ by design and are reported as expected;
b. contract: the step's expectation suite passes on both runs' outputs (`Store.validate`);
c. replay: the experiment's step, run on a key-hash sample of production's inputs, makes
   the features production made for those keys (`replay`, `skew`);
d. drift: each feature's distribution is within thresholds between the two outputs
   (`drift`, `thresholds`).

The checks read runs as plain records and reach the store through `access.StoreAccess`;
`snapkit.api.Store.parity` wires them to a store and the pipeline's step runner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from snapkit.errors import NotFound, UsageError, ValidationFailed
from snapkit.validation.access import (
    Output,
    RunStep,
    StepSuites,
    StoreAccess,
    data_deps,
)
from snapkit.validation.drift import ColumnDrift, measure_drift
from snapkit.validation.fingerprint_parity import FingerprintParity, compare_fingerprints
from snapkit.validation.replay import ReplayResult, replay_step, under_any
from snapkit.validation.suites import suite_digest
from snapkit.validation.table_stream import is_table
from snapkit.validation.thresholds import Thresholds

if TYPE_CHECKING:
    from snapkit.pipeline.records import RunRecord, StepRecord

RAN = ("succeeded", "cached")
DEFAULT_STEP = "preprocess"


@dataclass(frozen=True)
class ContractCheck:
    role: str  # experiment | production
    run: str
    path: str  # the output file validated
    suite: str
    success: bool
    failed: tuple[str, ...] = ()  # expectations that failed, as the result names them
    note: str = ""
    result: dict[str, Any] | None = None  # the validation result's own JSON

    @property
    def passed(self) -> bool:
        return self.success


@dataclass(frozen=True)
class StepParity:
    step: str
    fingerprint: FingerprintParity
    contract: tuple[ContractCheck, ...]
    replay: ReplayResult
    drift: tuple[ColumnDrift, ...]
    notes: tuple[str, ...] = ()
    contract_skipped: str = ""  # why the contract was not checked (no suite for the step)

    @property
    def passed(self) -> bool:
        return (
            self.fingerprint.passed
            and all(c.passed for c in self.contract)
            and self.replay.passed
            and all(d.passed for d in self.drift)
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "passed": self.passed,
            "fingerprint": self.fingerprint.to_json(),
            "contract": [{**c.__dict__, "passed": c.passed} for c in self.contract],
            "replay": self.replay.to_json(),
            "drift": [d.to_json() for d in self.drift],
            "notes": list(self.notes),
            "contract_skipped": self.contract_skipped or None,
        }


@dataclass(frozen=True)
class ParityReport:
    experiment: str  # run ids
    production: str
    key: str
    sample: int
    thresholds: Thresholds
    steps: tuple[StepParity, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return all(s.passed for s in self.steps)

    def to_json(self) -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "production": self.production,
            "key": self.key,
            "sample": self.sample,
            "passed": self.passed,
            "verdict": "pass" if self.passed else "fail",
            "thresholds": self.thresholds.to_json(),
            "steps": [s.to_json() for s in self.steps],
        }


def check_parity(
    store: StoreAccess,
    experiment: RunRecord,
    production: RunRecord,
    *,
    steps: tuple[str, ...] = (),
    key: str = "id",
    sample: int = 10_000,
    thresholds: Thresholds | None = None,
    suite: str | None = None,
    run_step: RunStep,
    step_suites: StepSuites,
    output: Output | None = None,
) -> ParityReport:
    """Compare the chosen steps (default: see `choose_steps`) of two runs."""
    if sample < 1:
        raise UsageError(f"--sample must be at least 1, not {sample}")
    limits = thresholds or Thresholds()
    suites = {**step_suites(production), **step_suites(experiment)}  # the experiment's win
    chosen = choose_steps(experiment, production, steps, suites)
    results = []
    for name in chosen:
        fingerprint = compare_fingerprints(store, experiment, production, name)
        replay = replay_step(
            store,
            run_step,
            experiment,
            production,
            name,
            key=key,
            sample=sample,
            thresholds=limits,
            output=output,
        )
        contract, notes, skipped = _contract(store, experiment, production, name, suites, suite)
        drift, more = _drift(store, experiment.step(name), production.step(name), key, limits)
        results.append(
            StepParity(name, fingerprint, contract, replay, drift, (*notes, *more), skipped)
        )
    return ParityReport(experiment.id, production.id, key, sample, limits, tuple(results))


def choose_steps(
    experiment: RunRecord,
    production: RunRecord,
    requested: tuple[str, ...],
    suites: dict[str, dict[str, str]],
) -> tuple[str, ...]:
    """The requested steps; by default the steps both runs ran that have expectations and
    read data another step makes (a source step like `generate` *is* the data, so it
    legitimately differs); failing that, `preprocess`."""
    both = [s.name for s in experiment.steps if s.name in {p.name for p in production.steps}]
    if requested:
        for name in requested:
            _ran(experiment, name)
            _ran(production, name)
        return requested
    ran = [n for n in both if _has_run(experiment.step(n)) and _has_run(production.step(n))]
    chosen = [n for n in ran if suites.get(n) and data_deps(experiment, experiment.step(n))]
    if chosen:
        return tuple(chosen)
    if DEFAULT_STEP in ran:
        return (DEFAULT_STEP,)
    raise UsageError(
        "no step to compare: no step of both runs has expectations and reads another "
        "step's data, and there is no `preprocess` step",
        hint=f"name one with --step (steps of both runs: {', '.join(both) or 'none'})",
    )


def _has_run(step: StepRecord) -> bool:
    return step.status in RAN and bool(step.inputs) and bool(step.outputs)


def _ran(run: RunRecord, name: str) -> StepRecord:
    step = run.step(name)  # NotFound naming the run's steps
    if not _has_run(step):
        raise NotFound(
            f"step {name} of run {run.id} did not run to the end ({step.status})",
            hint="parity compares steps that succeeded (or were restored from the step cache)",
        )
    return step


# -- contract ---------------------------------------------------------------------------


def _contract(
    store: StoreAccess,
    experiment: RunRecord,
    production: RunRecord,
    step: str,
    suites: dict[str, dict[str, str]],
    suite: str | None,
) -> tuple[tuple[ContractCheck, ...], tuple[str, ...], str]:
    """The step's suite on both runs' outputs (each output file that has one): the checks,
    notes, and why there are none when the step has no suite."""
    targets = dict(suites.get(step, {}))
    if suite is not None:
        outputs = experiment.step(step).outputs
        files = list(targets) or [
            e.path
            for e in (store.ls(outputs) if outputs else [])
            if e.kind == "file" and is_table(e.path)
        ]
        targets = dict.fromkeys(files, suite)
    if not targets:
        return (), (), f"step {step} has no expectation suite: contract not checked (give --suite)"
    checks = []
    for path, suite_path in sorted(targets.items()):
        for role, run in (("experiment", experiment), ("production", production)):
            checks.append(_validate_one(store.validate, role, run.id, step, path, suite_path))
    recorded = {} if suite is not None else experiment.step(step).fingerprint.get("suites", {})
    return tuple(checks), tuple(_suite_changed(recorded, targets)), ""


def _suite_changed(recorded: dict[str, str], targets: dict[str, str]) -> list[str]:
    """A note for each suite whose content is no longer what the experiment's step was
    checked against (its fingerprint's digest): the outputs were validated against the
    suite as it is now."""
    notes = []
    for path, suite_path in sorted(targets.items()):
        then = recorded.get(path)
        if then is not None and (now := suite_digest(suite_path)) != then:
            notes.append(
                f"the suite for {path} changed since the experiment ran ({then[:12]} → "
                f"{now[:12]}): both outputs were validated against it as it is now"
            )
    return notes


def _validate_one(
    validate: Callable[[str, str], Any], role: str, run: str, step: str, path: str, suite: str
) -> ContractCheck:
    try:
        result = validate(f"{run}:{step}:{path}", suite)
    except ValidationFailed as exc:
        return ContractCheck(role, run, path, suite, False, note=str(exc))
    body = result.to_json() if hasattr(result, "to_json") else {}
    return ContractCheck(
        role, run, path, suite, bool(result.success), tuple(failed_expectations(body)), result=body
    )


def failed_expectations(body: Any) -> list[str]:
    """Names of failed expectations found anywhere in a validation result's JSON."""
    found: list[str] = []
    if isinstance(body, dict):
        kind = body.get("type") or body.get("expectation_type")
        if body.get("success") is False and isinstance(kind, str):
            column = body.get("column") or (body.get("kwargs") or {}).get("column")
            found.append(f"{kind}({column})" if column else kind)
            return found
        for value in body.values():
            found += failed_expectations(value)
    elif isinstance(body, list):
        for value in body:
            found += failed_expectations(value)
    return list(dict.fromkeys(found))


# -- drift ------------------------------------------------------------------------------


def _drift(
    store: StoreAccess, e: StepRecord, p: StepRecord, key: str, limits: Thresholds
) -> tuple[tuple[ColumnDrift, ...], tuple[str, ...]]:
    """Drift of every table both steps wrote (streamed from the store)."""
    assert e.outputs and p.outputs
    ours = {x.path for x in under_any(store.ls(e.outputs), e.outs) if x.kind == "file"}
    theirs = {x.path for x in under_any(store.ls(p.outputs), p.outs) if x.kind == "file"}
    notes = tuple(
        f"{path}: written only by the {'experiment' if path in ours else 'production'} run"
        for path in sorted(ours ^ theirs)
        if is_table(path)
    )
    out: list[ColumnDrift] = []
    for path in sorted(ours & theirs):
        if is_table(path):
            out += measure_drift(
                path,
                lambda path=path: store.open(e.outputs, path),  # type: ignore[misc]
                lambda path=path: store.open(p.outputs, path),  # type: ignore[misc]
                key=key,
                thresholds=limits,
            )
    return tuple(out), notes
