"""Fingerprint parity: did production run the step with the experiment's code, command,
params, environment, interpreter, packages and expectation suites? If not, exactly what
differs.

The recorded fingerprints hold digests; the detail comes from elsewhere in the records:
package versions from each run's full package list, and the changed code files (with a
short unified diff for small text files) from the two steps' input snapshots. Deps that
another step writes are data: experiment and production differ there by design, so a
data difference is reported as expected, never as a failure.
"""

from __future__ import annotations

import difflib
import shlex
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from snapkit.validation.access import StoreAccess, data_deps, under

if TYPE_CHECKING:
    from snapkit.pipeline.records import RunRecord, StepRecord
    from snapkit.snapshot.model import FileEntry

DIFF_MAX_BYTES = 256 * 1024  # code files compared line by line up to this size
DIFF_MAX_LINES = 40


@dataclass(frozen=True)
class Difference:
    part: str  # command | param | env | python | package | suite | code | data
    name: str  # the param, variable, package or file
    experiment: str
    production: str
    expected: bool = False  # data deps differ between experiment and production by design
    detail: tuple[str, ...] = ()  # a unified diff of a code file, or a note

    def describe(self) -> str:
        if self.expected:
            return f"{self.part} {self.name}: data differs (expected)"
        return f"{self.part} {self.name}: {self.experiment} → {self.production}"


@dataclass(frozen=True)
class FingerprintParity:
    step: str
    experiment_fingerprint: str
    production_fingerprint: str
    differences: tuple[Difference, ...]

    @property
    def passed(self) -> bool:
        return all(d.expected for d in self.differences)

    @property
    def failures(self) -> tuple[Difference, ...]:
        return tuple(d for d in self.differences if not d.expected)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "passed": self.passed}


def compare_fingerprints(
    store: StoreAccess, experiment: RunRecord, production: RunRecord, step: str
) -> FingerprintParity:
    """What differs in `step` from the experiment run to the production run."""
    e, p = experiment.step(step), production.step(step)
    fe, fp = e.fingerprint, p.fingerprint
    diffs = [
        *_command(fe, fp),
        *_mapping("param", fe.get("params", {}), fp.get("params", {}), "(unset)"),
        *_mapping("env", fe.get("env", {}), fp.get("env", {}), "(undeclared)"),
    ]
    if fe.get("python") != fp.get("python"):
        diffs.append(
            Difference("python", "interpreter", str(fe.get("python")), str(fp.get("python")))
        )
    if fe.get("packages") != fp.get("packages"):
        diffs += _packages(experiment.packages, production.packages)
    diffs += _suites(fe.get("suites", {}), fp.get("suites", {}))
    diffs += _deps(store, experiment, e, p)
    return FingerprintParity(step, str(fe.get("id", "")), str(fp.get("id", "")), tuple(diffs))


def _command(fe: dict[str, Any], fp: dict[str, Any]) -> list[Difference]:
    a, b = str(fe.get("cmd", "")), str(fp.get("cmd", ""))
    if a == b:
        return []
    keys = _params_explaining(a, b, fe.get("params", {}), fp.get("params", {}))
    note = (f"differs only in the values of param(s) {', '.join(keys)}",) if keys else ()
    return [Difference("command", "cmd", a, b, detail=note)]


def _params_explaining(a: str, b: str, pa_: dict[str, Any], pb: dict[str, Any]) -> list[str]:
    """The changed params whose rendered values are the only differing words of two commands."""
    try:
        wa, wb = shlex.split(a), shlex.split(b)
    except ValueError:
        return []
    if len(wa) != len(wb):
        return []
    changed = {k for k in set(pa_) | set(pb) if pa_.get(k) != pb.get(k)}
    used: set[str] = set()
    for x, y in zip(wa, wb, strict=True):
        if x == y:
            continue
        hits = [k for k in changed if (_render(pa_.get(k)), _render(pb.get(k))) == (x, y)]
        if not hits:
            return []
        used.update(hits)
    return sorted(used)


def _render(value: Any) -> str:
    """A param as `${…}` renders it in a command."""
    return str(value).lower() if isinstance(value, bool) else str(value)


def _mapping(part: str, a: dict[str, Any], b: dict[str, Any], missing: str) -> list[Difference]:
    out = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key, missing), b.get(key, missing)
        if x != y:
            out.append(Difference(part, key, _render(x), _render(y)))
    return out


def _packages(a: dict[str, str], b: dict[str, str]) -> list[Difference]:
    out = _mapping("package", a, b, "(absent)")
    if not out:  # same lists, other digests: a record written by another snapkit version
        out = [Difference("package", "(installed packages)", "digest", "another digest")]
    return out


def _suites(a: dict[str, str], b: dict[str, str]) -> list[Difference]:
    """Outputs checked against a suite of other content (or only in one run): production
    was held to another contract than the experiment, even if both passed theirs."""
    out = []
    for output in sorted(set(a) | set(b)):
        x, y = a.get(output), b.get(output)
        if x != y:
            out.append(
                Difference("suite", output, x[:12] if x else "(none)", y[:12] if y else "(none)")
            )
    return out


def _deps(
    store: StoreAccess, experiment: RunRecord, e: StepRecord, p: StepRecord
) -> list[Difference]:
    de, dp = e.fingerprint.get("deps", {}), p.fingerprint.get("deps", {})
    changed = [d for d in sorted(set(de) | set(dp)) if de.get(d) != dp.get(d)]
    if not changed:
        return []
    data = set(data_deps(experiment, e))
    tree_e = store.ls(e.inputs) if e.inputs else []
    tree_p = store.ls(p.inputs) if p.inputs else []
    out = []
    for dep in changed:
        if dep in data:
            rows = (_rows(under(tree_e, dep)), _rows(under(tree_p, dep)))
            out.append(Difference("data", dep, rows[0], rows[1], expected=True))
        else:
            out += _code_files(store, dep, under(tree_e, dep), under(tree_p, dep), e, p)
    return out


def _rows(entries: list[FileEntry]) -> str:
    """What a data dep held, in words: its tables' row counts, or its number of files."""
    tables = [(e.path, e.table.rows) for e in entries if e.kind == "file" and e.table is not None]
    if not tables:
        return f"{sum(1 for e in entries if e.kind == 'file')} files"
    shown = ", ".join(f"{path.rsplit('/', 1)[-1]}: {rows} rows" for path, rows in tables[:3])
    return shown + (f" and {len(tables) - 3} more tables" if len(tables) > 3 else "")


def _code_files(
    store: StoreAccess,
    dep: str,
    old: list[FileEntry],
    new: list[FileEntry],
    e: StepRecord,
    p: StepRecord,
) -> list[Difference]:
    """One difference per changed file under a code dep, with a diff for small text."""
    a = {x.path: x for x in old if x.kind == "file"}
    b = {x.path: x for x in new if x.kind == "file"}
    out = []
    for path in sorted(set(a) | set(b)):
        x, y = a.get(path), b.get(path)
        if x is not None and y is not None and x.hash == y.hash:
            continue
        detail = _unified_diff(store, path, x, y, e, p) if x and y else ()
        out.append(
            Difference(
                "code",
                path,
                x.hash[:12] if x else "(absent)",
                y.hash[:12] if y else "(absent)",
                detail=detail,
            )
        )
    if not out:  # same files, yet another digest: kind, mode or symlink changed
        out.append(Difference("code", dep, "digest", "another digest"))
    return out


def _unified_diff(
    store: StoreAccess, path: str, x: FileEntry, y: FileEntry, e: StepRecord, p: StepRecord
) -> tuple[str, ...]:
    if max(x.size, y.size) > DIFF_MAX_BYTES or not e.inputs or not p.inputs:
        return ()
    texts = []
    for snap in (e.inputs, p.inputs):
        with store.open(snap, path) as f:
            data = f.read()
        try:
            texts.append(data.decode("utf-8").splitlines())
        except UnicodeDecodeError:
            return ("binary file",)
    lines = list(
        difflib.unified_diff(
            texts[0], texts[1], "experiment/" + path, "production/" + path, n=1, lineterm=""
        )
    )
    if len(lines) > DIFF_MAX_LINES:
        lines = [*lines[:DIFF_MAX_LINES], f"… {len(lines) - DIFF_MAX_LINES} more lines"]
    return tuple(lines)
